"""dub_assets: the Dagster face of dub (assets, checks, jobs, sensors, resources, CLI)."""

"""dub_assets: the Dagster face of dub (assets, checks, jobs, sensors, resources, CLI)."""

from dub_resources.resource_usage import bound_heap

# Every process that runs stages (dagster dev, the daemon's run workers, the CLI, the bench) imports this package
# first: bound the heap before any large allocation happens.
bound_heap()

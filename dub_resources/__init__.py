"""dub_resources: the Dagster-free library behind dub (engines, media I/O, manifests, voice memory)."""

__version__ = "0.1.0"

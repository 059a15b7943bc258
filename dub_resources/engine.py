"""What every engine records about itself, so each stage manifest says what produced it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import metadata


@dataclass
class EngineInfo:
    """Name, version and the fallbacks taken while producing one result."""

    name: str
    version: str = "unknown"
    fallbacks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def package_version(dist: str) -> str:
    """Installed version of a distribution, or 'missing'."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"

"""Voice matching interface: move a synthesized line toward a reference speaker (offline pass-2 fallback for cloning)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..engine import EngineInfo


@dataclass
class VoiceProfile:
    """Summary statistics of a voice, measured on a reference or a synthesized line."""

    f0_median_hz: float
    f0_log_std: float
    spectral_centroid_hz: float
    extra: dict = field(default_factory=dict)


class VoiceMatcher(Protocol):
    name: str
    info: EngineInfo

    def profile(self, wav: Path) -> VoiceProfile: ...

    def match(self, line_wav: Path, target: VoiceProfile, out_wav: Path, source: VoiceProfile | None = None) -> dict:
        """Transform line_wav toward `target`; returns figures (shift applied, etc.)."""
        ...

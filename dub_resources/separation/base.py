"""Separation interface: split an episode's audio into a dialogue stem and a background stem."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..engine import EngineInfo

# Bumped when the stage's output changes for the same input and settings (DeepFilterNet3 + low-band restore): part of the asset
# fingerprint, so episodes made by an older engine are recomputed instead of reused.
REVISION = "2026-11-25"


@dataclass
class SeparationResult:
    """dialogue_wav: mono 48 kHz speech estimate; background_wav: stereo 48 kHz (original minus dialogue, full band).

    `separated` is False when the engine failed and both stems are the original audio.
    """

    dialogue_wav: Path
    background_wav: Path
    separated: bool
    engine: EngineInfo
    stats: dict = field(default_factory=dict)


class Separator(Protocol):
    name: str

    def separate(self, source_wav: Path, out_dir: Path) -> SeparationResult:
        """source_wav: 48 kHz stereo work copy. Writes out_dir/dialogue.wav and out_dir/background.wav."""
        ...

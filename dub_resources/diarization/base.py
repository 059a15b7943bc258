"""Diarization interface: who spoke when, on the dialogue stem (or the source when separation failed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from ..engine import EngineInfo

# Bumped when the stage's output changes for the same input and settings (powerset speaker count, strided
# embeddings): part of the asset
# fingerprint, so episodes made by an older engine are recomputed instead of reused.
REVISION = "2026-11-25"


@dataclass
class Turn:
    start: float
    end: float
    speaker: str  # e.g. "SPEAKER_00"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DiarizationResult:
    turns: list[Turn]
    engine: EngineInfo
    stats: dict = field(default_factory=dict)

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.turns})

    def to_rttm(self, uri: str) -> str:
        return "".join(
            f"SPEAKER {uri} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n" for t in self.turns
        )


class Diarizer(Protocol):
    name: str

    def diarize(self, wav_16k: Path, num_speakers: int | None = None) -> DiarizationResult:
        """wav_16k: 16 kHz mono. Returns speaker turns sorted by start (overlap allowed as two turns)."""
        ...

"""ASR interface: segments with word timestamps."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from ..engine import EngineInfo

# Bumped when the stage's output changes for the same input and settings (block-wise transcription): part of the asset
# fingerprint, so episodes made by an older engine are recomputed instead of reused.
REVISION = "2026-11-25"


@dataclass
class Word:
    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass
class AsrSegment:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)


@dataclass
class Transcript:
    language: str
    segments: list[AsrSegment]
    engine: EngineInfo
    stats: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"language": self.language, "segments": [asdict(s) for s in self.segments],
                "engine": self.engine.to_dict(), "stats": self.stats}

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()


class Transcriber(Protocol):
    name: str

    def transcribe(self, wav_16k: Path, language: str | None = None) -> Transcript:
        """wav_16k: 16 kHz mono. language: ISO 639-1 code or None to detect."""
        ...

"""TTS interface: text -> speech wav with a named preset voice (pass 1) or a cloned voice (pass 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..engine import EngineInfo


@dataclass
class SynthResult:
    wav: Path
    sample_rate: int
    duration_s: float
    engine: EngineInfo
    voice: str


class Synthesizer(Protocol):
    name: str

    def supports(self, language: str) -> bool: ...

    def preset_voices(self, language: str) -> list[str]:
        """Distinct preset voice ids for a language, most natural first."""
        ...

    def synthesize(self, text: str, language: str, voice: str, out_wav: Path, speed: float = 1.0) -> SynthResult:
        ...


class CloningSynthesizer(Protocol):
    name: str

    def clone(self, text: str, language: str, ref_wavs: list[Path], out_wav: Path) -> SynthResult: ...

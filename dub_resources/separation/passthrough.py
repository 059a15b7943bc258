"""No separation: the original audio serves as both stems (minimal mode, or the fallback when an engine fails)."""

from __future__ import annotations

from pathlib import Path

from ..engine import EngineInfo, package_version
from .base import SeparationResult
from .common import stem_paths, write_passthrough


class PassthroughSeparator:
    """dialogue = mono mixdown of the original (48k and 16k), background = the original (48k stereo)."""

    name = "none"

    def info(self) -> EngineInfo:
        return EngineInfo(name=self.name, version=f"dub {package_version('dub')}")

    def separate(self, source_wav: Path, out_dir: Path) -> SeparationResult:
        stats = write_passthrough(Path(source_wav), Path(out_dir))
        dialogue, _, background = stem_paths(Path(out_dir))
        return SeparationResult(dialogue_wav=dialogue, background_wav=background, separated=False,
                                engine=self.info(), stats=stats)

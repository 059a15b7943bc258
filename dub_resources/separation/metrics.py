"""Separation quality scores shared by the tests and `dub bench`."""

from __future__ import annotations

import numpy as np


def si_sdr(estimate: np.ndarray, reference: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019), zero-mean, over the common length.

    Multi-channel inputs are mixed down to mono first. Scores are computed in float64 scalars
    (dot products) without a float64 copy of the signals.
    """
    est = np.asarray(estimate, dtype=np.float32)
    ref = np.asarray(reference, dtype=np.float32)
    if est.ndim > 1:
        est = est.mean(axis=1)
    if ref.ndim > 1:
        ref = ref.mean(axis=1)
    n = min(est.shape[0], ref.shape[0])
    if n == 0:
        raise ValueError("si_sdr: empty signal")
    est = est[:n] - float(est[:n].mean(dtype=np.float64))
    ref = ref[:n] - float(ref[:n].mean(dtype=np.float64))
    ref_energy = float(np.dot(ref, ref)) + eps
    alpha = float(np.dot(est, ref)) / ref_energy
    target_energy = alpha * alpha * ref_energy
    # ||est - alpha*ref||^2 expanded so no extra full-length array is needed
    noise_energy = max(float(np.dot(est, est)) - 2.0 * alpha * float(np.dot(est, ref)) + target_energy, 0.0)
    return float(10.0 * np.log10((target_energy + eps) / (noise_energy + eps)))

"""Spectral refinement of a DeepFilterNet3 dialogue estimate: gain de-biasing and a second-model veto.

Both act on one STFT of the estimate (48 kHz, 32 ms Hann frames, hop 8 ms), streamed in blocks, so memory is bounded
for any episode length; a frame's final gain is `lift * veto`:

* Gain de-biasing (`lift`). DeepFilterNet is trained on compressed spectral magnitudes, so where it is unsure it
  returns less than the least-squares (Wiener) amount: measured on the eval mixtures, bins the model passes at 0.3-0.8 of
  the mixture hold 10-50 % more speech than it kept. SI-SDR, and the dub's mix, want the least-squares estimate.
  The effective gain g = |estimate| / |mixture| is lifted to g ** LIFT_EXP (still below the mixture's level), by at
  most LIFT_MAX (+2.3 dB); bins at or above the mixture's level are left as they are.
* Second-model veto (`veto`). A different, independently trained enhancer (GTCRN) is run on the same mixture. Where,
  in a band of a frame, it finds less than -VETO_DB of the primary's energy throughout the next VETO_AHEAD_S (GTCRN is
  causal, so its verdict on a word onset arrives a few frames late), the two models flatly disagree on whether this is
  speech. That happens on broadband effects that look like fricatives to DeepFilterNet (bird chirps, clicks); there
  the band is attenuated down to VETO_DB above the second model. Elsewhere the primary is untouched: ordinary
  disagreements of a few dB are left alone (averaging such estimates was measured to hurt), and GTCRN is never allowed
  to add energy (it leaks effects such as whale song that DeepFilterNet removes). Only bands below VETO_FMAX are judged:
  the second model runs at 16 kHz; content above them follows the verdict on the top band.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import fft as sfft

from .restore import _read, _Window

FRAME_S = 0.032
LIFT_EXP = 0.7
LIFT_MAX = 1.3
VETO_DB = 20.0
VETO_AHEAD_S = 0.064
VETO_FMIN = 100.0  # lowest band edge of the log-spaced veto bands (one band below it)
VETO_FMAX = 7500.0  # Hz, under the 8 kHz Nyquist of the 16 kHz second model (its resampling roll-off starts there)
VETO_BANDS = 16
BLOCK_S = 10.0


class _Stft:
    """Centred periodic-Hann frames at hop n/4; Hann synthesis, so overlap-add of unchanged frames is the identity."""

    def __init__(self, sr: int):
        self.sr = sr
        self.n = int(round(FRAME_S * sr / 4)) * 4
        self.hop = self.n // 4
        self.win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n) / self.n)).astype(np.float32)
        self.freqs = np.fft.rfftfreq(self.n, 1.0 / sr)

    def spectra(self, x: np.ndarray, start: int, j0: int, j1: int) -> np.ndarray:
        """rfft of frames j0..j1-1 (frame j is centred on sample j*hop) of a segment x beginning at sample `start`."""
        idx = (np.arange(j0, j1) * self.hop - self.n // 2 - start)[:, None] + np.arange(self.n)[None, :]
        return sfft.rfft(x[idx] * self.win, axis=1)  # float32 in: single-precision transform

    def overlap_add(self, spec: np.ndarray) -> np.ndarray:
        """Samples covered by the frames (from the first frame's start), Hann^2 at hop n/4 summing to 1.5."""
        frames = sfft.irfft(spec, n=self.n, axis=1) * (self.win / 1.5)
        J, h = frames.shape[0], self.hop
        chunks = np.zeros((J + 3, h), dtype=np.float32)
        for q in range(4):  # quarter q of frame i lands on hop-chunk i + q
            chunks[q : q + J] += frames[:, q * h : (q + 1) * h]
        return chunks.reshape(-1)


def _band_masks(freqs: np.ndarray) -> list[np.ndarray]:
    edges = np.concatenate([[0.0], np.geomspace(VETO_FMIN, VETO_FMAX, VETO_BANDS)])
    return [(freqs >= lo) & (freqs < hi) for lo, hi in zip(edges[:-1], edges[1:])]


def lift_gain(est: np.ndarray, mix: np.ndarray) -> np.ndarray:
    """De-biasing factor per bin (>= 1): g -> g**LIFT_EXP for g = |est|/|mix| < 1, capped at LIFT_MAX."""
    g = np.abs(est) / np.maximum(np.abs(mix), 1e-9)
    lift = np.maximum(g, 1e-6) ** (LIFT_EXP - 1.0)
    return np.clip(np.minimum(lift, LIFT_MAX), 1.0, None).astype(np.float32)


def veto_gain(est: np.ndarray, second: np.ndarray, bands: list[np.ndarray], ahead: int,
              above: np.ndarray | None = None) -> np.ndarray:
    """Per-frame, per-band attenuation (<= 1) of `est` where `second` stays VETO_DB below it for the next `ahead`
    frames. `second` has `ahead` more frames than `est` (the look-ahead); returns an (frames, bins) array. Bins in
    `above` (beyond the second model's band) follow the top band: what is no fricative there is none higher up."""
    J = est.shape[0]
    out = np.ones(est.shape, dtype=np.float32)
    thr = 10.0 ** (-VETO_DB / 10.0)
    g = None
    for k in bands:
        if not k.any():
            continue
        pe = np.sum(np.abs(est[:, k]) ** 2, axis=1)
        ps = np.sum(np.abs(second[:, k]) ** 2, axis=1)
        # the second model's largest energy over frames j..j+ahead
        ps_max = np.lib.stride_tricks.sliding_window_view(ps, ahead + 1)[:J].max(axis=1)
        q = ps_max / np.maximum(pe, 1e-20)
        g = np.where(q < thr, np.sqrt(q / thr), 1.0).astype(np.float32)
        out[:, k] = g[:, None]
    if above is not None and g is not None and above.any():
        out[:, above] = g[:, None]
    return out


def refine_estimate(source_wav: Path, raw_estimate: Path, second_estimate: Path | None) -> dict:
    """Rewrite `raw_estimate` (mono float WAV) in place with the lift and, if `second_estimate` (any rate) is given,
    the veto applied; returns flat stats."""
    raw_estimate = Path(raw_estimate)
    info = sf.info(str(raw_estimate))
    sr, total = info.samplerate, info.frames
    st = _Stft(sr)
    n2, hop = st.n // 2, st.hop
    ahead = max(1, int(round(VETO_AHEAD_S * sr / hop)))
    bands = _band_masks(st.freqs)
    judged = np.any(bands, axis=0)
    above = st.freqs >= VETO_FMAX
    fd, out_name = tempfile.mkstemp(prefix=".dialogue_refined.", suffix=".wav", dir=raw_estimate.parent)
    os.close(fd)
    out_path = Path(out_name)
    mix = _Window(source_wav, sr, total)
    sec = _Window(second_estimate, sr, total) if second_estimate is not None else None
    vetoed = lift_db = cells = 0.0
    blk = int(BLOCK_S * sr)
    try:
        with sf.SoundFile(str(raw_estimate)) as fe, sf.SoundFile(
                str(out_path), "w", sr, 1, subtype="FLOAT", format="WAV") as w:
            for a in range(0, total, blk):
                b = min(total, a + blk)
                j0 = -(-(a - n2) // hop)  # every frame that overlaps [a, b)
                j1 = (b - 1 + n2) // hop + 1
                s0, s1 = j0 * hop - n2, (j1 - 1) * hop + n2
                E = st.spectra(_read(fe, s0, s1, total), s0, j0, j1)
                gain = lift_gain(E, st.spectra(mix.get(s0, s1), s0, j0, j1))
                lift_db += float(np.sum(20.0 * np.log10(gain)))
                cells += gain.size
                if sec is not None:
                    s1x = s1 + ahead * hop
                    S2 = st.spectra(sec.get(s0, s1x), s0, j0, j1 + ahead)
                    veto = veto_gain(E, S2, bands, ahead, above)
                    vetoed += float(np.sum(veto[:, judged] < 1.0))
                    gain *= veto
                y = st.overlap_add(E * gain)
                w.write(y[a - s0 : b - s0])
        os.replace(out_path, raw_estimate)
    finally:
        mix.close()
        if sec is not None:
            sec.close()
        out_path.unlink(missing_ok=True)
    return {"refine": "lift+veto" if sec is not None else "lift",
            "refine_mean_lift_db": round(lift_db / max(cells, 1.0), 3),
            "refine_vetoed_fraction": round(float(vetoed / max(cells * judged.sum() / st.freqs.size, 1.0)), 5)}

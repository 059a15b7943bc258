"""Low-band restoration: give back to the dialogue what the enhancer removed below 300 Hz that cannot be background.

Speech enhancers are trained to strip low-frequency rumble and hum, but a dialogue recording carries its own low end
(room tone, proximity effect, handling rumble), and SI-SDR against the clean dialogue counts every removed bit of it as
distortion. Outside speech (per the speech gate) the mixture is background only, which bounds how loud the background
is in each low bin. During speech, the part the enhancer removed (mixture - estimate) that stands more than `margin_db`
above that bound cannot be background, so it is restored by power subtraction:
`estimate += removed * sqrt(max(0, 1 - margin * bound / |removed|^2))`.

Restricted to the band below the telephone band (300 Hz), where the models' removals are this rumble class; higher
up, effects that start during speech (whale song, chirps) would be mistaken for dialogue. The bound is the 99th
percentile of non-speech frames in a neighbourhood of +-REGION_S, so a loud scene elsewhere in an episode does not
disable it. Where too little non-speech audio is near, nothing is restored (the model output is kept).
Streamed in blocks: memory is bounded for any episode length.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .common import ResampledReader

F_MAX = 300.0  # Hz, lower edge of the telephone band
MARGIN_DB = 10.0
PERCENTILE = 99.0
REGION_S = 30.0
MIN_NONSPEECH_S = 0.5
BLOCK_S = 10.0


class _Frames:
    """Centred Hann frames (32 ms, hop 1/4) restricted to the DFT bins below F_MAX, as matrix products."""

    def __init__(self, sr: int):
        self.sr = sr
        self.n = int(round(0.032 * sr / 4)) * 4
        self.hop = self.n // 4
        self.win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n) / self.n)).astype(np.float32)  # periodic Hann
        k = np.arange(1, int(np.ceil(F_MAX * self.n / sr)))  # skip DC: the stems are high-passed anyway
        self.k = k
        ph = 2 * np.pi * np.outer(np.arange(self.n), k) / self.n
        self.fwd = (self.win[:, None] * np.exp(-1j * ph)).astype(np.complex64)  # (n, K)
        # synthesis: 2/n * Re(sum_k Z_k e^{+j..}) (one-sided spectrum), Hann synthesis window, Hann^2 OLA sum = 1.5
        self.inv = (np.exp(1j * ph).T * (2.0 / self.n) * self.win[None, :] / 1.5).astype(np.complex64)  # (K, n)

    def frames(self, x: np.ndarray, start: int, js: np.ndarray) -> np.ndarray:
        """Frames js (frame j is centred on sample j*hop) of a signal segment x that begins at sample `start`."""
        idx = (js * self.hop - self.n // 2 - start)[:, None] + np.arange(self.n)[None, :]
        return x[idx]


class _Window:
    """Samples [a, b) of the mixture at the estimate's rate, read forward through a ResampledReader: requests must
    move forward (a never decreases), so only the current window is held in memory and no temp copy is written."""

    def __init__(self, source_wav: Path, sr: int, total: int):
        self.rd = ResampledReader(source_wav, sr, mono=True)
        self.total = total
        self.buf = np.zeros(0, dtype=np.float32)
        self.start = 0  # sample index of buf[0]

    def close(self) -> None:
        self.rd.close()

    def get(self, a: int, b: int) -> np.ndarray:
        lo, hi = max(0, a), min(self.total, b)
        end = self.start + self.buf.shape[0]
        if lo > end:  # a jump forward: read past the gap
            skip = lo - end
            while skip > 0:
                got = self.rd.read(min(skip, 1 << 20)).shape[0]
                if got == 0:
                    break
                skip -= got
            self.buf, self.start = np.zeros(0, dtype=np.float32), lo
        elif lo > self.start:  # drop what no later request needs
            self.buf = self.buf[lo - self.start :]
            self.start = lo
        need = hi - (self.start + self.buf.shape[0])
        if need > 0:
            got = self.rd.read(need)[:, 0]
            if got.shape[0] < need:  # source a few samples shorter than the estimate
                got = np.concatenate([got, np.zeros(need - got.shape[0], np.float32)])
            self.buf = np.concatenate([self.buf, got])
        out = np.zeros(b - a, dtype=np.float32)
        if hi > lo:
            out[lo - a : hi - a] = self.buf[lo - self.start : hi - self.start]
        return out


def _read(f: sf.SoundFile, a: int, b: int, total: int) -> np.ndarray:
    """Samples [a, b) of a mono file, zeros outside it."""
    out = np.zeros(b - a, dtype=np.float32)
    lo, hi = max(0, a), min(total, b)
    if hi > lo:
        f.seek(lo)
        out[lo - a : hi - a] = f.read(hi - lo, dtype="float32", always_2d=True).mean(axis=1)
    return out


def restore_low_band(source_wav: Path, raw_estimate: Path, speech_gain, *, margin_db: float = MARGIN_DB) -> dict:
    """Rewrite `raw_estimate` (mono float WAV) in place with the low band restored; returns flat stats.

    `speech_gain(t)` is the speech gate's gain curve: > 0.5 counts as speech, else as background only.
    """
    raw_estimate = Path(raw_estimate)
    info = sf.info(str(raw_estimate))
    sr, total = info.samplerate, info.frames
    fr = _Frames(sr)
    margin = 10.0 ** (margin_db / 10.0)
    fd, out_name = tempfile.mkstemp(prefix=".dialogue_restored.", suffix=".wav", dir=raw_estimate.parent)
    os.close(fd)
    out_path = Path(out_name)
    mix = _Window(source_wav, sr, total)
    try:
        n_frames = -(-total // fr.hop) + 1
        t_frames = np.arange(n_frames) * fr.hop / sr
        speech = np.asarray(speech_gain(t_frames)) > 0.5
        # pass 1: per region, the high percentile of background-only low-band power
        reg = max(1, int(REGION_S * sr / fr.hop))
        n_reg = -(-n_frames // reg)
        bounds = np.full((n_reg, fr.k.size), np.nan, dtype=np.float64)
        counts = np.zeros(n_reg, dtype=np.int64)
        for r in range(n_reg):
            j0, j1 = r * reg, min(n_frames, (r + 1) * reg)
            js = j0 + np.flatnonzero(~speech[j0:j1])
            counts[r] = js.size
            if not js.size:
                continue
            a = j0 * fr.hop - fr.n // 2
            x = mix.get(a, (j1 - 1) * fr.hop + fr.n // 2 + 1)
            p = np.abs(fr.frames(x, a, js) @ fr.fwd) ** 2
            bounds[r] = np.percentile(p, PERCENTILE, axis=0)
        mix.close()
        mix = _Window(source_wav, sr, total)
        min_frames = MIN_NONSPEECH_S * sr / fr.hop
        region_bound = np.full((n_reg, fr.k.size), np.inf)
        for r in range(n_reg):
            nb = slice(max(0, r - 1), min(n_reg, r + 2))
            if counts[nb].sum() >= min_frames:
                region_bound[r] = np.nanmax(bounds[nb], axis=0)
        # pass 2: stream blocks, restore, overlap-add the low-band addition onto the estimate
        restored_energy = 0.0
        blk = int(BLOCK_S * sr)
        with sf.SoundFile(str(raw_estimate)) as fe, sf.SoundFile(
                str(out_path), "w", sr, 1, subtype="FLOAT", format="WAV") as w:
            for a in range(0, total, blk):
                b = min(total, a + blk)
                j0 = -(-(a - fr.n // 2) // fr.hop)
                j1 = (b - 1 + fr.n // 2) // fr.hop + 1
                s0 = j0 * fr.hop - fr.n // 2
                s1 = (j1 - 1) * fr.hop + fr.n // 2
                x = mix.get(s0, s1)
                d = _read(fe, s0, s1, total)
                jj = np.arange(j0, j1)
                valid = (jj >= 0) & (jj < n_frames)
                jc = np.clip(jj, 0, n_frames - 1)
                R = (fr.frames(x, s0, jj) - fr.frames(d, s0, jj)) @ fr.fwd  # removed part, (J, K)
                bound = region_bound[jc // reg]
                p = np.abs(R) ** 2
                with np.errstate(invalid="ignore", divide="ignore"):
                    g = np.sqrt(np.clip(1.0 - margin * bound / np.maximum(p, 1e-20), 0.0, 1.0))
                g *= (speech[jc] & valid)[:, None]
                add_frames = np.real((R * g) @ fr.inv).astype(np.float32)  # (J, n)
                # overlap-add at hop n/4: quarter q of frame i lands on hop-chunk i + q
                J, h = add_frames.shape[0], fr.hop
                chunks = np.zeros((J + 3, h), dtype=np.float32)
                for q in range(4):
                    chunks[q : q + J] += add_frames[:, q * h : (q + 1) * h]
                seg = chunks.reshape(-1)[: s1 - s0]
                add = seg[a - s0 : b - s0]
                restored_energy += float(np.dot(add, add))
                fe.seek(a)
                w.write(fe.read(b - a, dtype="float32") + add)
        os.replace(out_path, raw_estimate)
    finally:
        mix.close()
        out_path.unlink(missing_ok=True)
    covered = float(np.mean(np.isfinite(region_bound[:, 0]))) if n_reg else 0.0
    return {"lowband_restore": "on", "lowband_restore_coverage": round(covered, 3),
            "lowband_restored_rms": round(float(np.sqrt(restored_energy / max(total, 1))), 6)}

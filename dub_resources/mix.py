"""Final mix: place dubbed lines on a timeline, duck the background under them, normalise loudness, limit peaks.

Everything streams in 10 s blocks at 48 kHz, float32; only small per-frame curves (10 ms ducking frames, 1 ms
limiter frames, 100 ms loudness sub-blocks) are held for the whole episode. Loudness follows ITU-R BS.1770-4 with
pyloudnorm's K-weighting filters, run block by block with carried filter state, so it matches
`pyloudnorm.Meter.integrated_loudness` without a full-length float64 copy.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import lfilter

from .audio import wav_writer
from .manifest import atomic_path
from .separation.common import ResampledReader

log = logging.getLogger(__name__)

SR = 48000
BLOCK = 10 * SR
DUCK_HOP = 480  # 10 ms ducking frames
LIM_HOP = 48  # 1 ms limiter frames
SILENCE_DB = -180.0
ABS_GATE_LUFS = -70.0


@dataclass
class PlacedLine:
    """One dubbed line: audio file placed at `start` seconds on the episode timeline."""

    start: float
    wav: Path
    gain_db: float = 0.0


@dataclass
class MixStats:
    integrated_lufs: float  # BS.1770 integrated loudness; -70.0 (the absolute gate) when the mix is silent
    peak_dbfs: float  # sample peak of the written file
    duration_s: float
    ducked_fraction: float  # share of the timeline where the background is ducked by more than 1 dB
    dialogue_rms_db: float  # RMS of the dialogue track over the whole timeline, before normalisation
    background_rms_db: float
    gain_db: float = 0.0  # normalisation gain applied to the mix
    limited_fraction: float = 0.0  # share of 1 ms frames the peak limiter touched
    silent: bool = False  # unmeasurable (all below the -70 LUFS gate, or under 0.4 s): no gain applied

    def to_dict(self) -> dict:
        return asdict(self)


def _db(power: float) -> float:
    return float(10.0 * np.log10(power)) if power > 1e-18 else SILENCE_DB


# ---------------------------------------------------------------- dialogue track


def render_dialogue_track(lines: list[PlacedLine], duration_s: float, out_wav: Path, sr: int = SR) -> Path:
    """Mono float WAV of `duration_s` with each line (resampled, mixed down, gain applied) at its start time.

    Overlapping lines add. Audio before 0 or after the end is cut. Lines are loaded only while the block being
    written overlaps them, so memory holds a few lines, not the episode.
    """
    total = int(round(duration_s * sr))
    items = []
    for ln in lines:
        info = sf.info(str(ln.wav))
        n = int(np.ceil(info.frames * sr / info.samplerate))
        start = int(round(ln.start * sr))
        items.append((start, start + n, ln))
    items.sort(key=lambda it: it[0])
    cut = sum(1 for s, e, _ in items if e > total or s < 0)
    if cut:
        log.warning("render_dialogue_track: %d line(s) extend outside 0..%.3f s and were cut", cut, duration_s)
    cache: dict[int, np.ndarray] = {}
    nxt = 0
    with atomic_path(out_wav, suffix=".wav") as tmp, wav_writer(tmp, sr, 1, "FLOAT") as w:
        for b0 in range(0, max(total, 0), BLOCK):
            b1 = min(total, b0 + BLOCK)
            out = np.zeros(b1 - b0, dtype=np.float32)
            while nxt < len(items) and items[nxt][0] < b1:
                s, e, ln = items[nxt]
                with ResampledReader(ln.wav, sr, mono=True) as rd:
                    x = rd.read(rd.frames)[:, 0]
                cache[nxt] = x * np.float32(10.0 ** (ln.gain_db / 20.0))
                nxt += 1
            for i in list(cache):
                s, e, _ = items[i]
                x = cache[i]
                a, b = max(s, b0), min(s + x.shape[0], b1)
                if b > a:
                    out[a - b0 : b - b0] += x[a - s : b - s]
                if s + x.shape[0] <= b1:
                    del cache[i]
            w.write(out)
    return Path(out_wav)


# ---------------------------------------------------------------- loudness


class LoudnessMeter:
    """Streaming BS.1770-4 integrated loudness (K-weighting from pyloudnorm, 400 ms blocks, 75 % overlap)."""

    def __init__(self, rate: int, channels: int):
        import pyloudnorm

        if (rate * 100) % 1000:
            raise ValueError("LoudnessMeter needs a rate whose 100 ms is a whole number of samples")
        self.rate, self.channels = rate, channels
        meter = pyloudnorm.Meter(rate)
        self.stages = []
        for f in meter._filters.values():  # same coefficients pyloudnorm uses
            b, a = np.asarray(f.b, np.float64), np.asarray(f.a, np.float64)
            zi = np.zeros((max(len(a), len(b)) - 1, channels))
            self.stages.append([b, a, float(f.passband_gain), zi])
        self.sub = rate // 10
        self.sums: list[np.ndarray] = []  # per 100 ms sub-block: sum of squares per channel
        self._acc = np.zeros(channels)
        self._fill = 0
        self.n = 0

    def push(self, x: np.ndarray) -> None:
        y = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
        for st in self.stages:
            y, st[3] = lfilter(st[0], st[1], y, axis=0, zi=st[3])
            y = y * st[2]
        self.n += y.shape[0]
        i = 0
        while i < y.shape[0]:
            take = min(self.sub - self._fill, y.shape[0] - i)
            seg = y[i : i + take]
            self._acc += np.einsum("ij,ij->j", seg, seg)
            self._fill += take
            i += take
            if self._fill == self.sub:
                self.sums.append(self._acc)
                self._acc = np.zeros(self.channels)
                self._fill = 0

    def integrated(self) -> float | None:
        """LUFS, or None when shorter than one block or silent (instead of pyloudnorm's -inf/NaN)."""
        t = self.n / self.rate
        if t < 0.4:
            return None
        sums = self.sums + ([self._acc] if self._fill else [])
        nblocks = int(np.round((t - 0.4) / 0.1)) + 1
        sub = np.zeros((nblocks + 3, self.channels))
        k = min(len(sums), nblocks + 3)
        sub[:k] = np.asarray(sums[:k])
        c = np.concatenate([np.zeros((1, self.channels)), np.cumsum(sub, axis=0)])
        z = (c[4 : nblocks + 4] - c[:nblocks]) / (0.4 * self.rate)  # (blocks, channels) mean squares
        power = z.sum(axis=1)  # channel gains are 1.0 for L/R (and mono)
        with np.errstate(divide="ignore"):
            lk = -0.691 + 10.0 * np.log10(power)
        gated = lk >= -70.0
        if not gated.any():
            return None
        rel = -0.691 + 10.0 * np.log10(power[gated].mean()) - 10.0
        gated = (lk > rel) & (lk > -70.0)
        if not gated.any():
            return None
        return float(-0.691 + 10.0 * np.log10(power[gated].mean()))


# ---------------------------------------------------------------- ducking and limiting


def duck_curve(dialogue_wav: Path, n_frames: int, *, duck_db: float, attack_s: float = 0.05, release_s: float = 0.3,
               hold_s: float = 0.2, threshold_db: float = -45.0) -> np.ndarray:
    """Background gain in dB per 10 ms frame: `duck_db` while dialogue is active, slewed linearly.

    Activity = frame RMS above `threshold_db` (and within 40 dB of the loudest frame), held `hold_s` to bridge
    pauses between words. The ramp starts `attack_s` early, so the background is fully ducked when speech begins,
    and recovers over `release_s` after it ends.
    """
    rms = np.full(n_frames, SILENCE_DB, dtype=np.float32)
    with ResampledReader(dialogue_wav, SR, mono=True) as rd:
        k = 0
        for blk in rd.blocks(DUCK_HOP * 1000):
            x = blk[:, 0]
            m = x.shape[0] // DUCK_HOP
            if m == 0 or k >= n_frames:
                break
            fr = x[: m * DUCK_HOP].reshape(m, DUCK_HOP)
            e = np.mean(np.square(fr), axis=1)
            m = min(m, n_frames - k)
            rms[k : k + m] = 10.0 * np.log10(np.maximum(e[:m], 1e-18))
            k += m
    if duck_db >= 0 or rms.size == 0:
        return np.zeros(n_frames, dtype=np.float32)
    thr = max(threshold_db, float(rms.max()) - 40.0)
    active = rms > thr
    hop_s = DUCK_HOP / SR
    look, hold = int(round(attack_s / hop_s)), int(round(hold_s / hop_s))
    if active.any():  # extend each active frame `look` frames earlier and `hold` frames later
        idx = np.flatnonzero(active)
        mark = np.zeros(n_frames + 1, dtype=np.int32)
        np.add.at(mark, np.clip(idx - look, 0, n_frames), 1)
        np.add.at(mark, np.clip(idx + hold + 1, 0, n_frames), -1)
        active = np.cumsum(mark[:n_frames]) > 0
    target = np.where(active, duck_db, 0.0).astype(np.float32)
    down = -duck_db * hop_s / max(attack_s, hop_s)  # dB per frame
    up = -duck_db * hop_s / max(release_s, hop_s)
    g = np.empty(n_frames, dtype=np.float32)
    cur = 0.0
    for i, tg in enumerate(target.tolist()):
        cur = max(tg, cur - down) if tg < cur else min(tg, cur + up)
        g[i] = cur
    return g


def limiter_curve(frame_peaks: np.ndarray, gain: float, ceiling: float, *, lookahead_s: float = 0.005,
                  release_s: float = 0.05) -> np.ndarray:
    """Per-1 ms-frame gain <= ceiling / (gain * peak) everywhere, reached `lookahead_s` early, held `release_s`.

    A minimum filter over [k - release, k + lookahead] followed by a centred moving average no wider than the
    look-ahead keeps the bound at every frame (each averaged value's window contains frame k).
    """
    need = np.minimum(1.0, ceiling / np.maximum(frame_peaks * gain, 1e-12)).astype(np.float32)
    n = need.shape[0]
    a = max(2, int(round(lookahead_s * SR / LIM_HOP)))
    h = max(a, int(round(release_s * SR / LIM_HOP)))
    h += (a + h) % 2  # even window span so the shift below is whole
    sym = minimum_filter1d(need, size=a + h + 1, mode="nearest")  # min over [c - (a+h)/2, c + (a+h)/2]
    held = sym[np.clip(np.arange(n) + (a - h) // 2, 0, n - 1)]  # min over [k - h, k + a]
    return np.minimum(uniform_filter1d(held, size=2 * (a // 2) + 1, mode="nearest"), 1.0)


# ---------------------------------------------------------------- mix


def _blocks(dialogue_wav: Path, background_wav: Path, duck_db_frames: np.ndarray, d_gain: float):
    """Yield (start, mix, dialogue, background) per BLOCK frames: mix = ducked background + centred dialogue."""
    bg = ResampledReader(background_wav, SR, channels=2)
    dl = ResampledReader(dialogue_wav, SR, mono=True)
    frame_t = (np.arange(duck_db_frames.shape[0]) + 0.5) * DUCK_HOP
    try:
        pos = 0
        for b in bg.blocks(BLOCK):
            n = b.shape[0]
            d = dl.read(n)[:, 0]
            if d.shape[0] < n:
                d = np.concatenate([d, np.zeros(n - d.shape[0], np.float32)])
            idx = pos + np.arange(n, dtype=np.float64)
            gdb = np.interp(idx, frame_t, duck_db_frames) if frame_t.size else np.zeros(n)
            g = np.power(10.0, gdb / 20.0).astype(np.float32)
            yield pos, b * g[:, None] + (d * d_gain)[:, None], d, b
            pos += n
    finally:
        bg.close()
        dl.close()


def mix_over_background(dialogue_wav: Path, background_wav: Path, out_wav: Path, *, duck_db: float = -9.0,
                        target_lufs: float = -23.0, true_peak_db: float = -1.0, dialogue_gain_db: float = 0.0,
                        max_gain_db: float = 30.0) -> MixStats:
    """Mix dialogue (centred) over the ducked background, normalise to `target_lufs`, keep sample peaks under
    `true_peak_db` dBFS with a look-ahead limiter, and write 48 kHz stereo PCM16 of the background's length.

    Passes: (1) dialogue activity -> ducking curve; (2) mix -> loudness + 1 ms peaks; (3) mix * gain * limiter ->
    file, re-measured. Silent mixes get no gain and report silent=True, integrated_lufs=-70.0.
    """
    dialogue_wav, background_wav, out_wav = Path(dialogue_wav), Path(background_wav), Path(out_wav)
    with ResampledReader(background_wav, SR, channels=2) as r:
        total = r.frames
    n_duck = -(-total // DUCK_HOP)
    duck = duck_curve(dialogue_wav, n_duck, duck_db=duck_db)
    d_gain = np.float32(10.0 ** (dialogue_gain_db / 20.0))

    meter = LoudnessMeter(SR, 2)
    peaks: list[np.ndarray] = []
    d_pow = b_pow = 0.0
    for _, m, d, b in _blocks(dialogue_wav, background_wav, duck, d_gain):
        meter.push(m)
        d_pow += float(np.dot(d, d)) * float(d_gain) ** 2
        b_pow += float(np.einsum("ij,ij->", b, b)) / 2.0
        n = m.shape[0]
        pad = (-n) % LIM_HOP
        a = np.abs(m).max(axis=1)
        if pad:
            a = np.concatenate([a, np.zeros(pad, np.float32)])
        peaks.append(a.reshape(-1, LIM_HOP).max(axis=1))
    frame_peaks = np.concatenate(peaks) if peaks else np.zeros(0, np.float32)
    measured = meter.integrated()
    ceiling = float(10.0 ** (true_peak_db / 20.0))

    def render(gain_db: float, w: sf.SoundFile | None) -> tuple[float | None, float, np.ndarray]:
        """One pass of mix * gain * limiter (quantised to PCM16); returns (LUFS, peak, limiter curve)."""
        gain = float(10.0 ** (gain_db / 20.0))
        lim = limiter_curve(frame_peaks, gain, ceiling) if frame_peaks.size else frame_peaks
        lim_t = (np.arange(lim.shape[0]) + 0.5) * LIM_HOP
        m_out, peak = LoudnessMeter(SR, 2), 0.0
        for pos, m, _, _ in _blocks(dialogue_wav, background_wav, duck, d_gain):
            n = m.shape[0]
            g = np.interp(pos + np.arange(n, dtype=np.float64), lim_t, lim).astype(np.float32) * np.float32(gain)
            y = np.clip(m * g[:, None], -ceiling, ceiling)  # safety net: the limiter already keeps this a no-op
            q = np.clip(np.rint(y * 32768.0), -32768, 32767).astype(np.int16)
            if w is not None:
                w.write(q)
            yq = q.astype(np.float32) / 32768.0
            m_out.push(yq)
            peak = max(peak, float(np.abs(yq).max(initial=0.0)))
        return m_out.integrated(), peak, lim

    gain_db = 0.0 if measured is None else float(min(target_lufs - measured, max_gain_db))
    if measured is not None and frame_peaks.size and float(frame_peaks.max()) * 10 ** (gain_db / 20) > ceiling:
        # the limiter will shave peaks and with them some loudness: measure and make up for it (twice at most)
        for _ in range(2):
            lufs, _, _ = render(gain_db, None)
            if lufs is None or abs(target_lufs - lufs) < 0.1:
                break
            gain_db = float(min(gain_db + target_lufs - lufs, max_gain_db))
    with atomic_path(out_wav, suffix=".wav") as tmp, sf.SoundFile(str(tmp), "w", SR, 2, subtype="PCM_16",
                                                                  format="WAV") as w:
        lufs, peak, lim = render(gain_db, w)
    n_t = max(total, 1)
    return MixStats(
        integrated_lufs=ABS_GATE_LUFS if lufs is None else round(lufs, 2),
        peak_dbfs=round(float(20.0 * np.log10(peak)), 2) if peak > 0 else SILENCE_DB,
        duration_s=round(total / SR, 3),
        ducked_fraction=round(float(np.mean(duck < -1.0)) if duck.size else 0.0, 4),
        dialogue_rms_db=round(_db(d_pow / n_t), 2),
        background_rms_db=round(_db(b_pow / n_t), 2),
        gain_db=round(gain_db, 2),
        limited_fraction=round(float(np.mean(lim < 0.999)) if lim.size else 0.0, 4),
        silent=lufs is None,
    )

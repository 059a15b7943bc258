"""Fit a synthesized line into its time slot: 48 kHz mono, silence trimmed, time-compressed (pitch kept) if too long."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..audio import read_audio, write_audio
from ..errors import EngineUnavailable

FRAME_S = 0.01
TRIM_BELOW_PEAK_DB = 40.0  # frames this far under the loudest frame count as silence
TRIM_FLOOR_DBFS = -60.0
TRIM_PAD_S = 0.02
TOLERANCE_S = 0.005


def _frame_levels(x: np.ndarray, sr: int) -> tuple[int, np.ndarray, float]:
    """(hop, dB of each whole 10 ms frame, silence threshold = max(peak frame - 40 dB, -60 dBFS)); no frames: empty."""
    hop = max(1, int(FRAME_S * sr))
    n = len(x) // hop
    if n == 0:
        return hop, np.zeros(0, np.float32), TRIM_FLOOR_DBFS
    frames = x[: n * hop].reshape(n, hop)
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float32), axis=1))
    db = 20.0 * np.log10(np.maximum(rms, 1e-9))
    return hop, db, max(float(db.max()) - TRIM_BELOW_PEAK_DB, TRIM_FLOOR_DBFS)


def trim_silence(x: np.ndarray, sr: int) -> np.ndarray:
    """Drop leading/trailing frames quieter than max(peak frame - 40 dB, -60 dBFS), keeping 20 ms of margin."""
    hop, db, thr = _frame_levels(x, sr)
    if db.size == 0:
        return x
    loud = np.flatnonzero(db > thr)
    if loud.size == 0:
        return x[:0]
    pad = int(TRIM_PAD_S * sr)
    start = max(0, loud[0] * hop - pad)
    end = min(len(x), (loud[-1] + 1) * hop + pad)
    return x[start:end]


def cap_pauses(x: np.ndarray, sr: int, max_pause_s: float = 0.4) -> np.ndarray:
    """Shorten internal silences longer than `max_pause_s` (same silence test as trim_silence): some TTS voices
    pause ~1 s at every comma, which a dub slot cannot afford."""
    hop, db, thr = _frame_levels(x, sr)
    n = db.size
    if n == 0:
        return x
    quiet = db <= thr
    keep = np.ones(n, dtype=bool)
    max_frames = max(1, int(round(max_pause_s / FRAME_S)))
    i = 0
    while i < n:
        if quiet[i]:
            j = i
            while j < n and quiet[j]:
                j += 1
            if j - i > max_frames:
                half = max_frames // 2
                keep[i + half : j - (max_frames - half)] = False
            i = j
        else:
            i += 1
    if keep.all():
        return x
    mask = np.repeat(keep, hop)
    return np.concatenate([x[: n * hop][mask], x[n * hop :]])


def _atempo_chain(factor: float) -> str:
    """atempo takes 0.5..2.0 per stage on older ffmpeg builds: chain stages for anything outside."""
    stages = []
    f = factor
    while f > 2.0:
        stages.append(2.0)
        f /= 2.0
    while f < 0.5:
        stages.append(0.5)
        f /= 0.5
    stages.append(f)
    return ",".join(f"atempo={s:.6f}" for s in stages)


def time_stretch(x: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Speed up by `factor` without changing pitch (ffmpeg atempo, WSOLA)."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise EngineUnavailable("ffmpeg is not installed (needed to time-compress TTS lines)")
    with tempfile.TemporaryDirectory(prefix="dub_fit_") as td:
        src, dst = Path(td) / "in.wav", Path(td) / "out.wav"
        write_audio(src, x, sr, subtype="FLOAT")
        proc = subprocess.run(
            [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
             "-filter:a", _atempo_chain(factor), "-ac", "1", "-ar", str(sr), "-c:a", "pcm_f32le", str(dst)],
            capture_output=True,
            timeout=300,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg atempo failed: {proc.stderr.decode('utf-8', 'replace').strip()[:200]}")
        y, _ = read_audio(dst, mono=True)
    return y


def fit_to_slot(in_wav: Path, out_wav: Path, slot_s: float, max_speedup: float = 1.4, sr: int = 48000) -> dict:
    """Write `in_wav` as `sr` mono, silence-trimmed, sped up (<= max_speedup) to fit `slot_s`; report what happened.

    Returns duration_s (final), speed (applied factor, 1.0 = untouched), overflow_s (what still exceeds the slot),
    plus input/trimmed durations, so the caller can decide to shorten the text or let the line spill over."""
    if slot_s <= 0:
        raise ValueError(f"fit_to_slot: slot must be positive, got {slot_s}")
    x, _ = read_audio(in_wav, sr=sr, mono=True)
    input_s = len(x) / sr
    x = trim_silence(x, sr)
    if x.size == 0:  # a silent placeholder line: keep it silent, at most slot-long
        x = np.zeros(int(round(min(input_s, slot_s) * sr)), np.float32)
    trimmed_s = len(x) / sr
    speed = 1.0
    if trimmed_s > slot_s + TOLERANCE_S and max_speedup > 1.0:
        speed = min(trimmed_s / slot_s, float(max_speedup))
        x = time_stretch(x, sr, speed)
        if len(x) > int(round(slot_s * sr)) and trimmed_s / speed <= slot_s + TOLERANCE_S:
            x = x[: int(round(slot_s * sr))]  # atempo rounding can leave a few ms beyond an exact fit
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0.999:
        x = x * (0.999 / peak)
    write_audio(out_wav, x, sr)
    final = len(x) / sr
    return {
        "wav": str(out_wav),
        "sample_rate": sr,
        "slot_s": round(float(slot_s), 4),
        "input_duration_s": round(input_s, 4),
        "trimmed_duration_s": round(trimmed_s, 4),
        "duration_s": round(final, 4),
        "speed": round(speed, 4),
        "overflow_s": round(max(0.0, final - slot_s), 4),
    }

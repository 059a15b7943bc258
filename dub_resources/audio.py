"""Small audio I/O helpers (soundfile + polyphase resampling). float32 everywhere, never float64 copies."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from .manifest import atomic_path


def read_audio(path: str | Path, sr: int | None = None, mono: bool = False) -> tuple[np.ndarray, int]:
    """Read audio as float32, shape (n,) if mono else (n, channels); resample to `sr` if given."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if mono:
        data = data.mean(axis=1)
    if sr is not None and sr != rate:
        data = resample(data, rate, sr)
        rate = sr
    return np.ascontiguousarray(data, dtype=np.float32), rate


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    g = gcd(sr_in, sr_out)
    return resample_poly(x, sr_out // g, sr_in // g, axis=0).astype(np.float32)


_SFC_SET_ADD_PEAK_CHUNK = 0x1050


def wav_writer(path: str | Path, sr: int, channels: int = 1, subtype: str = "PCM_16") -> sf.SoundFile:
    """An open WAV for writing whose bytes depend only on its samples: libsndfile stamps float WAVs with a PEAK
    chunk holding the write time, which is switched off here (same request, same bytes)."""
    f = sf.SoundFile(str(path), "w", sr, channels, subtype=subtype, format="WAV")
    sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
    return f


def write_audio(path: str | Path, data: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    """Write a WAV atomically (temp + rename), clipping to [-1, 1]."""
    path = Path(path)
    data = np.clip(data, -1.0, 1.0)
    with atomic_path(path, suffix=".wav") as tmp, wav_writer(tmp, sr, 1 if data.ndim == 1 else data.shape[1],
                                                            subtype) as w:
        w.write(data)
    return path


def duration_s(path: str | Path) -> float:
    info = sf.info(str(path))
    return info.frames / float(info.samplerate)


def rms_db(x: np.ndarray) -> float:
    r = float(np.sqrt(np.mean(np.square(x, dtype=np.float32)))) if x.size else 0.0
    return 20.0 * np.log10(max(r, 1e-9))


def stream_blocks(path: str | Path, block_s: float = 10.0):
    """Yield float32 (n, channels) blocks of a file without reading it whole."""
    info = sf.info(str(path))
    for block in sf.blocks(str(path), blocksize=int(block_s * info.samplerate), dtype="float32", always_2d=True):
        yield block


def sum_error_db(target: str | Path, parts: list[str | Path], block_s: float = 10.0) -> float:
    """Energy of target - sum(parts) relative to the target's, in dB, streamed block by block (mono mixdowns).

    All files must share one sample rate. Used to check that stems add back up to the source.
    """
    gens = [stream_blocks(p, block_s) for p in parts]
    err = ref = 0.0
    for tb in stream_blocks(target, block_s):
        t = tb.mean(axis=1)
        acc = np.zeros_like(t)
        for g in gens:
            b = next(g, None)
            if b is not None:
                m = b.mean(axis=1)[: t.size]
                acc[: m.size] += m
        err += float(np.dot(t - acc, t - acc))
        ref += float(np.dot(t, t))
    return 10.0 * np.log10((err + 1e-12) / (ref + 1e-12))

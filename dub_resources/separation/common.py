"""Streaming building blocks shared by the separation engines.

Every engine produces a raw dialogue estimate (any rate, mono or stereo) in a temp file; `write_stems` then turns it
into the three stems in bounded memory: blocks are read, resampled with enough context that the result is identical
to a whole-file polyphase resample, and written as they go. A 20-minute episode never sits in memory.
"""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from math import ceil, gcd
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from ..errors import EngineUnavailable
from ..audio import wav_writer
from ..manifest import atomic_path

STEM_SR = 48000
ASR_SR = 16000
DIALOGUE = "dialogue.wav"
DIALOGUE_16K = "dialogue_16k.wav"
BACKGROUND = "background.wav"
BLOCK_S = 10.0
_ONNX_SESSIONS: dict[str, object] = {}
_ONNX_LOCK = threading.Lock()


def package_file(module: str, *parts: str, missing: str) -> Path:
    """A file shipped inside an installed package, found without importing the package; EngineUnavailable(missing)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable(missing)
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)


def onnx_session(model_path: Path, engine: str):
    """Single-threaded CPU onnxruntime session, cached per process and file (the pipeline separates many episodes)."""
    key = str(Path(model_path).resolve())
    with _ONNX_LOCK:
        sess = _ONNX_SESSIONS.get(key)
        if sess is None:
            import onnxruntime as ort

            if not Path(key).is_file():
                raise EngineUnavailable(f"{engine}: model not found: {key}")
            opts = ort.SessionOptions()
            # one small frame per call: threading only adds overhead
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.log_severity_level = 3
            sess = ort.InferenceSession(key, sess_options=opts, providers=["CPUExecutionProvider"])
            _ONNX_SESSIONS[key] = sess
        return sess


class ResampledReader:
    """Reads an audio file as consecutive float32 blocks at `sr_out`, exactly like one whole-file resample_poly.

    Each input block is read with `context` zero-padded samples on both sides (a multiple of the decimation factor,
    longer than the filter), resampled, and trimmed, so block boundaries leave no seams.
    """

    def __init__(self, path: str | Path, sr_out: int, *, mono: bool = False, channels: int | None = None,
                 block_s: float = BLOCK_S):
        self.path = Path(path)
        self._f = sf.SoundFile(str(self.path))
        self.sr_in = self._f.samplerate
        self.sr_out = sr_out
        self.frames_in = self._f.frames
        g = gcd(self.sr_in, sr_out)
        self.up, self.down = sr_out // g, self.sr_in // g
        self.frames = ceil(self.frames_in * self.up / self.down)
        self.mono = mono
        self.channels = 1 if mono else (channels or self._f.channels)
        # input block: a multiple of `down`, so each block's output starts on an integer output sample
        self._block_in = max(self.down, int(block_s * self.sr_in) // self.down * self.down)
        half = 10 * max(self.up, self.down) // self.up + 16  # resample_poly's filter half-length, in input samples
        self._ctx = 0 if self.up == self.down == 1 else ceil(half / self.down) * self.down
        self._pos_in = 0
        self._out_done = 0
        self._buf = np.zeros((0, self.channels), dtype=np.float32)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "ResampledReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read_in(self, start: int, n: int) -> np.ndarray:
        """Input frames [start, start+n), zeros outside the file, shape (n, channels)."""
        out = np.zeros((n, self._f.channels), dtype=np.float32)
        a, b = max(0, start), min(self.frames_in, start + n)
        if b > a:
            self._f.seek(a)
            out[a - start : b - start] = self._f.read(b - a, dtype="float32", always_2d=True)
        return out

    def _shape_channels(self, x: np.ndarray) -> np.ndarray:
        if self.mono:
            return x.mean(axis=1, keepdims=True, dtype=np.float32)
        if x.shape[1] == self.channels:
            return x
        if x.shape[1] == 1:
            return np.repeat(x, self.channels, axis=1)
        mono = x.mean(axis=1, keepdims=True, dtype=np.float32)  # other layouts: mixdown, then spread
        return np.repeat(mono, self.channels, axis=1)

    def _next_block(self) -> np.ndarray | None:
        if self._pos_in >= self.frames_in:
            return None
        s = self._pos_in
        x = self._shape_channels(self._read_in(s - self._ctx, self._block_in + 2 * self._ctx))
        self._pos_in += self._block_in
        if self.up == self.down:
            y = x
        else:
            y = resample_poly(x, self.up, self.down, axis=0).astype(np.float32)
            c = self._ctx * self.up // self.down
            y = y[c : c + self._block_in * self.up // self.down]
        y = y[: self.frames - self._out_done]
        self._out_done += y.shape[0]
        return y

    def read(self, n: int) -> np.ndarray:
        """Up to n output frames, shape (m, channels); m < n only at the end."""
        while self._buf.shape[0] < n:
            blk = self._next_block()
            if blk is None:
                break
            self._buf = np.concatenate([self._buf, blk]) if self._buf.size else blk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def blocks(self, n: int | None = None):
        n = n or int(BLOCK_S * self.sr_out)
        while True:
            b = self.read(n)
            if b.shape[0] == 0:
                return
            yield b


def to_int16(x: np.ndarray) -> np.ndarray:
    """PCM16 quantisation with the same 1/32768 scale soundfile uses to read it back."""
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)


@contextlib.contextmanager
def open_writers(specs: dict[str, tuple[Path, int, int, str]]):
    """Open several WAV writers at once, each into an atomic temp path renamed only if all succeed.

    specs: key -> (path, samplerate, channels, subtype).
    """
    with contextlib.ExitStack() as stack:
        files = {}
        for key, (path, sr, ch, subtype) in specs.items():
            tmp = stack.enter_context(atomic_path(path, suffix=".wav"))
            files[key] = stack.enter_context(wav_writer(tmp, sr, ch, subtype))
        yield files


GainFn = Callable[[np.ndarray], np.ndarray]  # sample times (s) -> linear gain


def write_stems(source_wav: Path, raw_dialogue: Path, out_dir: Path, gain: GainFn | None = None) -> dict:
    """Write dialogue_16k.wav, dialogue.wav (48k mono) and background.wav (48k stereo = source - dialogue).

    A stereo estimate (Demucs) is mixed down: dialogue is one centred mono stem, subtracted from each channel. It is
    quantised to PCM16 first and the background is computed from the quantised values and stored as float, so
    reading both stems back reconstructs the source (to float32 rounding) and nothing clips.
    """
    out_dir = Path(out_dir)
    stats = {"clipped_dialogue_samples": 0}
    # 16 kHz copy for diarization/ASR, straight from the raw estimate (no 48k round trip)
    with ResampledReader(raw_dialogue, ASR_SR, mono=True) as rd, open_writers(
        {"d16": (out_dir / DIALOGUE_16K, ASR_SR, 1, "PCM_16")}
    ) as w:
        pos = 0
        for blk in rd.blocks():
            d = blk[:, 0]
            if gain is not None:
                d = d * gain((pos + np.arange(d.shape[0], dtype=np.float64)) / ASR_SR).astype(np.float32)
            pos += d.shape[0]
            w["d16"].write(to_int16(d))

    src = ResampledReader(source_wav, STEM_SR, channels=2)
    dlg = ResampledReader(raw_dialogue, STEM_SR, mono=True)
    try:
        with open_writers(
            {
                "dlg": (out_dir / DIALOGUE, STEM_SR, 1, "PCM_16"),
                "bg": (out_dir / BACKGROUND, STEM_SR, 2, "FLOAT"),
            }
        ) as w:
            pos = 0
            for s in src.blocks():
                n = s.shape[0]
                d = dlg.read(n)[:, 0]
                if d.shape[0] < n:  # estimate a few samples short (rate rounding): pad with silence
                    d = np.concatenate([d, np.zeros(n - d.shape[0], np.float32)])
                if gain is not None:
                    d = d * gain((pos + np.arange(n, dtype=np.float64)) / STEM_SR).astype(np.float32)
                pos += n
                q = to_int16(d)
                bg = s - (q.astype(np.float32) / 32768.0)[:, None]
                stats["clipped_dialogue_samples"] += int(np.count_nonzero(np.abs(d) >= 1.0))
                w["dlg"].write(q)
                w["bg"].write(bg)
    finally:
        src.close()
        dlg.close()
    stats["duration_s"] = round(src.frames / STEM_SR, 3)
    return stats


def write_passthrough(source_wav: Path, out_dir: Path) -> dict:
    """Original audio as both stems: dialogue = mono mixdown (48k and 16k), background = the original, stereo 48k."""
    out_dir = Path(out_dir)
    with ResampledReader(source_wav, ASR_SR, mono=True) as rd, open_writers(
        {"d16": (out_dir / DIALOGUE_16K, ASR_SR, 1, "PCM_16")}
    ) as w:
        for blk in rd.blocks():
            w["d16"].write(to_int16(blk[:, 0]))
    with ResampledReader(source_wav, STEM_SR, channels=2) as src, open_writers(
        {
            "dlg": (out_dir / DIALOGUE, STEM_SR, 1, "PCM_16"),
            "bg": (out_dir / BACKGROUND, STEM_SR, 2, "FLOAT"),
        }
    ) as w:
        for s in src.blocks():
            w["dlg"].write(to_int16(s.mean(axis=1)))
            w["bg"].write(s)
        frames = src.frames
    return {"duration_s": round(frames / STEM_SR, 3)}


def stem_paths(out_dir: Path) -> tuple[Path, Path, Path]:
    out_dir = Path(out_dir)
    return out_dir / DIALOGUE, out_dir / DIALOGUE_16K, out_dir / BACKGROUND

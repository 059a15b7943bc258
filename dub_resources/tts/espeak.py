"""espeak-ng CLI voices: robotic but covers ~100 languages with no model files, so it is the last spoken resort."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ..audio import read_audio, write_audio
from ..engine import EngineInfo
from ..errors import EngineUnavailable
from .base import SynthResult
from .espeak_util import espeak_binary, espeak_voice_for, norm_lang

# Variant + pitch pairs, alternating female/male so consecutive presets are clearly different speakers.
_VARIANTS = [("f4", 55), ("m7", 40), ("f3", 65), ("m2", 45), ("f5", 60), ("m1", 35), ("f2", 50), ("m3", 40)]
RATE_WPM = 150  # a little under espeak's 175 default: noticeably easier to understand
# espeak reads kanji as "Chinese letter": never use it for Japanese.
_UNSAFE = {"ja"}


def _espeak_version() -> str:
    exe = espeak_binary()
    if not exe:
        return "missing"
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout
        parts = out.split()
        return parts[parts.index("NG") + 2].rstrip() if "NG" in parts else out.strip()[:40]
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return "unknown"


class EspeakSynthesizer:
    """Formant synthesis via `espeak-ng -w`; voice ids look like 'es+f2' or 'es+m3@40' (variant @ pitch 0-99)."""

    name = "espeak-ng"

    def __init__(self) -> None:
        self.info = EngineInfo(self.name, _espeak_version())

    def supports(self, language: str) -> bool:
        if norm_lang(language).split("-")[0] in _UNSAFE:
            return False
        return espeak_binary() is not None and espeak_voice_for(language) is not None

    def preset_voices(self, language: str) -> list[str]:
        v = espeak_voice_for(language) if self.supports(language) else None
        return [f"{v}+{var}@{pitch}" for var, pitch in _VARIANTS] if v else []

    def check(self) -> None:
        if espeak_binary() is None:
            raise EngineUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")

    def synthesize(self, text: str, language: str, voice: str, out_wav: Path, speed: float = 1.0) -> SynthResult:
        exe = espeak_binary()
        if exe is None:
            raise EngineUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
        if not self.supports(language):
            raise EngineUnavailable(f"espeak-ng: language {language!r} not supported")
        base = espeak_voice_for(language)
        spec, _, pitch = (voice or "").partition("@")
        name, _, variant = spec.partition("+")
        if not name or espeak_voice_for(name) is None:
            name = base  # a voice id from another engine: keep the line's language, default variant
        eff = f"{name}+{variant}" if variant else name
        args = [exe, "-v", eff, "-s", str(int(round(RATE_WPM * speed))), "-b", "1"]
        if pitch.isdigit():
            args += ["-p", pitch]
        with tempfile.TemporaryDirectory(prefix="dub_espeak_") as td:
            tmp = Path(td) / "out.wav"
            proc = subprocess.run(args + ["-w", str(tmp), "--stdin"], input=text.encode("utf-8"), capture_output=True,
                                  timeout=120)
            if proc.returncode != 0 or not tmp.exists():
                raise RuntimeError(f"espeak-ng failed: {proc.stderr.decode('utf-8', 'replace').strip()[:200]}")
            y, sr = read_audio(tmp, mono=True)
        if y.size == 0:
            raise RuntimeError(f"espeak-ng produced no audio for {text!r}")
        write_audio(out_wav, y, sr)
        info = EngineInfo(self.info.name, self.info.version, list(self.info.fallbacks))
        return SynthResult(Path(out_wav), sr, len(y) / sr, info, f"{eff}@{pitch}" if pitch.isdigit() else eff)

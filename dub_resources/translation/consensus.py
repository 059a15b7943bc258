"""Consensus of routes: several chains translate each line and the line keeps the candidate that agrees most with the
others (minimum-Bayes-risk selection, chrF as the agreement). Errors that one route makes alone (a wrong word sense in
one pivot language, an unknown word) are outvoted; what the routes agree on stays. It is used for a pair only where
the bench measured it better than the best single route (docs/translation.md); each line records the route it took.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from ..engine import EngineInfo
from ..errors import DubError, UnsupportedLanguagePair
from .chain import ChainTranslator
from .common import norm_lang, translate_nonempty

CHRF_ORDER = 6
CHRF_BETA = 2.0


def _ngrams(text: str, n: int) -> Counter:
    s = "".join(text.split())
    return Counter(s[i:i + n] for i in range(len(s) - n + 1))


def chrf(hyp: str, ref: str, order: int = CHRF_ORDER, beta: float = CHRF_BETA) -> float:
    """Sentence chrF (character n-grams 1..order, whitespace ignored, precision and recall averaged over the orders
    that exist, F-beta), 0..100: the agreement measure of the consensus (sacrebleu's definition, no dependency)."""
    precs, recs = [], []
    for n in range(1, order + 1):
        h, r = _ngrams(hyp, n), _ngrams(ref, n)
        if not h or not r:
            continue
        match = sum((h & r).values())
        precs.append(match / sum(h.values()))
        recs.append(match / sum(r.values()))
    if not precs:
        return 0.0
    p, r = sum(precs) / len(precs), sum(recs) / len(recs)
    if p + r == 0:
        return 0.0
    b2 = beta * beta
    return 100.0 * (1 + b2) * p * r / (b2 * p + r)


def pick(candidates: Sequence[str]) -> int:
    """Index of the candidate with the highest summed chrF against the others; ties go to the earlier one (the
    routes are listed best measured first). Empty candidates never win over a non-empty one."""
    best, best_score = 0, None
    for k, hyp in enumerate(candidates):
        if not hyp.strip():
            continue
        score = sum(chrf(hyp, other) for j, other in enumerate(candidates) if j != k and other.strip())
        if best_score is None or score > best_score + 1e-9:
            best, best_score = k, score
    return best


class ConsensusTranslator:
    """One translator over several chains of the same pair (best measured first)."""

    name = "consensus"

    def __init__(self, chains: Sequence[ChainTranslator]) -> None:
        if len(chains) < 2:
            raise DubError("a consensus needs at least two routes")
        pairs = {(c.source, c.target) for c in chains}
        if len(pairs) != 1:
            raise DubError(f"consensus routes translate different pairs: {sorted(pairs)}")
        self.chains = list(chains)
        self.source, self.target = next(iter(pairs))
        self.routes = [c.route for c in chains]
        versions: list[str] = []
        for c in chains:
            versions += [v for v in c.hop_versions if v not in versions]
        self.info = EngineInfo(f"consensus:{'|'.join(self.routes)}", "; ".join(versions), [])
        self.last_routes: list[str] = []
        self.picks: Counter = Counter()

    def supports(self, source: str, target: str) -> bool:
        return (norm_lang(source), norm_lang(target)) == (self.source, self.target)

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        if not self.supports(source, target):
            raise UnsupportedLanguagePair(source, target, [f"consensus {'|'.join(self.routes)}"])
        chosen: list[str] = []

        def run(lines: list[str]) -> list[str]:
            cache: dict = {}
            outs = [c.run(lines, cache) for c in self.chains]
            for c in self.chains:
                self.info.fallbacks += [f for f in c.info.fallbacks if f not in self.info.fallbacks]
            res = []
            for i in range(len(lines)):
                k = pick([o[i] for o in outs])
                chosen.append(self.routes[k])
                self.picks[self.routes[k]] += 1
                res.append(outs[k][i])
            return res

        out = translate_nonempty(texts, run)
        it = iter(chosen)
        self.last_routes = [next(it) if t.strip() else "" for t in texts]
        return out

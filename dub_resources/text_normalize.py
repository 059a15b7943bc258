"""Text normalisation and WER/CER for ASR evaluation (tests and benchmarks share these).

References come in different styles (upper case, punctuation, spelled-out numbers), so both sides are normalised
before scoring. English uses Whisper's EnglishTextNormalizer (as shipped in transformers) with Whisper's own
British->American spelling map (data/whisper_english_spelling.json: openai/whisper normalizers/english.json, MIT,
taken from the `whisper-normalizer` wheel), so "colour"/"color" score the same as in Whisper's published WERs.
One documented addition: tokens left with no letter or digit are dropped (Whisper's rule that strips a period not
followed by a digit leaves a lone "." behind for an ellipsis, "for..." -> "for ."). Other languages get a basic
normaliser: lower case, punctuation and symbols removed, whitespace collapsed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

# Scripts written without spaces: CER is computed on characters with spaces removed.
NO_SPACE_LANGS = {"zh", "ja", "th", "lo", "my", "km", "yue"}
_BRACKETS = re.compile(r"[<\[][^>\]]*[>\]]")
_SPACES = re.compile(r"\s+")
_SPELLING_MAP = Path(__file__).resolve().parent / "data" / "whisper_english_spelling.json"


def normalize_basic(text: str) -> str:
    """Lower-case, drop bracketed tags, replace punctuation/symbols by spaces, collapse whitespace (keeps accents)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _BRACKETS.sub(" ", text)
    text = text.replace("'", "").replace("\u2019", "")  # don't -> dont rather than don t
    out = [" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text]
    return _SPACES.sub(" ", "".join(out)).strip()


@lru_cache(maxsize=1)
def _english_normalizer() -> Callable[[str], str] | None:
    try:
        from transformers.models.whisper.english_normalizer import EnglishTextNormalizer
    except Exception:  # transformers missing or changed layout: fall back to the basic normaliser
        return None
    return EnglishTextNormalizer(english_spelling_map())


@lru_cache(maxsize=1)
def english_spelling_map() -> dict[str, str]:
    """Whisper's British->American spelling map (1.7k words); empty if the data file is missing."""
    try:
        return json.loads(_SPELLING_MAP.read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def english_normalizer_name() -> str:
    """Which English normaliser is active (recorded by benchmarks)."""
    if _english_normalizer() is None:
        return "basic"
    return f"whisper-english (transformers, {len(english_spelling_map())} spellings, symbol-only tokens dropped)"


def normalize_en(text: str) -> str:
    """Whisper's English normaliser (numbers, contractions, fillers) or the basic one if unavailable."""
    norm = _english_normalizer()
    if norm is None:
        return normalize_basic(text)
    return " ".join(t for t in norm(text).split() if any(ch.isalnum() for ch in t))


def normalize(text: str, lang: str = "en") -> str:
    """Normalise `text` for scoring in language `lang` (ISO 639-1)."""
    return normalize_en(text) if (lang or "en").lower().startswith("en") else normalize_basic(text)


def _pairs(refs: Sequence[str] | str, hyps: Sequence[str] | str, lang: str, norm: bool) -> tuple[list[str], list[str]]:
    if isinstance(refs, str):
        refs = [refs]
    if isinstance(hyps, str):
        hyps = [hyps]
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    r = [normalize(x, lang) if norm else x.strip() for x in refs]
    h = [normalize(x, lang) if norm else x.strip() for x in hyps]
    return r, h


def wer(refs: Sequence[str] | str, hyps: Sequence[str] | str, lang: str = "en", norm: bool = True) -> float:
    """Corpus WER (total edits / total reference words) after normalisation.

    Pairs whose reference normalises to nothing are scored as insertions only, so an empty reference never raises.
    """
    import jiwer

    r, h = _pairs(refs, hyps, lang, norm)
    keep = [i for i, x in enumerate(r) if x]
    extra = sum(len(h[i].split()) for i in range(len(r)) if not r[i])
    if not keep:
        return 0.0 if extra == 0 else float("inf")
    out = jiwer.process_words([r[i] for i in keep], [h[i] for i in keep])
    n_ref = out.hits + out.substitutions + out.deletions
    return (out.substitutions + out.deletions + out.insertions + extra) / n_ref


def cer(refs: Sequence[str] | str, hyps: Sequence[str] | str, lang: str = "en", norm: bool = True) -> float:
    """Corpus CER after normalisation; spaces are removed for languages written without them (zh, ja, th...)."""
    import jiwer

    r, h = _pairs(refs, hyps, lang, norm)
    if (lang or "").lower().split("-")[0] in NO_SPACE_LANGS:
        r, h = [x.replace(" ", "") for x in r], [x.replace(" ", "") for x in h]
    keep = [i for i, x in enumerate(r) if x]
    extra = sum(len(h[i]) for i in range(len(r)) if not r[i])
    if not keep:
        return 0.0 if extra == 0 else float("inf")
    out = jiwer.process_characters([r[i] for i in keep], [h[i] for i in keep])
    n_ref = out.hits + out.substitutions + out.deletions
    return (out.substitutions + out.deletions + out.insertions + extra) / n_ref

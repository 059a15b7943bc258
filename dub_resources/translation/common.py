"""Helpers shared by the translators: language codes and the empty-line-preserving batch wrapper."""

from __future__ import annotations

import re
from typing import Callable, Sequence

# ISO 639-1 -> English name (LLM prompts) and ISO 639-3/apertium code.
LANG_NAMES = {
    "en": "English", "es": "Spanish", "pt": "Portuguese", "fr": "French", "de": "German", "it": "Italian",
    "ca": "Catalan", "gl": "Galician", "eu": "Basque", "oc": "Occitan", "nl": "Dutch", "ro": "Romanian",
    "ru": "Russian", "uk": "Ukrainian", "pl": "Polish", "cs": "Czech", "sv": "Swedish", "da": "Danish",
    "nb": "Norwegian Bokmål", "nn": "Norwegian Nynorsk", "no": "Norwegian", "is": "Icelandic", "fi": "Finnish",
    "ja": "Japanese", "zh": "Chinese", "ko": "Korean", "ar": "Arabic", "hi": "Hindi", "tr": "Turkish",
    "el": "Greek", "he": "Hebrew", "id": "Indonesian", "vi": "Vietnamese", "th": "Thai", "eo": "Esperanto",
}
ISO639_3 = {
    "en": "eng", "es": "spa", "pt": "por", "fr": "fra", "de": "deu", "it": "ita", "ca": "cat", "gl": "glg",
    "eu": "eus", "oc": "oci", "nl": "nld", "ro": "ron", "ru": "rus", "uk": "ukr", "pl": "pol", "cs": "ces",
    "sv": "swe", "da": "dan", "nb": "nob", "nn": "nno", "no": "nor", "is": "isl", "fi": "fin", "ja": "jpn",
    "zh": "zho", "ko": "kor", "ar": "ara", "hi": "hin", "tr": "tur", "el": "ell", "he": "heb", "id": "ind",
    "vi": "vie", "th": "tha", "eo": "epo", "br": "bre", "cy": "cym", "ga": "gle", "mt": "mlt", "sq": "sqi",
}
_WS = re.compile(r"\s+")


def norm_lang(code: str) -> str:
    """'pt-BR' / 'pt_br' / 'PT' -> 'pt' (primary subtag, lower case)."""
    if not code or not str(code).strip():
        raise ValueError("empty language code")
    return re.split(r"[-_]", str(code).strip().lower())[0]


def lang_name(code: str) -> str:
    return LANG_NAMES.get(norm_lang(code), code)


def one_line(text: str) -> str:
    """Collapse internal newlines/tabs/runs of spaces: every translator works on single-line sentences."""
    return _WS.sub(" ", text or "").strip()


def translate_nonempty(texts: Sequence[str], fn: Callable[[list[str]], list[str]]) -> list[str]:
    """Send only non-empty (single-lined) texts to `fn`, put results back in place; empty inputs give ''.

    Checks that `fn` returned one output per input: alignment is what the dubbing timeline relies on.
    """
    cleaned = [one_line(t) for t in texts]
    idx = [i for i, t in enumerate(cleaned) if t]
    out = [""] * len(cleaned)
    if not idx:
        return out
    res = fn([cleaned[i] for i in idx])
    if len(res) != len(idx):
        raise RuntimeError(f"translator returned {len(res)} outputs for {len(idx)} inputs")
    for i, r in zip(idx, res):
        out[i] = r.strip()
    return out

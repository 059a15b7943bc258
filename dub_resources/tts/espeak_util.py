"""espeak-ng helpers shared by the Kokoro phonemiser and the espeak-ng engine: language -> voice, text -> IPA."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

from ..errors import EngineUnavailable

# Dub language code -> espeak-ng voice. Anything not listed falls back to the base code if espeak knows it.
_LANG_TO_ESPEAK = {
    "es": "es",
    "es-es": "es",
    "es-419": "es-419",
    "es-mx": "es-419",
    "es-us": "es-419",
    "pt": "pt-br",
    "pt-br": "pt-br",
    "pt-pt": "pt",
    "fr": "fr-fr",
    "fr-fr": "fr-fr",
    "fr-be": "fr-be",
    "fr-ch": "fr-ch",
    "fr-ca": "fr-fr",
    "it": "it",
    "en": "en-us",
    "en-us": "en-us",
    "en-gb": "en-gb",
    "en-uk": "en-gb",
    "de": "de",
    "hi": "hi",
    "ja": "ja",
    "zh": "cmn",
    "zh-cn": "cmn",
    "cmn": "cmn",
    "yue": "yue",
}

# Sentence and clause boundaries (keeps the punctuation with the text before it).
_SENTENCE_RE = re.compile(r"(?<=[.!?…。！？])\s+(?=[\"“«¿¡(\[]*[^\s\w]*[A-ZÀ-ÖØ-Þ0-9¿¡\"“«])|(?<=[。！？])|\n+")
_CLAUSE_RE = re.compile(r"(\.{3}|…|[,;:](?=\s|$)|[—–、，])")
# "Mr. Smith" is one sentence: abbreviations that end with a period and precede a capitalised name.
_ABBREV = {"mr", "mrs", "ms", "dr", "sr", "sra", "srta", "st", "prof", "jr", "mme", "mlle", "dra", "ud", "uds",
           "vs", "etc", "no", "nº", "av", "gen", "col", "capt", "lt", "sgt"}
_LANG_SWITCH_RE = re.compile(r"\([a-z\-]+\)")


def norm_lang(language: str) -> str:
    """'es_ES' / 'ES' / 'pt-BR' -> 'es-es' / 'es' / 'pt-br'."""
    return (language or "").strip().lower().replace("_", "-")


def espeak_binary() -> str | None:
    return shutil.which("espeak-ng")


@functools.lru_cache(maxsize=1)
def espeak_voices() -> frozenset[str]:
    """Language voices the installed espeak-ng knows (empty when espeak-ng is missing)."""
    exe = espeak_binary()
    if not exe:
        return frozenset()
    try:
        out = subprocess.run([exe, "--voices"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    names = set()
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 2:
            names.add(cols[1].lower())
    return frozenset(names)


def espeak_voice_for(language: str) -> str | None:
    """The espeak-ng voice for a language code, or None when espeak-ng does not speak it."""
    lang = norm_lang(language)
    voices = espeak_voices()
    for cand in (_LANG_TO_ESPEAK.get(lang), lang, _LANG_TO_ESPEAK.get(lang.split("-")[0]), lang.split("-")[0]):
        if cand and cand in voices:
            return cand
    return None


def espeak_ipa(text: str, voice: str, tie: str = "^") -> str:
    """IPA for one clause (espeak-ng drops punctuation; callers split on it first). Multi-letter phonemes are tied
    with `tie` so they can be mapped to Kokoro's single-symbol diphthongs/affricates."""
    exe = espeak_binary()
    if not exe:
        raise EngineUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
    proc = subprocess.run(
        [exe, "-q", "-v", voice, "--ipa", f"--tie={tie}", "-b", "1", "--stdin"],
        input=text.encode("utf-8"),
        capture_output=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"espeak-ng -v {voice} failed: {proc.stderr.decode('utf-8', 'replace').strip()[:200]}")
    out = proc.stdout.decode("utf-8", "replace")
    out = _LANG_SWITCH_RE.sub("", out)  # '(en)...(es)' language-switch flags
    return " ".join(out.split())


def split_sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_RE.split(text or "") if p and p.strip()]
    out: list[str] = []
    for p in parts:
        if out:
            last = out[-1].rsplit(None, 1)[-1].rstrip(".").lower()
            if out[-1].endswith(".") and last in _ABBREV:
                out[-1] = f"{out[-1]} {p}"
                continue
        out.append(p)
    return out


def split_clauses(sentence: str) -> list[tuple[str, str]]:
    """[(clause_text, trailing_punctuation)] for one sentence; final punctuation is kept as the last clause's mark."""
    pieces = _CLAUSE_RE.split(sentence)
    out: list[tuple[str, str]] = []
    for i in range(0, len(pieces), 2):
        chunk = pieces[i]
        mark = pieces[i + 1] if i + 1 < len(pieces) else ""
        chunk = chunk.strip()
        m = re.search(r"[.!?…。！？]+$", chunk)
        end = ""
        if m:
            end = m.group(0)
            chunk = chunk[: m.start()].strip()
        mark = mark or end
        mark = {"、": ",", "，": ",", "。": ".", "！": "!", "？": "?", "–": "—"}.get(mark, mark)
        if len(mark) > 1:
            mark = "…" if mark.startswith("...") or "…" in mark else mark[-1]
        if chunk:
            out.append((chunk, mark))
        elif mark and out:
            out[-1] = (out[-1][0], mark)
    return out

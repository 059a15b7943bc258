"""Rule-based edits around the offline engines, kept because they are right and did not cost on the bench
(docs/translation.md has the figures, and the edits tried and dropped).

- names: a capitalised source word that an earlier hop left unchanged is a name (or a word spelled alike in both
  languages): a later rule-based hop must not translate it ("Tom" -> Spanish "Tono" through apertium pt-es, "Ali" ->
  "Allí"). The hop's own translation of the word alone is looked up and turned back into the word.
- articles before names: Portuguese puts the definite article before first names ("o Tom", "do Tom"); the languages
  it is chained into here do not, so the article is dropped before such a name in a Portuguese hop input.
- the finish of every output: Apertium's unknown/error marks, spaces before punctuation, a missing space after a
  sentence end, the first letter's case as in the source, and Spanish opening question/exclamation marks (or their
  removal in a language that has none).
"""

from __future__ import annotations

import re

from .apertium import strip_marks

# Capitalised words: a letter in upper case followed by letters (apostrophes and digits end the word: "Tom's").
_CAP_WORD = re.compile(r"(?<![\w'’])([^\W\d_][^\W\d_]+)")
# Languages written with opening question/exclamation marks.
INVERTED_MARKS = frozenset({"es", "gl", "ast"})


def name_candidates(source: str) -> list[str]:
    """Capitalised words of the source (two letters or more), in order, each once."""
    seen: list[str] = []
    for m in _CAP_WORD.finditer(source):
        w = m.group(1)
        if w[0].isupper() and w not in seen:
            seen.append(w)
    return seen


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", text) is not None


def kept_names(source: str, text: str) -> list[str]:
    """The source's capitalised words that appear unchanged (same case, whole word) in `text`."""
    return [w for w in name_candidates(source) if _has_word(text, w)]


def restore_names(output: str, names: list[str], translated: dict[str, str]) -> str:
    """Put back each name whose own translation (`translated[name]`, the hop run on the word alone) replaced it."""
    for name in names:
        if _has_word(output, name):
            continue
        tr = translated.get(name, "")
        if tr and tr != name:
            output = re.sub(rf"(?<![\w]){re.escape(tr)}(?![\w])", name, output)
    return output


_PT_ARTICLE = {"o": "", "a": "", "os": "", "as": "", "do": "de", "da": "de", "dos": "de", "das": "de",
               "no": "em", "na": "em", "nos": "em", "nas": "em", "ao": "a", "à": "a", "pelo": "por", "pela": "por"}


def drop_pt_name_articles(text: str, names: list[str]) -> str:
    """'o Tom' -> 'Tom', 'do Tom' -> 'de Tom', 'ao Tom' -> 'a Tom' (Portuguese article before a first name).

    The bare feminine 'a' is left alone: it is also the preposition ('propôs a Mary')."""
    for name in names:
        def repl(m: re.Match) -> str:
            art = m.group(1)
            low = art.lower()
            if low == "a":
                return m.group(0)
            rep = _PT_ARTICLE[low]
            if not rep:
                return name if not art[0].isupper() else name[0].upper() + name[1:]
            return (rep[0].upper() + rep[1:] if art[0].isupper() else rep) + " " + name

        pattern = "|".join(sorted(map(re.escape, _PT_ARTICLE), key=len, reverse=True))
        text = re.sub(rf"(?<![\w])({pattern})\s+{re.escape(name)}(?![\w])", repl, text, flags=re.IGNORECASE)
    return text


_SPACE_BEFORE = re.compile(r"\s+([,.;:!?…)\]»”])")
_NO_SPACE_AFTER = re.compile(r"([.!?…])([A-ZÀ-ÖØ-Þ¿¡«“\"])(?=[\w¿¡«“\"])")
_SENTENCE = re.compile(r"[^.!?…]*[.!?…]+[\"'»”)]*|[^.!?…]+$")


def _inverted(text: str) -> str:
    """Spanish opening marks: each sentence that ends in '?' ('!') and has no '¿' ('¡') gets one at its start."""
    out = []
    for m in _SENTENCE.finditer(text):
        sent = m.group(0)
        core = sent.rstrip("\"'»”) ")
        lead = len(sent) - len(sent.lstrip(" \"'«“—–-"))
        for end, opening in (("?", "¿"), ("!", "¡")):
            if core.endswith(end) and opening not in sent:
                sent = sent[:lead] + opening + sent[lead:]
                break
        out.append(sent)
    return "".join(out)


def finish(text: str, source: str, target: str) -> str:
    """The last edit of every offline translation: marks, spacing, first letter's case, opening marks."""
    t = " ".join(strip_marks(text).split())
    if not t:
        return t
    if target != "fr":  # French keeps its space before ? ! : ;
        t = _SPACE_BEFORE.sub(r"\1", t)
    else:
        t = re.sub(r"\s+([,.…)\]])", r"\1", t)
    t = _NO_SPACE_AFTER.sub(r"\1 \2", t)
    src = source.lstrip(" \"'«“—–-¿¡")
    i = len(t) - len(t.lstrip(" \"'«“—–-¿¡"))
    if src[:1].isupper() and t[i:i + 1].islower():
        t = t[:i] + t[i].upper() + t[i + 1:]
    if target in INVERTED_MARKS:
        t = _inverted(t)
    else:
        t = t.replace("¿", "").replace("¡", "")
    return t.strip()

"""Speaker-attributed lines: ASR words x diarization turns -> the dubbing script.

A line is the unit that is translated, voiced and timed: one speaker's words from a sentence start to a sentence
end, with the words' times kept. The rules, in order (`build_lines`):

1. Every word gets the speaker who holds most of its span in the diarization (summed over that speaker's turns); a
   word inside no turn gets the nearest turn's speaker.
2. The word stream is cut into sentences at sentence-final punctuation ("." "?" "!" "…", not after an abbreviation
   such as "Mr." or an initial). ASR segment boundaries are ignored: they fall mid-sentence.
3. Inside one sentence, a word that no speaker holds more than half of (ASR word times stretch over pauses and
   turn boundaries) takes the speaker of the nearest word of the sentence that is held. A sentence is then cut at
   every speaker change.
4. A piece longer than `max_line_s` is split at a clause boundary: after a word ending in , ; : or a dash, else before
   a conjunction (the most even such cut), else at its longest pause; never inside a word; again until every piece
   fits. Cuts that leave a side shorter than `min_fragment_s` are taken only when there is no other.
5. A piece shorter than `min_fragment_s` is merged into a neighbouring piece when the result still fits in
   `max_line_s`: of its own sentence and speaker first; else the piece its sentence goes on in, spoken by another
   speaker (a word on the wrong side of a diarization boundary: the sentence stays whole and takes that speaker);
   else its speaker's piece of the previous or next sentence, the nearer in time. A short reply that the ASR
   punctuated as its own sentence, between other speakers' lines, stays its own line.

A line's start and end are its first and last word's, narrowed to its speaker's diarization turns where the words'
times reach outside them; each line keeps its words with their own times (`words`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .asr.base import Transcript, Word
from .diarization.base import Turn

MAX_LINE_S = 8.0
MIN_FRAGMENT_S = 1.0

_CLOSERS = "\"'”’»)]}"
_OPENERS = "\"'“‘«([{¿¡"
_SENTENCE_END = ".?!…。？！"
_CLAUSE_END = ",;:—–-、，；："
# Abbreviations whose period does not end a sentence (titles and the like; Whisper writes "Mr. Hill").
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "mt", "ft", "vs", "no", "vol", "fig", "gen", "gov", "sgt",
    "capt", "col", "lt", "rev", "hon", "e.g", "i.e", "a.m", "p.m", "sra", "sr", "srta", "dra", "mme", "mlle", "m",
    "hr", "fr", "nr", "ca", "bzw", "z.b", "u.a", "ggf",
})
# Words that start a clause, per language (a line may be split before them).
CONJUNCTIONS = {
    "en": frozenset({"and", "but", "or", "so", "because", "although", "though", "while", "whereas", "which", "who",
                     "when", "where", "if", "unless", "until", "since", "yet", "then", "that"}),
    "es": frozenset({"y", "pero", "o", "porque", "aunque", "mientras", "que", "cuando", "donde", "si", "pues"}),
    "pt": frozenset({"e", "mas", "ou", "porque", "embora", "enquanto", "que", "quando", "onde", "se", "pois"}),
    "fr": frozenset({"et", "mais", "ou", "donc", "car", "parce", "quand", "lorsque", "si", "qui", "que", "où"}),
    "it": frozenset({"e", "ma", "o", "perché", "mentre", "che", "quando", "dove", "se", "però"}),
    "de": frozenset({"und", "aber", "oder", "denn", "weil", "obwohl", "während", "wenn", "als", "dass", "der",
                     "die", "das", "wo"}),
}


@dataclass
class Line:
    index: int
    start: float
    end: float
    speaker: str
    source_text: str
    target_text: str = ""
    words: list[dict] = field(default_factory=list)  # {"start", "end", "text"} of each word, in order

    def to_dict(self) -> dict:
        return asdict(self)


def speaker_at(start: float, end: float, turns: list[Turn]) -> str | None:
    """Speaker holding most of [start, end] (overlaps summed per speaker); the nearest turn's speaker when none
    overlaps; None without turns."""
    return _vote(start, end, turns)[0]


def _vote(start: float, end: float, turns: list[Turn]) -> tuple[str | None, float]:
    """(speaker, seconds of [start, end] inside that speaker's turns)."""
    per: dict[str, float] = {}
    for t in turns:
        ov = min(end, t.end) - max(start, t.start)
        if ov > 0:
            per[t.speaker] = per.get(t.speaker, 0.0) + ov
    if per:
        best = max(per, key=lambda s: (per[s], s))
        return best, min(per[best], max(end - start, 0.0))
    if not turns:
        return None, 0.0
    mid = 0.5 * (start + end)
    nearest = min(turns, key=lambda t: (0.0 if t.start <= mid <= t.end else min(abs(mid - t.start), abs(mid - t.end)),
                                        t.start))
    return nearest.speaker, 0.0


def _core(text: str) -> str:
    return text.strip().rstrip(_CLOSERS)


def is_sentence_end(text: str) -> bool:
    """The word ends a sentence: final punctuation that is not an abbreviation's or an initial's period."""
    t = _core(text)
    if not t or t[-1] not in _SENTENCE_END:
        return False
    if t.endswith(".") and not t.endswith(".."):
        stem = t[:-1].lstrip(_OPENERS).lower()
        if stem in ABBREVIATIONS or (len(stem) == 1 and stem.isalpha()):
            return False
    return True


def is_clause_end(text: str) -> bool:
    t = _core(text)
    return bool(t) and t[-1] in _CLAUSE_END


def _join(words: list[Word]) -> str:
    """Whisper words may or may not carry their leading space; punctuation stays attached to its word."""
    return " ".join(t for t in (w.text.strip() for w in words) if t)


def _words(transcript: Transcript) -> list[Word]:
    out = [w for seg in transcript.segments for w in (seg.words or [Word(seg.start, seg.end, seg.text)])
           if w.text.strip()]
    out.sort(key=lambda w: (w.start, w.end))
    return out


def build_lines(transcript: Transcript, turns: list[Turn], max_line_s: float = MAX_LINE_S,
                min_fragment_s: float = MIN_FRAGMENT_S, language: str | None = None) -> list[Line]:
    """The dubbing script: lines of one speaker each, whole sentences where possible (rules in the module doc)."""
    words = _words(transcript)
    if not words:
        return []
    votes = [_vote(w.start, max(w.end, w.start), turns) for w in words]
    labels = [s or "SPEAKER_00" for s, _ in votes]
    evidence = [e for _, e in votes]
    conj = CONJUNCTIONS.get((language or transcript.language or "en").split("-")[0].lower(), frozenset())

    sentences: list[list[int]] = [[]]
    for i, w in enumerate(words):
        sentences[-1].append(i)
        if is_sentence_end(w.text) and i < len(words) - 1:
            sentences.append([])
    pieces: list[_Piece] = []
    for sent_no, sent in enumerate(sentences):
        _follow_context(sent, words, labels, evidence)
        run: list[int] = []
        for i in sent:
            if run and labels[i] != labels[run[-1]]:
                pieces.append(_Piece(labels[run[-1]], run, sent_no))
                run = []
            run.append(i)
        if run:
            pieces.append(_Piece(labels[run[-1]], run, sent_no))
    split: list[_Piece] = []
    for p in pieces:
        split += [_Piece(p.speaker, idx, p.sentence)
                  for idx in _split_long(p.idx, words, max_line_s, min_fragment_s, conj)]
    merged = _merge_fragments(split, words, max_line_s, min_fragment_s)
    lines = []
    for p in merged:
        ws = [words[i] for i in p.idx]
        start, end = _clip(ws[0].start, max(w.end for w in ws), p.speaker, turns)
        lines.append(Line(len(lines), round(start, 3), round(end, 3), p.speaker, _join(ws),
                          words=[{"start": w.start, "end": w.end, "text": w.text.strip()} for w in ws]))
    return lines


def _clip(start: float, end: float, speaker: str, turns: list[Turn]) -> tuple[float, float]:
    """The line's span narrowed to its speaker's turns where the first/last word reaches outside them (ASR word
    times stretch into the silence around speech). The words keep their own times."""
    own = [t for t in turns if t.speaker == speaker and t.end > start and t.start < end]
    if not own:
        return start, end
    a = max(start, min(t.start for t in own))
    b = min(end, max(t.end for t in own))
    return (a, b) if b > a else (start, end)


@dataclass
class _Piece:
    speaker: str
    idx: list[int]
    sentence: int


def _follow_context(sent: list[int], words: list[Word], labels: list[str], evidence: list[float]) -> None:
    """Inside one sentence, a word that no speaker holds more than half of (its time stretched over a pause or a
    turn boundary) takes the speaker of the nearest word that is held, so a blurred boundary does not cut the
    sentence."""
    held = [i for i in sent if evidence[i] > 0.5 * (words[i].end - words[i].start)]
    if not held:
        return
    is_held = set(held)
    for i in sent:
        if i in is_held:
            continue
        j = min(held, key=lambda h: (abs(h - i), h))
        labels[i] = labels[j]


def _dur(idx: list[int], words: list[Word]) -> float:
    return max(words[i].end for i in idx) - words[idx[0]].start


def _split_long(idx: list[int], words: list[Word], max_s: float, min_s: float, conj: frozenset) -> list[list[int]]:
    if len(idx) < 2 or _dur(idx, words) <= max_s:
        return [idx]
    cuts = range(len(idx) - 1)  # cut after position c

    def sides(c: int) -> tuple[float, float]:
        return _dur(idx[:c + 1], words), _dur(idx[c + 1:], words)

    def pause(c: int) -> float:
        return words[idx[c + 1]].start - words[idx[c]].end

    def conjunction(c: int) -> bool:
        return words[idx[c + 1]].text.strip().lstrip(_OPENERS).rstrip(_CLAUSE_END).lower() in conj

    roomy = [c for c in cuts if min(sides(c)) >= min_s] or list(cuts)
    # punctuation the ASR wrote first, then a conjunction, then the longest pause
    for clauses in ([c for c in roomy if is_clause_end(words[idx[c]].text)], [c for c in roomy if conjunction(c)]):
        if clauses:
            best = min(clauses, key=lambda c: (max(sides(c)), -pause(c), c))
            break
    else:
        best = max(roomy, key=lambda c: (pause(c), -max(sides(c)), -c))
    return (_split_long(idx[:best + 1], words, max_s, min_s, conj)
            + _split_long(idx[best + 1:], words, max_s, min_s, conj))


def _merge_fragments(pieces: list[_Piece], words: list[Word], max_s: float, min_s: float) -> list[_Piece]:
    """Rule 5, shortest fragment first, until nothing changes. A piece shorter than `min_s` joins, when the result
    fits in `max_s`: an adjacent piece of its own sentence and speaker; else the adjacent piece its sentence goes on
    in, spoken by another speaker (a word or two on the wrong side of a diarization boundary), taking that speaker;
    else an adjacent piece of its speaker from the next or previous sentence (the nearer in time)."""
    pieces = list(pieces)
    while True:
        options = []
        for k, p in enumerate(pieces):
            d = _dur(p.idx, words)
            if d >= min_s:
                continue
            for j in (k - 1, k + 1):
                if not 0 <= j < len(pieces) or _dur(sorted(p.idx + pieces[j].idx), words) > max_s:
                    continue
                q = pieces[j]
                a, b = (q, p) if j < k else (p, q)
                gap = words[b.idx[0]].start - max(words[i].end for i in a.idx)
                if q.sentence == p.sentence:
                    tier = 0 if q.speaker == p.speaker else 1
                elif q.speaker == p.speaker:
                    tier = 2
                else:
                    continue
                options.append((d, tier, gap, k, j))
        if not options:
            return pieces
        *_, k, j = min(options)
        lo, hi = min(k, j), max(k, j)
        pieces[lo] = _Piece(pieces[j].speaker, pieces[lo].idx + pieces[hi].idx, pieces[j].sentence)
        del pieces[hi]

"""Speaker-attributed lines: ASR words x diarization turns -> the dubbing script (one line per speaker run)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .asr.base import Transcript, Word
from .diarization.base import Turn


@dataclass
class Line:
    index: int
    start: float
    end: float
    speaker: str
    source_text: str
    target_text: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def speaker_at(start: float, end: float, turns: list[Turn]) -> str | None:
    """Speaker with the largest overlap with [start, end]; the nearest turn's speaker when none overlaps."""
    best, best_ov = None, 0.0
    for t in turns:
        ov = min(end, t.end) - max(start, t.start)
        if ov > best_ov:
            best, best_ov = t.speaker, ov
    if best is not None:
        return best
    mid = 0.5 * (start + end)
    nearest = min(turns, key=lambda t: min(abs(mid - t.start), abs(mid - t.end)), default=None)
    return nearest.speaker if nearest else None


def _join(words: list[Word]) -> str:
    """Whisper words may or may not carry their leading space; punctuation stays attached to its word."""
    return " ".join(t for t in (w.text.strip() for w in words) if t)


def build_lines(transcript: Transcript, turns: list[Turn], max_line_s: float = 12.0, min_run_words: int = 2,
                max_pause_s: float = 0.8, min_sentence_s: float = 2.5) -> list[Line]:
    """Cut the word stream into lines with exactly one speaker each, at sentence boundaries where possible.

    ASR segment boundaries are ignored (they fall mid-sentence); a line ends at a speaker change, at a pause longer
    than `max_pause_s`, or at sentence-final punctuation once it is `min_sentence_s` long. Speaker runs shorter than
    `min_run_words` are merged into the neighbouring run (a one-word blip is usually a diarization boundary error);
    lines longer than `max_line_s` are split at the largest pause.
    """
    words = [w for seg in transcript.segments for w in (seg.words or [Word(seg.start, seg.end, seg.text)])
             if w.text.strip()]
    if not words:
        return []
    labels = [speaker_at(w.start, w.end, turns) or "SPEAKER_00" for w in words]
    runs: list[list[int]] = []
    for i, lab in enumerate(labels):
        if runs and labels[runs[-1][0]] == lab:
            runs[-1].append(i)
        else:
            runs.append([i])
    merged: list[list[int]] = []
    for run in runs:
        if merged and len(run) < min_run_words:
            merged[-1].extend(run)
        else:
            merged.append(run)
    if len(merged) > 1 and len(merged[0]) < min_run_words:
        merged[1] = merged[0] + merged[1]
        merged.pop(0)
    lines: list[Line] = []
    for run in merged:
        votes: dict[str, float] = {}
        for i in run:
            votes[labels[i]] = votes.get(labels[i], 0.0) + (words[i].end - words[i].start)
        speaker = max(votes, key=votes.get)
        current: list[Word] = []
        for i in run:
            w = words[i]
            if current and (w.start - current[-1].end > max_pause_s or (
                    current[-1].text.strip()[-1:] in ".?!" and current[-1].end - current[0].start >= min_sentence_s)):
                lines += _emit(current, speaker, max_line_s, len(lines))
                current = []
            current.append(w)
        if current:
            lines += _emit(current, speaker, max_line_s, len(lines))
    return lines


def _emit(words: list[Word], speaker: str, max_line_s: float, first_index: int) -> list[Line]:
    out = []
    for chunk in _split_long(words, max_line_s):
        text = _join(chunk)
        if text:
            out.append(Line(first_index + len(out), chunk[0].start, chunk[-1].end, speaker, text))
    return out


def _split_long(words: list[Word], max_s: float) -> list[list[Word]]:
    if len(words) < 2 or words[-1].end - words[0].start <= max_s:
        return [words]
    gaps = [(words[i + 1].start - words[i].end, i) for i in range(len(words) - 1)]
    _, cut = max(gaps)
    return _split_long(words[: cut + 1], max_s) + _split_long(words[cut + 1 :], max_s)

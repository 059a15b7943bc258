"""SRT subtitles: atomic writer (numbered cues, HH:MM:SS,mmm, wrapped to two ~42-character lines) and a reader."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from .manifest import write_text_atomic

LINE_WIDTH = 42
MAX_LINES = 2
_TIME = r"(\d{1,}):(\d{2}):(\d{2})[,.](\d{3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")

Cue = tuple[float, float, str]


def format_timestamp(seconds: float) -> str:
    """Seconds -> 'HH:MM:SS,mmm' (negative clamps to zero; rounded to the millisecond)."""
    ms = max(0, int(round(float(seconds) * 1000.0)))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def parse_timestamp(text: str) -> float:
    m = re.fullmatch(_TIME, text.strip())
    if not m:
        raise ValueError(f"bad SRT timestamp {text!r}")
    h, mi, s, ms = (int(g) for g in m.groups())
    return h * 3600 + mi * 60 + s + ms / 1000.0


def wrap_text(text: str, width: int = LINE_WIDTH, max_lines: int = MAX_LINES) -> list[str]:
    """Split text into at most `max_lines` lines near `width` chars, breaking at spaces, balanced, never dropping text.

    Text longer than width * max_lines still goes into max_lines lines (longer than width) rather than being cut:
    splitting a cue in time is the caller's decision.
    """
    words = text.split()
    if not words:
        return []
    one = " ".join(words)
    if len(one) <= width or max_lines <= 1 or len(words) == 1:
        return [one]
    if max_lines == 2:
        best, best_key = None, None
        for i in range(1, len(words)):
            a, b = " ".join(words[:i]), " ".join(words[i:])
            over = max(0, len(a) - width) + max(0, len(b) - width)
            # prefer fitting, then a break after punctuation, then balanced lines (top line may be shorter)
            key = (over, 0 if a[-1] in ",.;:!?" and abs(len(a) - len(b)) < width // 2 else 1, abs(len(a) - len(b)))
            if best_key is None or key < best_key:
                best, best_key = [a, b], key
        return best  # type: ignore[return-value]
    # greedy for more than two lines, folding any overflow into the last line
    lines: list[str] = []
    cur = ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width and len(lines) < max_lines - 1:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    return lines


def format_srt(cues: Iterable[Cue], width: int = LINE_WIDTH, max_lines: int = MAX_LINES) -> str:
    """SRT text: cues sorted by start, empty texts skipped, numbered from 1, end forced after start."""
    ordered = sorted(((float(s), float(e), str(t)) for s, e, t in cues), key=lambda c: c[0])
    blocks: list[str] = []
    for start, end, text in ordered:
        lines = wrap_text(text, width, max_lines)
        if not lines:
            continue
        start = max(0.0, start)
        end = max(end, start + 0.001)
        blocks.append(f"{len(blocks) + 1}\n{format_timestamp(start)} --> {format_timestamp(end)}\n" + "\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def write_srt(path: str | Path, cues: Iterable[Cue], width: int = LINE_WIDTH, max_lines: int = MAX_LINES) -> Path:
    """Write cues (start_s, end_s, text) as an SRT file atomically (UTF-8)."""
    return write_text_atomic(path, format_srt(cues, width, max_lines))


def read_srt(path: str | Path) -> list[Cue]:
    """Parse an SRT file into (start_s, end_s, text) with the cue's lines joined by '\\n'."""
    raw = Path(path).read_text("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    cues: list[Cue] = []
    for block in re.split(r"\n\s*\n", raw.strip()):
        lines = block.split("\n")
        idx = next((i for i, ln in enumerate(lines) if _TIMING.match(ln)), None)
        if idx is None:
            continue
        m = _TIMING.match(lines[idx])
        g = [int(x) for x in m.groups()]  # type: ignore[union-attr]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000.0
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000.0
        cues.append((start, end, "\n".join(ln.rstrip() for ln in lines[idx + 1:]).strip()))
    return cues

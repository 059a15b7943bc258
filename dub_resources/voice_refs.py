"""Per-speaker voice references: 6-12 s of the cleanest single-speaker speech from the dialogue stem."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import rms_db, write_audio
from .diarization.base import Turn

MIN_REF_S = 6.0
MAX_REF_S = 12.0
MIN_PIECE_S = 0.8
EDGE_TRIM_S = 0.08


@dataclass
class SpeakerRef:
    speaker: str
    wav: str
    duration_s: float
    pieces: list[tuple[float, float]]
    speech_total_s: float
    level_db: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def clean_intervals(turns: list[Turn], speaker: str) -> list[tuple[float, float]]:
    """The speaker's turns minus every moment another speaker is active (overlap is never clean)."""
    others = sorted((t.start, t.end) for t in turns if t.speaker != speaker)
    out: list[tuple[float, float]] = []
    for t in sorted((t for t in turns if t.speaker == speaker), key=lambda t: t.start):
        pieces = [(t.start + EDGE_TRIM_S, t.end - EDGE_TRIM_S)]
        for os_, oe in others:
            nxt = []
            for s, e in pieces:
                if oe <= s or os_ >= e:
                    nxt.append((s, e))
                    continue
                if os_ > s:
                    nxt.append((s, os_))
                if oe < e:
                    nxt.append((oe, e))
            pieces = nxt
        out += [(s, e) for s, e in pieces if e - s >= MIN_PIECE_S]
    return out


def _piece(path: Path, s: float, e: float, sr: int) -> np.ndarray:
    """Read [s, e) seconds as mono float32 without loading the whole (episode-long) file."""
    x = sf.read(str(path), start=max(0, int(s * sr)), stop=max(0, int(e * sr)), dtype="float32", always_2d=True)[0]
    return x.mean(axis=1)


def extract_refs(dialogue_wav: Path, turns: list[Turn], out_dir: Path) -> list[SpeakerRef]:
    """Pick, per speaker, the loudest-and-longest clean pieces up to MAX_REF_S and write `<speaker>.wav`.

    Only the candidate pieces are read, so memory does not grow with the episode's length."""
    sr = sf.info(str(dialogue_wav)).samplerate
    gap = np.zeros(int(0.12 * sr), dtype=np.float32)
    refs = []
    for speaker in sorted({t.speaker for t in turns}):
        total = sum(t.end - t.start for t in turns if t.speaker == speaker)
        cands = []
        for s, e in clean_intervals(turns, speaker):
            x = _piece(dialogue_wav, s, e, sr)
            if x.size == 0:
                continue
            level = rms_db(x)
            clipped = float(np.mean(np.abs(x) > 0.99))
            # Longer pieces carry more voice; quiet pieces are usually bleed or breath; clipped ones are distorted.
            score = min(e - s, 4.0) + 0.05 * max(level + 60.0, 0.0) - 50.0 * clipped
            cands.append((score, s, e))
        cands.sort(reverse=True)
        chosen, dur = [], 0.0
        for _, s, e in cands:
            if dur >= MAX_REF_S:
                break
            e = min(e, s + (MAX_REF_S - dur))
            if e - s < MIN_PIECE_S:
                continue
            chosen.append((s, e))
            dur += e - s
        chosen.sort()
        warnings = []
        if not chosen:
            # No clean piece at all: fall back to the longest turn, overlap included, and say so.
            t = max((t for t in turns if t.speaker == speaker), key=lambda t: t.end - t.start)
            chosen = [(t.start, min(t.end, t.start + MAX_REF_S))]
            warnings.append("no overlap-free speech; ref contains overlap")
        parts = []
        for s, e in chosen:
            x = _piece(dialogue_wav, s, e, sr)
            fade = min(int(0.02 * sr), x.size // 4)
            if fade:
                ramp = np.linspace(0, 1, fade, dtype=np.float32)
                x[:fade] *= ramp
                x[-fade:] *= ramp[::-1]
            parts += [x, gap]
        ref = np.concatenate(parts[:-1]) if parts else np.zeros(sr, dtype=np.float32)
        ref_dur = sum(e - s for s, e in chosen)
        if ref_dur < MIN_REF_S:
            warnings.append(f"short ref: {ref_dur:.1f}s of clean speech (< {MIN_REF_S:.0f}s)")
        level = rms_db(ref)
        if level < -40:
            warnings.append(f"quiet ref: {level:.1f} dBFS")
        path = write_audio(out_dir / f"{speaker}.wav", ref, sr)
        refs.append(SpeakerRef(speaker, str(path), round(ref_dur, 3), [(round(s, 3), round(e, 3)) for s, e in chosen],
                               round(total, 3), round(level, 2), warnings))
    return refs

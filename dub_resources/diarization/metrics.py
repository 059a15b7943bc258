"""Diarization error rate for `dub bench` and the tests: pyannote.metrics, no collar, overlap scored."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

from .base import DiarizationResult, Turn  # noqa: E402


def _annotation(turns: Iterable, uri: str):
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    if isinstance(turns, DiarizationResult):
        turns = turns.turns
    for i, t in enumerate(turns):
        if isinstance(t, Turn):
            start, end, spk = t.start, t.end, t.speaker
        elif isinstance(t, dict):
            start, end, spk = t["start"], t["end"], t["speaker"]
        else:
            start, end, spk = t
        if end > start:
            ann[Segment(float(start), float(end)), i] = spk
    return ann


def load_rttm(path: str | Path) -> dict:
    """{uri: pyannote Annotation} from an RTTM file."""
    from pyannote.database.util import load_rttm as _load

    return _load(str(path))


def _uem(uem, uri: str, reference):
    from pyannote.core import Segment, Timeline

    if uem is None:
        return Timeline([reference.get_timeline().extent()], uri=uri) if reference else None
    if isinstance(uem, Timeline):
        return uem
    if isinstance(uem, tuple):
        return Timeline([Segment(float(uem[0]), float(uem[1]))], uri=uri)
    segs = []
    for line in Path(uem).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] == uri:
            segs.append(Segment(float(parts[2]), float(parts[3])))
    if not segs:
        raise ValueError(f"{uem}: no UEM line for '{uri}'")
    return Timeline(segs, uri=uri)


def der(reference_rttm, hypothesis_turns, uem=None, uri: str | None = None) -> dict:
    """DER and its parts (rates over scored reference speech) plus the seconds, so files can be pooled.

    reference_rttm: RTTM path (or a pyannote Annotation); hypothesis_turns: DiarizationResult, Turns, dicts or
    (start, end, speaker) tuples; uem: UEM path, (start, end) or a Timeline (None: the reference extent).
    """
    from pyannote.metrics.diarization import DiarizationErrorRate

    if isinstance(reference_rttm, (str, Path)):
        refs = load_rttm(reference_rttm)
        if uri is None:
            if len(refs) != 1:
                raise ValueError(f"{reference_rttm}: {len(refs)} uris, pass uri=")
            uri = next(iter(refs))
        reference = refs[uri]
    else:
        reference = reference_rttm
        uri = uri or reference.uri or "file"
    hypothesis = _annotation(hypothesis_turns, uri)
    metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    comp = metric(reference, hypothesis, uem=_uem(uem, uri, reference), detailed=True)
    total = float(comp["total"])
    missed, fa, conf = float(comp["missed detection"]), float(comp["false alarm"]), float(comp["confusion"])
    rate = (lambda x: x / total) if total > 0 else (lambda x: 0.0 if x == 0 else float("inf"))
    return {
        "der": rate(missed + fa + conf),
        "missed": rate(missed),
        "false_alarm": rate(fa),
        "confusion": rate(conf),
        "total_s": total,
        "missed_s": missed,
        "false_alarm_s": fa,
        "confusion_s": conf,
    }


def pooled_der(results: Iterable[dict]) -> dict:
    """Overall DER over several files (seconds summed, as pyannote's abs(metric))."""
    res = list(results)
    total = sum(r["total_s"] for r in res)
    out = {k: sum(r[f"{k}_s"] for r in res) for k in ("missed", "false_alarm", "confusion")}
    rates = {k: (v / total if total else 0.0) for k, v in out.items()}
    return {"der": sum(rates.values()), **rates, "total_s": total}

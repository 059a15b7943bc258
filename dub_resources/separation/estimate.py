"""A model engine's raw dialogue estimate -> refined, speech-gated, low-band-restored stems (the shared back half of
every model separator)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import soundfile as sf

from ..engine import EngineInfo
from ..manifest import TEMP_MARK
from .base import SeparationResult
from .common import stem_paths, write_stems
from .restore import restore_low_band
from .vad_gate import try_gate


def separation_from_estimate(source_wav: Path, out_dir: Path, sr: int, write_estimate: Callable[[sf.SoundFile], None],
                             *, info: EngineInfo, gate: bool, t0: float, restore_low: bool = False,
                             refine: Callable[[Path], dict] | None = None, **extra_stats) -> SeparationResult:
    """The stems and result of a model engine: `write_estimate` writes the raw dialogue estimate (mono float, `sr`)
    into a temp WAV in out_dir, which `refine` (if given) rewrites in place and returns stats for (refine.py), which
    is speech-gated if `gate` (and then, if `restore_low`, given back the low band the model removed during speech
    that cannot be background: restore.py), turned into the stems, and always removed.

    `t0` (time.monotonic) is when the engine started: model_s and wall_s count from it.
    """
    fd, raw_name = tempfile.mkstemp(prefix=f".dialogue_raw{TEMP_MARK}", suffix=".wav", dir=out_dir)
    os.close(fd)
    raw = Path(raw_name)
    try:
        with sf.SoundFile(str(raw), "w", sr, 1, subtype="FLOAT", format="WAV") as w:
            write_estimate(w)
        t_model = time.monotonic() - t0
        refine_stats = refine(raw) if refine is not None else {}
        speech_gate, gate_note = try_gate(raw) if gate else (None, None)
        restore_stats = {"lowband_restore": "off"}
        if restore_low and speech_gate is not None:
            try:
                restore_stats = restore_low_band(source_wav, raw, speech_gate.gain)
            except Exception as exc:  # a refinement: never fails separation
                info.fallbacks.append(f"low-band restore skipped ({type(exc).__name__}: {exc})")
        stats = write_stems(source_wav, raw, out_dir, gain=speech_gate.gain if speech_gate else None)
    finally:
        raw.unlink(missing_ok=True)
    wall = time.monotonic() - t0
    dur = stats.get("duration_s") or 1e-9
    stats.update(wall_s=round(wall, 3), model_s=round(t_model, 3), rtf=round(wall / dur, 4), **extra_stats,
                 **(speech_gate.summary() if speech_gate else {"gate": "off"}), **restore_stats, **refine_stats)
    if gate_note:
        info.fallbacks.append(gate_note)
    dialogue, _, background = stem_paths(out_dir)
    return SeparationResult(dialogue_wav=dialogue, background_wav=background, separated=True, engine=info,
                            stats=stats)

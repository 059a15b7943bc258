"""TTS: preset voices for pass 1 (Kokoro, Piper, espeak-ng), XTTS cloning for pass 2, and slot fitting."""

from .base import CloningSynthesizer, SynthResult, Synthesizer
from .chain import (
    ENGINES,
    estimate_duration_s,
    make_cloner,
    make_synth_chain,
    make_synthesizer,
    synthesize_line,
    voice_gender,
)
from .espeak import EspeakSynthesizer
from .fit import fit_to_slot, time_stretch, trim_silence
from .kokoro import KokoroSynthesizer
from .piper import PiperSynthesizer
from .xtts import XttsSynthesizer, validate_model_dir

__all__ = [
    "CloningSynthesizer",
    "ENGINES",
    "EspeakSynthesizer",
    "KokoroSynthesizer",
    "PiperSynthesizer",
    "SynthResult",
    "Synthesizer",
    "XttsSynthesizer",
    "estimate_duration_s",
    "fit_to_slot",
    "make_cloner",
    "make_synth_chain",
    "make_synthesizer",
    "synthesize_line",
    "time_stretch",
    "trim_silence",
    "validate_model_dir",
    "voice_gender",
]

"""ASR stage: audio -> segments with word timestamps (faster-whisper, offline models)."""

from .base import AsrSegment, Transcriber, Transcript, Word
from .whisper import (
    FasterWhisperTranscriber,
    cache_dir,
    load_model,
    make_transcriber,
    resolve_model,
    tiny_en_dir,
    weights_source,
    whisper_base_dir,
)

__all__ = [
    "AsrSegment", "Transcriber", "Transcript", "Word", "FasterWhisperTranscriber", "cache_dir", "load_model",
    "make_transcriber", "resolve_model", "tiny_en_dir", "weights_source", "whisper_base_dir",
]

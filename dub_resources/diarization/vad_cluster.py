"""Fallback diarizer: silero-vad speech regions + windowed speaker embeddings + agglomerative clustering.

Simpler and less accurate than the segmentation recipe (no overlapped speech, speaker changes only at
window resolution), but it needs nothing beyond the silero-vad wheel and a SpeakerEncoder, so it is what
runs when the pyannote segmentation model cannot be loaded.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..engine import EngineInfo, package_version
from ..speaker_embedding import SpeakerEncoder, make_speaker_encoder
from .base import DiarizationResult, Turn
from .common import SR, ahc, diarization_result, merge_turns, read_for_diarization, silero_speech

# cosine-distance thresholds (average linkage) per encoder, tuned on eval/diarization_ami
CLUSTER_THRESHOLD = {"camplusplus": 0.5, "resemblyzer": 0.3}


class VadClusteringDiarizer:
    """silero-vad + sliding-window embeddings + AHC; one speaker per window, no overlap."""

    name = "vad-cluster"
    num_speakers: int | None = None  # default when diarize() gets none (settings.num_speakers)

    def __init__(self, encoder: str | SpeakerEncoder = "auto", win_s: float = 1.5, hop_s: float = 0.75,
                 threshold: float | None = None, min_cluster_size: int = 3, vad_threshold: float = 0.5,
                 max_gap_s: float = 0.3):
        self.encoder = make_speaker_encoder(encoder) if isinstance(encoder, str) else encoder
        self.win_s, self.hop_s = win_s, hop_s
        self.threshold = threshold if threshold is not None else CLUSTER_THRESHOLD.get(self.encoder.info.name, 0.5)
        self.min_cluster_size = min_cluster_size
        self.vad_threshold = vad_threshold
        self.max_gap_s = max_gap_s
        self.info = EngineInfo(
            self.name,
            f"silero-vad {package_version('silero-vad')}; {self.encoder.info.name} {self.encoder.info.version}",
            list(self.encoder.info.fallbacks),
        )

    def windows(self, regions: list[tuple[float, float]]) -> list[tuple[float, float, int]]:
        """(start, end, region index) windows covering each speech region."""
        out = []
        for r, (a, b) in enumerate(regions):
            if b - a <= self.win_s:
                out.append((a, b, r))
                continue
            t = a
            while t + self.win_s < b:
                out.append((t, t + self.win_s, r))
                t += self.hop_s
            out.append((max(a, b - self.win_s), b, r))
        return out

    def diarize(self, wav_16k: Path, num_speakers: int | None = None, min_speakers: int | None = None,
                max_speakers: int | None = None) -> DiarizationResult:
        num_speakers = num_speakers if num_speakers is not None else self.num_speakers
        t0 = time.perf_counter()
        wav, duration, info, stats = read_for_diarization(wav_16k, self.info, encoder=self.encoder.info.name,
                                                          cluster_threshold=self.threshold)
        regions = silero_speech(wav, threshold=self.vad_threshold) if wav.size >= int(0.1 * SR) else []
        wins = self.windows(regions)
        if not wins:
            return DiarizationResult([], info, {**stats, "num_speakers": 0, "num_turns": 0})
        t1 = time.perf_counter()
        embs = np.concatenate([  # batches of 256 windows keep memory flat on long episodes
            self.encoder.embed_batch([wav[int(a * SR) : int(b * SR)] for a, b, _ in wins[i : i + 256]])
            for i in range(0, len(wins), 256)
        ])
        t2 = time.perf_counter()
        labels = ahc(embs, self.threshold, num_clusters=num_speakers, min_cluster_size=self.min_cluster_size,
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
            merge_turns(turns, max_gap=self.max_gap_s), duration, info, stats,
            num_regions=len(regions),
            num_windows=len(wins),
            timings_s={"vad": round(t1 - t0, 3), "embeddings": round(t2 - t1, 3),
                       "clustering": round(time.perf_counter() - t2, 3)},
            requested_num_speakers=num_speakers,
        )

"""Tuning parameters of the clustering diarizers, one frozen object per engine.

The engines used to take every knob as a constructor argument (23 for pyannote-seg); the knobs now live
here, with today's defaults, so a caller overrides only what it means to change and the parts of an engine
(segmentation, clustering, stitching) all read one description. Why the defaults are what they are:
docs/diarization.md.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

# Clustering thresholds per speaker encoder, tuned on eval/diarization_ami (12 x 30 s AMI clips): euclidean
# distance between unit-vector centroids, d = sqrt(2 - 2 cos), for pyannote-seg; cosine distance (average
# linkage) for vad-cluster. An encoder not listed gets the fallback.
SEG_CLUSTER_THRESHOLD = {"camplusplus": 0.8, "resemblyzer": 0.7}
SEG_CLUSTER_THRESHOLD_FALLBACK = 0.9
VAD_CLUSTER_THRESHOLD = {"camplusplus": 0.5, "resemblyzer": 0.3}
VAD_CLUSTER_THRESHOLD_FALLBACK = 0.5


@dataclass(frozen=True)
class SegConfig:
    """pyannote-seg (SegmentationClusteringDiarizer) tuning."""

    # segmentation-3.0 sliding inference
    step_s: float = 1.0  # hop between the model's 10 s windows
    batch_size: int = 4
    num_threads: int | None = 1  # torch threads while segmenting (see speaker_embedding.torch_threads)
    speech_threshold: float = 0.5  # speech where 1 - P(silence) > this (window-averaged powerset probabilities)
    overlap_threshold: float = 0.3  # two speakers where P(two) > this
    # embeddings of local speakers
    min_clean_s: float = 0.5  # embed only a local speaker's non-overlapped frames when it has this much of them
    embedding_stride: int = 2  # past dense_embedding_s of audio, embed every embedding_stride-th window
    dense_embedding_s: float = 300.0
    # clustering
    threshold: float | None = None  # None: SEG_CLUSTER_THRESHOLD for the encoder
    method: str = "cosine"  # "cosine": constrained_cosine_ahc; else a scipy linkage (the earlier recipe)
    constrained: bool = True  # two local speakers of one window never share a cluster
    min_train_s: float = 0.5  # clean speech an embedding needs to shape the clusters
    max_items: int = 1500  # past this many embeddings, average them along co-activity tracks
    min_speaker_s: float = 1.0  # clusters with less distinct speech than max(min_speaker_s,
    min_speaker_fraction: float = 0.005  # min_speaker_fraction of all speech) fold into their closest one
    min_cluster_size: int = 3  # only for the scipy linkages (method != "cosine")
    keep_labels: bool = True  # training embeddings keep their own cluster when assigned
    min_output_s: float = 0.5  # a label with less final speech is reassigned
    # turns
    min_duration_off: float = 0.25  # gaps shorter than this within one speaker are filled

    def resolved(self, encoder_name: str) -> SegConfig:
        """This config with the threshold filled in for `encoder_name` and the stride made a positive int."""
        threshold = self.threshold
        if threshold is None:
            threshold = SEG_CLUSTER_THRESHOLD.get(encoder_name, SEG_CLUSTER_THRESHOLD_FALLBACK)
        return replace(self, threshold=threshold, embedding_stride=max(1, int(self.embedding_stride)))


@dataclass(frozen=True)
class VadConfig:
    """vad-cluster (VadClusteringDiarizer) tuning."""

    win_s: float = 1.5  # embedding window
    hop_s: float = 0.75
    threshold: float | None = None  # None: VAD_CLUSTER_THRESHOLD for the encoder
    min_cluster_size: int = 3
    vad_threshold: float = 0.5  # silero-vad speech probability
    max_gap_s: float = 0.3  # same-speaker turns closer than this are merged

    def resolved(self, encoder_name: str) -> VadConfig:
        """This config with the threshold filled in for `encoder_name`."""
        if self.threshold is not None:
            return self
        return replace(self, threshold=VAD_CLUSTER_THRESHOLD.get(encoder_name, VAD_CLUSTER_THRESHOLD_FALLBACK))


C = TypeVar("C", SegConfig, VadConfig)


def configure(cls: type[C], config: C | None, overrides: dict[str, Any]) -> C:
    """`config` (default: cls()) with `overrides` applied; TypeError naming any override that is not a field."""
    if config is None:
        config = cls()
    elif not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}, not {type(config).__name__}")
    unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
    if unknown:
        raise TypeError(f"unknown {cls.__name__} option(s): {', '.join(unknown)}")
    return replace(config, **overrides) if overrides else config

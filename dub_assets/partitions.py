"""Series / episode dynamic partitions and the key helpers (MultiPartitionKey built in one place only)."""

from __future__ import annotations

import warnings

from dagster import (
    DagsterInstance,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    MultiToSingleDimensionPartitionMapping,
)

series_partitions = DynamicPartitionsDefinition(name="series")
episode_dim_partitions = DynamicPartitionsDefinition(name="episode")
episode_partitions = MultiPartitionsDefinition({"series": series_partitions, "episode": episode_dim_partitions})

# episode asset <-> series asset: all episodes of one series map to that series' partition
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # beta API, documented for exactly this use
    series_mapping = MultiToSingleDimensionPartitionMapping(partition_dimension_name="series")


def episode_key(series: str, episode: str) -> MultiPartitionKey:
    return MultiPartitionKey({"series": series, "episode": episode})


def split_episode_key(key: str | MultiPartitionKey) -> tuple[str, str]:
    """'s01e03|my-show' or a MultiPartitionKey -> ('my-show', 's01e03')."""
    if isinstance(key, MultiPartitionKey):
        dims = key.keys_by_dimension
        return dims["series"], dims["episode"]
    episode, series = str(key).split("|", 1)  # dimensions join in sorted name order: episode|series
    return series, episode


def add_episode_partitions(instance: DagsterInstance, series: str, episode: str) -> None:
    """Idempotently add the series and episode dynamic partition keys."""
    if not instance.has_dynamic_partition(series_partitions.name, series):
        instance.add_dynamic_partitions(series_partitions.name, [series])
    if not instance.has_dynamic_partition(episode_dim_partitions.name, episode):
        instance.add_dynamic_partitions(episode_dim_partitions.name, [episode])

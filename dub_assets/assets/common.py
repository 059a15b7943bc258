"""Per-run context shared by the asset functions: partition -> series/episode, settings, paths, registration."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetExecutionContext

from dub_resources.paths import EpisodePaths, SeriesPaths
from dub_resources.registry import Registration, load_registration
from dub_resources.settings import Settings

from ..partitions import split_episode_key
from ..resources import DubResource

GROUP_LISTEN = "listen"
GROUP_SPEAK = "speak"
GROUP_SERIES = "series"


@dataclass
class EpisodeRun:
    series: str
    episode: str
    settings: Settings
    paths: EpisodePaths
    reg: Registration


def episode_run(context: AssetExecutionContext, dub: DubResource) -> EpisodeRun:
    series, episode = split_episode_key(context.partition_key)
    settings = dub.settings()
    return EpisodeRun(series, episode, settings, EpisodePaths(settings.output_dir, series, episode),
                      load_registration(settings.output_dir, series, episode))


def series_paths(context: AssetExecutionContext, dub: DubResource) -> tuple[Settings, SeriesPaths]:
    settings = dub.settings()
    return settings, SeriesPaths(settings.output_dir, context.partition_key)

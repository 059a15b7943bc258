"""A season as one Dagster asset backfill: pass 1 of every episode -> the series voice memory -> pass 2 of every
episode, executed by the Dagster daemon (`make ui` runs it) under the instance's run queue and the `dub_models`
pool, exactly like a backfill launched from the UI's partition selection."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from dagster import DagsterInstance

from dub_resources.errors import DubError
from dub_resources.paths import episode_key_from_name, validate_slug
from dub_resources.registry import load_registration, register_episode
from dub_resources.settings import Settings

from .partitions import add_episode_partitions, episode_key

SEASON_TAG = "dub/season"


def season_episodes(settings: Settings, series: str, season: int) -> list[str]:
    """Registered episodes of `series` whose key is s<season>eNN, in order."""
    root = settings.output_dir / validate_slug("series", series)
    prefix = f"s{season:02d}e"
    if not root.is_dir():
        return []
    eps = sorted(d.name for d in root.iterdir() if d.name.startswith(prefix) and (d / "episode.json").is_file())
    for ep in eps:
        load_registration(settings.output_dir, series, ep)  # a damaged registration fails here, in one line
    return eps


def register_folder(settings: Settings, series: str, folder: Path, season: int) -> list[str]:
    """Register every media file of `folder` whose name carries S<season>Exx."""
    from dub_resources.media import MEDIA_SUFFIXES

    found = []
    for f in sorted(Path(folder).iterdir()):
        key = episode_key_from_name(f.name) if f.is_file() and f.suffix.lower() in MEDIA_SUFFIXES else None
        if key and key.startswith(f"s{season:02d}e"):
            register_episode(settings.output_dir, series, key, f, settings.source_lang, settings.target_lang,
                             series_title=None)
            found.append(key)
    if not found:
        raise DubError(f"{folder}: no media file named with S{season:02d}Exx")
    return found


def launch_season_backfill(instance: DagsterInstance, settings: Settings, series: str, season: int) -> str:
    """Add one asset backfill over the season's episode partitions (and, through the partition mapping, the
    series' voice memory); returns its id. The daemon launches its runs."""
    from dagster._core.execution.backfill import PartitionBackfill

    from .definitions import defs

    episodes = season_episodes(settings, series, season)
    if not episodes:
        raise DubError(f"{series}: no registered episode of season {season} (dub season --from DIR registers a folder)")
    for ep in episodes:
        add_episode_partitions(instance, series, ep)
    graph = defs.resolve_asset_graph()
    backfill_id = uuid.uuid4().hex[:8]
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id, asset_graph=graph,
        partition_names=[str(episode_key(series, ep)) for ep in episodes],
        asset_selection=list(graph.get_all_asset_keys()), backfill_timestamp=time.time(),
        tags={"dub/series": series, SEASON_TAG: str(season)}, dynamic_partitions_store=instance,
        all_partitions=False, title=f"{series} season {season}",
        description=f"{len(episodes)} episodes: {', '.join(episodes)}", run_config=None)
    instance.add_backfill(backfill)
    return backfill_id

"""One `run_episode`: pass 1 -> series voice memory -> pass 2 (or any sub-selection), each a real Dagster run in the
given instance. The CLI, the bench and the tests all go through it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from dagster import DagsterInstance, materialize

from dub_resources.errors import DubError, one_line
from dub_resources.paths import EpisodePaths
from dub_resources.stages import PASS1, PASS2, SERIES

from .assets import ALL_ASSETS, ASSETS
from .partitions import add_episode_partitions, episode_key
from .resources import DubResource
from .stage import FORCE_TAG

PHASES = {"pass1": PASS1, "voice_memory": SERIES, "pass2": PASS2}
ALL_PHASES = ("pass1", "voice_memory", "pass2")
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
INFO_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@dataclass
class EpisodeRun:
    dubbed_video: Path
    run_ids: dict[str, str] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)
    results: dict = field(default_factory=dict)  # phase -> ExecuteInProcessResult


USER_ERRORS = ("DubError", "InputError", "InvalidName", "EngineUnavailable", "UnsupportedLanguagePair")


def failure_message(result) -> str:
    """The first failed step's error in one line: a DubError's own text (the same words the UI shows), else the
    step, the exception type and its first line."""
    for ev in result.all_events:
        err = getattr(ev.event_specific_data, "error", None) if ev.is_failure and ev.event_specific_data else None
        if err is None:
            continue
        cur = err
        while cur is not None:  # the DubError in the chain: its text is meant for the user
            if cur.cls_name in USER_ERRORS:
                head, sep, rest = cur.message.strip().partition(": ")
                return one_line(rest if sep and head.split(".")[-1] == cur.cls_name else cur.message)
            cur = cur.cause
        while err.cause is not None:
            err = err.cause
        return f"{ev.step_key}: {one_line((err.message or err.cls_name).splitlines()[0])}"
    return f"run {result.run_id} failed"


def run_episode(series: str, episode: str, *, instance: DagsterInstance, dub: DubResource | None = None,
                phases: Sequence[str] = ALL_PHASES, force: bool = False, quiet: bool = False) -> EpisodeRun:
    """Materialize the episode's phases in order; a failed run raises DubError with its one-line cause."""
    dub = dub or DubResource()
    add_episode_partitions(instance, series, episode)
    tags = {"dub/series": series, "dub/episode": episode, **({FORCE_TAG: "true"} if force else {})}
    out = EpisodeRun(EpisodePaths(dub.settings().output_dir, series, episode).dubbed_video)
    for phase in phases:
        selection = [ASSETS[s.name] for s in PHASES[phase]]
        key = series if phase == "voice_memory" else episode_key(series, episode)
        t0 = time.perf_counter()
        res = materialize(ALL_ASSETS, selection=selection, partition_key=key, instance=instance,
                          resources={"dub": dub}, tags=tags, run_config=QUIET_LOGS if quiet else INFO_LOGS,
                          raise_on_error=False)
        out.wall_s[phase] = time.perf_counter() - t0
        out.run_ids[phase] = res.run_id
        out.results[phase] = res
        if not res.success:
            raise DubError(failure_message(res))
    return out

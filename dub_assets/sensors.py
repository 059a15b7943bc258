"""Inbox sensor (new or changed episode files -> partitions + pass-1 runs) and run-status sensors chaining
pass 1 -> voice memory -> pass 2."""


import json
import time
from pathlib import Path

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_status_sensor,
    sensor,
)

from dub_resources.errors import DubError
from dub_resources.media import MEDIA_SUFFIXES
from dub_resources.paths import episode_key_from_name, slugify
from dub_resources.registry import register_episode
from dub_resources.settings import Settings

from .jobs import pass1_job, pass2_job, voice_memory_job
from .partitions import episode_dim_partitions, episode_key, series_partitions, split_episode_key

INBOX_SUFFIXES = {".mkv", ".mp4", ".mov", ".webm", ".wav", ".flac"} & MEDIA_SUFFIXES
EPISODE_TAG = "dub/episode"
SERIES_TAG = "dub/series"


def scan_inbox(inbox: Path) -> dict[str, tuple[int, float]]:
    """inbox/<series>/<file with SxxEyy>.<ext> -> {relative path: (size, mtime)}."""
    found: dict[str, tuple[int, float]] = {}
    if not inbox.exists():
        return found
    for series_dir in sorted(p for p in inbox.iterdir() if p.is_dir()):
        for f in sorted(series_dir.iterdir()):
            if f.is_file() and f.suffix.lower() in INBOX_SUFFIXES and not f.name.startswith("."):
                if episode_key_from_name(f.name):
                    st = f.stat()
                    found[str(f.relative_to(inbox))] = (st.st_size, st.st_mtime)
    return found


@sensor(job=pass1_job, minimum_interval_seconds=15, default_status=DefaultSensorStatus.RUNNING)
def inbox_sensor(context: SensorEvaluationContext):
    """A file is requested once it is settled (unmodified for DUB_INBOX_SETTLE_SECONDS and unchanged since the last
    tick: never while it is still being copied), and again only when its size or mtime changes."""
    settings = Settings.from_env()
    cursor = json.loads(context.cursor) if context.cursor else {"done": {}, "seen": {}}
    done, seen = cursor.get("done", {}), cursor.get("seen", {})
    now_files = scan_inbox(settings.inbox_dir)
    requests, new_series, new_episodes = [], set(), set()
    next_seen = {}
    for rel, (size, mtime) in now_files.items():
        sig = [size, mtime]
        if done.get(rel) == sig:
            continue
        # Still being copied: recently modified, or changed since the last tick. Old and unchanged: settled.
        settled = size > 0 and (time.time() - mtime) >= settings.inbox_settle_seconds and seen.get(rel, sig) == sig
        if not settled:
            next_seen[rel] = sig
            continue
        path = settings.inbox_dir / rel
        title = Path(rel).parts[0]
        series = slugify(title)
        episode = episode_key_from_name(path.name)
        try:
            register_episode(settings.output_dir, series, episode, path, settings.source_lang, settings.target_lang,
                             series_title=title)
        except DubError as exc:  # e.g. the slug belongs to another title: skip this file, keep the others going
            context.log.error(f"inbox: {rel}: {exc}")
            done[rel] = sig
            continue
        new_series.add(series)
        new_episodes.add(episode)
        key = episode_key(series, episode)
        requests.append(RunRequest(run_key=f"{rel}:{size}:{mtime}", partition_key=key,
                                   tags={SERIES_TAG: series, EPISODE_TAG: episode, "dub/source": str(path)}))
        done[rel] = sig
        context.log.info(f"inbox: {rel} -> {series}/{episode}")
    new_cursor = json.dumps({"done": done, "seen": next_seen})
    if not requests:
        return SensorResult(skip_reason=SkipReason(f"no settled new files ({len(next_seen)} pending)"),
                            cursor=new_cursor)
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[series_partitions.build_add_request(sorted(new_series)),
                                     episode_dim_partitions.build_add_request(sorted(new_episodes))],
        cursor=new_cursor,
    )


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[pass1_job], request_job=voice_memory_job,
                   default_status=DefaultSensorStatus.RUNNING)
def pass1_done_sensor(context):
    """After an episode's pass 1, refresh its series' voice memory."""
    key = context.dagster_run.tags.get("dagster/partition")
    if not key:
        return SkipReason("pass-1 run without a partition")
    series, episode = split_episode_key(key)
    return RunRequest(run_key=f"vm:{context.dagster_run.run_id}", partition_key=series,
                      tags={SERIES_TAG: series, EPISODE_TAG: episode})


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[voice_memory_job], request_job=pass2_job,
                   default_status=DefaultSensorStatus.RUNNING)
def voice_memory_done_sensor(context):
    """After the series voice memory, run pass 2 for the episode that triggered it."""
    tags = context.dagster_run.tags
    if EPISODE_TAG not in tags:
        return SkipReason("voice-memory run not started by a pass-1 run")
    return RunRequest(run_key=f"p2:{context.dagster_run.run_id}",
                      partition_key=episode_key(tags[SERIES_TAG], tags[EPISODE_TAG]), tags=dict(
                          (k, v) for k, v in tags.items() if k in (SERIES_TAG, EPISODE_TAG)))

"""Run one episode through the Dagster pipeline in this process and report wall times and peak RSS as JSON.

Run as a child process by `dub bench` so each measurement has its own peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--media", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--source-lang", default="en")
    ap.add_argument("--target-lang", default="es")
    a = ap.parse_args()
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    from dagster import DagsterInstance, materialize

    from dub_assets.assets import ALL_ASSETS, PASS1_ASSETS, PASS2_ASSETS, SERIES_ASSETS
    from dub_assets.partitions import add_episode_partitions, episode_key
    from dub_assets.resources import DubResource
    from dub_assets.stage import FORCE_TAG
    from dub_resources import media
    from dub_resources.manifest import read_json
    from dub_resources.paths import EpisodePaths
    from dub_resources.isolation import fork_is_safe, isolation_enabled
    from dub_resources.registry import register_episode
    from dub_resources.resource_usage import PeakRss, rss_mb

    series, episode = "bench", "s01e01"
    res = DubResource(output_dir=a.out)
    register_episode(Path(a.out), series, episode, a.media, a.source_lang, a.target_lang)
    duration = media.probe(a.media).duration_s
    with tempfile.TemporaryDirectory() as home:
        instance = DagsterInstance.local_temp(home)
        add_episode_partitions(instance, series, episode)
        key = episode_key(series, episode)

        def run(assets, pk, tags=None) -> float:
            t0 = time.perf_counter()
            r = materialize(ALL_ASSETS, selection=assets, partition_key=pk, instance=instance,
                            resources={"dub": res}, tags=tags or {},
                            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
            if not r.success:
                raise SystemExit("pipeline run failed")
            return time.perf_counter() - t0

        with PeakRss() as mem:  # the whole run: this process, its stage children and their worker pools
            full = run(PASS1_ASSETS, key) + run(SERIES_ASSETS, series) + run(PASS2_ASSETS, key)
            p2 = run(PASS2_ASSETS, key, {FORCE_TAG: "true"})
            unchanged = run(PASS1_ASSETS, key) + run(SERIES_ASSETS, series) + run(PASS2_ASSETS, key)
    paths = EpisodePaths(Path(a.out), series, episode)
    stages = {}
    for st in ("source", "stems", "diarization", "transcript", "translation", "voice_refs", "tts_pass1",
               "preview_mix", "tts_pass2", "final_mix", "dubbed_video"):
        m = read_json(paths.manifest(st)) or {}
        stages[st] = {"wall_s": m.get("wall_time_s"), "engine": (m.get("engine") or {}).get("name"),
                      "peak_rss_mb": m.get("peak_rss_mb"),
                      "rtf": round(m["wall_time_s"] / duration, 4) if m.get("wall_time_s") else None}
    vm = read_json(Path(a.out) / series / "voice_memory" / "manifest.json") or {}
    stages["voice_memory"] = {"wall_s": vm.get("wall_time_s"), "engine": (vm.get("engine") or {}).get("name"),
                              "peak_rss_mb": vm.get("peak_rss_mb")}
    json.dump({"duration_s": round(duration, 2), "full_wall_s": round(full, 2), "rtf_end_to_end": round(full / duration, 4),
               "pass2_rerun_s": round(p2, 2), "pass2_rerun_fraction": round(p2 / full, 4),
               "unchanged_rerun_s": round(unchanged, 2), "unchanged_rerun_fraction": round(unchanged / full, 4),
               # sampled memory of the whole process tree (PSS summed, dub_resources.resource_usage). Not
               # ru_maxrss: Linux carries it across fork+exec, so it would report the launching process's peak.
               "peak_rss_mb": round(mem.peak_mb, 1),
               "rss_end_self_mb": round(rss_mb(include_children=False), 1),
               # stages ran in forked children only if this process never loaded these runtimes
               "stage_isolation": isolation_enabled() and fork_is_safe(),
               "stages": stages}, sys.stdout)


if __name__ == "__main__":
    main()

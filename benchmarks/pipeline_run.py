"""Run one episode through the Dagster pipeline in this process and report wall times and peak RSS as JSON.

Run as a child process by `dub bench` so each measurement has its own peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--media", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--source-lang", default="en")
    ap.add_argument("--target-lang", default="es")
    a = ap.parse_args()
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    from dagster import DagsterInstance

    from dub_assets.resources import DubResource
    from dub_assets.runner import run_episode
    from dub_resources import media
    from dub_resources.manifest import read_json
    from dub_resources.registry import register_episode
    from dub_resources.resource_usage import PeakRss, rss_mb
    from dub_resources.stages import STAGES

    series, episode = "bench", "s01e01"
    res = DubResource(output_dir=a.out)
    register_episode(Path(a.out), series, episode, a.media, a.source_lang, a.target_lang)
    duration = media.probe(a.media).duration_s
    with tempfile.TemporaryDirectory() as home:
        instance = DagsterInstance.local_temp(home)

        def run(**kw) -> float:
            return sum(run_episode(series, episode, instance=instance, dub=res, quiet=True, **kw).wall_s.values())

        with PeakRss() as mem:  # the whole run: this process, its stage children and their worker pools
            full = run()
            p2 = run(phases=("pass2",), force=True)
            unchanged = run()
    from dub_resources.stages import StageContext

    ctx = StageContext(res.settings(), series, episode)
    stages, isolation = {}, {}
    for name, st in STAGES.items():
        m = read_json(st.manifest_path(ctx if st.partition == "episode" else StageContext(ctx.settings, series))) or {}
        stages[name] = {"wall_s": m.get("wall_time_s"), "engine": (m.get("engine") or {}).get("name"),
                        "peak_rss_mb": m.get("peak_rss_mb"),
                        "rtf": round(m["wall_time_s"] / duration, 4) if m.get("wall_time_s") else None}
        if st.isolate:
            isolation[name] = (m.get("isolation") or {}).get("isolated")
    json.dump({"duration_s": round(duration, 2), "full_wall_s": round(full, 2), "rtf_end_to_end": round(full / duration, 4),
               "pass2_rerun_s": round(p2, 2), "pass2_rerun_fraction": round(p2 / full, 4),
               "unchanged_rerun_s": round(unchanged, 2), "unchanged_rerun_fraction": round(unchanged / full, 4),
               # sampled memory of the whole process tree (PSS summed, dub_resources.resource_usage). Not
               # ru_maxrss: Linux carries it across fork+exec, so it would report the launching process's peak.
               "peak_rss_mb": round(mem.peak_mb, 1),
               "rss_end_self_mb": round(rss_mb(include_children=False), 1),
               # which model-heavy stages really ran in a child (from their manifests)
               "stage_isolation": all(isolation.values()), "isolated_stages": isolation,
               "stages": stages}, sys.stdout)


if __name__ == "__main__":
    main()

"""`dub season`: one Dagster asset backfill over the season's episodes (pass 1, the series voice memory through the
partition mapping, pass 2), in the persistent instance, for the daemon to run."""

from __future__ import annotations

import os
import subprocess
import sys

from dagster import DagsterInstance

from dub_resources import media


def test_season_launches_one_backfill_over_its_episodes(tmp_path):
    folder = tmp_path / "show"
    folder.mkdir()
    for name in ("Show.S01E01.wav", "Show.S01E02.wav", "Show.S02E01.wav", "notes.txt"):
        p = folder / name
        if p.suffix == ".wav":
            media.run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=220:duration=1", str(p)], p)
        else:
            p.write_text("x")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "DUB_OUTPUT": str(tmp_path / "out")}
    r = subprocess.run([sys.executable, "-m", "dub_assets.cli", "season", "--series", "show", "--season", "1",
                        "--from", str(folder)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1500:]
    backfill_id = r.stdout.strip().splitlines()[-1]
    with DagsterInstance.from_config(str(tmp_path / "home")) as inst:
        bf = inst.get_backfill(backfill_id)
        assert bf is not None and bf.title == "show season 1" and bf.tags["dub/season"] == "1"
        target = bf.asset_backfill_data.target_subset
        keys = {k.path[-1] for k in target.asset_keys}
        assert {"source_audio", "voice_memory", "tts_pass2", "dubbed_video"} <= keys
        from dagster import AssetKey

        eps = {str(pk) for pk in target.get_partitions_subset(AssetKey("source_audio")).get_partition_keys()}
        assert eps == {"s01e01|show", "s01e02|show"}  # season 2 and non-media files left out
        series = set(target.get_partitions_subset(AssetKey("voice_memory")).get_partition_keys())
        assert series == {"show"}
    bad = subprocess.run([sys.executable, "-m", "dub_assets.cli", "season", "--series", "show", "--season", "3"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "dub: error: show: no registered episode of season 3 (dub season --from DIR registers a folder)")

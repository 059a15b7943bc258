"""`dub` command line: launches through Dagster (materialize into the persistent instance), never around it."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dub_resources.errors import DubError  # noqa: E402
from dub_resources.settings import REPO_ROOT  # noqa: E402

def ensure_dagster_home() -> Path:
    """DAGSTER_HOME defaults to var/dagster_home in the checkout, seeded with the project's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or REPO_ROOT / "var" / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    cfg = home / "dagster.yaml"
    if not cfg.exists() and (REPO_ROOT / "dagster.yaml").exists():
        shutil.copyfile(REPO_ROOT / "dagster.yaml", cfg)
    return home


def _instance():
    from dagster import DagsterInstance

    ensure_dagster_home()
    return DagsterInstance.get()


def run_episode(series: str, episode: str, *, force: bool = False, pass2_only: bool = False) -> Path:
    """pass-1 run -> series voice-memory run -> pass-2 run in the persistent instance (the UI shows them)."""
    from dub_resources.paths import validate_slug

    from .runner import run_episode as run

    validate_slug("series", series), validate_slug("episode", episode)  # InvalidName before any partition is added
    phases = ("pass2",) if pass2_only else ("pass1", "voice_memory", "pass2")
    return run(series, episode, instance=_instance(), phases=phases, force=force).dubbed_video


def cmd_episode(a: argparse.Namespace) -> int:
    from dub_resources.paths import EpisodePaths, episode_key_from_name, slugify
    from dub_resources.registry import register_episode
    from dub_resources.settings import Settings

    s = Settings.from_env()
    src = Path(a.file)
    if not src.is_file():
        raise DubError(f"{src}: file not found")
    # --series names the slug directly; otherwise the folder name is the series title (as for the inbox)
    series_title = None if a.series else src.resolve().parent.name
    series = a.series or slugify(series_title)
    episode = a.episode or episode_key_from_name(src.name)
    if not episode:
        raise DubError(f"{src}: no SxxEyy in the file name; pass --episode s01e01")
    EpisodePaths(s.output_dir, series, episode)  # InvalidName now, before any probing or translator loading
    from dub_resources import media

    from dub_resources.translation import make_translator

    source_lang, target_lang = a.source_lang or s.source_lang, a.target_lang or s.target_lang
    media.probe(src)  # fail fast with a one-line error before any run is started
    make_translator(s, source_lang, target_lang)  # an unsupported pair is an error now, not after ASR
    register_episode(s.output_dir, series, episode, src, source_lang, target_lang, series_title=series_title)
    print(run_episode(series, episode, force=a.force))
    return 0


def cmd_rerun_pass2(a: argparse.Namespace) -> int:
    print(run_episode(a.series, a.episode, force=not a.no_force, pass2_only=True))
    return 0


def cmd_season(a: argparse.Namespace) -> int:
    from dub_resources.settings import Settings

    from .season import launch_season_backfill, register_folder, season_episodes

    s = Settings.from_env()
    if a.source:
        register_folder(s, a.series, Path(a.source), a.season)
    backfill_id = launch_season_backfill(_instance(), s, a.series, a.season)
    eps = season_episodes(s, a.series, a.season)
    print(f"backfill {backfill_id}: {a.series} season {a.season}, {len(eps)} episodes ({', '.join(eps)}); the Dagster "
          f"daemon runs it (`make ui` starts one) and the UI shows its progress under Overview > Backfills",
          file=sys.stderr)
    print(backfill_id)
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from dub_resources.demo import build_demo_episode
    from dub_resources.registry import register_episode
    from dub_resources.settings import Settings

    s = Settings.from_env()
    video = build_demo_episode(s.output_dir.parent / "demo")
    print(f"demo episode: {video}", file=sys.stderr)
    register_episode(s.output_dir, "demo-show", "s01e01", video, "en", a.target_lang or s.target_lang)
    print(run_episode("demo-show", "s01e01", force=a.force))
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from benchmarks.run import main as bench_main

    return bench_main(a)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dub", description="Dub series episodes offline, through Dagster.")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("episode", help="dub one episode file; prints the dubbed video's path last")
    e.add_argument("file")
    e.add_argument("--series", help="series slug (default: the file's folder name)")
    e.add_argument("--episode", help="episode key such as s01e03 (default: SxxEyy in the file name)")
    e.add_argument("--source-lang", default=None)
    e.add_argument("--target-lang", default=None)
    e.add_argument("--force", action="store_true", help="recompute every stage even when fingerprints match")
    e.set_defaults(fn=cmd_episode)
    r = sub.add_parser("rerun-pass2", help="materialize only TTS pass 2 + final mix + video for an episode")
    r.add_argument("--series", required=True)
    r.add_argument("--episode", required=True)
    r.add_argument("--no-force", action="store_true", help="skip stages whose fingerprints match")
    r.set_defaults(fn=cmd_rerun_pass2)
    se = sub.add_parser("season", help="launch a Dagster backfill of every registered episode of a season")
    se.add_argument("--series", required=True)
    se.add_argument("--season", required=True, type=int)
    se.add_argument("--from", dest="source", default=None, help="register every SxxEyy media file of this folder first")
    se.set_defaults(fn=cmd_season)
    d = sub.add_parser("demo", help="build the demo episode and dub it")
    d.add_argument("--target-lang", default=None)
    d.add_argument("--force", action="store_true")
    d.set_defaults(fn=cmd_demo)
    b = sub.add_parser("bench", help="benchmark every stage on eval data; --json FILE writes the contract")
    b.add_argument("--data", default=None, help="eval folder (default ../shared/eval)")
    b.add_argument("--json", default=None)
    b.add_argument("--quick", action="store_true", help="small subsets; finishes in a few minutes")
    b.add_argument("--sections", default=None,
                   help="comma list of sections (separation,diarization,asr,speakers,speed); default all")
    b.add_argument("--long-minutes", type=float, default=20.0,
                   help="length of the long episode for the speed section (full mode; 0 to skip)")
    b.set_defaults(fn=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except DubError as exc:
        print(f"dub: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

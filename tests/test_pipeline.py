"""End to end through Dagster `materialize` on a 30 s real clip (the demo episode: real 2-speaker speech + music
bed + picture): pass-1 run -> series voice-memory run -> pass-2 run, then a pass-2-only rerun that must not execute
any upstream asset body, and an unchanged re-materialization that recomputes nothing (no output file rewritten).
The asset checks of every stage are read from the real runs and must pass."""

from __future__ import annotations

import hashlib
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


PASS2_OUTPUTS = ("tts_pass2", "final_mix", "dubbed_video")
# Asset checks that must exist, by asset; these and any other check the assets declare must be evaluated on a real
# materialisation and pass.
CHECKS = {
    "stems": {"stems_sum_to_source"}, "diarization": {"speakers_found"}, "translation": {"every_line_translated"},
    "tts_pass1": {"pass1_lines_fit_slots"}, "preview_mix": {"preview_no_clipping"},
    "tts_pass2": {"pass2_lines_fit_slots"}, "final_mix": {"final_no_clipping"}, "dubbed_video": {"expected_streams"},
}


def _run(instance, assets, key, res, tags=None):
    result = materialize(ALL_ASSETS, selection=assets, partition_key=key, instance=instance,
                         resources={"dub": res}, tags=tags or {})
    assert result.success
    return result


def _snapshot(*roots: Path) -> dict[str, tuple[int, str]]:
    """Every file under the roots: (st_mtime_ns, sha256 of its bytes)."""
    out = {}
    for root in roots:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                out[str(f)] = (f.stat().st_mtime_ns, hashlib.sha256(f.read_bytes()).hexdigest())
    return out


def _materialization_counts(instance, keys):
    from dagster import AssetKey

    return {k: len(instance.fetch_materializations(AssetKey(k), limit=1000).records) for k in keys}


ASSET_NAMES = ["source_audio", "stems", "diarization", "transcript", "translation", "voice_refs", "tts_pass1",
               "preview_mix", "voice_memory", "tts_pass2", "final_mix", "dubbed_video"]
# stage manifests of the episode (manifests/<name>.json)
STAGES = ["source", "stems", "diarization", "transcript", "translation", "voice_refs", "tts_pass1", "preview_mix",
          "tts_pass2", "final_mix", "dubbed_video"]


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory):
    """Produces every state the tests read, in one fixed order, so no test depends on another having run:
    the three runs of a full dub, then a forced pass-2-only rerun, then an unchanged re-materialization of all
    three runs, with a snapshot (mtime + bytes of every output file) and the materialization counts between them."""
    tmp = tmp_path_factory.mktemp("e2e")
    video = build_demo_episode(tmp / "demo")
    out, store = tmp / "out", tmp / "store"
    with pytest.MonkeyPatch.context() as mp, instance_for_test() as instance:
        for k in ("DUB_PRIVACY_MODE", "DUB_MINIMAL_ARTIFACTS", "DUB_VOICE_MEMORY", "VOICE_MEMORY"):
            mp.delenv(k, raising=False)
        mp.setenv("DUB_VOICE_STORE", str(store))
        res = DubResource(output_dir=str(out), voice_memory=True)
        register_episode(res.settings().output_dir, SERIES, EPISODE, video, "en", "es")
        add_episode_partitions(instance, SERIES, EPISODE)
        key = episode_key(SERIES, EPISODE)
        paths = EpisodePaths(res.settings().output_dir, SERIES, EPISODE)
        runs = [_run(instance, PASS1_ASSETS, key, res), _run(instance, SERIES_ASSETS, SERIES, res),
                _run(instance, PASS2_ASSETS, key, res)]
        state = {"instance": instance, "res": res, "key": key, "runs": runs, "source": video, "paths": paths,
                 "store": store}
        # forced pass-2-only rerun
        state["before_rerun"] = _snapshot(out, store)
        state["manifests_before_rerun"] = {s: read_json(paths.manifest(s)) for s in STAGES}
        state["counts_before_rerun"] = _materialization_counts(instance, ASSET_NAMES)
        state["rerun"] = _run(instance, PASS2_ASSETS, key, res, tags={FORCE_TAG: "true"})
        state["after_rerun"] = _snapshot(out, store)
        state["manifests_after_rerun"] = {s: read_json(paths.manifest(s)) for s in STAGES}
        state["counts_after_rerun"] = _materialization_counts(instance, ASSET_NAMES)
        # unchanged re-materialization of all three runs
        state["unchanged"] = [_run(instance, PASS1_ASSETS, key, res), _run(instance, SERIES_ASSETS, SERIES, res),
                              _run(instance, PASS2_ASSETS, key, res)]
        state["after_unchanged"] = _snapshot(out, store)
        yield state


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
    store = dubbed["store"] / SERIES
    chars = sorted((store / "characters").iterdir())
    assert len(chars) == 2
    mapping = json.loads((store / "episodes" / f"{EPISODE}.json").read_text())
    assert len({m["character_id"] for m in mapping["speakers"].values()}) == 2


def _paths_in(obj) -> set[str]:
    if isinstance(obj, dict):
        return set().union(*(_paths_in(v) for v in obj.values()))
    if isinstance(obj, (list, tuple)):
        return set().union(*(_paths_in(v) for v in obj))
    return {str(obj)} if isinstance(obj, str) and obj.startswith("/") else set()


def test_rerun_pass2_executes_only_pass2(dubbed):
    p: EpisodePaths = dubbed["paths"]
    m0, m1 = dubbed["manifests_before_rerun"], dubbed["manifests_after_rerun"]
    # what pass 2 may write: the outputs its three stages list in their manifests, its line files, those manifests
    pass2_written = {str(p.manifest(s)) for s in PASS2_OUTPUTS}.union(
        *(_paths_in(m[s]["outputs"]) for m in (m0, m1) for s in PASS2_OUTPUTS))

    def _is_pass2_output(f: str, p: EpisodePaths) -> bool:
        return f in pass2_written or p.tts_dir(2) in Path(f).parents

    r = dubbed["rerun"]
    steps = {e.step_key for e in r.all_events if e.event_type == DagsterEventType.STEP_START}
    assert steps == set(PASS2_OUTPUTS)
    before, after = dubbed["counts_before_rerun"], dubbed["counts_after_rerun"]
    assert {k for k in ASSET_NAMES if after[k] != before[k]} == set(PASS2_OUTPUTS)
    assert all(after[k] == before[k] + 1 for k in PASS2_OUTPUTS)
    # nothing upstream (episode files, series files, voice store) was rewritten: same bytes, same mtime, no new file
    snap0, snap1 = dubbed["before_rerun"], dubbed["after_rerun"]
    upstream0 = {f: v for f, v in snap0.items() if not _is_pass2_output(f, p)}
    upstream1 = {f: v for f, v in snap1.items() if not _is_pass2_output(f, p)}
    assert upstream1 == upstream0
    assert len(upstream0) > 30  # the whole pass-1 output is in the comparison, not an empty set
    # pass 2 really recomputed: every pass-2 output and manifest was written again
    pass2_files = [f for f in snap0 if _is_pass2_output(f, p)]
    for must in [p.tts_manifest(2), p.dialogue_track(2), p.final_mix, p.dubbed_video,
                 *(p.manifest(s) for s in PASS2_OUTPUTS)]:
        assert str(must) in pass2_files, must
    assert [f for f in pass2_files if snap1.get(f, (0,))[0] <= snap0[f][0]] == []
    for s in PASS2_OUTPUTS:
        assert m1[s]["written_at"] >= m0[s]["written_at"], s
        assert m1[s]["fingerprint"] == m0[s]["fingerprint"], s  # same inputs, forced: same fingerprint
    assert {s: m1[s] for s in STAGES if s not in PASS2_OUTPUTS} == {s: m0[s] for s in STAGES if s not in PASS2_OUTPUTS}


def _series_voice_memory_file(path: str, p: EpisodePaths) -> bool:
    return (p.output_dir / SERIES / "voice_memory") in Path(path).parents


def test_unchanged_rematerialization_recomputes_nothing(dubbed):
    p: EpisodePaths = dubbed["paths"]
    runs = dubbed["unchanged"]
    for r, assets in zip(runs, (PASS1_ASSETS, SERIES_ASSETS, PASS2_ASSETS)):
        mats = [e for e in r.all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION]
        assert len(mats) == len(assets)  # every asset still reports a materialization...
    # ...but no output file (episode, series, voice store) was written again or added: same bytes, same mtime.
    # The series voice_memory files are asserted in the next test (known defect there).
    before, after = dubbed["after_rerun"], dubbed["after_unchanged"]
    assert set(after) == set(before)
    changed = sorted(f for f in before if after[f] != before[f] and not _series_voice_memory_file(f, p))
    assert changed == [], changed
    assert any(f.endswith(".mkv") for f in before) and any(f.endswith("tts_manifest.json") for f in before)
    assert any(f.startswith(str(dubbed["store"])) for f in before)  # the voice store is in the comparison


def test_unchanged_rematerialization_leaves_the_series_voice_memory_alone(dubbed):
    p: EpisodePaths = dubbed["paths"]
    before, after = dubbed["after_rerun"], dubbed["after_unchanged"]
    files = sorted(f for f in before if _series_voice_memory_file(f, p))
    assert len(files) >= 3  # summary, manifest, the episode's mapping
    assert [f for f in files if after.get(f) != before[f]] == []


def test_asset_checks_pass_on_a_real_materialisation(dubbed):
    declared = {}
    for a in ALL_ASSETS:
        for spec in a.check_specs:
            declared.setdefault(spec.asset_key.to_user_string(), set()).add(spec.name)
    assert all(CHECKS[a] <= declared.get(a, set()) for a in CHECKS), declared  # none of the named checks is gone
    evals = [e for r in dubbed["runs"] for e in r.get_asset_check_evaluations()]
    got = {}
    for e in evals:
        got.setdefault(e.asset_key.to_user_string(), set()).add(e.check_name)
    assert got == declared  # every declared check was evaluated on the real runs
    failed = [(e.asset_key.to_user_string(), e.check_name, {k: v.value for k, v in e.metadata.items()})
              for e in evals if not e.passed]
    assert failed == [], failed
    meta = {e.check_name: {k: v.value for k, v in e.metadata.items()} for e in evals}
    # the checks looked at real figures, not defaults
    assert meta["stems_sum_to_source"]["separated"] is True
    assert isinstance(meta["stems_sum_to_source"]["reconstruction_error_db"], float)
    assert meta["stems_sum_to_source"]["reconstruction_error_db"] < -30.0
    assert meta["speakers_found"]["num_speakers"] == 2
    assert meta["every_line_translated"]["lines"] >= 5 and meta["every_line_translated"]["empty_targets"] == 0
    for name in ("pass1_lines_fit_slots", "pass2_lines_fit_slots"):
        assert meta[name]["lines"] >= 5 and meta[name]["overflow_fraction"] <= 0.2, (name, meta[name])
    for name in ("preview_no_clipping", "final_no_clipping"):
        assert meta[name]["peak_dbfs"] <= -0.9, (name, meta[name])
    assert meta["expected_streams"]["streams"] == {"video": 1, "audio": 2, "subtitle": 1}
    # the unchanged re-materialization evaluates the same checks again (on the stored figures), all passing
    again = [e for r in dubbed["unchanged"] for e in r.get_asset_check_evaluations()]
    assert sorted((e.asset_key.to_user_string(), e.check_name) for e in again) == sorted(
        (k, c) for k, cs in declared.items() for c in cs)
    assert all(e.passed for e in again)
    rerun = dubbed["rerun"].get_asset_check_evaluations()  # and the forced pass-2 rerun evaluates pass 2's checks
    assert sorted((e.asset_key.to_user_string(), e.check_name) for e in rerun) == sorted(
        (k, c) for k, cs in declared.items() for c in cs if k in PASS2_OUTPUTS)
    assert all(e.passed for e in rerun)

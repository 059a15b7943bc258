"""The series voice_memory asset on real speech: speakers of a later episode map to the characters created in an
earlier one (labels swapped on purpose); with voice memory off (unset or `off`) or in privacy/minimal mode, by the
resource or by any of the environment switches, nothing is written to the store and no voice data leaves the
episode folder."""

from __future__ import annotations

import numpy as np
import pytest
from dagster import AssetKey, instance_for_test, materialize

from dub_assets.assets import ALL_ASSETS, SERIES_ASSETS
from dub_assets.partitions import add_episode_partitions, episode_key
from dub_assets.resources import DubResource
from dub_resources.audio import read_audio, resample, write_audio
from dub_resources.diarization.base import Turn
from dub_resources.manifest import read_json, write_json_atomic
from dub_resources.paths import EpisodePaths, SeriesPaths
from dub_resources.registry import register_episode

SERIES = "show"
SWITCHES = ("DUB_VOICE_MEMORY", "VOICE_MEMORY", "DUB_PRIVACY_MODE", "DUB_MINIMAL_ARTIFACTS", "DUB_VOICE_STORE",
            "VOICE_STORE", "DUB_OUTPUT")
# Voice memory inactive, by each route the README names: (environment, DubResource flags).
INACTIVE = {
    "memory-unset": ({}, {}),
    "memory-off": ({"DUB_VOICE_MEMORY": "off"}, {}),
    "privacy-env": ({"DUB_VOICE_MEMORY": "on", "DUB_PRIVACY_MODE": "on"}, {}),
    "minimal-env": ({"DUB_VOICE_MEMORY": "on", "DUB_MINIMAL_ARTIFACTS": "on"}, {}),
    "privacy-resource": ({}, {"voice_memory": True, "privacy_mode": True}),
}
# What the voice_memory asset may write outside the episode folders when it is inactive: the episode-local
# mapping, the summary and its stage manifest (paths to the episode's own refs, no voice data).
SERIES_LEVEL_FILES = {"voice_memory/manifest.json", "voice_memory/summary.json", "voice_memory/episodes/s01e01.json"}


@pytest.fixture
def clean_env(monkeypatch):
    for k in SWITCHES:
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


def _files(root) -> list:
    """Every file under root (nothing when root does not exist)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _outside_episodes(out, episodes) -> set[str]:
    """Files under DUB_OUTPUT/<series>/ that are not inside one of the episode folders (empty lock files aside)."""
    root = SeriesPaths(out, SERIES).root
    return {str(p.relative_to(root)) for p in _files(root)
            if p.relative_to(root).parts[0] not in episodes
            and not (p.name.endswith(".lock") and p.stat().st_size == 0)}


def _fake_refs(out, episode, eval_dir, split, speakers: dict[str, str]):
    """Write an episode's voice_refs output as the pipeline would, from real LibriSpeech utterances."""
    p = EpisodePaths(out, SERIES, episode)
    manifest = {}
    for label, spk in speakers.items():
        x = np.concatenate([read_audio(f, sr=16000, mono=True)[0]
                            for f in sorted((eval_dir / "speakers" / split / spk).glob("*.wav"))[:2]])
        wav = write_audio(p.ref_wav(label), x, 16000)
        manifest[label] = {"speaker": label, "wav": str(wav), "duration_s": len(x) / 16000, "warnings": []}
    write_json_atomic(p.refs_manifest, {"input": "dialogue", "speakers": manifest})
    write_json_atomic(p.manifest("voice_refs"), {"fingerprint": f"fp-{episode}", "outputs": {}})


def _run(instance, res):
    r = materialize(ALL_ASSETS, selection=SERIES_ASSETS, partition_key=SERIES, instance=instance,
                    resources={"dub": res})
    assert r.success
    return r


def _metadata(result) -> dict:
    [mat] = result.get_asset_materialization_events()
    return {k: v.value for k, v in mat.materialization.metadata.items()}


def test_characters_persist_across_episodes(tmp_path, eval_dir, clean_env):
    out, store = tmp_path / "out", tmp_path / "store"
    res = DubResource(output_dir=str(out), voice_memory=True)
    clean_env.setenv("DUB_VOICE_STORE", str(store))
    with instance_for_test() as instance:
        add_episode_partitions(instance, SERIES, "s01e01")
        _fake_refs(out, "s01e01", eval_dir, "episode_a", {"SPEAKER_00": "ls1688", "SPEAKER_01": "ls367"})
        _run(instance, res)
        first = read_json(store / SERIES / "episodes" / "s01e01.json")["speakers"]
        assert len({m["character_id"] for m in first.values()}) == 2
        # Next episode: other utterances of the same two people, labels swapped.
        add_episode_partitions(instance, SERIES, "s01e02")
        _fake_refs(out, "s01e02", eval_dir, "episode_b", {"SPEAKER_00": "ls367", "SPEAKER_01": "ls1688"})
        _run(instance, res)
    second = read_json(store / SERIES / "episodes" / "s01e02.json")["speakers"]
    assert second["SPEAKER_00"]["character_id"] == first["SPEAKER_01"]["character_id"]
    assert second["SPEAKER_01"]["character_id"] == first["SPEAKER_00"]["character_id"]
    assert all(not m["created"] and m["similarity"] > 0.5 for m in second.values())
    assert len(list((store / SERIES / "characters").iterdir())) == 2
    mapping = read_json(SeriesPaths(out, SERIES).episode_mapping("s01e02"))
    assert mapping["persistent"] and all(m["refs"] for m in mapping["speakers"].values())
    assert not (out / "_voice_store").exists()  # DUB_VOICE_STORE was honoured: nothing at the default location


def test_environment_switch_turns_voice_memory_on(tmp_path, eval_dir, clean_env):
    """DUB_VOICE_MEMORY=on alone (no resource flag) writes the store: the switch reaches the asset, so the
    'nothing written' tests below cannot pass merely because the environment is ignored."""
    out, store = tmp_path / "out", tmp_path / "store"
    clean_env.setenv("DUB_VOICE_MEMORY", "on")
    clean_env.setenv("DUB_VOICE_STORE", str(store))
    with instance_for_test() as instance:
        add_episode_partitions(instance, SERIES, "s01e01")
        _fake_refs(out, "s01e01", eval_dir, "episode_a", {"SPEAKER_00": "ls1688"})
        meta = _metadata(_run(instance, DubResource(output_dir=str(out))))
    assert meta["persistent"] is True and meta["characters"] == 1 and meta["new_characters"] == 1
    assert read_json(SeriesPaths(out, SERIES).episode_mapping("s01e01"))["persistent"] is True
    assert any(p.suffix == ".npy" for p in _files(store / SERIES / "characters"))  # an embedding was stored


@pytest.mark.parametrize("route", list(INACTIVE))
def test_inactive_voice_memory_writes_nothing_to_the_store(tmp_path, eval_dir, route, clean_env):
    env, flags = INACTIVE[route]
    out, store = tmp_path / "out", tmp_path / "store"
    clean_env.setenv("DUB_VOICE_STORE", str(store))
    for k, v in env.items():
        clean_env.setenv(k, v)
    res = DubResource(output_dir=str(out), **flags)
    assert not res.settings().voice_memory_active
    with instance_for_test() as instance:
        add_episode_partitions(instance, SERIES, "s01e01")
        _fake_refs(out, "s01e01", eval_dir, "episode_a", {"SPEAKER_00": "ls1688", "SPEAKER_01": "ls367"})
        meta = _metadata(_run(instance, res))
    # zero bytes anywhere under the configured store root, nor at the default one
    assert _files(store) == [], route
    assert _files(out / "_voice_store") == [], route
    # no voice data outside the episode: only the episode-local mapping, the summary and the stage manifest
    assert _outside_episodes(out, {"s01e01"}) == SERIES_LEVEL_FILES, route
    sp = SeriesPaths(out, SERIES)
    assert read_json(sp.voice_memory_summary)["characters"] == []
    mapping = read_json(sp.episode_mapping("s01e01"))
    assert mapping["persistent"] is False
    own = EpisodePaths(out, SERIES, "s01e01")
    for spk in ("SPEAKER_00", "SPEAKER_01"):  # each speaker is its own episode-local character, with its own ref
        assert mapping["speakers"][spk] == {"character_id": f"s01e01:{spk}", "similarity": None, "created": True,
                                            "refs": [str(own.ref_wav(spk))]}
    assert meta["persistent"] is False and meta["store"] == "-" and meta["new_characters"] == 0


def _episode_for_voice_refs(out, tmp_path, eval_dir, episode: str) -> None:
    """An episode whose source audio and diarization exist (two LibriSpeech speakers, one after the other), so the
    real voice_refs asset can run on it."""
    parts, turns, t = [], [], 0.0
    for label, spk in (("SPEAKER_00", "ls1688"), ("SPEAKER_01", "ls367")):
        for f in sorted((eval_dir / "speakers" / "episode_a" / spk).glob("*.wav"))[:2]:
            x, sr = read_audio(f, sr=16000, mono=True)
            turns.append(Turn(t, t + x.size / sr, label))
            parts += [x, np.zeros(8000, np.float32)]
            t += x.size / sr + 0.5
    x48 = resample(np.concatenate(parts), 16000, 48000)
    src = write_audio(tmp_path / "media" / f"{episode}.wav", x48, 48000)
    register_episode(out, SERIES, episode, src, "en", "es")
    p = EpisodePaths(out, SERIES, episode)
    write_audio(p.source_48k, np.repeat(x48[:, None], 2, axis=1), 48000)
    write_json_atomic(p.diarization_json, {"input": "full", "speakers": ["SPEAKER_00", "SPEAKER_01"],
                                           "turns": [tu.to_dict() for tu in turns]})


@pytest.mark.parametrize("route", ["privacy-env", "minimal-env", "privacy-resource"])
def test_privacy_mode_keeps_voice_profiles_inside_the_episode(tmp_path, eval_dir, route, clean_env):
    """The real voice_refs asset, then voice_memory: in privacy/minimal mode no voice-derived file (profile cache,
    embedding, ref) may be written outside the episode folder (SeriesPaths.voice_profiles stays absent). With voice
    memory merely off, the series-level profile cache is allowed (it is a cache by content, not the store)."""
    env, flags = INACTIVE[route]
    out, store = tmp_path / "out", tmp_path / "store"
    clean_env.setenv("DUB_VOICE_STORE", str(store))
    for k, v in env.items():
        clean_env.setenv(k, v)
    res = DubResource(output_dir=str(out), **flags)
    _episode_for_voice_refs(out, tmp_path, eval_dir, "s01e01")
    with instance_for_test() as instance:
        add_episode_partitions(instance, SERIES, "s01e01")
        r = materialize(ALL_ASSETS, selection=[AssetKey("voice_refs")], partition_key=episode_key(SERIES, "s01e01"),
                        instance=instance, resources={"dub": res})
        assert r.success
        assert sorted(read_json(EpisodePaths(out, SERIES, "s01e01").refs_manifest)["speakers"]) == [
            "SPEAKER_00", "SPEAKER_01"]
        _run(instance, res)
    assert _files(store) == [] and _files(out / "_voice_store") == []
    assert not SeriesPaths(out, SERIES).voice_profiles.exists(), _files(SeriesPaths(out, SERIES).voice_profiles)
    record = str(SeriesPaths(out, SERIES).series_record.relative_to(SeriesPaths(out, SERIES).root))  # slug + title
    assert _outside_episodes(out, {"s01e01"}) == SERIES_LEVEL_FILES | {record}
    # the profiles were computed (pass 2 needs them), just kept with the episode
    assert len(list((EpisodePaths(out, SERIES, "s01e01").root / "voice_profiles").glob("*.json"))) == 2

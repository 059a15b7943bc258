"""The series voice_memory asset on real speech: speakers of a later episode map to the characters created in an
earlier one (labels swapped on purpose); privacy mode writes nothing to the store."""

from __future__ import annotations

import numpy as np
import pytest
from dagster import instance_for_test, materialize

from dub_assets.assets import ALL_ASSETS, SERIES_ASSETS
from dub_assets.partitions import add_episode_partitions
from dub_assets.resources import DubResource
from dub_resources.audio import read_audio, write_audio
from dub_resources.manifest import read_json, write_json_atomic
from dub_resources.paths import EpisodePaths, SeriesPaths

SERIES = "show"


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


def test_characters_persist_across_episodes(tmp_path, eval_dir, monkeypatch):
    out, store = tmp_path / "out", tmp_path / "store"
    res = DubResource(output_dir=str(out), voice_memory=True)
    monkeypatch.setenv("DUB_VOICE_STORE", str(store))
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


@pytest.mark.parametrize("flag", ["privacy_mode"])
def test_privacy_mode_writes_nothing_to_the_store(tmp_path, eval_dir, flag, monkeypatch):
    out, store = tmp_path / "out", tmp_path / "store"
    res = DubResource(output_dir=str(out), voice_memory=True, **{flag: True})
    monkeypatch.setenv("DUB_VOICE_STORE", str(store))
    with instance_for_test() as instance:
        add_episode_partitions(instance, SERIES, "s01e01")
        _fake_refs(out, "s01e01", eval_dir, "episode_a", {"SPEAKER_00": "ls1688"})
        _run(instance, res)
    assert not store.exists()
    mapping = read_json(SeriesPaths(out, SERIES).episode_mapping("s01e01"))
    assert mapping["persistent"] is False
    assert mapping["speakers"]["SPEAKER_00"]["refs"] == [str(EpisodePaths(out, SERIES, "s01e01").ref_wav("SPEAKER_00"))]

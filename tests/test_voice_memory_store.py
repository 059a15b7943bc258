"""Voice memory store: characters persist across episodes, mappings are one-to-one, deletes scrub mappings."""

from __future__ import annotations

import numpy as np
import pytest

from dub_resources.audio import write_audio
from dub_resources.voice_memory import VoiceMemoryStore


def _unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def refs(tmp_path):
    out = {}
    for name, f in [("a", 140.0), ("b", 220.0)]:
        t = np.arange(16000) / 16000
        out[name] = write_audio(tmp_path / f"{name}.wav", (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32), 16000)
    return out


def test_characters_persist_across_episodes(tmp_path, refs):
    store = VoiceMemoryStore(tmp_path / "store" / "show")
    ea, eb = _unit([1, 0, 0, 0.1]), _unit([0, 1, 0, 0.1])
    first = store.assign_episode("s01e01", {"SPEAKER_00": (refs["a"], ea), "SPEAKER_01": (refs["b"], eb)}, "t", 0.7)
    assert [a.created for a in first] == [True, True]
    ids = {a.speaker: a.character_id for a in first}
    assert len(set(ids.values())) == 2
    # Next episode: labels swapped and embeddings slightly perturbed -> same characters, swapped.
    again = store.assign_episode("s01e02", {"SPEAKER_00": (refs["b"], _unit([0.05, 1, 0, 0.1])),
                                            "SPEAKER_01": (refs["a"], _unit([1, 0.05, 0, 0.1]))}, "t", 0.7)
    m = {a.speaker: a for a in again}
    assert m["SPEAKER_00"].character_id == ids["SPEAKER_01"] and not m["SPEAKER_00"].created
    assert m["SPEAKER_01"].character_id == ids["SPEAKER_00"] and m["SPEAKER_01"].similarity > 0.9
    c = store.character(ids["SPEAKER_00"])
    assert c.episodes == ["s01e01", "s01e02"] and len(store.ref_paths(c.character_id)) == 2
    # A stranger below threshold becomes a new character.
    third = store.assign_episode("s01e03", {"SPEAKER_00": (refs["a"], _unit([0, 0, 1, 0]))}, "t", 0.7)
    assert third[0].created and third[0].character_id not in ids.values()
    # Stable: re-assigning an already mapped episode returns the stored mapping, creates nothing.
    n = len(store.characters())
    store.assign_episode("s01e02", {"SPEAKER_00": (refs["b"], eb), "SPEAKER_01": (refs["a"], ea)}, "t", 0.7)
    assert len(store.characters()) == n


def test_delete_scrubs_mappings(tmp_path, refs):
    store = VoiceMemoryStore(tmp_path / "show")
    a = store.assign_episode("s01e01", {"SPEAKER_00": (refs["a"], _unit([1, 0]))}, "t", 0.7)[0]
    store.delete_character(a.character_id)
    assert not store.char_dir(a.character_id).exists()
    assert store.episode_mapping("s01e01")["speakers"] == {}
    assert store.characters() == []

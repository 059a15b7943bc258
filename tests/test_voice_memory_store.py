"""Voice memory store: characters persist across episodes, mappings are one-to-one, deletes scrub mappings."""

from __future__ import annotations

import numpy as np
import pytest

from dub_resources.audio import write_audio
from dub_resources.voice_memory import VoiceMemoryStore


def _unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def _tree(root) -> dict:
    """Every file under root with its bytes and mtime: equal snapshots mean nothing was written."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


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
    # Stable: re-assigning an already mapped episode returns the stored mapping and writes nothing. The embeddings
    # passed now point elsewhere (SPEAKER_00 sounds like character a, SPEAKER_01 like nobody): a recomputation would
    # map SPEAKER_00 -> a and create a new character for SPEAKER_01, so only a kept mapping passes.
    stored = store.episode_mapping("s01e02")
    snapshot = _tree(store.root)
    elsewhere = {"SPEAKER_00": (refs["a"], ea), "SPEAKER_01": (refs["b"], _unit([0, 0, 0, 1]))}
    kept = store.assign_episode("s01e02", elsewhere, "t", 0.7)
    assert {a.speaker: a.character_id for a in kept} == {"SPEAKER_00": ids["SPEAKER_01"],
                                                          "SPEAKER_01": ids["SPEAKER_00"]}
    assert {a.speaker: (a.similarity, a.created) for a in kept} == {
        s: (x["similarity"], x["created"]) for s, x in stored["speakers"].items()}
    assert _tree(store.root) == snapshot  # no character, ref, embedding, mapping or index touched


def test_delete_scrubs_mappings(tmp_path, refs):
    store = VoiceMemoryStore(tmp_path / "show")
    a = store.assign_episode("s01e01", {"SPEAKER_00": (refs["a"], _unit([1, 0]))}, "t", 0.7)[0]
    store.delete_character(a.character_id)
    assert not store.char_dir(a.character_id).exists()
    assert store.episode_mapping("s01e01")["speakers"] == {}
    assert store.characters() == []

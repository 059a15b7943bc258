"""Series voice memory: characters (refs + embeddings) and per-episode speaker -> character mappings.

Layout under <VOICE_STORE>/<series>/:
  characters/<character_id>/meta.json, refs/ref_NNN.wav, embeddings/embedding.npy (+ embedding.json)
  episodes/<episode>.json   diarization label -> character mapping with similarity
  index.json                summary for quick listing
Every write is atomic (temp + rename) and the store is locked (flock) while it changes, so a kill at any point leaves
either the old or the new state.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..manifest import read_json, write_bytes_atomic, write_json_atomic

MAX_REFS_PER_CHARACTER = 5


@dataclass
class Character:
    character_id: str
    display_name: str
    created_from: str  # "<episode>:<speaker>"
    refs: list[str] = field(default_factory=list)  # file names under refs/
    episodes: list[str] = field(default_factory=list)
    preferred_voice_mode: str = "clone"
    preset_voice: str | None = None
    locked: bool = False
    updated_at: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SpeakerAssignment:
    speaker: str
    character_id: str
    similarity: float | None
    created: bool
    provider: str

    def to_dict(self) -> dict:
        return asdict(self)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class VoiceMemoryStore:
    """One series' persistent voice memory. Create only when voice memory is enabled (opt-in, never in privacy mode)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    # -- layout -------------------------------------------------------------------------------------------------
    def char_dir(self, cid: str) -> Path:
        return self.root / "characters" / cid

    def episode_file(self, episode: str) -> Path:
        return self.root / "episodes" / f"{episode}.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- reading ------------------------------------------------------------------------------------------------
    def characters(self) -> list[Character]:
        out = []
        cdir = self.root / "characters"
        if not cdir.exists():
            return out
        for d in sorted(cdir.iterdir()):
            meta = read_json(d / "meta.json")
            if meta:
                out.append(Character(**meta))
        return out

    def character(self, cid: str) -> Character:
        meta = read_json(self.char_dir(cid) / "meta.json")
        if not meta:
            raise KeyError(f"unknown character {cid!r} in {self.root}")
        return Character(**meta)

    def embedding(self, cid: str) -> np.ndarray | None:
        p = self.char_dir(cid) / "embeddings" / "embedding.npy"
        if p.exists():
            return np.load(p)
        j = read_json(self.char_dir(cid) / "embeddings" / "embedding.json")
        return np.asarray(j["embedding"], dtype=np.float32) if j else None

    def ref_paths(self, cid: str) -> list[Path]:
        c = self.character(cid)
        return [self.char_dir(cid) / "refs" / r for r in c.refs if (self.char_dir(cid) / "refs" / r).exists()]

    def episode_mapping(self, episode: str) -> dict | None:
        return read_json(self.episode_file(episode))

    # -- writing ------------------------------------------------------------------------------------------------
    def _next_id(self) -> str:
        n = len(list((self.root / "characters").glob("CHAR_*"))) if (self.root / "characters").exists() else 0
        while self.char_dir(f"CHAR_{n + 1:04d}").exists():
            n += 1
        return f"CHAR_{n + 1:04d}"

    def _write_embedding(self, cid: str, emb: np.ndarray, provider: str) -> None:
        buf = io.BytesIO()
        np.save(buf, emb.astype(np.float32))
        write_bytes_atomic(self.char_dir(cid) / "embeddings" / "embedding.npy", buf.getvalue())
        write_json_atomic(self.char_dir(cid) / "embeddings" / "embedding.json",
                          {"provider": provider, "dim": int(emb.size), "embedding": emb.astype(float).tolist()})

    def _save_meta(self, c: Character) -> None:
        c.updated_at = _now()
        write_json_atomic(self.char_dir(c.character_id) / "meta.json", c.to_dict())

    def create_character(self, ref_wav: Path, emb: np.ndarray | None, provider: str, created_from: str,
                         name: str | None = None) -> Character:
        cid = self._next_id()
        c = Character(character_id=cid, display_name=name or cid, created_from=created_from)
        self._add_ref_file(c, ref_wav)
        if emb is not None:
            self._write_embedding(cid, emb, provider)
        self._save_meta(c)
        return c

    def _add_ref_file(self, c: Character, ref_wav: Path) -> None:
        n = 1 + max([int(r[4:7]) for r in c.refs] + [0])
        name = f"ref_{n:03d}.wav"
        write_bytes_atomic(self.char_dir(c.character_id) / "refs" / name, Path(ref_wav).read_bytes())
        c.refs.append(name)
        while len(c.refs) > MAX_REFS_PER_CHARACTER:
            old = c.refs.pop(0)
            (self.char_dir(c.character_id) / "refs" / old).unlink(missing_ok=True)

    def enroll(self, cid: str, ref_wav: Path, emb: np.ndarray | None, provider: str) -> Character:
        """Add a ref to a character and update its embedding (running mean, re-normalised). Locked characters keep theirs."""
        c = self.character(cid)
        if c.locked:
            return c
        self._add_ref_file(c, ref_wav)
        if emb is not None:
            old = self.embedding(cid)
            k = max(len(c.refs) - 1, 1)
            new = emb if old is None else (old * k + emb) / (k + 1)
            self._write_embedding(cid, new / (np.linalg.norm(new) + 1e-9), provider)
        self._save_meta(c)
        return c

    def delete_character(self, cid: str) -> None:
        """Remove a character's refs and embeddings and scrub it from episode mappings."""
        with self.locked():
            shutil.rmtree(self.char_dir(cid), ignore_errors=True)
            for f in sorted((self.root / "episodes").glob("*.json")) if (self.root / "episodes").exists() else []:
                data = read_json(f)
                changed = False
                for spk, a in list(data.get("speakers", {}).items()):
                    if a.get("character_id") == cid:
                        del data["speakers"][spk]
                        changed = True
                if changed:
                    write_json_atomic(f, data)
            self.write_index()

    def write_index(self) -> None:
        chars = self.characters()
        write_json_atomic(self.root / "index.json", {
            "updated_at": _now(),
            "characters": [{"character_id": c.character_id, "display_name": c.display_name, "refs": len(c.refs),
                            "episodes": c.episodes, "locked": c.locked} for c in chars],
        })

    # -- matching -----------------------------------------------------------------------------------------------
    def assign_episode(self, episode: str, speakers: dict[str, tuple[Path, np.ndarray | None]], provider: str,
                       threshold: float) -> list[SpeakerAssignment]:
        """Map each diarization speaker of an episode to a character (one-to-one), creating characters as needed.

        An episode already mapped keeps its mapping (stable across re-runs); manual assignments win.
        """
        from scipy.optimize import linear_sum_assignment

        with self.locked():
            existing = self.episode_mapping(episode)
            if existing and set(existing.get("speakers", {})) == set(speakers):
                return [SpeakerAssignment(**{**a, "speaker": s}) for s, a in existing["speakers"].items()]
            chars = self.characters()
            embs = {c.character_id: self.embedding(c.character_id) for c in chars}
            cand = [cid for cid, e in embs.items() if e is not None]
            spk_names = [s for s, (_, e) in speakers.items() if e is not None]
            result: dict[str, SpeakerAssignment] = {}
            if cand and spk_names:
                sim = np.array([[float(np.dot(speakers[s][1], embs[c])) for c in cand] for s in spk_names])
                rows, cols = linear_sum_assignment(-sim)
                for r, k in zip(rows, cols):
                    if sim[r, k] >= threshold:
                        result[spk_names[r]] = SpeakerAssignment(spk_names[r], cand[k], round(float(sim[r, k]), 4),
                                                                 False, provider)
            for spk in sorted(speakers):
                ref, emb = speakers[spk]
                if spk in result:
                    self.enroll(result[spk].character_id, ref, emb, provider)
                else:
                    c = self.create_character(ref, emb, provider, created_from=f"{episode}:{spk}")
                    result[spk] = SpeakerAssignment(spk, c.character_id, None, True, provider)
            for a in result.values():
                c = self.character(a.character_id)
                if episode not in c.episodes:
                    c.episodes.append(episode)
                    self._save_meta(c)
            write_json_atomic(self.episode_file(episode), {
                "episode": episode, "updated_at": _now(), "threshold": threshold,
                "speakers": {s: {k: v for k, v in a.to_dict().items() if k != "speaker"} for s, a in result.items()},
            })
            self.write_index()
            return [result[s] for s in sorted(result)]


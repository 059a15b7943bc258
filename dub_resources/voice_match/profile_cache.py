"""Voice profiles of reference recordings, computed once and kept by content.

A reference's profile (F0 statistics + spectral envelope, WORLD harvest: ~0.25 s of CPU per second of speech) is a
property of the recording, not of the pass that needs it. Keeping it by the wav's content fingerprint (and the
matcher's version) lets the voice-refs stage compute it during pass 1, so a pass-2 rerun (after a recast) and later
episodes that reuse a character's refs only read it.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from ..manifest import file_fingerprint, write_json_atomic
from .base import VoiceProfile


class ProfileCache:
    """JSON profiles under `root`, one file per (matcher version, wav content)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, matcher, wav: Path) -> Path:
        tag = f"{matcher.info.name} {matcher.info.version}|{file_fingerprint(wav)}"
        return self.root / f"{hashlib.sha256(tag.encode()).hexdigest()[:32]}.json"

    def get(self, matcher, wav: str | Path) -> VoiceProfile | None:
        p = self._path(matcher, Path(wav))
        if not p.exists():
            return None
        try:
            return VoiceProfile(**json.loads(p.read_text("utf-8"))["profile"])
        except (ValueError, KeyError, TypeError):  # a damaged entry is recomputed, never trusted
            return None

    def put(self, matcher, wav: str | Path, profile: VoiceProfile) -> None:
        write_json_atomic(self._path(matcher, Path(wav)), {"wav": str(wav), "profile": asdict(profile)})


def _profile_or_error(matcher, wav: Path):
    try:
        return matcher.profile(wav)
    except Exception as exc:  # noqa: BLE001 - reported per ref by the caller
        return exc


def profiles_for(matcher, wavs: list[Path], cache: ProfileCache | None, min_pool: int = 4) -> dict[Path, object]:
    """{wav: VoiceProfile or the exception that stopped it}: cached profiles are read, the rest computed (in a pool
    of worker processes when there are at least `min_pool` of them; WORLD is single-threaded) and stored."""
    out: dict[Path, object] = {}
    todo = []
    for w in dict.fromkeys(Path(x) for x in wavs):
        hit = cache.get(matcher, w) if cache is not None else None
        if hit is not None:
            out[w] = hit
        else:
            todo.append(w)
    workers = min(os.cpu_count() or 1, 4)
    if len(todo) >= min_pool and workers >= 2:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            results = list(pool.map(_profile_or_error, [matcher] * len(todo), todo))
    else:
        results = [_profile_or_error(matcher, w) for w in todo]
    for w, res in zip(todo, results):
        out[w] = res
        if cache is not None and isinstance(res, VoiceProfile):
            cache.put(matcher, w, res)
    return out

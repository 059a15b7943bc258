"""Atomic writes, input fingerprints and JSON stage manifests.

A stage is skipped when its manifest's fingerprint (inputs + parameters + engine) matches and its outputs exist:
that is what makes an unchanged re-materialization nearly free.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

MANIFEST_VERSION = 2
TEMP_PREFIX = "."
TEMP_MARK = ".dubtmp-"  # every temp file of atomic_path carries it, so stale ones can be found and removed


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give: a media server or another user can read the outputs


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside `target`; on success fsync + rename it over `target`, else remove it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}{TEMP_MARK}", suffix=suffix or target.suffix or ".tmp",
                               dir=target.parent)
    os.fchmod(fd, FILE_MODE)  # mkstemp creates 0600, and os.replace would keep it
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
        _fsync_dir(target.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(target: str | Path, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text_atomic(target: str | Path, text: str) -> Path:
    return write_bytes_atomic(target, text.encode("utf-8"))


def write_json_atomic(target: str | Path, obj: Any) -> Path:
    return write_text_atomic(target, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | Path, default: Any = None) -> Any:
    p = Path(path)
    if not p.exists():
        return default
    return json.loads(p.read_text("utf-8"))


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def file_fingerprint(path: str | Path) -> str:
    """Content fingerprint of the whole file (BLAKE2b, streamed in 4 MiB blocks: ~1 GB/s, memory flat). Sampling
    would miss a re-edit that keeps the length, so every byte is read."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(4 << 20)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def remove_stale_temps(root: str | Path) -> list[Path]:
    """Delete the temp files a killed writer left under `root` (call it while holding the root's lock)."""
    removed = []
    root = Path(root)
    if root.is_dir():
        for p in root.rglob(f"{TEMP_PREFIX}*{TEMP_MARK}*"):
            if p.is_file():
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                    removed.append(p)
    return removed


def fingerprint(*parts: Any) -> str:
    """Stable hash of JSON-able parts (parameters, upstream fingerprints, engine names)."""
    blob = json.dumps(parts, sort_keys=True, default=_json_default).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


class StageManifest:
    """The JSON record of one stage run: inputs, outputs, engine, params, wall time, fallbacks."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def load(self) -> dict | None:
        try:
            return read_json(self.path)
        except (OSError, json.JSONDecodeError):
            return None

    def is_fresh(self, fp: str) -> bool:
        """True when the stored run used the same fingerprint and all its outputs still exist."""
        data = self.load()
        if not data or data.get("fingerprint") != fp:
            return False
        outs = data.get("outputs", {})
        return all(Path(v).exists() for v in _flatten_paths(outs))

    def write(
        self,
        *,
        stage: str,
        fp: str,
        inputs: dict[str, Any],
        outputs: dict[str, Any],
        engine: dict | None,
        params: dict[str, Any],
        wall_time_s: float,
        fallbacks: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict:
        data = {
            "manifest_version": MANIFEST_VERSION,
            "stage": stage,
            "fingerprint": fp,
            "inputs": inputs,
            "outputs": outputs,
            "engine": engine,
            "params": params,
            "wall_time_s": round(wall_time_s, 3),
            "fallbacks": fallbacks or [],
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if extra:
            data.update(extra)
        write_json_atomic(self.path, data)
        return data


def _flatten_paths(obj: Any) -> list[str]:
    out: list[str] = []
    if isinstance(obj, dict):
        for v in obj.values():
            out += _flatten_paths(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            out += _flatten_paths(v)
    elif isinstance(obj, (str, Path)) and str(obj).startswith("/"):
        out.append(str(obj))
    return out

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

MANIFEST_VERSION = 1


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
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp", dir=target.parent)
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


def file_fingerprint(path: str | Path, full_hash_limit: int = 8 << 20) -> str:
    """Content fingerprint: sha256 of small files; size + head/tail hash for large ones (fast, still content-based)."""
    p = Path(path)
    st = p.stat()
    h = hashlib.sha256()
    h.update(str(st.st_size).encode())
    with open(p, "rb") as fh:
        if st.st_size <= full_hash_limit:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        else:
            step = st.st_size // 16
            for i in range(16):
                fh.seek(i * step)
                h.update(fh.read(256 << 10))
            fh.seek(max(0, st.st_size - (256 << 10)))
            h.update(fh.read())
    return h.hexdigest()[:32]


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

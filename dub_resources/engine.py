"""What every engine records about itself, and the one way a stage chooses its engine.

A stage lists its engines as `EngineOption`s, best first. `choose_engine` probes them cheaply (package present,
weights on disk, language pair served: never a model load) and returns the first usable one with its version and
the reasons the better ones were skipped. The stage's fingerprint is made from that choice, so installing a better
engine or a new model version re-runs exactly the stages it changes.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import DubError, EngineUnavailable, NotConfigured, one_line


@dataclass
class EngineInfo:
    """Name, version and the fallbacks taken while producing one result."""

    name: str
    version: str = "unknown"
    fallbacks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def package_version(dist: str) -> str:
    """Installed version of a distribution, or 'missing'."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"


def require_packages(*dists: str) -> str:
    """'name version, ...' of installed distributions; EngineUnavailable naming the first one missing."""
    out = []
    for d in dists:
        v = package_version(d)
        if v == "missing":
            raise EngineUnavailable(f"package {d} is not installed")
        out.append(f"{d} {v}")
    return ", ".join(out)


@dataclass(frozen=True)
class EngineOption:
    """One engine a stage can use. `probe` is cheap and returns the engine's version (packages + weights), or raises
    EngineUnavailable saying why it cannot run here; `build` constructs it (and may load models)."""

    name: str
    probe: Callable[[], str]
    build: Callable[[], Any]


@dataclass(frozen=True)
class EngineChoice:
    """The engine a stage will run, its version and why the options before it were skipped."""

    option: EngineOption
    version: str
    skipped: tuple[str, ...] = ()  # every option passed over, and why (the plan records them)
    rest: tuple[EngineOption, ...] = ()  # the usable-looking options after it, for a build that fails
    fallbacks: tuple[str, ...] = ()  # the skips that are a degradation (not an optional engine left unconfigured)

    @property
    def name(self) -> str:
        return self.option.name

    def build(self) -> Any:
        return self.option.build()

    def build_with_fallback(self, stage: str) -> tuple[Any, str, list[str]]:
        """(engine, its name, fallbacks): the chosen engine built, or the next option that probes and builds when
        loading it fails (a corrupt weight file, a broken config), with each failure recorded."""
        failures = list(self.fallbacks)
        for opt in (self.option, *self.rest):
            try:
                if opt is not self.option:
                    opt.probe()
                return opt.build(), opt.name, failures
            except Exception as exc:  # noqa: BLE001 - a broken engine must not stop the pipeline: try the next
                failures.append(f"{opt.name}: {type(exc).__name__}: {one_line(exc)}")
        raise EngineUnavailable(f"{stage}: no engine could be loaded ({'; '.join(failures)})")


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from the parts' text (sha256: unlike hash(), the same in every process), so a line's random
    draws (Piper's noise, XTTS sampling) depend on what is spoken and nothing else."""
    h = hashlib.sha256("\x1f".join(repr(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "little") >> 1


def choose_engine(stage: str, options: Sequence[EngineOption], wanted: str | None = "auto",
                  aliases: dict[str, str] | None = None, setting: str = "engine") -> EngineChoice:
    """The first usable option, starting at the one named by `wanted` ('auto' = the list's order).

    A named engine that cannot run falls back to the options after it (recorded in `skipped`); an unknown name or
    no usable option at all is one DubError naming the stage, what was tried and why."""
    names = [o.name for o in options]
    key = (wanted or "auto").strip().lower()
    key = (aliases or {}).get(key, key)
    if key != "auto" and key not in names:
        raise DubError(f"{stage}: unknown {setting} {wanted!r} (choose auto, {', '.join(names)})")
    start = 0 if key == "auto" else names.index(key)
    skipped: list[str] = []
    fallbacks: list[str] = []
    for opt in options[start:]:
        try:
            version = opt.probe()
        except EngineUnavailable as exc:
            skipped.append(f"{opt.name}: {one_line(exc)}")
            if key != "auto" or not isinstance(exc, NotConfigured):
                fallbacks.append(skipped[-1])
            continue
        return EngineChoice(opt, version, tuple(skipped), tuple(options[options.index(opt) + 1:]), tuple(fallbacks))
    raise EngineUnavailable(f"{stage}: no engine available (tried {'; '.join(skipped) or 'nothing'})")


def module_digest(*modules: str) -> str:
    """Hash of the source of dub modules or packages (every .py below a package): an engine's own code and
    constants are part of its identity, so editing them invalidates the outputs they made."""
    h = hashlib.sha256()
    for name in sorted(set(modules)):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise DubError(f"module_digest: no module {name}")
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for f in files:
            h.update(f.as_posix().rsplit("/dub_resources/", 1)[-1].encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


_DIGESTS: dict[tuple[str, int, int], str] = {}


def weights_digest(path: str | Path) -> str:
    """Content hash of a model file or folder (every file below it), remembered per (path, size, mtime) so a
    plan made on every run does not re-read gigabytes of unchanged weights."""
    p = Path(path)
    files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        key = (str(f), st.st_size, st.st_mtime_ns)
        d = _DIGESTS.get(key)
        if d is None:
            from .manifest import file_fingerprint

            d = _DIGESTS[key] = file_fingerprint(f)
        h.update(f.relative_to(p).as_posix().encode() if p.is_dir() else b"")
        h.update(d.encode())
    return h.hexdigest()[:16]

"""What a pipeline stage is, written once and free of Dagster.

A `Stage` names its upstream stages, the files it writes, a `plan` that resolves the engine that will really run
(name, version, code digest, every effective parameter) and a `run` that produces the outputs from that plan. The
fingerprint that decides whether stored outputs are fresh is made from the plan and from the fingerprints of
everything the stage reads, so a new engine, model version or parameter re-runs exactly the stages it changes.
dub_assets turns each description into a software-defined asset; nothing about a stage is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from ..engine import EngineChoice, EngineInfo, module_digest
from ..manifest import StageManifest, fingerprint
from ..paths import EpisodePaths, SeriesPaths
from ..registry import Registration
from ..settings import Settings

Partition = Literal["episode", "series"]


@dataclass
class StageContext:
    """What a stage run sees: its settings and the paths of its partition (episode or series)."""

    settings: Settings
    series: str
    episode: str | None = None
    registration: Registration | None = None

    @property
    def paths(self) -> EpisodePaths:
        if self.episode is None:
            raise ValueError("series stage has no episode paths")
        return EpisodePaths(self.settings.output_dir, self.series, self.episode)

    @property
    def series_paths(self) -> SeriesPaths:
        return SeriesPaths(self.settings.output_dir, self.series)

    @property
    def reg(self) -> Registration:
        if self.registration is None:
            raise ValueError(f"{self.series}/{self.episode}: no registration loaded")
        return self.registration


@dataclass(frozen=True)
class Plan:
    """The resolved engine of one stage run and every parameter that changes its output."""

    engine: str
    version: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    choice: EngineChoice | None = field(default=None, compare=False)

    def identity(self) -> dict:
        """The part of the plan that enters the fingerprint (not the skipped options: the chosen one says it all)."""
        return {"engine": self.engine, "version": self.version, "code": self.code, "params": self.params}


def plan_from_choice(choice: EngineChoice, code_modules: tuple[str, ...], **params: Any) -> Plan:
    return Plan(choice.name, choice.version, module_digest(*code_modules), params, choice.skipped, choice)


def fixed_plan(engine: str, version: str, code_modules: tuple[str, ...], **params: Any) -> Plan:
    return Plan(engine, version, module_digest(*code_modules), params)


@dataclass
class StageResult:
    """What a run produced: output files, one summary line, the engine that really ran, UI metadata."""

    outputs: dict[str, Any]
    summary: str
    engine: EngineInfo | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # True when a worse engine than the planned one produced the outputs (the planned one failed to load or run):
    # they are kept and used, but not trusted as fresh, so the next run tries the planned engine again
    degraded: bool = False


@dataclass(frozen=True)
class Check:
    """A data-quality check on a stage's metadata: (passed, metadata shown with it)."""

    name: str
    description: str
    evaluate: Callable[[dict], tuple[bool, dict]]


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    partition: Partition
    group: str
    upstream: tuple[str, ...]
    outputs: str  # what it writes, in words (the README's stage table)
    plan: Callable[[StageContext], Plan]
    run: Callable[[StageContext, Plan], StageResult]
    # extra inputs read besides upstream outputs (e.g. the source file, the voice-memory mapping): name -> fingerprint
    extra_inputs: Callable[[StageContext], dict[str, Any]] | None = None
    # upstream fingerprints for series stages (all episodes of the series)
    series_inputs: Callable[[StageContext], dict[str, Any]] | None = None
    checks: tuple[Check, ...] = ()
    isolate: bool = False  # run in a child process (model-heavy)
    kinds: tuple[str, ...] = ()

    def manifest_path(self, ctx: StageContext) -> Path:
        if self.partition == "series":
            return ctx.series_paths.root / self.name / "manifest.json"
        return ctx.paths.manifest(MANIFEST_NAMES.get(self.name, self.name))

    def inputs(self, ctx: StageContext, manifest_of: Callable[[str, StageContext], Path | None]) -> dict[str, Any]:
        """Fingerprints of everything this stage reads: upstream stage outputs and extra files, whole."""
        if self.series_inputs is not None:
            found = self.series_inputs(ctx)
        else:
            found = {}
            for up in self.upstream:
                path = manifest_of(up, ctx)
                if path is not None:
                    found[up] = upstream_fingerprint(path)
        if self.extra_inputs is not None:
            found.update(self.extra_inputs(ctx))
        return found

    def fingerprint(self, plan: Plan, inputs: dict[str, Any]) -> str:
        return fingerprint(self.name, plan.identity(), inputs)


TIMING_KEYS = ("wall_s", "wall_time_s", "timings_s", "rtf", "model_s")


def without_timings(stats: dict) -> tuple[dict, dict]:
    """(stats for an output file, timings for the manifest): an output holds what was computed, never how long it
    took, so the same request gives the same bytes."""
    keep = {k: v for k, v in stats.items() if k not in TIMING_KEYS}
    return keep, {k: v for k, v in stats.items() if k in TIMING_KEYS}


# The manifest file of the source stage kept its historic name.
MANIFEST_NAMES = {"source_audio": "source"}


def upstream_fingerprint(manifest_path: Path) -> str | None:
    data = StageManifest(manifest_path).load()
    return data.get("fingerprint") if data else None

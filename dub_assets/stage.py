"""The one place where an asset turns into a stage run: fingerprint, skip-if-fresh, time, manifest, log line, metadata.

Asset functions stay thin: they resolve paths and pass a `compute` callable that calls dub_resources code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dagster import AssetCheckResult, AssetExecutionContext, DataVersion, MaterializeResult, MetadataValue

from dub_resources.engine import EngineInfo
from dub_resources.manifest import StageManifest, fingerprint
from dub_resources.isolation import run_isolated
from dub_resources.resource_usage import PeakRss, release_memory

FORCE_TAG = "dub/force"


@dataclass
class StageOutput:
    outputs: dict[str, Any]
    summary: str
    engine: EngineInfo | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    params_used: dict[str, Any] = field(default_factory=dict)


CheckFn = Callable[[dict], list[AssetCheckResult]]


def upstream_fingerprint(manifest_path: Path) -> str | None:
    data = StageManifest(manifest_path).load()
    return data.get("fingerprint") if data else None


def _plain(v: Any) -> Any:
    """numpy scalars / arrays / tuples -> plain JSON-able Python values (Dagster metadata must serialise)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            return v.item()
        except (ValueError, AttributeError):
            return v.tolist()
    return v


def _to_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in _plain(meta).items():
        if isinstance(v, str) and v.startswith("/") and len(v) < 1024:
            out[k] = MetadataValue.path(v)
        elif isinstance(v, str) and k.endswith("_md"):
            out[k[:-3]] = MetadataValue.md(v)
        elif v is None:
            out[k] = MetadataValue.text("-")
        else:
            out[k] = v
    return out


def run_stage(
    context: AssetExecutionContext,
    *,
    stage: str,
    manifest_path: Path,
    inputs: dict[str, Any],
    params: dict[str, Any],
    compute: Callable[[], StageOutput],
    checks: CheckFn | None = None,
    isolate: bool = False,
) -> MaterializeResult:
    """Skip when the stored manifest has the same fingerprint (unless the run is tagged dub/force=true).

    `isolate`: compute runs in a forked child (dub_resources.isolation) so the models it loads leave with it; its
    compute must not log through the Dagster context (the child does not own the event log)."""
    fp = fingerprint(stage, inputs, params)
    manifest = StageManifest(manifest_path)
    force = context.run.tags.get(FORCE_TAG, "false").lower() == "true"
    if not force and manifest.is_fresh(fp):
        data = manifest.load() or {}
        meta = dict(data.get("metadata", {}))
        context.log.info(f"{stage}: cached (fingerprint {fp[:12]}) {data.get('summary', '')}")
        meta["cached"] = True
    else:
        t0 = time.perf_counter()
        with PeakRss() as mem:
            out = run_isolated(compute, stage) if isolate else compute()
            release_memory()
        wall = time.perf_counter() - t0
        meta = _plain({**out.metadata, "wall_time_s": round(wall, 3), "peak_rss_mb": round(mem.peak_mb, 1)})
        if out.engine is not None:
            meta.setdefault("engine", f"{out.engine.name} {out.engine.version}")
            if out.engine.fallbacks:
                meta.setdefault("fallbacks", "; ".join(out.engine.fallbacks))
        manifest.write(
            stage=stage, fp=fp, inputs=inputs, outputs=out.outputs,
            engine=out.engine.to_dict() if out.engine else None, params={**params, **out.params_used},
            wall_time_s=wall, fallbacks=out.engine.fallbacks if out.engine else [],
            extra={"metadata": meta, "summary": out.summary, "peak_rss_mb": round(mem.peak_mb, 1)},
        )
        context.log.info(f"{stage}: {out.summary} ({wall:.1f}s, peak RSS {mem.peak_mb:.0f} MB)")
        meta["cached"] = False
    meta["manifest"] = str(manifest_path)
    return MaterializeResult(
        metadata=_to_metadata(meta),
        data_version=DataVersion(fp),
        check_results=checks(meta) if checks else None,
    )

"""The one place where an asset turns into a stage run: lock, plan, fingerprint, skip-if-fresh, run (isolated or
not, recorded), manifest, log line, metadata, checks."""

from __future__ import annotations

import time
from typing import Any

from dagster import AssetCheckResult, AssetExecutionContext, DataVersion, MaterializeResult, MetadataValue

from dub_resources.locks import partition_lock
from dub_resources.isolation import run_isolated
from dub_resources.manifest import StageManifest, remove_stale_temps
from dub_resources.registry import load_registration
from dub_resources.resource_usage import PeakRss, release_memory
from dub_resources.stages import Stage, StageContext, manifest_of

from .partitions import split_episode_key
from .resources import DubResource

FORCE_TAG = "dub/force"
DEGRADED = "degraded:"


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


def stage_context(stage: Stage, partition_key: str, dub: DubResource) -> StageContext:
    settings = dub.settings()
    if stage.partition == "series":
        return StageContext(settings, str(partition_key))
    series, episode = split_episode_key(partition_key)
    return StageContext(settings, series, episode, load_registration(settings.output_dir, series, episode))


def check_results(stage: Stage, meta: dict) -> list[AssetCheckResult]:
    results = []
    for c in stage.checks:
        passed, info = c.evaluate(meta)
        results.append(AssetCheckResult(check_name=c.name, passed=bool(passed), metadata=_plain(info)))
    return results


def run_stage(context: AssetExecutionContext, stage: Stage, dub: DubResource) -> MaterializeResult:
    """Skip when the stored manifest has the same fingerprint (unless the run is tagged dub/force=true)."""
    ctx = stage_context(stage, context.partition_key, dub)
    root = ctx.series_paths.root if stage.partition == "series" else ctx.paths.root
    with partition_lock(root, on_wait=lambda: context.log.info(f"{stage.name}: waiting for another run of "
                                                               f"{root.relative_to(ctx.settings.output_dir)}")):
        for p in remove_stale_temps(root):
            context.log.info(f"{stage.name}: removed a stale temp file {p}")
        plan = stage.plan(ctx)
        inputs = stage.inputs(ctx, manifest_of)
        fp = stage.fingerprint(plan, inputs)
        manifest = StageManifest(stage.manifest_path(ctx))
        force = context.run.tags.get(FORCE_TAG, "false").lower() == "true"
        if not force and manifest.is_fresh(fp):
            data = manifest.load() or {}
            meta = dict(data.get("metadata", {}))
            context.log.info(f"{stage.name}: cached (fingerprint {fp[:12]}) {data.get('summary', '')}")
            meta["cached"] = True
        else:
            meta = _execute(context, stage, ctx, plan, inputs, fp, manifest)
    meta["manifest"] = str(manifest.path)
    return MaterializeResult(metadata=_to_metadata(meta), data_version=DataVersion(fp),
                             check_results=check_results(stage, meta) or None)


def _execute(context, stage: Stage, ctx: StageContext, plan, inputs: dict, fp: str, manifest: StageManifest) -> dict:
    t0 = time.perf_counter()
    with PeakRss() as mem:
        if stage.isolate:
            iso = run_isolated(lambda: stage.run(ctx, plan), stage.name, ctx.settings.isolate_stages)
            out, isolation = iso.value, {"isolated": iso.isolated, "reason": iso.reason}
        else:
            out, isolation = stage.run(ctx, plan), {"isolated": False, "reason": "light stage: runs in-process"}
        release_memory()
    wall = time.perf_counter() - t0
    meta = _plain({**out.metadata, "wall_time_s": round(wall, 3), "peak_rss_mb": round(mem.peak_mb, 1),
                   "isolated": isolation["isolated"]})
    if out.engine is not None:
        meta.setdefault("engine", f"{out.engine.name} {out.engine.version}")
        if out.engine.fallbacks:
            meta.setdefault("fallbacks", "; ".join(out.engine.fallbacks))
    if out.degraded:
        meta["degraded"] = True
    manifest.write(
        stage=stage.name, fp=(DEGRADED + fp) if out.degraded else fp, inputs=inputs, outputs=out.outputs,
        engine=out.engine.to_dict() if out.engine else None, params=plan.params, wall_time_s=wall,
        fallbacks=out.engine.fallbacks if out.engine else [],
        extra={"metadata": meta, "summary": out.summary, "peak_rss_mb": round(mem.peak_mb, 1),
               "plan": {**plan.identity(), "skipped": list(plan.skipped)}, "isolation": isolation},
    )
    note = f", in-process: {isolation['reason']}" if stage.isolate and not isolation["isolated"] else ""
    context.log.info(f"{stage.name}: {out.summary} ({wall:.1f}s, peak RSS {mem.peak_mb:.0f} MB{note})")
    meta["cached"] = False
    return meta

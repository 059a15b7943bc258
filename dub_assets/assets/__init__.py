"""The assets, generated from the stage descriptions in dub_resources.stages by one small factory: a stage's
name, upstream deps, partitions, group, checks and description are written once, there."""


from dagster import AssetCheckSpec, AssetDep, AssetExecutionContext, AssetsDefinition, asset

from dub_resources.stages import PASS1, PASS2, SERIES, STAGES, Stage

from ..partitions import episode_partitions, series_mapping, series_partitions
from ..resources import DubResource
from ..stage import run_stage


def _dep(stage: Stage, upstream: str) -> AssetDep:
    up = STAGES[upstream]
    if stage.partition == up.partition:
        return AssetDep(up.name)
    return AssetDep(up.name, partition_mapping=series_mapping)  # episode <-> its series


def build_asset(stage: Stage) -> AssetsDefinition:
    @asset(
        name=stage.name,
        description=stage.description,
        partitions_def=series_partitions if stage.partition == "series" else episode_partitions,
        group_name=stage.group,
        deps=[_dep(stage, up) for up in stage.upstream],
        check_specs=[AssetCheckSpec(c.name, asset=stage.name, description=c.description) for c in stage.checks],
        kinds=set(stage.kinds) or None,
        # model-heavy stages share one pool, so a backfill never runs two of them at once on one machine
        pool="dub_models" if stage.isolate else None,
    )
    def _asset(context: AssetExecutionContext, dub: DubResource):
        return run_stage(context, stage, dub)

    return _asset


ASSETS = {name: build_asset(stage) for name, stage in STAGES.items()}
PASS1_ASSETS = [ASSETS[s.name] for s in PASS1]
SERIES_ASSETS = [ASSETS[s.name] for s in SERIES]
PASS2_ASSETS = [ASSETS[s.name] for s in PASS2]
ALL_ASSETS = list(ASSETS.values())

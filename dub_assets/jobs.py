"""Three jobs, because one run cannot mix partition definitions: pass 1 (episode) -> voice memory (series) -> pass 2."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from .assets import PASS1_ASSETS, PASS2_ASSETS, SERIES_ASSETS

pass1_job = define_asset_job(
    "pass1_job", selection=AssetSelection.assets(*PASS1_ASSETS),
    description="Episode listening half + TTS pass 1 + preview mix.",
)
voice_memory_job = define_asset_job(
    "voice_memory_job", selection=AssetSelection.assets(*SERIES_ASSETS),
    description="Series voice memory: map every episode's speakers to characters.",
)
pass2_job = define_asset_job(
    "pass2_job", selection=AssetSelection.assets(*PASS2_ASSETS),
    description="TTS pass 2 (character voices) + final mix + dubbed video. Upstream assets are not re-executed.",
)

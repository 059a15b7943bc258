"""The one Definitions object of the dub code location."""

from __future__ import annotations

import os

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dagster import Definitions  # noqa: E402

from .assets import ALL_ASSETS  # noqa: E402
from .jobs import pass1_job, pass2_job, voice_memory_job  # noqa: E402
from .resources import DubResource  # noqa: E402
from .sensors import inbox_sensor, pass1_done_sensor, voice_memory_done_sensor  # noqa: E402

defs = Definitions(
    assets=ALL_ASSETS,
    jobs=[pass1_job, voice_memory_job, pass2_job],
    sensors=[inbox_sensor, pass1_done_sensor, voice_memory_done_sensor],
    resources={"dub": DubResource()},
)

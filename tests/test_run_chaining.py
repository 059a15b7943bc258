"""Run-status sensors chain an episode's three runs in the UI: pass 1 -> series voice memory -> pass 2."""

from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
)
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from dub_assets.partitions import episode_key
from dub_assets.sensors import pass1_done_sensor, voice_memory_done_sensor


def _ctx(sensor, job: str, tags: dict, run_id: str = "r-123"):
    instance = DagsterInstance.ephemeral()
    run = DagsterRun(job_name=job, run_id=run_id, status=DagsterRunStatus.SUCCESS, tags=tags)
    event = DagsterEvent(event_type_value=DagsterEventType.RUN_SUCCESS.value, job_name=job)
    return build_run_status_sensor_context(sensor_name=sensor.name, dagster_event=event, dagster_instance=instance,
                                           dagster_run=run)


def test_pass1_success_requests_series_voice_memory():
    key = episode_key("my-show", "s01e03")
    req = pass1_done_sensor(_ctx(pass1_done_sensor, "pass1_job", {"dagster/partition": str(key)}))
    assert isinstance(req, RunRequest)
    assert req.partition_key == "my-show"
    assert req.tags["dub/series"] == "my-show" and req.tags["dub/episode"] == "s01e03"
    # one request per pass-1 run: the run key is derived from the finished run, so a re-tick requests nothing new
    assert req.run_key == "vm:r-123"
    other = pass1_done_sensor(_ctx(pass1_done_sensor, "pass1_job", {"dagster/partition": str(key)}, run_id="r-456"))
    assert other.run_key == "vm:r-456"


def test_pass1_without_partition_is_skipped_with_its_reason():
    res = pass1_done_sensor(_ctx(pass1_done_sensor, "pass1_job", {}))
    assert isinstance(res, SkipReason)
    assert res.skip_message == "pass-1 run without a partition"


def test_voice_memory_success_requests_pass2_of_that_episode():
    req = voice_memory_done_sensor(_ctx(voice_memory_done_sensor, "voice_memory_job",
                                        {"dub/series": "my-show", "dub/episode": "s01e03", "other": "x"}))
    assert isinstance(req, RunRequest)
    assert req.partition_key == episode_key("my-show", "s01e03")
    assert req.run_key == "p2:r-123"
    assert req.tags == {"dub/series": "my-show", "dub/episode": "s01e03"}  # only the chaining tags travel on


def test_manual_voice_memory_run_requests_nothing():
    res = voice_memory_done_sensor(_ctx(voice_memory_done_sensor, "voice_memory_job", {"dub/series": "my-show"}))
    assert isinstance(res, SkipReason)
    assert res.skip_message == "voice-memory run not started by a pass-1 run"

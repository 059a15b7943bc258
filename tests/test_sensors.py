"""Inbox sensor: new file -> one run request + partitions; same file -> nothing; growing file -> nothing yet.

Tick timing never matters here: the settle time is set through DUB_INBOX_SETTLE_SECONDS and every file's mtime is
set with os.utime far on one side of it (recent = now, old = hours ago), so no assertion depends on how long a tick
or the machine takes."""

from __future__ import annotations

import os
import re
import shutil
import time

import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context, instance_for_test

from dub_assets.definitions import defs
from dub_assets.partitions import episode_key
from dub_assets.sensors import inbox_sensor
from dub_resources.paths import slugify

SETTLE_S = 600  # far longer than any tick could take: "recent" files stay unsettled for the whole test
LONG_AGO = 6 * 3600


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("DUB_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("DUB_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("DUB_INBOX_SETTLE_SECONDS", str(SETTLE_S))
    with instance_for_test() as instance:
        yield tmp_path, instance


def _set_mtime(path, age_s: float) -> float:
    t = time.time() - age_s
    os.utime(path, (t, t))
    return t


def _tick(instance: DagsterInstance, cursor: str | None) -> SensorResult:
    ctx = build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    res = inbox_sensor(ctx)
    assert isinstance(res, SensorResult)
    return res


def _skipped(res: SensorResult, pending: int) -> None:
    """A tick that requests nothing says why, with the number of files still waiting to settle."""
    assert not res.run_requests
    assert not res.dynamic_partitions_requests
    assert res.skip_reason is not None and res.skip_reason.skip_message == f"no settled new files ({pending} pending)"


def _apply(instance, res: SensorResult):
    for req in res.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))


def test_new_settled_file_requests_one_run(env, eval_dir):
    tmp, instance = env
    dst = tmp / "inbox" / "My Show" / "my.show.S01E02.wav"
    dst.parent.mkdir(parents=True)
    shutil.copyfile(eval_dir / "separation" / "mix01" / "mixture.wav", dst)
    old = _set_mtime(dst, LONG_AGO)

    series = slugify("My Show")  # the inbox folder's title -> the series slug
    assert re.fullmatch(r"my-show(-[0-9a-f]+)?", series), series
    res = _tick(instance, None)
    assert len(res.run_requests) == 1 and res.skip_reason is None
    req = res.run_requests[0]
    assert req.partition_key == episode_key(series, "s01e02")
    assert req.tags["dub/series"] == series and req.tags["dub/episode"] == "s01e02"
    assert req.tags["dub/source"] == str(dst)
    _apply(instance, res)
    assert instance.get_dynamic_partitions("series") == [series]
    assert instance.get_dynamic_partitions("episode") == ["s01e02"]
    reg = tmp / "out" / series / "s01e02" / "episode.json"
    assert reg.exists() and str(dst) in reg.read_text()

    # Same file again: nothing, and nothing pending.
    res2 = _tick(instance, res.cursor)
    _skipped(res2, pending=0)

    # Changed file (new size + mtime, still long settled): one new request with a new run key.
    with open(dst, "ab") as fh:
        fh.write(b"\0" * 3200)
    os.utime(dst, (old + 10, old + 10))
    res3 = _tick(instance, res2.cursor)
    assert len(res3.run_requests) == 1 and res3.run_requests[0].run_key != req.run_key
    assert res3.run_requests[0].partition_key == req.partition_key
    _skipped(_tick(instance, res3.cursor), pending=0)


def test_growing_file_waits(env, eval_dir):
    tmp, instance = env
    dst = tmp / "inbox" / "show" / "show.S01E01.flac"
    dst.parent.mkdir(parents=True)
    data = (eval_dir / "asr_en" / "jfk_inaugural_1961.flac").read_bytes()
    dst.write_bytes(data[: len(data) // 2])  # still being copied: modified just now
    _set_mtime(dst, 0)
    res = _tick(instance, None)
    _skipped(res, pending=1)
    with open(dst, "ab") as fh:  # copy goes on
        fh.write(data[len(data) // 2 :])
    _set_mtime(dst, 0)
    res = _tick(instance, res.cursor)
    _skipped(res, pending=1)
    # copy finished long ago, but the file changed since the last tick: wait one more tick
    _set_mtime(dst, LONG_AGO)
    res = _tick(instance, res.cursor)
    _skipped(res, pending=1)
    res = _tick(instance, res.cursor)
    assert len(res.run_requests) == 1 and res.skip_reason is None
    assert res.run_requests[0].partition_key == episode_key("show", "s01e01")


def test_settle_time_comes_from_the_environment(env, eval_dir, monkeypatch):
    """Unchanged between ticks is not enough: the file must also be older than DUB_INBOX_SETTLE_SECONDS."""
    tmp, instance = env
    dst = tmp / "inbox" / "show" / "show.S01E04.wav"
    dst.parent.mkdir(parents=True)
    shutil.copyfile(eval_dir / "separation" / "mix02" / "mixture.wav", dst)
    _set_mtime(dst, SETTLE_S / 2)  # unchanged for minutes, but younger than the settle time
    res = _tick(instance, None)
    _skipped(res, pending=1)
    res = _tick(instance, res.cursor)
    _skipped(res, pending=1)
    monkeypatch.setenv("DUB_INBOX_SETTLE_SECONDS", str(SETTLE_S / 4))  # now it is old enough
    res = _tick(instance, res.cursor)
    assert len(res.run_requests) == 1
    assert res.run_requests[0].partition_key == episode_key("show", "s01e04")


def test_empty_file_is_never_settled(env):
    tmp, instance = env
    f = tmp / "inbox" / "show" / "show.S01E05.mkv"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"")  # created by the copier, no data yet
    _set_mtime(f, LONG_AGO)
    res = _tick(instance, None)
    _skipped(res, pending=1)
    _skipped(_tick(instance, res.cursor), pending=1)


def test_files_without_episode_number_are_ignored(env):
    tmp, instance = env
    f = tmp / "inbox" / "show" / "trailer.mp4"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"x" * 100)
    _set_mtime(f, LONG_AGO)
    res = _tick(instance, None)
    _skipped(res, pending=0)  # not even pending: never a candidate
    assert not (tmp / "out").exists()  # nothing registered

"""Inbox sensor: new file -> one run request + partitions; same file -> nothing; growing file -> nothing yet."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context, instance_for_test

from dub_assets.definitions import defs
from dub_assets.partitions import episode_key
from dub_assets.sensors import inbox_sensor


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("DUB_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("DUB_OUTPUT", str(tmp_path / "out"))
    monkeypatch.setenv("DUB_INBOX_SETTLE_SECONDS", "2")
    with instance_for_test() as instance:
        yield tmp_path, instance


def _tick(instance: DagsterInstance, cursor: str | None) -> SensorResult:
    ctx = build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    res = inbox_sensor(ctx)
    assert isinstance(res, SensorResult)
    return res


def _apply(instance, res: SensorResult):
    for req in res.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))


def test_new_settled_file_requests_one_run(env, eval_dir):
    tmp, instance = env
    dst = tmp / "inbox" / "My Show" / "my.show.S01E02.wav"
    dst.parent.mkdir(parents=True)
    shutil.copyfile(eval_dir / "separation" / "mix01" / "mixture.wav", dst)
    old = time.time() - 60
    os.utime(dst, (old, old))

    res = _tick(instance, None)
    assert len(res.run_requests) == 1
    req = res.run_requests[0]
    assert req.partition_key == episode_key("my-show", "s01e02")
    _apply(instance, res)
    assert instance.get_dynamic_partitions("series") == ["my-show"]
    assert instance.get_dynamic_partitions("episode") == ["s01e02"]
    reg = tmp / "out" / "my-show" / "s01e02" / "episode.json"
    assert reg.exists() and str(dst) in reg.read_text()

    # Same file again: nothing.
    res2 = _tick(instance, res.cursor)
    assert not res2.run_requests

    # Changed file (new size + mtime): one new request.
    with open(dst, "ab") as fh:
        fh.write(b"\0" * 3200)
    os.utime(dst, (old + 10, old + 10))
    res3 = _tick(instance, res2.cursor)
    assert len(res3.run_requests) == 1 and res3.run_requests[0].run_key != req.run_key


def test_growing_file_waits(env, eval_dir):
    tmp, instance = env
    dst = tmp / "inbox" / "show" / "show.S01E01.flac"
    dst.parent.mkdir(parents=True)
    data = (eval_dir / "asr_en" / "jfk_inaugural_1961.flac").read_bytes()
    dst.write_bytes(data[: len(data) // 2])  # still being copied: recent mtime
    res = _tick(instance, None)
    assert not res.run_requests
    with open(dst, "ab") as fh:  # copy goes on
        fh.write(data[len(data) // 2 :])
    res = _tick(instance, res.cursor)
    assert not res.run_requests
    old = time.time() - 30  # copy finished long ago, but it changed since the last tick: wait one more tick
    os.utime(dst, (old, old))
    res = _tick(instance, res.cursor)
    assert not res.run_requests
    res = _tick(instance, res.cursor)
    assert len(res.run_requests) == 1


def test_files_without_episode_number_are_ignored(env):
    tmp, instance = env
    f = tmp / "inbox" / "show" / "trailer.mp4"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"x" * 100)
    old = time.time() - 60
    os.utime(f, (old, old))
    assert not _tick(instance, None).run_requests

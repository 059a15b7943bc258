"""Outputs on disk: readable by others (the umask's mode, not mkstemp's 0600), no stale temp files after a kill,
one writer per episode across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from dub_resources.locks import partition_lock
from dub_resources.manifest import FILE_MODE, atomic_path, remove_stale_temps, write_json_atomic


def test_outputs_get_the_umask_mode(tmp_path):
    out = write_json_atomic(tmp_path / "a" / "x.json", {"a": 1})
    assert out.stat().st_mode & 0o777 == FILE_MODE
    assert FILE_MODE & 0o044 == 0o044  # with the usual umask 022: group and others can read a dubbed file
    with atomic_path(tmp_path / "v.mkv") as tmp:
        tmp.write_bytes(b"x")
    assert (tmp_path / "v.mkv").stat().st_mode & 0o777 == FILE_MODE


def test_a_killed_writer_leaves_a_temp_that_the_next_stage_start_removes(tmp_path):
    target = tmp_path / "ep" / "stems" / "dialogue.wav"
    code = ("import os, sys\nfrom dub_resources.manifest import atomic_path\n"
            f"with atomic_path({str(target)!r}) as t:\n    t.write_bytes(b'half')\n    os._exit(9)\n")
    subprocess.run([sys.executable, "-c", code], check=False)
    left = [p for p in target.parent.iterdir()]
    assert len(left) == 1 and left[0].name.startswith(".dialogue.wav") and not target.exists()
    keep = tmp_path / "ep" / "stems" / ".hidden_user_file"
    keep.write_text("mine")
    assert remove_stale_temps(tmp_path / "ep") == left
    assert list(target.parent.iterdir()) == [keep]  # only our temp files are removed


def test_one_writer_per_episode_across_processes(tmp_path):
    code = ("import sys, time\nfrom dub_resources.locks import partition_lock\n"
            f"with partition_lock({str(tmp_path)!r}):\n    print('held', flush=True)\n    time.sleep(1.0)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    waited = []
    t0 = time.monotonic()
    with partition_lock(tmp_path, on_wait=lambda: waited.append(True)):
        got_it = time.monotonic() - t0
    holder.wait()
    assert waited == [True] and holder.returncode == 0
    assert got_it > 0.3  # it really blocked until the other process let go


def test_a_killed_holder_releases_the_lock(tmp_path):
    code = ("import os, time\nfrom dub_resources.locks import partition_lock\n"
            f"with partition_lock({str(tmp_path)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    with partition_lock(tmp_path, on_wait=lambda: (_ for _ in ()).throw(AssertionError("still locked"))):
        pass
    assert os.path.exists(tmp_path / ".lock")

"""Stage isolation (forked children) and the memory helpers the stage runner uses."""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pytest

from dub_resources.errors import DubError, InputError
from dub_resources.isolation import isolation_decision, run_isolated
from dub_resources.resource_usage import PeakRss, release_memory, rss_mb

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork isolation is Linux-only")


@pytest.fixture(autouse=True)
def _lean_parent(monkeypatch):
    """This test session has torch loaded already; the children here only use numpy, which survives fork."""
    import dub_resources.isolation as iso

    monkeypatch.setattr(iso, "fork_is_safe", lambda: True)


@linux_only
def test_result_comes_back_and_child_memory_leaves_with_the_child(tmp_path):
    """The child holds 200 MB until the sampler has seen it (a handshake, not a race with the sampling period)."""
    import threading
    import time

    assert isolation_decision(True) == (True, "forked child")
    before = rss_mb(include_children=False)
    seen = tmp_path / "seen"

    def work():
        big = np.ones(200 * 1024 * 1024 // 8)  # 200 MB that only the child ever holds
        deadline = time.monotonic() + 20
        while not seen.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"pid": os.getpid(), "sum": float(big[:10].sum())}

    with PeakRss(0.02) as mem:
        def watch():
            deadline = time.monotonic() + 20
            while mem.peak_mb - mem.start_mb <= 150 and time.monotonic() < deadline:
                time.sleep(0.01)
            seen.touch()

        threading.Thread(target=watch, daemon=True).start()
        iso = run_isolated(work, "test")
    out = iso.value
    assert iso.isolated and iso.child_pid == out["pid"]
    assert out["sum"] == 10.0 and out["pid"] != os.getpid()  # it really ran elsewhere
    assert mem.peak_mb - mem.start_mb > 150  # the sampler sees the child's memory...
    assert rss_mb(include_children=False) - before < 50  # ...and this process never held it


@linux_only
def test_errors_cross_back_with_their_type_and_message(tmp_path):
    def bad_input():
        raise InputError(tmp_path / "ep.mkv", "no audio stream")

    with pytest.raises(InputError, match="ep.mkv: no audio stream") as info:
        run_isolated(bad_input, "test")
    assert info.value.path.endswith("ep.mkv")

    class Unpicklable(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a}/{b}")

    def odd():
        raise Unpicklable(1, 2)

    with pytest.raises(DubError, match="Unpicklable: 1/2"):
        run_isolated(odd, "test")


@linux_only
def test_a_killed_child_is_a_clear_error():
    with pytest.raises(DubError, match=r"diarization: worker process died \(killed by signal 9"):
        run_isolated(lambda: os.kill(os.getpid(), signal.SIGKILL), "diarization")


def test_switch_off_runs_in_process_and_says_why():
    iso = run_isolated(os.getpid, "test", enabled=False)
    assert iso.value == os.getpid() and not iso.isolated and iso.reason == "DUB_ISOLATE_STAGES=off"


def test_the_setting_reaches_the_decision(monkeypatch):
    from dub_resources.settings import Settings

    monkeypatch.setenv("DUB_ISOLATE_STAGES", "off")
    assert Settings.from_env().isolate_stages is False
    monkeypatch.setenv("DUB_ISOLATE_STAGES", "maybe")
    with pytest.raises(DubError, match="DUB_ISOLATE_STAGES: 'maybe' is not on/off"):
        Settings.from_env()


@linux_only
def test_an_interrupted_parent_kills_and_reaps_its_child(tmp_path):
    """A cancelled run (an exception in the parent while it waits) leaves no child writing the stage's outputs."""
    import threading

    marker = tmp_path / "child.pid"

    def slow():
        marker.write_text(str(os.getpid()))
        import time

        time.sleep(30)
        return "late"

    def interrupt():
        import time

        while not marker.exists():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGUSR1)

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            run_isolated(slow, "test")
    finally:
        signal.signal(signal.SIGUSR1, old)
    pid = int(marker.read_text())
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped by run_isolated
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # and gone


def test_fork_is_refused_once_a_threaded_runtime_is_loaded(monkeypatch):
    import dub_resources.isolation as iso

    monkeypatch.undo()  # the real check
    monkeypatch.setitem(sys.modules, "ctranslate2", sys.modules.get("ctranslate2") or object())
    assert not iso.fork_is_safe()
    res = run_isolated(os.getpid, "test")
    assert res.value == os.getpid() and not res.isolated  # ran in-process instead of hanging in a child
    assert "already loaded" in res.reason and "ctranslate2" in res.reason


def test_release_memory_returns_freed_heap_to_the_os():
    """Many small blocks freed stay in malloc's heap until trimmed: release_memory gives them back."""
    blocks = [bytearray(4096) for _ in range(50_000)]  # ~200 MB of small heap allocations
    pin = bytearray(4096)  # above them on the heap: free() alone cannot shrink the heap past it
    held = rss_mb(include_children=False)
    del blocks
    import gc

    gc.collect()
    assert held - rss_mb(include_children=False) < 50  # freed, but still resident
    release_memory()
    assert held - rss_mb(include_children=False) > 100
    del pin

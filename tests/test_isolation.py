"""Stage isolation (forked children) and the memory helpers the stage runner uses."""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pytest

from dub_resources.errors import DubError, InputError
from dub_resources.isolation import isolation_enabled, run_isolated
from dub_resources.resource_usage import PeakRss, release_memory, rss_mb

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork isolation is Linux-only")


@pytest.fixture(autouse=True)
def _lean_parent(monkeypatch):
    """This test session has torch loaded already; the children here only use numpy, which survives fork."""
    import dub_resources.isolation as iso

    monkeypatch.setattr(iso, "fork_is_safe", lambda: True)


@linux_only
def test_result_comes_back_and_child_memory_leaves_with_the_child():
    assert isolation_enabled()
    before = rss_mb(include_children=False)

    def work():
        big = np.ones(200 * 1024 * 1024 // 8)  # 200 MB that only the child ever holds
        return {"pid": os.getpid(), "sum": float(big[:10].sum())}

    with PeakRss(0.02) as mem:
        out = run_isolated(work, "test")
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


def test_switch_off_runs_in_process(monkeypatch):
    monkeypatch.setenv("DUB_ISOLATE_STAGES", "off")
    assert not isolation_enabled()
    assert run_isolated(os.getpid, "test") == os.getpid()


def test_fork_is_refused_once_a_threaded_runtime_is_loaded(monkeypatch):
    import dub_resources.isolation as iso

    monkeypatch.undo()  # the real check
    monkeypatch.setitem(sys.modules, "ctranslate2", sys.modules.get("ctranslate2") or object())
    assert not iso.fork_is_safe()
    assert run_isolated(os.getpid, "test") == os.getpid()  # ran in-process instead of hanging in a child


def test_release_memory_runs():
    release_memory()
    assert rss_mb() > 10

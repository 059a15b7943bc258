"""Peak memory of a block of work, sampled in a background thread.

`ru_maxrss` only ever grows over a process's life, so it cannot say which stage of an in-process pipeline needed the
memory; sampling the resident set (this process plus its worker children) while a stage runs can.
"""

from __future__ import annotations

import os
import threading

import psutil


def rss_mb(include_children: bool = True) -> float:
    """Memory of this process in MiB: its RSS alone, or with `include_children` the memory of the whole process
    tree (see tree_memory_mb)."""
    if include_children:
        return tree_memory_mb()
    return psutil.Process(os.getpid()).memory_info().rss / (1024 * 1024)


def _pss(proc: psutil.Process) -> int:
    try:
        return proc.memory_full_info().pss  # smaps_rollup: cheap on Linux >= 4.14
    except (AttributeError, psutil.AccessDenied):
        return proc.memory_info().rss


def tree_memory_mb() -> float:
    """Memory used by this process and its descendants, in MiB: the sum of their proportional set sizes (PSS).

    Summing RSS would count every page a forked stage child still shares with its parent (copy-on-write) twice;
    PSS splits each shared page between the processes mapping it, so the sum is what the tree really occupies.
    For a single process without children it is close to its RSS."""
    proc = psutil.Process(os.getpid())
    total = _pss(proc)
    for child in proc.children(recursive=True):
        try:
            total += _pss(child)
        except psutil.Error:
            pass
    return total / (1024 * 1024)


class PeakRss:
    """Context manager: `.peak_mb` is the largest memory of the process tree (tree_memory_mb, MiB) seen while the
    block ran, sampled every `interval_s`."""

    def __init__(self, interval_s: float = 0.2):
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self.start_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_mb = max(self.peak_mb, rss_mb())

    def __enter__(self) -> "PeakRss":
        self.start_mb = self.peak_mb = rss_mb()
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())


def _libc():
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def release_memory() -> None:
    """Collect garbage and hand free heap pages back to the OS (called between pipeline stages)."""
    import gc

    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)

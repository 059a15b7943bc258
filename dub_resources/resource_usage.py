"""Peak memory of a block of work, sampled in a background thread.

`ru_maxrss` only ever grows over a process's life, so it cannot say which stage of an in-process pipeline needed the
memory; sampling the resident set (this process plus its worker children) while a stage runs can.
"""

from __future__ import annotations

import os
import threading

import psutil


def rss_mb(include_children: bool = True) -> float:
    """Resident set of this process (and its children), in MiB."""
    proc = psutil.Process(os.getpid())
    total = proc.memory_info().rss
    if include_children:
        for child in proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
    return total / (1024 * 1024)


class PeakRss:
    """Context manager: `.peak_mb` is the largest RSS (MiB) seen while the block ran, sampled every `interval_s`."""

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

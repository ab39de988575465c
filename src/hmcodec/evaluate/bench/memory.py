"""Peak memory of one call: tracemalloc's Python peak and the resident set size's growth,
sampled every 2 ms from ``/proc/self/statm`` (``ru_maxrss`` growth where ``/proc`` is missing)."""

from __future__ import annotations

import os
import resource
import threading
import tracemalloc
from collections.abc import Callable
from typing import Any

MIB = 2**20


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class _RssSampler:
    """Peak resident set size above the starting level, sampled in a background thread."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.start_rss = _rss_bytes()
        self.start_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.peak = self.start_rss or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _rss_bytes() or 0)

    def __enter__(self) -> _RssSampler:
        if self.start_rss is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.start_rss is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss_bytes() or 0)

    def growth(self) -> int:
        if self.start_rss is not None:
            return self.peak - self.start_rss
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.start_maxrss
        return kib * 1024


def peak_memory(function: Callable[..., Any], *args: Any) -> tuple[Any, dict[str, float]]:
    """``function(*args)`` with its peak Python heap (tracemalloc) and peak RSS growth, in MiB."""
    with _RssSampler() as sampler:
        tracemalloc.start()
        try:
            result = function(*args)
            _, python_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return result, {"python_mib": python_peak / MIB, "rss_mib": sampler.growth() / MIB}

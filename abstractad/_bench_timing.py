"""How ``ad.benchmark`` times a callable: interleaved rounds of batches, the first call, the peak of
Python-heap allocations, and fresh or counting copies of a function."""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def _batch(fn: Callable[[], Any], target: float) -> int:
    """How many calls make a batch of about `target` seconds."""
    t = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t, 1e-7)
    return max(1, min(10_000, int(target / once)))


def interleaved(fns: Sequence[Callable[[], Any]], rounds: int, target: float) -> list[tuple[float, float]]:
    """(median, spread) of seconds per call for each callable, timed in interleaved rounds."""
    for fn in fns:  # warm up: compile, allocate, fill caches
        for _ in range(3):
            fn()
    sizes = [_batch(fn, target) for fn in fns]
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, k, out in zip(fns, sizes, samples):
            t = time.perf_counter()
            for _ in range(k):
                fn()
            out.append((time.perf_counter() - t) / k)
    result = []
    for out in samples:
        med = statistics.median(out)
        q = np.percentile(out, [25, 75])
        result.append((med, float(q[1] - q[0]) / med if med > 0 else 0.0))
    return result


def first_call(fn: Callable[[], Any]) -> float:
    """Seconds of one call."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def peak_mb(fn: Callable[[], Any]) -> float:
    """The peak of Python-heap allocations (NumPy included) during one call, in MB."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def fresh_copy(f: Callable) -> Callable:
    """A new function object with `f`'s behaviour: caches keyed by the function start empty."""

    def g(x: Any, *args: Any) -> Any:
        return f(x, *args)

    g.__name__ = getattr(f, "__name__", "f")
    return g


class Counter:
    """`f`, counting its calls."""

    def __init__(self, f: Callable) -> None:
        self.f, self.calls = f, 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.f(*args)

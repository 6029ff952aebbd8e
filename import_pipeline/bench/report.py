"""Timing and memory helpers shared by the benchmarks."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@dataclass(frozen=True)
class Timing:
    label: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def best_of(label: str, repeat: int, run: Callable[[], int]) -> Timing:
    """Run `run` (which returns a row count) `repeat` times; keep the fastest run."""
    best: Timing | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        rows = run()
        timing = Timing(label, rows, time.perf_counter() - started)
        if best is None or timing.seconds < best.seconds:
            best = timing
    assert best is not None
    return best


def print_table(timings: list[Timing], baseline: Timing) -> None:
    """Print rows, seconds, rows/s and the ratio to `baseline` for each timing."""
    print(f"{'measurement':<34} {'rows':>11} {'seconds':>9} {'rows/s':>12} {'vs raw':>7}")
    for t in timings:
        ratio = t.rows_per_second / baseline.rows_per_second
        print(f"{t.label:<34} {t.rows:>11,} {t.seconds:>9.2f} {t.rows_per_second:>12,.0f} {ratio:>6.2f}x")

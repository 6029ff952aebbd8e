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


def timed(label: str, run: Callable[[], int]) -> Timing:
    """Time one call of `run`, which returns the number of rows it handled."""
    started = time.perf_counter()
    rows = run()
    return Timing(label, rows, time.perf_counter() - started)


def best_of_interleaved(repeat: int, runs: list[tuple[str, Callable[[], int]]]) -> list[Timing]:
    """Run every `(label, run)` in turn, `repeat` rounds; keep each label's fastest run.

    Interleaving spreads the server's background work (checkpoints, autovacuum) over all
    measurements instead of letting it land on whichever happens to run last.
    """
    best: dict[str, Timing] = {}
    for _ in range(repeat):
        for label, run in runs:
            timing = timed(label, run)
            if label not in best or timing.seconds < best[label].seconds:
                best[label] = timing
    return [best[label] for label, _ in runs]


def print_table(timings: list[Timing], baseline: Timing) -> None:
    """Print rows, seconds, rows/s and the ratio to `baseline` for each timing."""
    print(f"{'measurement':<34} {'rows':>11} {'seconds':>9} {'rows/s':>12} {'vs raw':>7}")
    for t in timings:
        ratio = t.rows_per_second / baseline.rows_per_second
        print(f"{t.label:<34} {t.rows:>11,} {t.seconds:>9.2f} {t.rows_per_second:>12,.0f} {ratio:>6.2f}x")

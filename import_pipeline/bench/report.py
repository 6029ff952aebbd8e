"""Timing and memory helpers shared by the benchmarks."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from import_pipeline.postgres.connect import drop_database, ensure_database, with_database
from import_pipeline.postgres.migrate import migrate_database

SCRATCH_DATABASE = "import_pipeline_bench"


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A freshly created and migrated `import_pipeline_bench` database on the server of
    `server_url`, dropped when the block ends; yields its URL."""
    drop_database(server_url, SCRATCH_DATABASE)
    ensure_database(server_url, SCRATCH_DATABASE)
    url = with_database(server_url, SCRATCH_DATABASE)
    try:
        migrate_database(url)
        yield url
    finally:
        drop_database(server_url, SCRATCH_DATABASE)


def raw_copy_seconds(url: str, *, create: str, target: str, source: str) -> float:
    """The raw-COPY baseline: run `create` (the DDL of table `target`), then stream what
    `source` (a table, or a query in parentheses, with the target's columns in order) holds
    into `target` as COPY text between two connections; return the seconds the COPY took."""
    with psycopg.connect(url) as conn:
        conn.execute(create)
        conn.commit()
        with psycopg.connect(url) as reader, reader.cursor() as out_cur, \
                out_cur.copy(f"COPY {source} TO STDOUT") as out, \
                conn.cursor() as in_cur, in_cur.copy(f"COPY {target} FROM STDIN") as into:
            started = time.perf_counter()
            for chunk in out:
                into.write(chunk)
        seconds = time.perf_counter() - started
        conn.commit()
    return seconds


def child_peak_rss_mb() -> float:
    """The largest peak resident set size of this process's finished children, in MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


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

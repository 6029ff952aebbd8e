"""The parallel part of a crawl: documents fetched by worker threads, progress, and the failure budget.

Shared by the details and cases phases. Results are handed back as they arrive; at most
`concurrency()` requests are in flight, so memory holds a bounded window of documents, never
a municipality's worth.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from import_pipeline.sources.properties.client import ApiError, PropertyApiClient

Item = TypeVar("Item")

#: Latency assumed before the first answers are timed, in seconds.
ASSUMED_LATENCY = 0.5
#: In flight per request/s x latency: a little more than the rate needs, to absorb jitter.
CONCURRENCY_MARGIN = 1.5
#: After this many attempts, a run whose failures exceed `STOP_RATIO` stops: the API is down for it.
STOP_AFTER = 200
STOP_RATIO = 0.5
#: Items under way per request slot.
UNDER_WAY = 2


class CrawlFailed(RuntimeError):
    """Too many documents could not be fetched; the message says how many, of how many, and why."""


@dataclass(frozen=True)
class Fetched(Generic[Item]):
    """One fetch's outcome: the item, and either its document or the error that ended it."""

    item: Item
    document: dict[str, Any] | None
    error: ApiError | None


class Concurrency:
    """How many requests to keep in flight: `workers` when set, else enough for the pacer's rate
    at the client's observed latency (x `CONCURRENCY_MARGIN`), between 2 and `max_workers`;
    `max_workers` when there is no rate limit. Each evaluation sets the client's request slots."""

    def __init__(self, client: PropertyApiClient, workers: int | None, max_workers: int) -> None:
        self._client = client
        self._workers = workers
        self.max_workers = max(workers or 0, max_workers)
        self.peak = 0

    def __call__(self) -> int:
        if self._workers is not None:
            target = self._workers
        else:
            rate = self._client.pacer.rate
            if rate is None:
                target = self.max_workers
            else:
                latency = self._client.stats.mean_latency() or ASSUMED_LATENCY
                target = min(self.max_workers, max(2, math.ceil(rate * latency * CONCURRENCY_MARGIN)))
        self.peak = max(self.peak, target)
        self._client.slots.set_limit(target)
        return target


def fetch_parallel(items: Iterable[Item], fetch: Callable[[Item], dict[str, Any]], *,
                   concurrency: Concurrency) -> Generator[Fetched[Item], None, None]:
    """`fetch(item)` for every item on worker threads, outcomes yielded as they complete (not
    in order). At most `concurrency()` requests are in flight (the client's slots); twice as
    many items are under way, so that threads waiting out a retry's backoff leave no slot
    idle. An `ApiError` is an outcome; any other exception is raised here."""

    def run(item: Item) -> Fetched[Item]:
        try:
            return Fetched(item, fetch(item), None)
        except ApiError as exc:
            return Fetched(item, None, exc)

    with ThreadPoolExecutor(UNDER_WAY * concurrency.max_workers, thread_name_prefix="fetch") as pool:
        pending: set[Future[Fetched[Item]]] = set()
        try:
            for item in items:
                while len(pending) >= UNDER_WAY * concurrency():
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
                pending.add(pool.submit(run, item))
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()


class CrawlProgress:
    """Counts a phase's work and logs a progress line every `interval` seconds.

    The line: done / total, the rate over the last interval and overall, the time left at
    the overall rate, and the client's retries and the failures so far.
    """

    def __init__(self, what: str, total: int, client: PropertyApiClient, log: Callable[[str], None],
                 interval: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self.failed = 0
        self._client = client
        self._log = log
        self._interval = interval
        self._clock = clock
        self.started = clock()
        self._last_time = self.started
        self._last_done = 0

    @property
    def attempted(self) -> int:
        return self.done + self.failed

    @property
    def seconds(self) -> float:
        return self._clock() - self.started

    def add(self, *, failed: bool) -> None:
        """Count one document done (or failed), and log when the interval is up."""
        if failed:
            self.failed += 1
        else:
            self.done += 1
        if self._clock() - self._last_time >= self._interval:
            self._log(self.describe())

    def describe(self) -> str:
        """The progress line (and start a new interval)."""
        now = self._clock()
        overall = self.attempted / (now - self.started) if now > self.started else 0.0
        current = (self.attempted - self._last_done) / (now - self._last_time) if now > self._last_time else 0.0
        self._last_time, self._last_done = now, self.attempted
        left = self.total - self.attempted
        eta = f"{left / overall:,.0f} s left" if overall > 0 and left > 0 else "done" if left <= 0 else "ETA unknown"
        stats = self._client.stats.snapshot()
        return (f"{self.what}: {self.attempted:,} / {self.total:,}, {current:,.1f}/s now, {overall:,.1f}/s overall, "
                f"{eta}; {stats.get('retries', 0):,} retries, {self.failed:,} failed")

    def check_budget(self, max_failure_ratio: float, *, final: bool) -> None:
        """Raise `CrawlFailed` when the failures are over budget: over `max_failure_ratio` of the
        attempts at the end (`final`), or over `STOP_RATIO` after `STOP_AFTER` attempts at any time."""
        if not self.attempted:
            return
        ratio = self.failed / self.attempted
        if final and ratio > max_failure_ratio:
            raise CrawlFailed(
                f"{self.what}: {self.failed:,} of {self.attempted:,} documents failed ({ratio:.1%}), more than the "
                f"allowed {max_failure_ratio:.1%}; the failures are in import_pipeline.rejects")
        if not final and self.attempted >= STOP_AFTER and ratio > STOP_RATIO:
            raise CrawlFailed(
                f"{self.what}: stopped after {self.failed:,} of {self.attempted:,} documents failed ({ratio:.0%}); "
                "the API is refusing this crawl (the failures are in import_pipeline.rejects)")

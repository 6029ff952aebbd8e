"""One fetch phase of the crawl (address details, or cases) from its to-do list to committed rows.

The to-do list is read in keyset pages of `PAGE` ids from the database (one set-based query
per page decides what is new or changed); the documents are fetched in parallel
(`fetch_parallel`); each `batch_size` documents (or every `batch_seconds`) are written and
committed in one transaction on a second thread (`BackgroundWriter`), so the fetching never
waits for the database. A killed run loses at most the documents in flight and in the batch
being filled: the next run's to-do list no longer holds what was committed.

Why the phases write through the engine rather than `PostgresBulkIOManager`: a document's
rows in several tables (a property, its buildings, its registrations) must commit together,
batch by batch while the crawl goes on, which one asset output cannot express.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import psycopg
from psycopg import sql

from import_pipeline.load.properties.fetch import Concurrency, CrawlFailed, CrawlProgress, fetch_parallel
from import_pipeline.postgres.connect import Connect
from import_pipeline.postgres.rejects import clear_rejects, write_rejects
from import_pipeline.postgres.scalar import fetch_value
from import_pipeline.postgres.statements import statement
from import_pipeline.postgres.writer import BackgroundWriter
from import_pipeline.records import Reject
from import_pipeline.sources.properties.client import ApiError, GaveUp, PropertyApiClient
from import_pipeline.sources.properties.documents import InvalidDocument, ValidationError, problem

#: Ids read from the to-do list per query.
PAGE = 1_000
FIRST_REJECTS = 5
#: The API path of each kind of document, before its id.
PATHS = {"address": "/addresses/", "case": "/cases/"}

Built = TypeVar("Built")


@dataclass(frozen=True)
class Unavailable:
    """An id that failed for good for this search summary (404, another 4xx, an invalid document)."""

    id: str
    search_hash: str
    status: int | None
    url: str
    reason: str


@dataclass
class Batch(Generic[Built]):
    """What one transaction writes: built rows, ids fetched, ids unavailable, rejects."""

    built: list[Built] = field(default_factory=list)
    unavailable: list[Unavailable] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


@dataclass
class Written:
    """Rows a phase wrote, per table, and how many documents were new, changed or unchanged."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, other: Written) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        for table, n in other.rows.items():
            self.rows[table] = self.rows.get(table, 0) + n


class Phase(Protocol):
    """What differs between the details and the cases phase. A to-do item ("pending") is
    made by `pending` from a row of the `to_fetch` statement; its first value is its id."""

    kind: str  # 'address' or 'case': the `properties.unavailable` kind
    to_fetch: str  # the named statement of sql/properties/ listing the to-do list

    def pending(self, row: tuple[Any, ...]) -> Any: ...

    def search_hash(self, pending: Any) -> str: ...

    def fetch(self, client: PropertyApiClient, pending: Any) -> dict[str, Any]: ...

    def build(self, pending: Any, document: dict[str, Any], fetched_at: dt.datetime) -> Any:
        """The rows of one document; raises ValidationError or InvalidDocument for a bad one."""
        ...

    def write(self, conn: psycopg.Connection, batch: Batch[Any]) -> Written:
        """Write one batch (inside the caller's transaction)."""
        ...


@dataclass(frozen=True)
class PhaseSettings:
    """How a phase runs: concurrency, batching, logging and the failure budget."""

    workers: int | None = None
    max_workers: int = 16
    batch_size: int = 200
    batch_seconds: float = 2.0
    progress_seconds: float = 5.0
    max_failure_ratio: float = 0.01
    refresh: bool = False


@dataclass
class PhaseResult:
    """What a phase did: its to-do count, documents fetched and failed, rows written, time."""

    what: str
    to_fetch: int
    fetched: int = 0
    failed: int = 0
    written: Written = field(default_factory=Written)
    first_rejects: list[Reject] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    workers: int = 0
    seconds: float = 0.0

    @property
    def documents_per_second(self) -> float:
        return self.fetched / self.seconds if self.seconds > 0 else 0.0


def run_phase(phase: Phase, *, connect: Connect, client: PropertyApiClient, municipality: str,
              settings: PhaseSettings, asset: str, run_id: str | None,
              log: Callable[[str], None]) -> PhaseResult:
    """Fetch and store every document of `phase` that `municipality`'s search results call for.

    Rejects (with URL, status and reason) replace the asset partition's earlier ones. Raises
    `CrawlFailed` after writing everything it could when failures exceed
    `settings.max_failure_ratio`, or early when the API refuses most requests.
    """
    params = {"municipality": municipality, "refresh": settings.refresh}
    with connect() as conn, conn.transaction():
        everything = sql.SQL("SELECT count(*) FROM ({}) AS todo").format(statement("properties", phase.to_fetch))
        total = int(fetch_value(conn, everything, {**params, "after": "", "limit": None}) or 0)
        clear_rejects(conn, asset, municipality)
    what = f"{municipality} {asset.rsplit('/', 1)[-1]}"
    result = PhaseResult(what=what, to_fetch=total)
    progress = CrawlProgress(what, total, client, log, settings.progress_seconds)
    concurrency = Concurrency(client, settings.workers, settings.max_workers)
    log(f"{what}: {total:,} documents to fetch" + (" (refresh: all of them)" if settings.refresh else ""))

    def write(batch: Batch[Any]) -> None:  # on the writer thread, the only one touching result.written
        with writer_conn.transaction():
            written = phase.write(writer_conn, batch)
            write_rejects(writer_conn, batch.rejects, asset=asset, partition_key=municipality, run_id=run_id)
        result.written.add(written)

    started = time.monotonic()
    stopped: CrawlFailed | None = None
    outcomes = fetch_parallel(_pending(connect, phase, params), lambda p: phase.fetch(client, p),
                              concurrency=concurrency)
    with closing(outcomes), connect() as writer_conn, \
            BackgroundWriter(write, depth=2, name=f"{asset}-writer") as writer:
        batch: Batch[Any] = Batch()
        last_flush = time.monotonic()
        for outcome in outcomes:
            failure = _failure(phase, client.base_url, outcome.item, outcome.document, outcome.error, batch)
            progress.add(failed=failure)
            result.failed += failure
            result.fetched += not failure
            if len(batch.built) + len(batch.rejects) >= settings.batch_size \
                    or time.monotonic() - last_flush >= settings.batch_seconds:
                _take_rejects(result, batch)
                writer.submit(batch)
                batch, last_flush = Batch(), time.monotonic()
            try:
                progress.check_budget(settings.max_failure_ratio, final=False)
            except CrawlFailed as exc:
                stopped = exc  # raised once what was fetched is written
                break
        _take_rejects(result, batch)
        writer.submit(batch)
    result.seconds = time.monotonic() - started
    result.requests = client.stats.snapshot()
    result.workers = concurrency.peak
    if total:
        log(progress.describe())
    if stopped is not None:
        raise stopped
    progress.check_budget(settings.max_failure_ratio, final=True)
    return result


def _take_rejects(result: PhaseResult, batch: Batch[Any]) -> None:
    room = FIRST_REJECTS - len(result.first_rejects)
    if room > 0:
        result.first_rejects.extend(batch.rejects[:room])


def _failure(phase: Phase, base_url: str, pending: Any, document: dict[str, Any] | None,
             error: ApiError | None, batch: Batch[Any]) -> bool:
    """Put one outcome into `batch`; return True when it is a failure (a reject)."""
    search_hash = phase.search_hash(pending)
    if error is not None:
        batch.rejects.append(Reject(source=error.url, reason=f"HTTP {error.status}: {error.reason}"
                                    if error.status else error.reason))
        if not isinstance(error, GaveUp):  # 404 and other refusals are for good; a transient one is tried next run
            batch.unavailable.append(Unavailable(pending[0], search_hash, error.status, error.url,
                                                 error.reason))
        return True
    assert document is not None
    try:
        batch.built.append(phase.build(pending, document, dt.datetime.now(dt.UTC)))
    except (ValidationError, InvalidDocument) as exc:
        url = f"{base_url}{PATHS[phase.kind]}{pending[0]}"
        reason = f"invalid document: {problem(exc) if isinstance(exc, ValidationError) else exc}"
        batch.rejects.append(Reject(source=url, reason=reason, raw=str(document)))
        batch.unavailable.append(Unavailable(pending[0], search_hash, 200, url, reason))
        return True
    return False


def _pending(connect: Connect, phase: Phase, params: dict[str, Any]) -> Iterator[Any]:
    """The to-do list, one keyset page at a time (each page a short transaction of its own)."""
    after = ""
    while True:
        with connect() as conn, conn.transaction():
            rows = conn.execute(statement("properties", phase.to_fetch),
                                {**params, "after": after, "limit": PAGE}).fetchall()
        if not rows:
            return
        for row in rows:
            yield phase.pending(row)
        after = rows[-1][0]

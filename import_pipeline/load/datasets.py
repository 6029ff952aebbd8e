"""Import a tabular file as a new commit of a dataset: stage (resumable), then commit atomically.

`stage_file` streams the file's rows (parsed and hashed in a child process for large
files) in batches. The import's commit id is fixed when staging starts, so batches are
written as final rows: new row contents into `datasets.rows` (content-addressed, stored
once), then in one transaction the `(logical row id, row hash)` pairs straight into
`datasets.commit_rows` under the pending commit id, the rejects, and the import's
checkpoint. Contents and references go over two connections at once, one batch apart;
a batch's checkpoint commits only after its contents did. A run killed midway resumes
after the last checkpoint. Nothing reads commit rows of a commit that does not exist yet.

`commit_import` then, in one transaction and holding the dataset's ref row lock, adds the
parent's rows in `append` mode, creates the commit row and moves the ref: a failure
leaves refs and commits as they were. A file whose SHA-256 equals the one the ref's
commit came from creates no new commit.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg.types.json import Jsonb

from import_pipeline.parallel import iterate_in_process
from import_pipeline.postgres.copy import copy_binary
from import_pipeline.postgres.constraints import restore_abandoned
from import_pipeline.postgres.indexes import suspended_indexes
from import_pipeline.postgres.locks import advisory_lock, advisory_lock_if_free
from import_pipeline.postgres.rejects import clear_rejects, write_rejects
from import_pipeline.postgres.statements import statement
from import_pipeline.records import Progress, Reject
from import_pipeline.sources.datasets.files import estimated_rows
from import_pipeline.sources.datasets.settings import SETTINGS_KEYS, validated_settings

if TYPE_CHECKING:
    from import_pipeline.load.dataset_batches import EncodedBatch

DEFAULT_MAX_BYTES = 5 * 1024**3
#: Rows a staging batch holds (and a checkpoint covers). 25,000 rather than 50,000: the two
#: processes' peak for a 1.24 GB CSV falls from ~520 to ~425 MiB, for ~2% of the speed.
BATCH_ROWS = 25_000
#: Files this large are parsed and hashed in a child process, using the second core.
CHILD_PROCESS_MIN_BYTES = 8 * 1024 * 1024
PROGRESS_SECONDS = 3.0
#: A file expected to hold this many rows, and at least this share of the rows commit_rows
#: already holds, is staged with commit_rows' row_hash index dropped and rebuilt after.
BULK_MIN_ROWS = 200_000
BULK_MIN_SHARE = 0.5
BULK_LOCK = "datasets.commit_rows.bulk"
#: Tables whose indexes a bulk import suspends.
SUSPENDABLE_TABLES = ("datasets.commit_rows",)
STAGE_ASSET = "datasets/staged_rows"
FIRST_REJECTS = 5


class FileTooLarge(ValueError):
    """The file exceeds the configured maximum size; nothing was read or written."""


class NothingStaged(RuntimeError):
    """A commit was asked for a file whose rows were never staged."""


class EmptyImport(RuntimeError):
    """The file holds no rows and the request does not allow an empty commit; nothing changed."""


@dataclass(frozen=True)
class ImportRequest:
    """Which file goes into which dataset, how, and who says so."""

    path: Path
    dataset: str
    ref: str = "main"
    mode: str = "replace"
    message: str | None = None
    author: str | None = None
    description: str | None = None
    encoding: str | None = None
    has_header: bool | None = None
    base_ref: str | None = None
    allow_empty: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        """Validate the settings by `ImportSettings`' rules: ValueError with one line naming the field."""
        validated_settings({name: getattr(self, name) for name in SETTINGS_KEYS})


@dataclass
class StageResult:
    """What staging did. `skipped` is True when the ref already holds this file's commit."""

    import_id: str
    sha256: str
    bytes: int
    rows: int = 0
    new_unique_rows: int = 0
    rejects: int = 0
    resumed_from_rows: int = 0
    batches: int = 0
    seconds: float = 0.0
    index_rebuild_seconds: float | None = None
    skipped: bool = False
    #: The first few rejects of this run (all of them are in the rejects table).
    first_rejects: list[Reject] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        """Rows staged by this run whose content was stored already. Rows an earlier, killed run
        had staged are not counted; the contents it stored ahead of its last checkpoint (at
        most two batches) are, as found stored."""
        return self.rows - self.resumed_from_rows - self.new_unique_rows


@dataclass
class CommitResult:
    """The commit an import made (or found, when `created` is False)."""

    commit_id: str
    parent_commit_id: str | None
    row_count: int
    reject_count: int
    created: bool
    seconds: float = 0.0


def file_sha256(path: Path | str) -> str:
    """The SHA-256 of the file at `path`, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def import_id_for(request: ImportRequest, sha256: str) -> str:
    """The id of importing this file into this dataset, ref and mode: the same on every retry."""
    key = "\0".join((request.dataset, request.ref, request.mode, sha256))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def check_size(request: ImportRequest) -> int:
    """The file's size; `FileTooLarge` when it exceeds `max_bytes` (checked before any work)."""
    size = request.path.stat().st_size
    if size > request.max_bytes:
        raise FileTooLarge(
            f"{request.path.name} is {size:,} bytes, more than the maximum of {request.max_bytes:,}; "
            "nothing was imported (raise max_bytes to import it)"
        )
    return size


def stage_file(
    conn: psycopg.Connection,
    request: ImportRequest,
    *,
    run_id: str | None = None,
    partition_key: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> StageResult:
    """Stage the rows of `request.path`, resuming an interrupted staging of the same file.

    The connection must not be inside a transaction; every batch commits.
    """
    size = check_size(request)
    sha = file_sha256(request.path)
    import_id = import_id_for(request, sha)
    result = StageResult(import_id=import_id, sha256=sha, bytes=size)
    started = time.perf_counter()
    with advisory_lock(conn, f"datasets.import:{import_id}"):
        restore_abandoned(conn, SUSPENDABLE_TABLES)
        with conn.transaction():
            current = conn.execute(statement("datasets", "current_commit"),
                                   {"dataset": request.dataset, "ref": request.ref}).fetchone()
            if current is not None and current[1] == sha:
                result.skipped = True
                return result
            parent = commit_hex(current[0]) if current else _branch_point(conn, request)
            offsets = {}
            if request.mode == "append" and parent is not None:
                offsets = conn.execute(statement("datasets", "row_offsets"), {"commit_id": parent}).fetchone()[0]
            conn.execute(statement("datasets", "start_import"), {
                "import_id": import_id, "commit_id": pending_commit_id(import_id, parent), "parent": parent,
                "row_offsets": Jsonb(offsets), "dataset": request.dataset, "ref": request.ref, "mode": request.mode,
                "source_file": str(request.path), "sha256": sha})
            # A batch's commit rows and its checkpoint commit together, so the checkpoint
            # says exactly which records are stored.
            staged, batches, rejects, done, commit_uuid, _, offsets = conn.execute(
                statement("datasets", "import_state"), {"import_id": import_id}).fetchone()
            commit_id = commit_hex(commit_uuid)
            if batches == 0:
                clear_rejects(conn, STAGE_ASSET, partition_key)
        result.rows, result.rejects, result.batches = staged, rejects, batches
        result.resumed_from_rows = staged
        if not done:
            with _abandoned_on_failure(conn, import_id), \
                    _row_hash_index_suspended_for_bulk(conn, request.path) as suspended:
                _stage_batches(conn, request, result, commit_id, offsets, staged + rejects, run_id, partition_key,
                               progress, batch_rows, started)
                rebuild_started = time.perf_counter()
            if suspended:
                result.index_rebuild_seconds = time.perf_counter() - rebuild_started
            with conn.transaction():
                conn.execute(statement("datasets", "finish_staging"), {"import_id": import_id})
    result.seconds = time.perf_counter() - started
    return result


@contextmanager
def _abandoned_on_failure(
    conn: psycopg.Connection, import_id: str, failures: tuple[type[BaseException], ...] = (Exception,)
) -> Iterator[None]:
    """When the block raises one of `failures`, drop the import's checkpoint and staged rows, so
    that no half import is left behind; re-raise. A lost connection or a transient server error
    keeps them (the next run resumes), as does a killed process, which raises nothing."""
    try:
        yield
    except failures as exc:
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
            raise
        try:
            conn.rollback()
            with conn.transaction():
                for name in ("abandon_import_rows", "abandon_import"):
                    conn.execute(statement("datasets", name), {"import_id": import_id})
        except psycopg.Error:
            pass  # the original error says more
        raise


@contextmanager
def _row_hash_index_suspended_for_bulk(conn: psycopg.Connection, path: Path) -> Iterator[bool]:
    """For a large file and a commit_rows table not much larger, drop commit_rows' row_hash
    index for the block and build it again at its end (also when it fails); yield whether
    it did. Building it over all rows is cheaper than maintaining it row by row for the new
    ones (1M rows: a 0.5 s build against ~2 s of random insertions, more once the index
    outgrows shared_buffers). One import at a time does this (an advisory lock taken
    without waiting); the others maintain the index, or find it gone and leave its rebuild
    to the import that dropped it. Meanwhile row_hash lookups scan the table.
    """
    expected = estimated_rows(path)
    if expected < BULK_MIN_ROWS:
        yield False
        return
    with advisory_lock_if_free(conn, BULK_LOCK) as holder:
        if holder:
            with conn.transaction():
                existing = conn.execute(statement("datasets", "commit_rows_estimate")).fetchone()[0]
        if not holder or expected < BULK_MIN_SHARE * existing:
            yield False
            return
        with suspended_indexes(conn, "datasets.commit_rows"):
            yield True


class UnknownBaseRef(ValueError):
    """The ref a new ref should branch from does not exist."""


def _branch_point(conn: psycopg.Connection, request: ImportRequest) -> str | None:
    """The commit a ref that does not exist yet starts from, as a git branch does: the commit
    of `request.base_ref` (default `main`), or None (a root commit) when the dataset has no
    such ref. `UnknownBaseRef` when a `base_ref` that was asked for does not exist."""
    base = request.base_ref or "main"
    if base == request.ref:
        return None
    found = conn.execute(statement("datasets", "current_commit"), {"dataset": request.dataset, "ref": base}).fetchone()
    if found is None and request.base_ref is not None:
        raise UnknownBaseRef(f"{request.path.name}: base_ref {base!r} does not exist in dataset {request.dataset!r}")
    return commit_hex(found[0]) if found else None


def commit_hex(commit_id: uuid.UUID | None) -> str | None:
    """A commit id as it is shown and passed around: 32 hex digits (the database stores a uuid)."""
    return None if commit_id is None else commit_id.hex


def pending_commit_id(import_id: str, parent: str | None) -> str:
    """The id the commit of this import will have: 32 hex digits of SHA-256 over the parent
    it was staged on and the import id."""
    return hashlib.sha256(f"{parent}\0{import_id}".encode()).hexdigest()[:32]


def _stage_batches(
    conn: psycopg.Connection,
    request: ImportRequest,
    result: StageResult,
    commit_id: str,
    row_offsets: dict[str, int],
    skip_records: int,
    run_id: str | None,
    partition_key: str | None,
    progress: Callable[[Progress], None] | None,
    batch_rows: int,
    started: float,
) -> None:
    arguments = {"commit_id": commit_id, "path": request.path, "skip_records": skip_records,
                 "batch_rows": batch_rows, "encoding": request.encoding, "has_header": request.has_header,
                 "row_offsets": row_offsets}
    if result.bytes >= CHILD_PROCESS_MIN_BYTES:
        # Named, not imported: this process only sends bytes and never loads pyarrow for it.
        # The bytes arrive in shared memory; a batch is still being written (its contents
        # on the second connection, then its references) while the next one is asked for.
        batches = iterate_in_process("import_pipeline.load.dataset_batches:encoded_batches", arguments,
                                     shared_in_use=1)
    else:
        from import_pipeline.load.dataset_batches import encoded_batches

        batches = encoded_batches(**arguments)
    last_report = started

    def record_batch(batch: EncodedBatch, new_rows: int) -> None:
        # The batch's contents are committed: now its references, rejects and checkpoint.
        nonlocal last_report
        with conn.transaction():
            conn.execute(statement("datasets", "commit_without_waiting"))
            copy_binary(conn, "datasets.commit_rows", ["commit_id", "logical_row_id", "row_hash"], batch.references)
            if batch.rejects:
                write_rejects(conn, batch.rejects, asset=STAGE_ASSET, partition_key=partition_key, run_id=run_id)
            conn.execute(statement("datasets", "checkpoint"), {
                "import_id": result.import_id, "rows": batch.rows, "rejects": len(batch.rejects),
                "bytes": batch.bytes_read})
        result.rows += batch.rows
        result.new_unique_rows += new_rows
        result.rejects += len(batch.rejects)
        result.first_rejects.extend(batch.rejects[:FIRST_REJECTS - len(result.first_rejects)])
        result.batches += 1
        now = time.perf_counter()
        if progress is not None and now - last_report >= PROGRESS_SECONDS:
            last_report = now
            progress(Progress(result.rows, batch.bytes_read, result.bytes, now - started))

    # Closed on the way out, also on an error: a parsing child stops at once.
    with closing(batches), _ContentWriter(conn) as contents:
        pending: EncodedBatch | None = None
        for batch in batches:
            contents.submit(batch)
            if pending is not None:
                record_batch(pending, contents.wait())
            pending = batch
        if pending is not None:
            record_batch(pending, contents.wait())


class _ContentWriter:
    """Writes each batch's row contents on a second connection, in its own transaction,
    while the caller writes the previous batch's commit rows on the first: the two COPYs
    run on two server backends at once. `wait` returns when the submitted batch's contents
    are committed (so a checkpoint never covers contents that are not stored)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = psycopg.connect(**conn.info.get_parameters(), password=conn.info.password)
        self.requests: queue.Queue = queue.Queue(maxsize=1)
        self.results: queue.Queue = queue.Queue(maxsize=1)
        self.thread = threading.Thread(target=self._run, name="datasets-contents", daemon=True)
        self.seen_stored = False

    def __enter__(self) -> "_ContentWriter":
        self.thread.start()
        return self

    def _run(self) -> None:
        while (batch := self.requests.get()) is not None:
            try:
                self.results.put((True, self._write(batch)))
            except BaseException as exc:  # handed to the caller by wait()
                self.conn.rollback()
                self.results.put((False, exc))

    def _write(self, batch: EncodedBatch) -> int:
        """Store a batch's row contents and commit; return how many were new.

        A fresh file's rows are nearly all new: its contents are COPYed straight into
        `datasets.rows`. Once a batch held a stored row (the COPY fails on the key and is
        rolled back), this batch and the rest of the file go through a staging table and
        `ON CONFLICT DO NOTHING` instead. (Looking the hashes up first cost as much as the
        staging table: one random index probe, ~3 us, per row.)
        """
        if not batch.rows:
            return 0
        if not self.seen_stored:
            try:
                with self.conn.transaction():
                    self.conn.execute(statement("datasets", "commit_without_waiting"))
                    return copy_binary(self.conn, "datasets.rows", ["row_hash", "data"], batch.contents)
            except psycopg.errors.UniqueViolation:
                self.seen_stored = True
        with self.conn.transaction():
            self.conn.execute(statement("datasets", "commit_without_waiting"))
            self.conn.execute(statement("datasets", "create_batch_rows"))
            copy_binary(self.conn, "datasets_batch_rows", ["row_hash", "data"], batch.contents)
            return self.conn.execute(statement("datasets", "insert_batch_rows")).rowcount

    def submit(self, batch: EncodedBatch) -> None:
        """Start writing `batch`'s contents (the previous batch must have been waited for)."""
        self.requests.put(batch)

    def wait(self) -> int:
        """How many of the submitted batch's contents were new, once they are committed."""
        ok, value = self.results.get()
        if not ok:
            raise value
        return value

    def __exit__(self, *exc_info: object) -> None:
        self.requests.put(None)
        self.thread.join()
        self.conn.close()


def commit_import(conn: psycopg.Connection, request: ImportRequest, *, sha256: str | None = None) -> CommitResult:
    """Turn the staged rows of `request` into a commit and move its ref, in one transaction.

    Concurrent commits into one dataset queue on the ref's row lock (and, for a dataset's
    first commit, on an advisory lock); different datasets commit side by side. A file with
    no rows raises `EmptyImport` unless `request.allow_empty`.
    """
    started = time.perf_counter()
    sha = sha256 or file_sha256(request.path)
    import_id = import_id_for(request, sha)
    with advisory_lock(conn, f"datasets.dataset:{request.dataset}"), \
            _abandoned_on_failure(conn, import_id, (EmptyImport, UnknownBaseRef)), conn.transaction():
        dataset_id = conn.execute(statement("datasets", "upsert_dataset"),
                                  {"dataset": request.dataset, "description": request.description}).fetchone()[0]
        current = conn.execute(statement("datasets", "lock_ref"), {"dataset_id": dataset_id, "ref": request.ref}).fetchone()
        parent = commit_hex(current[0]) if current else _branch_point(conn, request)
        if current is not None and current[1] == sha:
            row_count, rejects = conn.execute(statement("datasets", "commit_counts"), {"commit_id": parent}).fetchone()
            return CommitResult(parent, None, row_count, rejects, created=False,
                                seconds=time.perf_counter() - started)
        state = conn.execute(statement("datasets", "import_state"), {"import_id": import_id}).fetchone()
        if state is None or not state[3]:
            raise NothingStaged(f"{request.path.name}: no completely staged rows for dataset {request.dataset!r}; "
                                "materialize the staged rows first")
        staged, _, rejects, _, commit_uuid, staged_parent, staged_offsets = state
        if staged == 0 and not request.allow_empty:
            raise EmptyImport(
                f"{request.path.name} holds no rows ({rejects:,} rejected); {request.dataset}/{request.ref} was "
                "left as it was (set \"allow_empty\": true in its sidecar to commit an empty dataset)")
        commit_id = commit_hex(commit_uuid)
        params = {"commit_id": commit_id, "dataset_id": dataset_id, "parent": parent, "import_id": import_id,
                  "message": request.message or f"import {request.path.name}", "author": request.author,
                  "rejects": rejects, "source_file": request.path.name, "sha256": sha, "ref": request.ref}
        row_count = staged
        if request.mode == "append" and parent is not None:
            if parent != commit_hex(staged_parent):
                actual = conn.execute(statement("datasets", "row_offsets"), {"commit_id": parent}).fetchone()[0]
                conn.execute(statement("datasets", "prefix_pending_rows"), params)
                conn.execute(statement("datasets", "renumber_pending_rows"),
                             {**params, "staged_offsets": Jsonb(staged_offsets), "actual_offsets": Jsonb(actual)})
            row_count += conn.execute(statement("datasets", "copy_parent_rows"), params).rowcount
        conn.execute(statement("datasets", "insert_commit"), {**params, "row_count": row_count})
        conn.execute(statement("datasets", "move_ref"), params)
        conn.execute(statement("datasets", "touch_dataset"), params)
        conn.execute(statement("datasets", "finish_import"), params)
    return CommitResult(commit_id, parent, row_count, rejects, created=True, seconds=time.perf_counter() - started)


def refresh_search(conn: psycopg.Connection) -> int:
    """Refresh the dataset search view (readers keep seeing the old one meanwhile); return its row count."""
    with conn.transaction():
        conn.execute(statement("datasets", "refresh_search"))
        return conn.execute(statement("datasets", "search_count")).fetchone()[0]


def unresolved_commit_rows(conn: psycopg.Connection) -> int:
    """How many rows of existing commits refer to a row content that is not stored (must be 0)."""
    return conn.execute(statement("datasets", "unresolved_commit_rows")).fetchone()[0]


def analyze(conn: psycopg.Connection) -> None:
    """Refresh the planner statistics of the dataset tables."""
    with conn.transaction():
        conn.execute(statement("datasets", "analyze_tables"))


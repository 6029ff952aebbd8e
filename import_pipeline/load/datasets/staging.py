"""Stage a tabular file's rows as the final rows of its pending commit, resumably.

`stage_file` streams the file's rows (parsed and hashed in a child process for large
files) in batches. The import's commit id is fixed when staging starts, so batches are
written as final rows: new row contents into `datasets.rows` (content-addressed, stored
once), then in one transaction the `(logical row id, row hash)` pairs straight into
`datasets.commit_rows` under the pending commit id, the rejects, and the import's
checkpoint. Contents and references go over two connections at once, one batch apart;
a batch's checkpoint commits only after its contents did. A run killed midway resumes
after the last checkpoint; a run that fails leaves nothing (see `abandoned_on_failure`).
Nothing reads commit rows of a commit that does not exist yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg.types.json import Jsonb

from import_pipeline.load.datasets.request import ImportRequest, check_size, file_sha256, import_id_for
from import_pipeline.load.datasets.state import (
    RefCommit,
    abandoned_on_failure,
    branch_point,
    commit_hex,
    import_state,
    pending_commit_id,
    row_offsets,
)
from import_pipeline.parallel import iterate_in_process
from import_pipeline.postgres.connect import Connect
from import_pipeline.postgres.constraints import restore_abandoned
from import_pipeline.postgres.copy import copy_binary
from import_pipeline.postgres.indexes import suspended_indexes
from import_pipeline.postgres.locks import advisory_lock, advisory_lock_if_free
from import_pipeline.postgres.rejects import clear_rejects, write_rejects
from import_pipeline.postgres.scalar import fetch_value
from import_pipeline.postgres.statements import fetch_row, statement
from import_pipeline.postgres.writer import BackgroundWriter
from import_pipeline.records import Progress, Reject
from import_pipeline.sources.datasets.files import estimated_rows

if TYPE_CHECKING:
    from import_pipeline.load.datasets.encoded import EncodedBatch

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


def stage_file(
    conn: psycopg.Connection,
    request: ImportRequest,
    *,
    run_id: str | None = None,
    partition_key: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    batch_rows: int = BATCH_ROWS,
    second_connection: Connect | None = None,
) -> StageResult:
    """Stage the rows of `request.path`, resuming an interrupted staging of the same file.

    The connection must not be inside a transaction; every batch commits. Row contents are
    written on a second connection from `second_connection` (a pool's `connection`, say;
    by default a new connection with the parameters of `conn`).
    """
    size = check_size(request)
    sha = file_sha256(request.path)
    import_id = import_id_for(request, sha)
    result = StageResult(import_id=import_id, sha256=sha, bytes=size)
    started = time.perf_counter()
    with advisory_lock(conn, f"datasets.import:{import_id}"):
        restore_abandoned(conn, SUSPENDABLE_TABLES)
        with conn.transaction():
            current = fetch_row(conn, "datasets", "current_commit", RefCommit,
                                {"dataset": request.dataset, "ref": request.ref})
            if current is not None and current.source_sha256 == sha:
                result.skipped = True
                return result
            parent = commit_hex(current.commit_id) if current else branch_point(conn, request)
            offsets: dict[str, int] = {}
            if request.mode == "append" and parent is not None:
                offsets = row_offsets(conn, parent)
            conn.execute(statement("datasets", "start_import"), {
                "import_id": import_id, "commit_id": pending_commit_id(import_id, parent), "parent": parent,
                "row_offsets": Jsonb(offsets), "dataset": request.dataset, "ref": request.ref, "mode": request.mode,
                "source_file": str(request.path), "sha256": sha})
            # A batch's commit rows and its checkpoint commit together, so the checkpoint
            # says exactly which records are stored.
            state = import_state(conn, import_id)
            assert state is not None  # started just now, in this transaction
            commit_id = commit_hex(state.commit_id)
            assert commit_id is not None
            if state.staged_batches == 0:
                clear_rejects(conn, STAGE_ASSET, partition_key)
        result.rows, result.rejects, result.batches = state.staged_rows, state.rejects, state.staged_batches
        result.resumed_from_rows = state.staged_rows
        if not state.staged:
            with abandoned_on_failure(conn, import_id), \
                    _row_hash_index_suspended_for_bulk(conn, request.path) as suspended:
                run = _StagingRun(conn, second_connection or same_server(conn), result, run_id, partition_key,
                                  progress, started)
                _stage_batches(run, batch_options={
                    "commit_id": commit_id, "path": request.path, "skip_records": state.staged_rows + state.rejects,
                    "batch_rows": batch_rows, "encoding": request.encoding, "has_header": request.has_header,
                    "row_offsets": state.row_offsets})
                rebuild_started = time.perf_counter()
            if suspended:
                result.index_rebuild_seconds = time.perf_counter() - rebuild_started
            with conn.transaction():
                conn.execute(statement("datasets", "finish_staging"), {"import_id": import_id})
    result.seconds = time.perf_counter() - started
    return result


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
                existing = fetch_value(conn, statement("datasets", "commit_rows_estimate"))
        if not holder or expected < BULK_MIN_SHARE * existing:
            yield False
            return
        with suspended_indexes(conn, "datasets.commit_rows"):
            yield True


@dataclass
class _StagingRun:
    """What staging the batches of one file works with."""

    conn: psycopg.Connection
    second_connection: Connect
    result: StageResult
    run_id: str | None
    partition_key: str | None
    progress: Callable[[Progress], None] | None
    started: float


def _stage_batches(run: _StagingRun, batch_options: dict[str, object]) -> None:
    conn, result, started = run.conn, run.result, run.started
    run_id, partition_key, progress = run.run_id, run.partition_key, run.progress
    if result.bytes >= CHILD_PROCESS_MIN_BYTES:
        # Named, not imported: this process only sends bytes and never loads pyarrow for it.
        # The bytes arrive out of band, raw; a batch is still being written (its contents
        # on the second connection, then its references) while the next one is asked for.
        batches: Iterator[EncodedBatch] = iterate_in_process(
            "import_pipeline.load.datasets.encoded:encoded_batches", batch_options, out_of_band=True,
            unimportable=("pandas",))
    else:
        from import_pipeline.load.datasets.encoded import encoded_batches

        batches = encoded_batches(**batch_options)  # type: ignore[arg-type]
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

    # The batches are closed on the way out, also on an error: a parsing child stops at once.
    with run.second_connection() as contents_conn, closing(batches):  # type: ignore[type-var]
        store = _ContentStore(contents_conn)
        with BackgroundWriter(store.write, depth=1, name="datasets-contents") as contents:
            pending: EncodedBatch | None = None
            for batch in batches:
                contents.submit(batch)
                if pending is not None:
                    record_batch(pending, contents.result())
                pending = batch
            if pending is not None:
                record_batch(pending, contents.result())


class _ContentStore:
    """Writes each batch's row contents on a second connection, in its own transaction, while
    the caller writes the previous batch's commit rows on the first: the two COPYs run on two
    server backends at once. The caller takes a batch's result before recording its
    checkpoint, so a checkpoint never covers contents that are not stored."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.seen_stored = False

    def write(self, batch: EncodedBatch) -> int:
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


def same_server(conn: psycopg.Connection) -> Connect:
    """A factory of new connections with the parameters of `conn` (for callers without a pool)."""
    def connect() -> AbstractContextManager[psycopg.Connection]:
        return psycopg.Connection.connect(conn.info.dsn, password=conn.info.password)

    return connect

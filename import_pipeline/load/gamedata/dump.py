"""Import an item or nano dump into the gamedata tables in one pass and one transaction.

`import_dump` streams the dump once. Each record's raw text is hashed (16-byte BLAKE2b
of its UTF-8 bytes) and compared with the hash stored for the same (AOID, kind):

- unchanged: nothing is written;
- new: the item and all its rows are COPYed, with ids numbered client-side;
- changed: the item keeps its id; its owned rows are deleted set-based and written again;
- absent from the dump: the item and its owned rows are deleted, unless the dump had
  rejects (a truncated or damaged dump must not delete what it failed to say). A dump that
  would delete more than `max_delete_share` of the kind's stored items (default 10%: a
  file cut short, `[]`, the wrong file) is refused with `DeletionRefused` and changes nothing.

Stat values and criteria are interned; the ones nothing refers to any more are deleted at
the end, and the `symbiant_items` view is refreshed when the items changed. All writes are
one transaction, so readers see the old import or the new one.
Imports of either kind are serialized by an advisory lock, since both share the interned
tables. When a kind is loaded into empty tables (an initial load), secondary indexes and
foreign keys are dropped first and rebuilt after the commit, timed apart. Otherwise each
COPY checks its foreign keys once per batch instead of once per row, where the role may skip
PostgreSQL's triggers (`ReferenceCheckedCopy`).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psycopg

from import_pipeline.parallel import iterate_in_process
from import_pipeline.postgres.constraints import Restored, bulk_load_mode, restore_abandoned
from import_pipeline.postgres.copy import copy_rows
from import_pipeline.postgres.guards import MAX_DELETE_SHARE, check_deletion
from import_pipeline.postgres.ids import next_free_id, sync_identity
from import_pipeline.postgres.locks import advisory_lock
from import_pipeline.postgres.references import ReferenceCheckedCopy
from import_pipeline.postgres.rejects import clear_rejects, write_rejects
from import_pipeline.postgres.statements import fetch_row, statement
from import_pipeline.postgres.tables import analyze_tables
from import_pipeline.postgres.writer import BackgroundWriter
from import_pipeline.records import Progress, Reject
from import_pipeline.sources.gamedata.batches import DumpBatch, DumpSummary, StoredState, dump_batches
from import_pipeline.sources.gamedata.normalize import (
    COLUMNS,
    INTERNED_TABLES,
    OWNED_ID_TABLES,
    Interner,
    TableRows,
    row_count,
)

KINDS = ("items", "nanos")
SCHEMA = "gamedata"
LOCK_NAME = "import_pipeline.gamedata"
#: Items per batch: rows of this many items are COPYed table by table, then the next batch.
BATCH_ITEMS = 5_000
#: A load is "initial" (indexes and foreign keys suspended) when the kind has no rows yet
#: and the dump is expected to hold at least this many records, and at least a quarter as
#: many as the tables already hold: rebuilding the indexes over everything must cost less
#: than maintaining them (and checking foreign keys) row by row for the new rows.
BULK_MIN_RECORDS = 5_000
BULK_MIN_SHARE = 0.25
#: Average record size of a real dump, to estimate a dump's record count from its size.
BYTES_PER_RECORD = 2_600
PROGRESS_SECONDS = 5.0
#: Batches parsed ahead of the writer: memory stays bounded by a few batches.
QUEUED_BATCHES = 2
#: Dumps this large are parsed in a child process (its start-up costs ~0.3 s), smaller ones
#: in this process.
CHILD_PROCESS_MIN_BYTES = 20 * 1024 * 1024
TABLES = tuple(f"{SCHEMA}.{table}" for table in COLUMNS)
_OWNED_DELETES = (
    "delete_touched_spells", "delete_touched_spell_data", "delete_touched_actions",
    "delete_touched_item_stats", "delete_touched_item_shop_hash", "delete_touched_attack_defense",
    "delete_touched_animation_mesh",
)


@dataclass
class DumpImport:
    """What one dump import did. Seconds: `stream` (parse, normalize, write, in one pass),
    `cleanup` (removals and interned-row cleanup), `commit`, and for an initial load
    `index_rebuild` and `analyze`; per table the seconds spent in its COPY (`table_seconds`)."""

    kind: str
    source: str
    file_bytes: int
    initial_load: bool = False
    items_new: int = 0
    items_changed: int = 0
    items_unchanged: int = 0
    items_removed: int = 0
    #: Items absent from a dump with rejects, kept rather than deleted.
    items_kept_absent: int = 0
    rejects: list[Reject] = field(default_factory=list)
    rows_written: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    table_seconds: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: What an earlier import that died had left suspended, put back before this one.
    restored: Restored = field(default_factory=Restored)

    @property
    def records(self) -> int:
        return self.items_new + self.items_changed + self.items_unchanged

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


@dataclass(frozen=True)
class ItemCounts:
    """How many items of the dump's kind are stored, and how many of both kinds."""

    kind_items: int
    all_items: int


def is_nano(kind: str) -> bool:
    """Whether dump kind `kind` ("items" or "nanos") holds nanos; ValueError for another kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown dump kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind == "nanos"


def import_dump(
    conn: psycopg.Connection,
    path: Path | str,
    kind: str,
    *,
    initial_load: bool | None = None,
    reject_asset: str = "gamedata/items",
    run_id: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    batch_items: int = BATCH_ITEMS,
    max_delete_share: float = MAX_DELETE_SHARE,
) -> DumpImport:
    """Import the dump at `path` as `kind` and commit; return what changed.

    `initial_load` forces (True) or forbids (False) suspending indexes and foreign keys;
    by default it is chosen when the kind has no rows and the dump is large. `progress`
    is called every few seconds while streaming. The connection must not be inside a
    transaction. Rejected records are stored in the rejects table under `reject_asset`
    and the dump's kind, replacing that partition's earlier rejects. `DeletionRefused` (and
    nothing changed) when the dump would delete more than `max_delete_share` of the kind's
    stored items (1.0 allows any deletion).
    """
    path = Path(path)
    nano = is_nano(kind)
    result = DumpImport(kind=kind, source=str(path), file_bytes=path.stat().st_size)
    with advisory_lock(conn, LOCK_NAME):
        result.restored = restore_abandoned(conn, TABLES)
        with conn.transaction():
            counts = fetch_row(conn, "gamedata", "item_counts", ItemCounts, {"is_nano": nano})
            assert counts is not None  # aggregates return one row
            kind_items, all_items = counts.kind_items, counts.all_items
        if initial_load is None:
            expected = result.file_bytes // BYTES_PER_RECORD
            initial_load = kind_items == 0 and expected >= max(BULK_MIN_RECORDS, BULK_MIN_SHARE * all_items)
        result.initial_load = initial_load
        if initial_load:
            with bulk_load_mode(conn, TABLES) as mode:
                _import(conn, path, nano, result, reject_asset, run_id, progress, batch_items, max_delete_share)
            analyze_started = time.perf_counter()
            with conn.transaction():
                analyze_tables(conn, TABLES)
            result.seconds["index_rebuild"] = mode.restore_seconds
            result.seconds["analyze"] = time.perf_counter() - analyze_started
        else:
            _import(conn, path, nano, result, reject_asset, run_id, progress, batch_items, max_delete_share)
    return result


def _import(
    conn: psycopg.Connection,
    path: Path,
    nano: bool,
    result: DumpImport,
    reject_asset: str,
    run_id: str | None,
    progress: Callable[[Progress], None] | None,
    batch_items: int,
    max_delete_share: float,
) -> None:
    started = time.perf_counter()
    with conn.transaction():
        writer = _BatchWriter(conn, result)
        stored = _stored_state(conn, nano)
        last_report = started
        arguments = {"path": path, "is_nano": nano, "stored": stored, "batch_items": batch_items}
        batches: Iterator[DumpBatch | DumpSummary]
        if result.file_bytes >= CHILD_PROCESS_MIN_BYTES:
            batches = iterate_in_process(dump_batches, arguments)
        else:
            batches = dump_batches(path, is_nano=nano, stored=stored, batch_items=batch_items)
        with BackgroundWriter(writer.flush_batch, depth=QUEUED_BATCHES, name="gamedata-writer") as pipeline, \
                _collector_paused():
            for batch in batches:
                if isinstance(batch, DumpSummary):
                    summary = batch
                    continue
                pipeline.submit(batch)
                if progress is not None and time.perf_counter() - last_report >= PROGRESS_SECONDS:
                    last_report = time.perf_counter()
                    progress(Progress(batch.records, batch.offset, result.file_bytes, last_report - started))
        result.items_new, result.items_changed = summary.new, summary.changed
        result.items_unchanged, result.rejects = summary.unchanged, summary.rejects
        result.seconds["stream"] = time.perf_counter() - started

        cleanup_started = time.perf_counter()
        if summary.absent and summary.rejects:
            result.items_kept_absent = len(summary.absent)
        elif summary.absent:
            check_deletion(path.name, "nanos" if nano else "items", len(summary.absent), len(stored.items),
                           max_delete_share, if_right="the dump is right")
            writer.delete_items(summary.absent)
            result.items_removed = len(summary.absent)
        if result.items_changed or result.items_removed:
            writer.run_counted("delete_unreferenced_stat_values", "stat_values")
            writer.run_counted("delete_unreferenced_criteria", "criteria")
            writer.run_counted("delete_unreferenced_shop_hash", "shop_hash")
        for table in (*OWNED_ID_TABLES, "items", *INTERNED_TABLES):
            sync_identity(conn, f"{SCHEMA}.{table}")
        if not nano and (result.items_new or result.items_changed or result.items_removed):
            # Its rows come from the items alone: it changes with them, in the same transaction.
            conn.execute(statement("gamedata", "refresh_symbiant_items"))
        partition = "nanos" if nano else "items"
        clear_rejects(conn, reject_asset, partition)
        write_rejects(conn, result.rejects, asset=reject_asset, partition_key=partition, run_id=run_id)
        result.seconds["cleanup"] = time.perf_counter() - cleanup_started
        commit_started = time.perf_counter()
    result.seconds["commit"] = time.perf_counter() - commit_started


def _stored_state(conn: psycopg.Connection, nano: bool) -> StoredState:
    items = {
        aoid: (item_id, bytes(digest))
        for aoid, item_id, digest in conn.execute(statement("gamedata", "existing_items"), {"is_nano": nano})
    }
    return StoredState(
        items=items,
        stat_values=_interner(conn, "stat_values", 2, "stat_value_ids"),
        criteria=_interner(conn, "criteria", 3, "criterion_ids"),
        shop_hash=_interner(conn, "shop_hash", 7, "shop_hash_ids", texts=1),
        next_ids={table: next_free_id(conn, f"{SCHEMA}.{table}") for table in OWNED_ID_TABLES},
        next_item_id=next_free_id(conn, f"{SCHEMA}.items"),
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: parsing allocates millions of acyclic tuples and
    dicts, and the collections they trigger cost ~15% of the parse time for nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _interner(conn: psycopg.Connection, table: str, arity: int, query: str, texts: int = 0) -> Interner:
    known = {tuple(row[:-1]): row[-1] for row in conn.execute(statement("gamedata", query))}
    return Interner(table, arity, known=known, next_id=next_free_id(conn, f"{SCHEMA}.{table}"), texts=texts)


class _BatchWriter:
    """Writes a batch's rows table by table, replacing the owned rows of changed items."""

    def __init__(self, conn: psycopg.Connection, result: DumpImport) -> None:
        self.conn = conn
        self.result = result
        self.types = {table: [t for _, t in columns] for table, columns in COLUMNS.items()}
        self.names = {table: [c for c, _ in columns] for table, columns in COLUMNS.items()}
        self.temp_tables = False
        self.checked_copy = ReferenceCheckedCopy.for_tables(conn, TABLES)

    def _ensure_temp_tables(self) -> None:
        if not self.temp_tables:
            self.conn.execute(statement("gamedata", "create_touched"))
            self.conn.execute(statement("gamedata", "create_changed_items"))
            self.temp_tables = True

    def run_counted(self, name: str, table: str) -> None:
        """Run statement `name`, adding its row count to the rows deleted from `table`."""
        count = self.conn.execute(statement("gamedata", name)).rowcount
        self.result.rows_deleted[table] = self.result.rows_deleted.get(table, 0) + count

    def _touch(self, item_ids: set[int] | list[int]) -> None:
        self._ensure_temp_tables()
        self.conn.execute(statement("gamedata", "clear_touched"))
        copy_rows(self.conn, "gamedata_touched", ["item_id"], ((i,) for i in item_ids), ["int4"])
        for name in _OWNED_DELETES:
            self.run_counted(name, name.removeprefix("delete_touched_"))

    def delete_items(self, item_ids: list[int]) -> None:
        """Delete these items with every row they own."""
        self._touch(item_ids)
        self.run_counted("delete_touched_items", "items")

    def flush_batch(self, batch: DumpBatch) -> None:
        """Write a parsed batch (see `flush`)."""
        self.flush(batch.tables, batch.changed)

    def flush(self, batch: dict[str, TableRows], changed: set[int]) -> None:
        """Write a batch's rows, table by table, deleting the changed items' old rows first."""
        if changed:
            self._touch(changed)
        for table, rows in batch.items():
            if not row_count(rows):
                continue
            started = time.perf_counter()
            if table == "items" and changed:
                self._write_items(cast(list[tuple[Any, ...]], rows), changed)
            elif isinstance(rows, tuple):
                self.checked_copy.copy_int4_columns(f"{SCHEMA}.{table}", self.names[table], rows)
            else:
                self.checked_copy.copy_rows(f"{SCHEMA}.{table}", self.names[table], rows, self.types[table])
            seconds = self.result.table_seconds
            seconds[table] = seconds.get(table, 0.0) + time.perf_counter() - started
            written = self.result.rows_written
            written[table] = written.get(table, 0) + row_count(rows)

    def _write_items(self, rows: list[tuple], changed: set[int]) -> None:
        names, types = self.names["items"], self.types["items"]
        self.checked_copy.copy_rows(f"{SCHEMA}.items", names, (r for r in rows if r[0] not in changed), types)
        self.conn.execute(statement("gamedata", "clear_changed_items"))
        copy_rows(self.conn, "gamedata_changed_items", names, (r for r in rows if r[0] in changed), types)
        self.conn.execute(statement("gamedata", "update_changed_items"))


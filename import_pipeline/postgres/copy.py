"""Bulk writes: COPY streaming, stage-and-merge upsert, and partition replace.

All functions take an open psycopg connection and leave transaction control to the
caller, except where a docstring promises atomicity: then they open a transaction
(a savepoint when the caller already has one).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.copy import LibpqWriter

from import_pipeline.postgres.binary import BINARY_HEADER, BINARY_TRAILER, binary_int4_rows
from import_pipeline.postgres.guards import check_deletion
from import_pipeline.postgres.identifiers import column_list, table_identifier
from import_pipeline.postgres.scalar import fetch_value
from import_pipeline.postgres.tables import table_columns, table_is_empty

# Bytes handed to libpq before waiting for them to reach the server. psycopg's 1 MB default
# costs ~10% on a unix socket (2M narrow rows: 1.84M vs 2.06M rows/s at 8 MB); a writer
# thread (QueuedLibpqWriter) is slower still because encoding holds the GIL.
FLUSH_BYTES = 4 * 1024 * 1024


def copy_rows(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    types: Sequence[str] | None = None,
) -> int:
    """Stream `rows` into `table` with `COPY ... FROM STDIN`; return how many were written.

    With `types` (PostgreSQL type names, one per column) the copy is binary; without, it
    is text and PostgreSQL parses each value as its column's type. Memory stays bounded:
    rows are encoded into 32 KB buffers that are sent as they fill, waiting for the server
    to drain them every `FLUSH_BYTES`. `None` is NULL.
    """
    binary = types is not None
    statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        table_identifier(table),
        column_list(columns),
        sql.SQL(" (FORMAT BINARY)") if binary else sql.SQL(""),
    )
    count = 0
    with conn.cursor() as cur, cur.copy(statement, writer=LibpqWriter(cur, flush_threshold=FLUSH_BYTES)) as copy:
        if binary:
            copy.set_types(list(types or ()))
        write_row = copy.write_row
        for count, row in enumerate(rows, 1):  # noqa: B007 (the last count is the result)
            write_row(row)
    return count


def copy_binary(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: bytes | memoryview) -> int:
    """COPY rows already encoded in PostgreSQL's binary row format (`binary_*_rows`) into
    `table`; return how many the server stored."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(table_identifier(table), column_list(columns))
    with conn.cursor() as cur:
        with cur.copy(statement) as copy:
            copy.write(BINARY_HEADER)
            copy.write(rows)
            copy.write(BINARY_TRAILER)
        return cur.rowcount


def copy_int4_columns(conn: psycopg.Connection, table: str, names: Sequence[str], columns: Sequence[array]) -> int:
    """COPY integer rows, given as one `array('i')` per column, into `table`; return the row count.

    The fast path for link and id tables: the data is encoded in bulk by
    `binary_int4_rows` and sent as one binary COPY. Every column must be `integer`.
    """
    data = binary_int4_rows(columns)  # checked and encoded before the COPY starts
    copy_binary(conn, table, names, data)
    return len(columns[0]) if columns else 0


def column_types(conn: psycopg.Connection, table: str, columns: Sequence[str]) -> list[str]:
    """The PostgreSQL base types of `columns` of `table`, for a binary `copy_rows`."""
    found = dict(table_columns(conn, table, base_types=True))
    missing = [c for c in columns if c not in found]
    if missing:
        raise ValueError(f"{table} has no column(s) {', '.join(missing)}")
    return [found[c] for c in columns]


def create_staging_table(conn: psycopg.Connection, like_table: str, columns: Sequence[str]) -> str:
    """Create an empty temporary table with `columns` typed as in `like_table`; return its name.

    The name is unique, so several stagings can live in one transaction; callers drop it.
    """
    name = f"_stage_{uuid.uuid4().hex[:12]}"
    conn.execute(
        sql.SQL("CREATE TEMP TABLE {} AS SELECT {} FROM {} WITH NO DATA").format(
            sql.Identifier(name), column_list(columns), table_identifier(like_table)
        )
    )
    return name


def drop_table(conn: psycopg.Connection, table: str) -> None:
    """Drop `table` if it exists."""
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table_identifier(table)))


@dataclass(frozen=True)
class MergeResult:
    """What a merge did: rows new to the table, rows whose content changed, rows left as they were."""

    inserted: int
    updated: int
    unchanged: int
    deleted: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated


class DuplicateKeyInBatch(ValueError):
    """A merge batch holds the same key twice; PostgreSQL cannot upsert that in one statement."""


#: Rows a hash-first merge holds at once: the batch whose keys and hashes go ahead of its bodies.
MERGE_BATCH_ROWS = 5_000


def _probe_table(table: str) -> sql.Identifier:
    """The session's temporary table that `new_or_changed` sends `table`'s keys and hashes into."""
    return sql.Identifier(f"_probe_{hashlib.md5(table.encode()).hexdigest()[:16]}")


def new_or_changed(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    key: Sequence[str],
    hash_column: str,
) -> list[Sequence[Any]]:
    """The rows of `rows` whose key is not in `table`, or whose `hash_column` differs there
    (see `new_and_changed`). Order is kept."""
    new, changed = new_and_changed(conn, table, columns, rows, key, hash_column)
    return [row for _, row in sorted([*new, *changed], key=lambda item: item[0])]


def new_and_changed(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    key: Sequence[str],
    hash_column: str,
) -> tuple[list[tuple[int, Sequence[Any]]], list[tuple[int, Sequence[Any]]]]:
    """`(new, changed)`: the rows of `rows` (with their positions) whose key is not in `table`,
    and those whose `hash_column` differs there.

    Only the keys and hashes are sent: binary COPY into a session-temporary probe table
    (kept for the next call), then one join on the key. The rows' other values never leave
    this process.
    """
    if not rows:
        return [], []
    sent = [*key, hash_column]
    positions = [columns.index(c) for c in sent]
    probe = _probe_table(table)
    conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT {}, 0 AS ordinal FROM {} WITH NO DATA").format(
        probe, column_list(sent), table_identifier(table)))
    conn.execute(sql.SQL("TRUNCATE {}").format(probe))
    types = [*column_types(conn, table, sent), "int4"]  # asked before the COPY holds the connection
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}, ordinal) FROM STDIN (FORMAT BINARY)").format(
            probe, column_list(sent))) as copy:
        copy.set_types(types)
        for ordinal, row in enumerate(rows):
            copy.write_row([*(row[i] for i in positions), ordinal])
    # One probe of the key's index per row. With a plain join (and a LATERAL one without its
    # LIMIT, which the planner flattens into one) the planner hashes the whole table, reading
    # every row of it for each batch: the merge slowed down as the table grew.
    statement = sql.SQL(
        "SELECT p.ordinal, t.found IS NULL FROM {probe} AS p "
        "LEFT JOIN LATERAL (SELECT true AS found, t.{hash} FROM {table} AS t WHERE {join} LIMIT 1) AS t ON true "
        "WHERE t.found IS NULL OR t.{hash} IS DISTINCT FROM p.{hash} ORDER BY p.ordinal"
    ).format(
        probe=probe,
        table=table_identifier(table),
        join=sql.SQL(" AND ").join(sql.SQL("t.{0} = p.{0}").format(sql.Identifier(k)) for k in key),
        hash=sql.Identifier(hash_column),
    )
    new: list[tuple[int, Sequence[Any]]] = []
    changed: list[tuple[int, Sequence[Any]]] = []
    for ordinal, is_new in conn.execute(statement).fetchall():
        (new if is_new else changed).append((ordinal, rows[ordinal]))
    return new, changed


def merge_rows(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    key: Sequence[str],
    *,
    hash_column: str | None = None,
    types: Sequence[str] | None = None,
    delete_absent: Callable[[], bool] | None = None,
    max_delete_share: float = 1.0,
    prepare: Callable[[Iterable[Sequence[Any]]], Iterable[Sequence[Any]]] | None = None,
    presumed_new: Callable[[Sequence[Any]], bool] | None = None,
) -> MergeResult:
    """Upsert `rows` into `table` on the unique `key`, rewriting only rows that changed.

    Into an empty table the rows go straight in, in one COPY. Otherwise they are COPYed into
    a temporary staging table and moved by one `INSERT ... SELECT ... ON CONFLICT (key) DO
    UPDATE ... WHERE ... IS DISTINCT FROM ...`: unchanged rows get no new row version. With
    a `hash_column`, rows go in batches of `MERGE_BATCH_ROWS`: each batch's keys and hashes
    first (`new_and_changed`), then the bodies of its new rows, COPYed straight in, and of
    its changed rows, through the staging table, so an unchanged row is neither sent nor
    rewritten. Without one, every row is sent and
    compared on all its non-key columns. Runs in one transaction (a savepoint inside the
    caller's). A key repeated within a batch (into an empty table: within `rows`) raises
    `DuplicateKeyInBatch` and writes nothing.

    `presumed_new`, with a `hash_column`, names rows the caller believes the table cannot
    hold yet (say, of a group first seen in this load): a batch's such rows skip the key probe
    and are COPYed straight in; if one is there after all, that COPY is undone and they are
    probed like the others. The result is the same either way, only faster when right.

    `prepare`, when given, turns the rows that are to be sent (all of them into an empty
    table, else the new and changed ones) into the rows sent; it may drop some. So a stream
    can carry cheap rows (a key, a hash of the source bytes, the bytes) and build bodies for
    the rows that need them only.

    With `delete_absent` (and a `hash_column`), `rows` are the whole table: once they are
    all written, if `delete_absent()` says so (say, no row was rejected), the stored rows
    whose key was not among them are deleted, unless they are more than `max_delete_share`
    of the rows stored before: then `DeletionRefused` is raised and nothing is written.
    """
    missing_key = [k for k in key if k not in columns]
    if missing_key:
        raise ValueError(f"merge key column(s) {', '.join(missing_key)} not among the columns")
    if hash_column is not None and hash_column not in columns:
        raise ValueError(f"hash column {hash_column} is not among the columns")
    if presumed_new is not None and (hash_column is None or delete_absent is not None):
        raise ValueError("presumed_new needs a hash_column and no delete_absent (skipped probes gather no keys)")
    if delete_absent is not None and hash_column is None:
        raise ValueError("delete_absent needs a hash_column (the keys are gathered by the hash-first check)")
    inserted = updated = unchanged = deleted = 0
    with conn.transaction():
        if table_is_empty(conn, table):
            # Nothing to compare with: the rows go straight in, in one COPY.
            inserted = _copy_new(conn, table, columns, rows, key, types, prepare)
            return MergeResult(inserted=inserted, updated=0, unchanged=0)
        stage = create_staging_table(conn, table, columns)
        seen = create_staging_table(conn, table, key) if delete_absent is not None else None
        batches = _batches(rows, MERGE_BATCH_ROWS) if hash_column is not None else [rows]
        for batch in batches:
            sent: Iterable[Sequence[Any]] = batch
            if hash_column is not None:
                assert isinstance(batch, list)
                if presumed_new is not None:
                    presumed = [row for row in batch if presumed_new(row)]
                    if presumed:
                        try:
                            inserted += _copy_new(conn, table, columns, presumed, key, types, prepare)
                            batch = [row for row in batch if not presumed_new(row)]
                        except DuplicateKeyInBatch:
                            pass  # one was there (or came twice): probe them all
                new_rows, changed_rows = new_and_changed(conn, table, columns, batch, key, hash_column)
                unchanged += len(batch) - len(new_rows) - len(changed_rows)
                if seen is not None:
                    conn.execute(sql.SQL("INSERT INTO {} SELECT {} FROM {}").format(
                        sql.Identifier(seen), column_list(key), _probe_table(table)))
                if new_rows:  # no stored row to compare with: straight in
                    inserted += _copy_new(conn, table, columns, [row for _, row in new_rows], key, types, prepare)
                sent = [row for _, row in changed_rows]
            staged = copy_rows(conn, stage, columns, prepare(sent) if prepare else sent, types)
            if staged:
                new, changed = _upsert_staged(conn, table, stage, columns, key, hash_column)
                inserted, updated, unchanged = inserted + new, updated + changed, unchanged + staged - new - changed
                conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))
        drop_table(conn, stage)
        if seen is not None:
            assert delete_absent is not None
            if delete_absent():
                deleted = _delete_absent(conn, table, key, seen, inserted, max_delete_share)
            drop_table(conn, seen)
    return MergeResult(inserted=inserted, updated=updated, unchanged=unchanged, deleted=deleted)


def _copy_new(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
              key: Sequence[str], types: Sequence[str] | None,
              prepare: Callable[[Iterable[Sequence[Any]]], Iterable[Sequence[Any]]] | None) -> int:
    """COPY rows whose keys the table does not hold straight into it; return how many."""
    try:
        with conn.transaction():
            return copy_rows(conn, table, columns, prepare(rows) if prepare else rows, types)
    except psycopg.errors.UniqueViolation as exc:
        raise DuplicateKeyInBatch(
            f"merge into {table}: the rows hold the same ({', '.join(key)}) more than once") from exc


def _delete_absent(conn: psycopg.Connection, table: str, key: Sequence[str], seen: str, inserted: int,
                   max_delete_share: float) -> int:
    """Delete the rows of `table` whose key is not in `seen`, guarded (see `merge_rows`)."""
    absent = sql.SQL("FROM {table} AS t WHERE NOT EXISTS (SELECT FROM {seen} AS s WHERE {join})").format(
        table=table_identifier(table), seen=sql.Identifier(seen),
        join=sql.SQL(" AND ").join(sql.SQL("s.{0} = t.{0}").format(sql.Identifier(k)) for k in key))
    count = int(fetch_value(conn, sql.SQL("SELECT count(*) ") + absent))
    stored = int(fetch_value(conn, sql.SQL("SELECT count(*) FROM {}").format(table_identifier(table)))) - inserted
    check_deletion(table, "rows", count, stored, max_delete_share, if_right="the source really lost them")
    return conn.execute(sql.SQL("DELETE ") + absent).rowcount if count else 0


def _batches(rows: Iterable[Sequence[Any]], size: int) -> Iterable[list[Sequence[Any]]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _upsert_staged(conn: psycopg.Connection, table: str, stage: str, columns: Sequence[str], key: Sequence[str],
                   hash_column: str | None) -> tuple[int, int]:
    """Move the staged rows into `table` (see `merge_rows`); return (inserted, updated)."""
    values = [c for c in columns if c not in key]
    compared = [hash_column] if hash_column else values
    if values:
        action = sql.SQL("DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})").format(
            sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in values
            ),
            column_list(compared, prefix="t"),
            column_list(compared, prefix="excluded"),
        )
    else:
        action = sql.Composed([sql.SQL("DO NOTHING")])
    statement = sql.SQL(
        """
        WITH merged AS (
            INSERT INTO {target} AS t ({cols})
            SELECT {cols} FROM {stage}
            ON CONFLICT ({key}) {action}
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged
        """
    ).format(
        target=table_identifier(table),
        cols=column_list(columns),
        stage=sql.Identifier(stage),
        key=column_list(key),
        action=action,
    )
    try:
        with conn.transaction():
            counts = conn.execute(statement).fetchone()
    except psycopg.errors.CardinalityViolation as exc:
        raise DuplicateKeyInBatch(
            f"merge into {table}: the batch holds the same ({', '.join(key)}) more than once"
        ) from exc
    assert counts is not None  # an aggregate returns one row
    return counts[0], counts[1]


def append_rows(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    constants: Mapping[str, Any] | None = None,
    types: Sequence[str] | None = None,
) -> int:
    """`copy_rows`, with each column of `constants` not among `columns` set on every row.

    This is how a partition key reaches rows whose source does not carry it.
    """
    extra = [c for c in (constants or {}) if c not in columns]
    if not extra:
        return copy_rows(conn, table, columns, rows, types)
    assert constants is not None
    values = tuple(constants[c] for c in extra)
    if types is not None:
        types = [*types, *column_types(conn, table, extra)]
    return copy_rows(
        conn, table, [*columns, *extra], (tuple(itertools.chain(row, values)) for row in rows), types
    )


@dataclass(frozen=True)
class ReplaceResult:
    """What a replace did: rows removed from the partition and rows written into it."""

    deleted: int
    inserted: int


def replace_rows(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    partition: Mapping[str, Any] | None = None,
    types: Sequence[str] | None = None,
) -> ReplaceResult:
    """Replace the rows of one partition of `table` (all rows when `partition` is None).

    `partition` maps column names to values (`{"partition_key": "2024-01"}`); a partition
    column missing from `columns` is filled in on every row. The delete and the COPY run in
    one transaction: concurrent readers see the old partition or the new one, never a mix,
    and a failure midway leaves the old rows in place.
    """
    partition = dict(partition or {})
    condition = (
        sql.SQL(" AND ").join(
            sql.SQL("{} IS NULL").format(sql.Identifier(c))
            if v is None
            else sql.SQL("{} = %s").format(sql.Identifier(c))
            for c, v in partition.items()
        )
        if partition
        else sql.SQL("TRUE")
    )
    params = [v for v in partition.values() if v is not None]
    with conn.transaction():
        deleted = conn.execute(
            sql.SQL("DELETE FROM {} WHERE {}").format(table_identifier(table), condition), params
        ).rowcount
        inserted = append_rows(conn, table, columns, rows, constants=partition, types=types)
    return ReplaceResult(deleted=deleted, inserted=inserted)


def copy_text(conn: psycopg.Connection, table: str, columns: Sequence[str], chunks: Iterable[bytes]) -> None:
    """Send pre-rendered COPY text (tab-separated, `\\N` for NULL) as it comes: what
    `psql`'s `\\copy` does with a file. The raw baseline the benchmarks compare against."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(table_identifier(table), column_list(columns))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for chunk in chunks:
            copy.write(chunk)

"""Drop foreign keys for a bulk load and add them back, validated, afterwards.

A foreign key costs a lookup and a row lock per inserted row; for millions of rows one
validation pass at the end (a single join) is far cheaper. Definitions are kept in
`import_pipeline.suspended_constraints` before anything is dropped, so a killed process
loses no constraint: the next suspension (or `restore_foreign_keys`) adds them back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from import_pipeline.postgres.identifiers import qualified_name, split_table, table_identifier
from import_pipeline.postgres.indexes import suspended_indexes

FOREIGN_KEYS = """
SELECT c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.contype = 'f' AND c.conrelid = format('%%I.%%I', %s::text, %s::text)::regclass
ORDER BY c.conname
"""


def restore_foreign_keys(conn: psycopg.Connection, tables: Sequence[str] | None = None) -> list[str]:
    """Add back the recorded foreign keys (of `tables`, or all); return their names.

    Each is validated as it is added, so a violation fails here, naming the constraint,
    and the rest stay recorded for a later attempt. Runs in its own transaction.
    """
    with conn.transaction():
        recorded = conn.execute(
            "SELECT table_name, constraint_name, definition FROM import_pipeline.suspended_constraints"
            " WHERE %s::text[] IS NULL OR table_name = ANY(%s::text[]) ORDER BY table_name, constraint_name",
            (None if tables is None else [qualified_name(t) for t in tables],) * 2,
        ).fetchall()
        for table, name, definition in recorded:
            present = conn.execute(
                "SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s",
                (table_identifier(table).as_string(conn), name),
            ).fetchone()
            if present is None:
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                        table_identifier(table), sql.Identifier(name), sql.SQL(definition)
                    )
                )
            conn.execute(
                "DELETE FROM import_pipeline.suspended_constraints WHERE table_name = %s AND constraint_name = %s",
                (table, name),
            )
    return [name for _, name, _ in recorded]


@contextmanager
def suspended_foreign_keys(conn: psycopg.Connection, tables: Sequence[str]) -> Iterator[list[str]]:
    """Drop the foreign keys declared on `tables` for the block; add them back when it ends.

    Same contract as `suspended_indexes`: use it outside a transaction block; it commits
    its own drop and restore, also when the block raises.
    """
    restore_foreign_keys(conn, tables)
    dropped: list[str] = []
    with conn.transaction():
        for table in tables:
            for name, definition in conn.execute(FOREIGN_KEYS, split_table(table)).fetchall():
                conn.execute(
                    "INSERT INTO import_pipeline.suspended_constraints (table_name, constraint_name, definition)"
                    " VALUES (%s, %s, %s)",
                    (qualified_name(table), name, definition),
                )
                conn.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table_identifier(table), sql.Identifier(name))
                )
                dropped.append(name)
    try:
        yield dropped
    finally:
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            conn.rollback()
        restore_foreign_keys(conn, tables)


@dataclass
class BulkLoadMode:
    """What `bulk_load_mode` suspended, and how long putting it back took (set on exit)."""

    indexes: list[str] = field(default_factory=list)
    foreign_keys: list[str] = field(default_factory=list)
    restore_seconds: float = 0.0


@contextmanager
def bulk_load_mode(conn: psycopg.Connection, tables: Sequence[str]) -> Iterator[BulkLoadMode]:
    """Suspend the secondary indexes and foreign keys of `tables` for the block.

    On exit the indexes are rebuilt first, then the foreign keys are added back and
    validated (using those indexes); `restore_seconds` says how long that took.
    """
    mode = BulkLoadMode()
    started = 0.0

    def finished() -> None:
        mode.restore_seconds = time.perf_counter() - started

    with ExitStack() as stack:
        # Exit runs in reverse: indexes come back first, then the foreign keys, then the clock stops.
        stack.callback(finished)
        mode.foreign_keys = stack.enter_context(suspended_foreign_keys(conn, tables))
        for table in tables:
            mode.indexes.extend(stack.enter_context(suspended_indexes(conn, table)))
        try:
            yield mode
        finally:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.rollback()
            started = time.perf_counter()

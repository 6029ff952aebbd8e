"""Drop a table's secondary indexes for an initial bulk load and put them back exactly.

Definitions are read from `pg_indexes` and kept in `import_pipeline.suspended_indexes`
before anything is dropped, so even a killed process loses no index: the next
suspension (or `restore_indexes`) recreates whatever is recorded there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from import_pipeline.postgres.identifiers import qualified_name, split_table
from import_pipeline.postgres.locks import advisory_lock
from import_pipeline.postgres.scalar import fetch_value

SECONDARY_INDEXES = """
SELECT i.schemaname, i.indexname, format('%%I.%%I', i.schemaname, i.indexname), i.indexdef
FROM pg_indexes i
WHERE i.schemaname = %s AND i.tablename = %s
  AND NOT EXISTS (
      SELECT 1 FROM pg_constraint c
      WHERE c.conindid = format('%%I.%%I', i.schemaname, i.indexname)::regclass
  )
ORDER BY i.indexname
"""


def suspension_lock(table: str) -> str:
    """The advisory lock a process holds while `table`'s indexes or foreign keys are suspended
    by it: a suspension whose lock is free was left by a process that died."""
    return f"import_pipeline.suspension:{qualified_name(table)}"


def secondary_indexes(conn: psycopg.Connection, table: str) -> list[tuple[str, str, str, str]]:
    """`(schema, index name, qualified name, CREATE INDEX statement)` for each index of `table` that no
    primary-key, unique or exclusion constraint owns, in name order."""
    return conn.execute(SECONDARY_INDEXES, split_table(table)).fetchall()


def restore_indexes(conn: psycopg.Connection, table: str | None = None) -> list[str]:
    """Recreate the recorded suspended indexes (of `table`, or of every table); return their names.

    An index that exists already is only unrecorded. Runs in its own transaction.
    """
    with conn.transaction():
        if table is None:
            recorded = conn.execute(
                "SELECT index_name, definition FROM import_pipeline.suspended_indexes ORDER BY index_name"
            ).fetchall()
        else:
            recorded = conn.execute(
                "SELECT index_name, definition FROM import_pipeline.suspended_indexes"
                " WHERE table_name = %s ORDER BY index_name",
                (qualified_name(table),),
            ).fetchall()
        for name, definition in recorded:
            exists = fetch_value(conn, "SELECT to_regclass(%s)", (name,))
            if exists is None:
                conn.execute(definition)
            conn.execute("DELETE FROM import_pipeline.suspended_indexes WHERE index_name = %s", (name,))
    return [name for name, _ in recorded]


@contextmanager
def suspended_indexes(conn: psycopg.Connection, table: str) -> Iterator[list[str]]:
    """Drop the secondary indexes of `table` for the block, then recreate them as they were.

    Yields the dropped index names. Indexes are recreated when the block ends, also when
    it raises. Use it outside any transaction block: it commits its own drop and restore,
    and the block's own transactions should have ended (committed or rolled back) by the
    time it exits. Key and unique constraints stay, so correctness checks still apply.
    The table's suspension lock is held for the block.
    """
    with advisory_lock(conn, suspension_lock(table)), _indexes_dropped(conn, table) as dropped:
        yield dropped


@contextmanager
def _indexes_dropped(conn: psycopg.Connection, table: str) -> Iterator[list[str]]:
    restore_indexes(conn, table)  # leftovers of a process that died mid-load
    qualified = qualified_name(table)
    with conn.transaction():
        indexes = secondary_indexes(conn, table)
        for schema, index, qualified_index, definition in indexes:
            conn.execute(
                "INSERT INTO import_pipeline.suspended_indexes (index_name, table_name, definition)"
                " VALUES (%s, %s, %s)",
                (qualified_index, qualified, definition),
            )
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, index)))
    try:
        yield [index for _, index, _, _ in indexes]
    finally:
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            conn.rollback()
        restore_indexes(conn, table)

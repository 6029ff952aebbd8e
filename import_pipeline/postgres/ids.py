"""Ids handed out by the client for bulk loads, kept in step with the tables' identity sequences.

A loader that COPYs parents and children together needs the parents' ids before the rows
reach the server. It takes the next free id of each table with `next_free_id`, numbers
rows itself, and calls `sync_identity` afterwards so the table's own default continues
after the last id used. Both are only safe while the caller alone writes those tables
(hold an advisory lock).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from import_pipeline.postgres.identifiers import qualified_name, table_identifier
from import_pipeline.postgres.scalar import fetch_value


def next_free_id(conn: psycopg.Connection, table: str, column: str = "id") -> int:
    """One more than the largest `column` value of `table` (1 for an empty table)."""
    query = sql.SQL("SELECT COALESCE(max({}), 0) + 1 FROM {}").format(sql.Identifier(column), table_identifier(table))
    return fetch_value(conn, query)


def sync_identity(conn: psycopg.Connection, table: str, column: str = "id") -> None:
    """Set the sequence behind `table.column` so its next value follows the largest id in use."""
    conn.execute(
        sql.SQL(
            "SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(max({col}), 0) + 1, false) FROM {table}"
        ).format(col=sql.Identifier(column), table=table_identifier(table)),
        (qualified_name(table), column),
    )

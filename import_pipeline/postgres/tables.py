"""Table inspection and reads used by the IO manager."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from import_pipeline.postgres.identifiers import table_identifier
from import_pipeline.postgres.scalar import fetch_value


@dataclass(frozen=True)
class TableRef:
    """A lazy reference to stored rows: a qualified table, optionally one or more partitions.

    Downstream assets that must not load a whole table into memory ask for this instead of
    a DataFrame and read it with `iter_rows` (or put `filter()`'s condition and parameters
    into their own statements).
    """

    table: str
    partition_column: str | None = None
    partition_keys: tuple[str, ...] = field(default_factory=tuple)

    def filter(self) -> tuple[sql.Composable, list[Any]]:
        """The WHERE condition selecting this reference's rows, and its parameters."""
        if self.partition_column is None or not self.partition_keys:
            return sql.SQL("TRUE"), []
        return (
            sql.SQL("{} = ANY(%s)").format(sql.Identifier(self.partition_column)),
            [list(self.partition_keys)],
        )


def table_exists(conn: psycopg.Connection, table: str) -> bool:
    """Whether `table` (qualified or on the search path) exists."""
    return fetch_value(conn, "SELECT to_regclass(%s)", (table_identifier(table).as_string(conn),)) is not None


def table_is_empty(conn: psycopg.Connection, table: str) -> bool:
    """Whether `table` holds no row."""
    row = conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT FROM {})").format(table_identifier(table))).fetchone()
    return bool(row and row[0])


def table_columns(conn: psycopg.Connection, table: str, *, base_types: bool = False) -> list[tuple[str, str]]:
    """`(column name, type)` of `table` in column order.

    Types are as declared (`character varying(200)`), or with `base_types` without the
    modifier (`character varying`), the names binary COPY needs.
    """
    return conn.execute(
        """
        SELECT attname, format_type(atttypid, CASE WHEN %s THEN NULL ELSE atttypmod END) FROM pg_attribute
        WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum
        """,
        (base_types, table_identifier(table).as_string(conn)),
    ).fetchall()


def iter_rows(
    conn: psycopg.Connection, ref: TableRef, columns: Sequence[str] | None = None, batch_size: int = 10_000
) -> Iterator[tuple[Any, ...]]:
    """Yield the rows `ref` points at, fetched through a server-side cursor in batches."""
    condition, params = ref.filter()
    selected = sql.SQL(", ").join(map(sql.Identifier, columns)) if columns else sql.SQL("*")
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(selected, table_identifier(ref.table), condition)
    with conn.cursor(name=f"read_{id(ref):x}") as cur:
        cur.itersize = batch_size
        cur.execute(query, params)
        yield from cur


def read_rows(conn: psycopg.Connection, ref: TableRef) -> tuple[list[str], list[tuple[Any, ...]]]:
    """All rows `ref` points at, with the column names (for small tables)."""
    condition, params = ref.filter()
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {} WHERE {}").format(table_identifier(ref.table), condition), params)
        return [d.name for d in cur.description or ()], cur.fetchall()


def create_table(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[tuple[str, str]],
    *,
    primary_key: Sequence[str] = (),
) -> None:
    """Create `table` with `(name, type)` columns (types are trusted PostgreSQL type names,
    never user input) and an optional primary key; replace it if it exists."""
    parts = [sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(type_)) for name, type_ in columns]
    if primary_key:
        parts.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, primary_key))))
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table_identifier(table)))
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(table_identifier(table), sql.SQL(", ").join(parts)))


def create_schema(conn: psycopg.Connection, schema: str, *, replace: bool = False) -> None:
    """Create `schema` if missing; with `replace`, drop it and everything in it first."""
    if replace:
        drop_schema(conn, schema)
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def drop_schema(conn: psycopg.Connection, schema: str) -> None:
    """Drop `schema` and everything in it, if it exists."""
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def analyze_tables(conn: psycopg.Connection, tables: Sequence[str]) -> None:
    """Refresh the planner statistics of `tables`, so queries right after a bulk load plan well."""
    conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(table_identifier(t) for t in tables)))

"""Interning of lookup rows: store each distinct key once and hand back its id."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from import_pipeline.postgres.copy import copy_rows, create_staging_table, drop_table
from import_pipeline.postgres.identifiers import column_list, table_identifier


def intern_rows(
    conn: psycopg.Connection,
    table: str,
    key_columns: Sequence[str],
    keys: Iterable[Sequence[Any]],
    *,
    id_column: str = "id",
    types: Sequence[str] | None = None,
) -> dict[tuple[Any, ...], int]:
    """Ensure every distinct key of `keys` has a row in `table`; return `{key tuple: id}`.

    `table` needs a unique constraint on `key_columns` and an `id_column` filled by a default
    (identity or sequence). Keys already present keep their ids, so calls are stable; new
    keys are inserted in key order. Three statements whatever the number of keys: COPY into
    a staging table, one `INSERT ... ON CONFLICT DO NOTHING`, one joined `SELECT`. Key
    values must not be NULL (NULLs never match a unique constraint).
    """
    distinct = {tuple(k) for k in keys}
    if not distinct:
        return {}
    target = table_identifier(table)
    with conn.transaction():
        stage = create_staging_table(conn, table, key_columns)
        copy_rows(conn, stage, key_columns, distinct, types)
        conn.execute(
            sql.SQL(
                "INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage} ORDER BY {cols}"
                " ON CONFLICT DO NOTHING"
            ).format(target=target, cols=column_list(key_columns), stage=sql.Identifier(stage))
        )
        found = conn.execute(
            sql.SQL("SELECT {id}, {tcols} FROM {target} AS t JOIN {stage} AS s USING ({cols})").format(
                id=sql.Identifier("t", id_column),
                tcols=column_list(key_columns, prefix="t"),
                target=target,
                stage=sql.Identifier(stage),
                cols=column_list(key_columns),
            )
        ).fetchall()
        drop_table(conn, stage)
    return {tuple(row[1:]): row[0] for row in found}

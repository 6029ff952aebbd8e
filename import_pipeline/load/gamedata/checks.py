"""Integrity checks of the gamedata tables."""

from __future__ import annotations

import psycopg

from import_pipeline.postgres.statements import statement


def orphan_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Per table, the rows nothing refers to any more: owned rows without their item, interned
    stat values and criteria no item uses. After any import every count is 0."""
    cur = conn.execute(statement("gamedata", "orphan_counts"))
    row = cur.fetchone()
    assert row is not None and cur.description is not None  # one row of counts
    return {column.name: value for column, value in zip(cur.description, row, strict=True)}

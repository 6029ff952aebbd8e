"""The datasets tables between imports: the search view, planner statistics, integrity."""

from __future__ import annotations

import psycopg

from import_pipeline.postgres.scalar import fetch_value
from import_pipeline.postgres.statements import statement


def refresh_search(conn: psycopg.Connection) -> int:
    """Refresh the dataset search view (readers keep seeing the old one meanwhile); return its row count."""
    with conn.transaction():
        conn.execute(statement("datasets", "refresh_search"))
        count: int = fetch_value(conn, statement("datasets", "search_count"))
        return count


def unresolved_commit_rows(conn: psycopg.Connection) -> int:
    """How many rows of existing commits refer to a row content that is not stored (must be 0)."""
    count: int = fetch_value(conn, statement("datasets", "unresolved_commit_rows"))
    return count


def analyze(conn: psycopg.Connection) -> None:
    """Refresh the planner statistics of the dataset tables."""
    with conn.transaction():
        conn.execute(statement("datasets", "analyze_tables"))

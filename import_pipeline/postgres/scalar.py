"""The one value a query returns: a count, an aggregate, a flag."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql


def fetch_value(conn: psycopg.Connection[Any], query: str | sql.Composable, params: Any = None) -> Any:
    """The first column of the first row `query` returns; `LookupError` when it returns no row."""
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    if row is None:
        raise LookupError(f"expected a row from {query!r}")
    return row[0]

"""The rejects table: records that could not be imported, with where they were and why."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from import_pipeline.postgres.copy import copy_rows
from import_pipeline.records import Reject

REJECTS_TABLE = "import_pipeline.rejects"
COLUMNS = ("asset", "partition_key", "source", "line", "byte_offset", "reason", "raw", "run_id")


def clear_rejects(conn: psycopg.Connection, asset: str, partition_key: str | None) -> int:
    """Delete the rejects recorded for one asset partition; return how many went.

    An import calls this before writing its own rejects, so re-running a partition
    leaves exactly that run's rejects.
    """
    return conn.execute(
        "DELETE FROM import_pipeline.rejects WHERE asset = %s AND partition_key IS NOT DISTINCT FROM %s",
        (asset, partition_key),
    ).rowcount


def write_rejects(
    conn: psycopg.Connection,
    rejects: Iterable[Reject],
    *,
    asset: str,
    partition_key: str | None,
    run_id: str | None = None,
) -> int:
    """Append `rejects` for one asset partition with COPY; return how many were written.

    Text is stored as given, with NUL characters (which PostgreSQL text cannot hold)
    shown as `\\x00`.
    """

    def clean(text: str | None) -> str | None:
        return None if text is None else text.replace("\x00", "\\x00")

    rows = (
        (asset, partition_key, r.source, r.line, r.offset, clean(r.reason), clean(r.raw), run_id)
        for r in rejects
    )
    return copy_rows(conn, REJECTS_TABLE, COLUMNS, rows)

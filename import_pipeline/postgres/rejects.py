"""The rejects table: records that could not be imported, with where they were and why."""

from __future__ import annotations

import re
from collections.abc import Iterable

import psycopg

from import_pipeline.postgres.copy import copy_rows
from import_pipeline.records import Reject

REJECTS_TABLE = "import_pipeline.rejects"
COLUMNS = ("asset", "partition_key", "source", "line", "byte_offset", "reason", "raw", "run_id")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that did not decode, kept by `surrogateescape`
        return f"\\x{code - 0xDC00:02x}"
    return "\\x00" if code == 0 else f"\\u{code:04x}"


def storable_text(text: str | None) -> str | None:
    """`text` as PostgreSQL text can hold it: a NUL becomes `\\x00`, a byte that did not decode
    (a `surrogateescape` surrogate) `\\xNN` with its value, any other lone surrogate `\\uXXXX`.
    Text without those is returned as it is."""
    if text is None or text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(_escaped, text)


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

    Text is stored as given, except what PostgreSQL text cannot hold (see `storable_text`):
    a reject's raw bytes, whatever they are, never make the write fail.
    """
    rows = (
        (asset, partition_key, storable_text(r.source), r.line, r.offset, storable_text(r.reason),
         storable_text(r.raw), run_id)
        for r in rejects
    )
    return copy_rows(conn, REJECTS_TABLE, COLUMNS, rows)

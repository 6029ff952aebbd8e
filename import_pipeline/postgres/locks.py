"""Advisory locks: serialize work that must not overlap, across processes and runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from import_pipeline.postgres.scalar import fetch_value


@contextmanager
def advisory_lock(conn: psycopg.Connection, name: str) -> Iterator[None]:
    """Hold the session-level advisory lock named `name` for the block, waiting for it if taken.

    The lock belongs to the session, not to a transaction, so it spans the block's
    commits; it is released when the block ends, and by the server if the session dies.
    Call it outside a transaction block; the block starts outside one too.
    """
    conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (name,))
    _end_implicit_transaction(conn)
    try:
        yield
    finally:
        _unlock(conn, name)


@contextmanager
def advisory_lock_if_free(conn: psycopg.Connection, name: str) -> Iterator[bool]:
    """Hold the session-level advisory lock named `name` for the block if nobody holds it;
    yield whether it is held. Never waits. Same rules as `advisory_lock`."""
    held = fetch_value(conn, "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (name,))
    _end_implicit_transaction(conn)
    try:
        yield held
    finally:
        if held:
            _unlock(conn, name)


def _unlock(conn: psycopg.Connection, name: str) -> None:
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
        conn.rollback()
    conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))
    _end_implicit_transaction(conn)


def _end_implicit_transaction(conn: psycopg.Connection) -> None:
    # Without autocommit the SELECT opened a transaction; end it so the block starts clean.
    if not conn.autocommit and conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        conn.commit()

"""Retry a unit of database work when the failure is transient, at once when it is not.

Transient: the connection was lost or refused (the server restarting, a backend ended by
`pg_terminate_backend`, a network drop), a serialization failure or a deadlock. Each attempt
runs on a fresh connection in a transaction of its own, so a batch is written once or not at
all; tenacity waits an exponential backoff with full jitter between attempts. Anything else
(a constraint violation, bad SQL, bad data) is raised at once: retrying cannot fix it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import psycopg
import tenacity

from import_pipeline.postgres.connect import Connect

Result = TypeVar("Result")

#: SQLSTATEs worth another attempt: serialization failure, deadlock, the server shutting
#: down or starting (admin/crash shutdown, cannot connect now), and connection exceptions.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03", "08000", "08001", "08003", "08004",
                                 "08006"})


def is_transient(error: BaseException) -> bool:
    """Whether `error` may pass when the work is tried again on a new connection."""
    if not isinstance(error, psycopg.Error):
        return False
    state = error.sqlstate
    if state is not None:
        return state in TRANSIENT_SQLSTATES
    return isinstance(error, psycopg.OperationalError)  # no SQLSTATE: the connection itself failed


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per unit of work, and the backoff between them (seconds, base and cap)."""

    attempts: int = 6
    backoff: float = 0.5
    backoff_max: float = 30.0


class RetryCounter:
    """How many retries the work of a run needed (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.retries = 0
        self.last_error: str | None = None

    def add(self, error: BaseException | None) -> None:
        with self._lock:
            self.retries += 1
            self.last_error = str(error).strip().splitlines()[0] if error is not None else None


def with_retries(connect: Connect, work: Callable[[psycopg.Connection], Result], *,
                 policy: RetryPolicy | None = None, counter: RetryCounter | None = None) -> Result:
    """`work(conn)` on a fresh connection from `connect`, in a transaction committed when it
    returns; tried again (up to `policy.attempts` times in all) when it fails transiently.
    The last transient error, or the first permanent one, is raised."""
    policy = policy or RetryPolicy()

    def attempt() -> Result:
        with connect() as conn, conn.transaction():
            return work(conn)

    def count(state: tenacity.RetryCallState) -> None:
        if counter is not None:
            counter.add(state.outcome.exception() if state.outcome else None)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_transient),
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=tenacity.wait_random_exponential(multiplier=policy.backoff, max=policy.backoff_max),
        before_sleep=count,
        reraise=True,
    )
    return retrying(attempt)

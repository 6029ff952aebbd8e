"""The engine's retry of transient database errors, on a real server."""

import psycopg
import pytest

from import_pipeline.postgres.retry import RetryCounter, RetryPolicy, is_transient, with_retries

FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05)


def test_a_terminated_backend_is_retried_on_a_new_connection_and_writes_once(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE public.batches (n int)")
    backends: list[int] = []

    def work(conn: psycopg.Connection) -> int:
        backends.append(conn.info.backend_pid)
        conn.execute("INSERT INTO public.batches VALUES (1)")
        if len(backends) == 1:
            with psycopg.connect(database_url, autocommit=True) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            conn.execute("SELECT 1")  # the backend is gone: OperationalError, transaction lost
        return len(backends)

    counter = RetryCounter()
    assert with_retries(lambda: psycopg.connect(database_url), work, policy=FAST, counter=counter) == 2
    assert counter.retries == 1 and counter.last_error
    assert len(set(backends)) == 2
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM public.batches").fetchone() == (1,)


def test_a_permanent_error_is_raised_at_once(database_url: str) -> None:
    attempts = []

    def work(conn: psycopg.Connection) -> None:
        attempts.append(1)
        conn.execute("SELECT * FROM no_such_table")

    counter = RetryCounter()
    with pytest.raises(psycopg.errors.UndefinedTable):
        with_retries(lambda: psycopg.connect(database_url), work, policy=FAST, counter=counter)
    assert len(attempts) == 1 and counter.retries == 0


def test_transient_errors_stop_after_the_last_attempt(database_url: str) -> None:
    attempts = []

    def work(conn: psycopg.Connection) -> None:
        attempts.append(1)
        raise psycopg.errors.SerializationFailure("could not serialize access")

    with pytest.raises(psycopg.errors.SerializationFailure):
        with_retries(lambda: psycopg.connect(database_url), work, policy=FAST)
    assert len(attempts) == FAST.attempts


@pytest.mark.parametrize(("error", "transient"), [
    (psycopg.errors.SerializationFailure("x"), True),
    (psycopg.errors.DeadlockDetected("x"), True),
    (psycopg.errors.AdminShutdown("x"), True),
    (psycopg.errors.CannotConnectNow("x"), True),
    (psycopg.OperationalError("connection lost"), True),
    (psycopg.errors.UniqueViolation("x"), False),
    (psycopg.errors.SyntaxError("x"), False),
    (ValueError("x"), False),
])
def test_what_is_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient

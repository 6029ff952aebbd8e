"""A real PostgreSQL for every test, each test in a database of its own.

`IMPORT_PIPELINE_TEST_DATABASE_URL` names a server to use (CI's); otherwise an embedded
server is started in a temporary folder for the session. A migrated template database is
built once; each test gets a copy of it, dropped afterwards.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import psycopg
import pytest
from psycopg import sql

from import_pipeline.postgres.connect import start_embedded_server, with_database
from import_pipeline.postgres.migrate import apply_migrations

TEST_URL_ENV = "IMPORT_PIPELINE_TEST_DATABASE_URL"
T = TypeVar("T")


def run_at_once(work: Callable[[T], object], items: Iterable[T]) -> list[BaseException]:
    """Run `work(item)` for every item, each on a thread of its own, all at once; return what they raised."""
    errors: list[BaseException] = []

    def guarded(item: T) -> None:
        try:
            work(item)
        except BaseException as exc:  # returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A URL for a maintenance database on the test server."""
    configured = os.environ.get(TEST_URL_ENV)
    if configured:
        return configured
    return start_embedded_server(tmp_path_factory.mktemp("embedded") / "pgdata")


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            if conn.info.server_version >= 150000:
                statement += sql.SQL(" STRATEGY FILE_COPY")  # much faster for small databases
        conn.execute(statement)
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    """Name of a database with every migration applied, to copy per test."""
    name = f"ip_template_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    with psycopg.connect(url) as conn:
        apply_migrations(conn)
    yield name
    drop_database(server_url, name)


@pytest.fixture
def database_url(server_url: str, template_database: str) -> Iterator[str]:
    """URL of a fresh, migrated database that only this test uses."""
    name = f"ip_test_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name, template=template_database)
    yield url
    drop_database(server_url, name)


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """URL of a fresh database with no migrations applied."""
    name = f"ip_empty_{uuid.uuid4().hex[:12]}"
    yield create_database(server_url, name)
    drop_database(server_url, name)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection to this test's database (not autocommit)."""
    with psycopg.connect(database_url) as connection:
        yield connection


@pytest.fixture
def limited_role(conn: psycopg.Connection) -> Iterator[str]:
    """A role that is not a superuser, with every right on this test's database's tables; `SET ROLE` to use it.

    Roles belong to the whole server, so it is dropped (with its grants) when the test ends."""
    role = f"ip_limited_{uuid.uuid4().hex[:8]}"
    name = sql.Identifier(role)
    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(name))
    schemas = [row[0] for row in conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'")]
    for schema in map(sql.Identifier, schemas):
        conn.execute(sql.SQL("GRANT ALL ON SCHEMA {s} TO {r}; GRANT ALL ON ALL TABLES IN SCHEMA {s} TO {r};"
                             " GRANT ALL ON ALL SEQUENCES IN SCHEMA {s} TO {r}").format(s=schema, r=name))
    conn.commit()
    yield role
    conn.rollback()
    conn.execute("RESET ROLE")
    conn.execute(sql.SQL("DROP OWNED BY {r}; DROP ROLE {r}").format(r=name))
    conn.commit()

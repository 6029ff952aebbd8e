"""Database upkeep between imports, safe while imports run: ANALYZE of changed tables, refresh
of materialized views, REINDEX of bloated indexes, and a sweep of old rejects.

Every statement runs with a short `lock_timeout`: what would wait on an import's lock is
skipped and reported, never waited for. Statements run outside transactions (autocommit),
as `REINDEX ... CONCURRENTLY` must, so each takes effect on its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import psycopg
from psycopg import errors, sql

#: The schemas the project's families own (and the engine's).
SCHEMAS = ("import_pipeline", "example", "gamedata", "datasets", "properties", "discogs", "skype")


@dataclass
class Reindexed:
    """An index rebuilt, with its size before and after."""

    index: str
    bytes_before: int
    bytes_after: int
    leaf_density: float


@dataclass
class UpkeepReport:
    """What one upkeep pass did, and what it skipped and why."""

    analyzed: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    reindexed: list[Reindexed] = field(default_factory=list)
    rejects_swept: int = 0
    skipped: dict[str, str] = field(default_factory=dict)


def analyze_changed_tables(conn: psycopg.Connection, report: UpkeepReport, schemas: tuple[str, ...] = SCHEMAS) -> None:
    """ANALYZE every table of `schemas` with rows changed since its last analyze."""
    tables = conn.execute(
        "SELECT schemaname, relname FROM pg_stat_user_tables WHERE schemaname = ANY(%s) AND n_mod_since_analyze > 0 "
        "ORDER BY n_mod_since_analyze DESC", (list(schemas),)).fetchall()
    for schema, table in tables:
        name = f"{schema}.{table}"
        _guarded(conn, report, name, sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))
        if name not in report.skipped:
            report.analyzed.append(name)


def refresh_views(conn: psycopg.Connection, report: UpkeepReport, schemas: tuple[str, ...] = SCHEMAS) -> None:
    """Refresh every materialized view of `schemas`: CONCURRENTLY (readers keep reading) when it
    is populated and has the unique index that needs, plainly otherwise."""
    views = conn.execute(
        "SELECT n.nspname, c.relname, c.relispopulated AND EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid "
        "AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'm' AND n.nspname = ANY(%s) ORDER BY 1, 2", (list(schemas),)).fetchall()
    for schema, view, unique in views:
        name = f"{schema}.{view}"
        concurrently = sql.SQL(" CONCURRENTLY") if unique else sql.SQL("")
        _guarded(conn, report, name, sql.SQL("REFRESH MATERIALIZED VIEW{} {}").format(
            concurrently, sql.Identifier(schema, view)))
        if name not in report.skipped:
            report.refreshed.append(name)


def reindex_bloated(conn: psycopg.Connection, report: UpkeepReport, *, max_bloat: float = 0.3,
                    min_bytes: int = 8 * 1024 * 1024, schemas: tuple[str, ...] = SCHEMAS) -> None:
    """`REINDEX INDEX CONCURRENTLY` every B-tree of `schemas` over `min_bytes` whose leaves are
    less than `1 - max_bloat` as full as a fresh build leaves them (90%: the default fill
    factor), measured by `pgstatindex`. Without the pgstattuple extension (and the right to
    create it) nothing is measured, and the report says so."""
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
    except psycopg.Error as exc:
        report.skipped["reindex"] = f"bloat not measured: pgstattuple is not available ({exc.diag.message_primary})"
        return
    indexes = conn.execute(
        "SELECT n.nspname, c.relname, pg_relation_size(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam "
        "WHERE c.relkind = 'i' AND a.amname = 'btree' AND n.nspname = ANY(%s) AND pg_relation_size(c.oid) >= %s "
        "ORDER BY 3 DESC", (list(schemas), min_bytes)).fetchall()
    for schema, index, size in indexes:
        name = f"{schema}.{index}"
        row = conn.execute("SELECT avg_leaf_density FROM pgstatindex(%s::regclass)", (name,)).fetchone()
        density = float(row[0]) if row and row[0] is not None else 100.0
        if density >= 90.0 * (1 - max_bloat):
            continue
        _guarded(conn, report, name, sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(sql.Identifier(schema, index)))
        if name not in report.skipped:
            after = conn.execute("SELECT pg_relation_size(%s::regclass)", (name,)).fetchone()
            report.reindexed.append(Reindexed(name, int(size), int(after[0]) if after else 0, density))


def sweep_rejects(conn: psycopg.Connection, report: UpkeepReport, *, older_than: dt.timedelta) -> None:
    """Delete the rejects recorded more than `older_than` ago."""
    deleted = conn.execute("DELETE FROM import_pipeline.rejects WHERE rejected_at < now() - %s", (older_than,))
    report.rejects_swept = deleted.rowcount


def run_upkeep(conn: psycopg.Connection, *, max_bloat: float = 0.3, min_index_bytes: int = 8 * 1024 * 1024,
               reject_retention: dt.timedelta = dt.timedelta(days=90), lock_timeout_ms: int = 2000) -> UpkeepReport:
    """One upkeep pass on `conn` (an autocommit connection): old rejects swept, changed tables
    analyzed, views refreshed, bloated indexes rebuilt; see the module."""
    report = UpkeepReport()
    conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{lock_timeout_ms}ms")))
    sweep_rejects(conn, report, older_than=reject_retention)
    analyze_changed_tables(conn, report)
    refresh_views(conn, report)
    reindex_bloated(conn, report, max_bloat=max_bloat, min_bytes=min_index_bytes)
    return report


def _guarded(conn: psycopg.Connection, report: UpkeepReport, name: str, statement: sql.Composed) -> None:
    """Run `statement`; a lock it would wait on past `lock_timeout` skips it, with the reason."""
    try:
        conn.execute(statement)
    except (errors.LockNotAvailable, errors.QueryCanceled) as exc:
        report.skipped[name] = f"skipped: {exc.diag.message_primary or type(exc).__name__} (an import holds it)"

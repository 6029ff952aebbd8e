"""Database upkeep: what it does to a real database, and what it skips while an import holds a lock."""

from __future__ import annotations

import dagster as dg
import psycopg

from import_pipeline.defs.maintenance.assets import database_upkeep
from import_pipeline.postgres.upkeep import run_upkeep
from import_pipeline.resources import PostgresResource


def changed_table(database_url: str, name: str, rows: int) -> None:
    with psycopg.connect(database_url) as writer:
        writer.execute(f"CREATE TABLE example.{name} (id integer, v integer)")
        writer.execute(f"INSERT INTO example.{name} SELECT g, (g::bigint * 7919) %% 100003 "
                       "FROM generate_series(1, %s) g", (rows,))
        writer.execute(f"CREATE INDEX {name}_v_idx ON example.{name} (v)")
        writer.execute("SELECT pg_stat_force_next_flush()")


def test_upkeep_analyzes_changed_tables_refreshes_views_and_sweeps_old_rejects(database_url: str) -> None:
    changed_table(database_url, "touched", 1000)
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO import_pipeline.rejects (asset, source, reason, rejected_at) VALUES "
                     "('a', 'f', 'old', now() - interval '100 days'), ('a', 'f', 'new', now())")
    with psycopg.connect(database_url, autocommit=True) as conn:
        first = run_upkeep(conn)
        second = run_upkeep(conn)
        left = conn.execute("SELECT reason FROM import_pipeline.rejects").fetchall()
    assert "example.touched" in first.analyzed and "example.touched" not in second.analyzed
    assert {"datasets.dataset_search", "gamedata.symbiant_items"} <= set(first.refreshed)
    assert first.rejects_swept == 1 and second.rejects_swept == 0 and left == [("new",)]


def test_upkeep_skips_what_an_import_holds_and_does_the_rest(database_url: str) -> None:
    changed_table(database_url, "held", 100)
    changed_table(database_url, "free", 100)
    with psycopg.connect(database_url) as importer:
        importer.execute("LOCK TABLE example.held IN ACCESS EXCLUSIVE MODE")  # as a bulk load's DDL does
        with psycopg.connect(database_url, autocommit=True) as conn:
            report = run_upkeep(conn, lock_timeout_ms=100)
    assert "an import holds it" in report.skipped["example.held"]
    assert "example.free" in report.analyzed and "example.held" not in report.analyzed


def test_a_bloated_index_is_rebuilt_smaller(database_url: str) -> None:
    changed_table(database_url, "bloated", 300_000)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM example.bloated WHERE id % 10 <> 0")
        conn.execute("VACUUM example.bloated")
        report = run_upkeep(conn, min_index_bytes=1024 * 1024)
    if "reindex" in report.skipped:  # a server without the pgstattuple extension
        assert "pgstattuple is not available" in report.skipped["reindex"]
        return
    [rebuilt] = [r for r in report.reindexed if r.index == "example.bloated_v_idx"]
    assert rebuilt.leaf_density < 63 and rebuilt.bytes_after < rebuilt.bytes_before / 3


def test_the_upkeep_asset_reports_what_it_did(database_url: str) -> None:
    changed_table(database_url, "reported", 10)
    result = dg.materialize([database_upkeep], resources={"postgres": PostgresResource(url=database_url)},
                            run_config={"ops": {"maintenance__database_upkeep": {"config": {
                                "reject_retention_days": 1.0}}}})
    [event] = result.get_asset_materialization_events()
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert metadata["tables_analyzed"] >= 1 and "example.reported" in str(metadata["analyzed"])
    assert "datasets.dataset_search" in str(metadata["views_refreshed"]) and metadata["rejects_swept"] == 0

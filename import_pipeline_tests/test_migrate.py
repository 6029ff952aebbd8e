"""Migrations apply once, in order, each in its own transaction, and refuse edited files."""

from pathlib import Path

import psycopg
import pytest

from import_pipeline.postgres.migrate import MigrationError, apply_migrations, discover, migrate_database


def test_project_migrations_apply_once(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url) as conn:
        applied = apply_migrations(conn)
        assert applied == [m.name for m in discover()] and applied[0] == "001_engine.sql"
        assert apply_migrations(conn) == []
        recorded = conn.execute("SELECT name FROM import_pipeline.migrations ORDER BY name").fetchall()
        assert [r[0] for r in recorded] == applied


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def test_files_apply_in_order_and_an_edited_one_is_refused(empty_database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "002_second.sql", "INSERT INTO t VALUES (2);")
    write(tmp_path, "001_first.sql", "CREATE TABLE t (n int); INSERT INTO t VALUES (1);")
    write(tmp_path, "notes.sql", "this is not a migration and is ignored")
    with psycopg.connect(empty_database_url) as conn:
        assert apply_migrations(conn, tmp_path) == ["001_first.sql", "002_second.sql"]
        write(tmp_path, "001_first.sql", "CREATE TABLE t (n bigint);")
        with pytest.raises(MigrationError, match="001_first.sql was changed after it was applied"):
            apply_migrations(conn, tmp_path)
        assert conn.execute("SELECT n FROM t ORDER BY n").fetchall() == [(1,), (2,)]


def test_a_failing_file_rolls_back_alone(empty_database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "001_ok.sql", "CREATE TABLE t (n int);")
    write(tmp_path, "002_bad.sql", "CREATE TABLE u (n int); SELECT no_such_function();")
    with psycopg.connect(empty_database_url) as conn:
        with pytest.raises(MigrationError, match="002_bad.sql failed"):
            apply_migrations(conn, tmp_path)
        assert conn.execute("SELECT to_regclass('t') IS NOT NULL, to_regclass('u') IS NULL").fetchone() == (True, True)
        names = conn.execute("SELECT name FROM import_pipeline.migrations").fetchall()
        assert names == [("001_ok.sql",)]


def test_migrate_puts_back_what_a_dead_import_left_suspended(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        definition = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'items_ql_idx'").fetchone()[0]
        conn.execute("INSERT INTO import_pipeline.suspended_indexes (index_name, table_name, definition)"
                     " VALUES ('gamedata.items_ql_idx', 'gamedata.items', %s)", (definition,))
        conn.execute("DROP INDEX gamedata.items_ql_idx")
        conn.commit()
    migrate_database(database_url)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass('gamedata.items_ql_idx')").fetchone()[0] is not None
        assert conn.execute("SELECT count(*) FROM import_pipeline.suspended_indexes").fetchone()[0] == 0


def test_the_item_lookup_migration_keeps_existing_mob_sources_and_marks_shop_items(
    empty_database_url: str, tmp_path: Path
) -> None:
    import shutil

    from import_pipeline.postgres.migrate import sql_dir

    for migration in discover():
        if migration.name < "007":
            shutil.copy(sql_dir() / migration.name, tmp_path / migration.name)
    with psycopg.connect(empty_database_url) as conn:
        apply_migrations(conn, tmp_path)
        conn.execute("""
            INSERT INTO gamedata.mobs (id, name) VALUES (7, 'Adobe Suzerain');
            INSERT INTO gamedata.sources (source_type_id, source_id, name) VALUES (1, 7, 'Adobe Suzerain');
            INSERT INTO gamedata.items (aoid, name, is_nano, document, document_hash) VALUES
                (1, 'shop', false, '{"ShopHashData": {"Items": []}}', '\\x01'),
                (2, 'plain', false, '{}', '\\x02');
        """)
        conn.commit()
        apply_migrations(conn)
        assert conn.execute("SELECT source_type_id, source_id FROM gamedata.sources").fetchall() == [(3, 7)]
        hashes = conn.execute("SELECT aoid, document_hash FROM gamedata.items ORDER BY aoid").fetchall()
        assert [(aoid, bytes(digest)) for aoid, digest in hashes] == [(1, b"\x00"), (2, b"\x02")]

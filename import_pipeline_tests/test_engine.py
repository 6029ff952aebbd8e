"""Merge, partition replace, index suspension, interning and rejects on a real server."""

import threading

import psycopg
import pytest

from import_pipeline.postgres.copy import DuplicateKeyInBatch, MergeResult, merge_rows, replace_rows
from import_pipeline.postgres.guards import DeletionRefused
from import_pipeline.postgres.indexes import restore_indexes, secondary_indexes, suspended_indexes
from import_pipeline.postgres.intern import intern_rows
from import_pipeline.postgres.rejects import clear_rejects, write_rejects
from import_pipeline.postgres.tables import create_table
from import_pipeline.records import Reject

DOCS = [("doc", "hash"), ("key", "text"), ("body", "text")]


def row_versions(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """key -> xmin: a row's xmin changes exactly when the row is rewritten."""
    return dict(conn.execute(f"SELECT key, xmin::text FROM {table}").fetchall())


@pytest.fixture
def docs(conn: psycopg.Connection) -> str:
    create_table(conn, "public.docs", [("key", "text"), ("body", "text"), ("hash", "text")], primary_key=["key"])
    conn.commit()
    return "public.docs"


def test_merge_counts_and_leaves_unchanged_rows_alone(conn: psycopg.Connection, docs: str) -> None:
    cols = ["key", "body", "hash"]
    rows = [("a", "1", "h1"), ("b", "2", "h2"), ("c", "3", "h3")]
    first = merge_rows(conn, docs, cols, rows, ["key"], hash_column="hash")
    conn.commit()
    assert first == MergeResult(inserted=3, updated=0, unchanged=0)
    before = row_versions(conn, docs)

    # b's body changes but its hash does not: with hash detection that is "unchanged".
    second = merge_rows(
        conn, docs, cols, [("a", "1", "h1"), ("b", "2x", "h2"), ("c", "3y", "h3y"), ("d", "4", "h4")],
        ["key"], hash_column="hash",
    )
    conn.commit()
    assert second == MergeResult(inserted=1, updated=1, unchanged=2)
    after = row_versions(conn, docs)
    assert after["a"] == before["a"] and after["b"] == before["b"]
    assert after["c"] != before["c"]
    assert conn.execute("SELECT body FROM docs WHERE key = 'c'").fetchone() == ("3y",)
    assert conn.execute("SELECT body FROM docs WHERE key = 'b'").fetchone() == ("2",)


def test_merge_with_a_hash_sends_no_body_of_an_unchanged_row(conn: psycopg.Connection) -> None:
    create_table(conn, "public.typed", [("key", "text"), ("amount", "integer"), ("hash", "text")], primary_key=["key"])
    merge_rows(conn, "public.typed", ["key", "amount", "hash"], [("a", 1, "h1"), ("b", 2, "h2")], ["key"],
               hash_column="hash")
    conn.commit()
    # Were the bodies of unchanged rows sent, "not a number" would fail the COPY into an integer column.
    unsent = [("a", "not a number", "h1"), ("b", "not a number", "h2"), ("c", 3, "h3")]
    result = merge_rows(conn, "public.typed", ["key", "amount", "hash"], unsent, ["key"], hash_column="hash")
    assert result == MergeResult(inserted=1, updated=0, unchanged=2)
    assert conn.execute("SELECT key, amount FROM typed ORDER BY key").fetchall() == [("a", 1), ("b", 2), ("c", 3)]


def test_merge_with_a_hash_goes_in_bounded_batches(conn: psycopg.Connection, docs: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("import_pipeline.postgres.copy.MERGE_BATCH_ROWS", 3)
    rows = [(f"k{n}", str(n), f"h{n}") for n in range(10)]
    assert merge_rows(conn, docs, ["key", "body", "hash"], rows, ["key"], hash_column="hash") == MergeResult(10, 0, 0)
    rows[4] = ("k4", "changed", "h4x")
    assert merge_rows(conn, docs, ["key", "body", "hash"], rows, ["key"], hash_column="hash") == MergeResult(0, 1, 9)
    assert conn.execute("SELECT body FROM docs WHERE key = 'k4'").fetchone() == ("changed",)


def test_rows_presumed_new_skip_the_probe_and_a_wrong_presumption_changes_nothing(
        conn: psycopg.Connection, docs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import import_pipeline.postgres.copy as copy_module

    probed: list[int] = []
    probe = copy_module.new_and_changed
    monkeypatch.setattr(copy_module, "new_and_changed", lambda conn, table, columns, rows, key, hash_column: (
        probed.append(len(rows)), probe(conn, table, columns, rows, key, hash_column))[1])
    cols = ["key", "body", "hash"]
    merge_rows(conn, docs, cols, [("old1", "x", "h1"), ("old2", "y", "h2")], ["key"], hash_column="hash")
    fresh = [(f"new{n}", str(n), f"hn{n}") for n in range(5)]
    result = merge_rows(conn, docs, cols, [("old1", "x", "h1"), *fresh], ["key"], hash_column="hash",
                        presumed_new=lambda row: row[0].startswith("new"))
    assert result == MergeResult(inserted=5, updated=0, unchanged=1) and probed == [1]
    # Wrong about every row: one is stored unchanged, one changed, one came twice in the stream.
    wrong = [("old2", "y", "h2"), ("new0", "changed", "hx"), ("brand", "b", "hb")]
    result = merge_rows(conn, docs, cols, wrong, ["key"], hash_column="hash", presumed_new=lambda row: True)
    assert result == MergeResult(inserted=1, updated=1, unchanged=1) and probed == [1, 3]
    assert conn.execute("SELECT count(*), count(DISTINCT key) FROM docs").fetchone() == (8, 8)
    assert conn.execute("SELECT body FROM docs WHERE key = 'new0'").fetchone() == ("changed",)
    with pytest.raises(ValueError, match="presumed_new"):
        merge_rows(conn, docs, cols, wrong, ["key"], hash_column="hash", presumed_new=lambda row: True,
                   delete_absent=lambda: True)


def test_merge_without_hash_compares_every_value_column(conn: psycopg.Connection, docs: str) -> None:
    merge_rows(conn, docs, ["key", "body"], [("a", "1"), ("b", None)], ["key"])
    conn.commit()
    before = row_versions(conn, docs)
    result = merge_rows(conn, docs, ["key", "body"], [("a", "1"), ("b", None), ("c", "3")], ["key"])
    conn.commit()
    assert result == MergeResult(inserted=1, updated=0, unchanged=2)
    assert {k: v for k, v in row_versions(conn, docs).items() if k != "c"} == before
    assert merge_rows(conn, docs, ["key", "body"], [("b", "now set")], ["key"]) == MergeResult(0, 1, 0)


def test_merge_rejects_a_batch_with_a_repeated_key(conn: psycopg.Connection, docs: str) -> None:
    with pytest.raises(DuplicateKeyInBatch, match="same \\(key\\)"):
        merge_rows(conn, docs, ["key", "body"], [("a", "1"), ("a", "2")], ["key"])
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM docs").fetchone() == (0,)


@pytest.fixture
def parts(conn: psycopg.Connection) -> str:
    create_table(conn, "public.parts", [("partition_key", "text"), ("n", "integer")])
    conn.execute("INSERT INTO parts SELECT 'p1', g FROM generate_series(1, 3) g")
    conn.execute("INSERT INTO parts SELECT 'p2', g FROM generate_series(1, 2) g")
    conn.commit()
    return "public.parts"


def test_replace_swaps_one_partition_only(conn: psycopg.Connection, parts: str) -> None:
    result = replace_rows(conn, parts, ["n"], [(10,), (11,)], partition={"partition_key": "p1"})
    conn.commit()
    assert (result.deleted, result.inserted) == (3, 2)
    assert conn.execute("SELECT partition_key, n FROM parts ORDER BY 1, 2").fetchall() == [
        ("p1", 10), ("p1", 11), ("p2", 1), ("p2", 2)
    ]


def test_replace_failing_midway_keeps_the_old_rows(conn: psycopg.Connection, parts: str) -> None:
    def rows_then_failure():
        yield (10,)
        yield (11,)
        raise ValueError("source broke midway")

    with pytest.raises(ValueError, match="midway"):
        replace_rows(conn, parts, ["n"], rows_then_failure(), partition={"partition_key": "p1"})
    conn.rollback()
    assert conn.execute("SELECT n FROM parts WHERE partition_key = 'p1' ORDER BY n").fetchall() == [(1,), (2,), (3,)]


def test_replace_is_invisible_to_readers_until_commit(conn: psycopg.Connection, parts: str, database_url: str) -> None:
    conn.execute("SELECT 1")  # the caller's transaction is open: replace_rows joins it
    replace_rows(conn, parts, ["n"], [(10,)], partition={"partition_key": "p1"})
    with psycopg.connect(database_url) as reader:
        assert reader.execute("SELECT count(*) FROM parts WHERE partition_key = 'p1'").fetchone() == (3,)
        conn.commit()
        reader.rollback()
        assert reader.execute("SELECT count(*) FROM parts WHERE partition_key = 'p1'").fetchone() == (1,)


def test_replace_without_partition_replaces_the_whole_table(conn: psycopg.Connection, parts: str) -> None:
    result = replace_rows(conn, parts, ["partition_key", "n"], [("p9", 9)])
    assert (result.deleted, result.inserted) == (5, 1)


@pytest.fixture
def indexed(conn: psycopg.Connection) -> str:
    create_table(conn, "public.indexed", [("id", "integer"), ("name", "text"), ("ql", "integer")], primary_key=["id"])
    conn.execute("ALTER TABLE indexed ADD CONSTRAINT indexed_name_key UNIQUE (name)")
    conn.execute("CREATE INDEX indexed_ql_idx ON indexed (ql DESC) WHERE ql > 0")
    conn.execute("CREATE INDEX indexed_name_fts ON indexed USING gin (to_tsvector('simple', name))")
    conn.commit()
    return "public.indexed"


def all_index_definitions(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'indexed' ORDER BY 1")]


def test_suspension_drops_secondary_indexes_and_restores_them_exactly(conn: psycopg.Connection, indexed: str) -> None:
    conn.autocommit = True
    before = all_index_definitions(conn)
    with suspended_indexes(conn, indexed) as dropped:
        assert dropped == ["indexed_name_fts", "indexed_ql_idx"]
        assert secondary_indexes(conn, indexed) == []
        assert len(all_index_definitions(conn)) == 2  # primary key and unique constraint stay
        conn.execute("INSERT INTO indexed SELECT g, 'n' || g, g FROM generate_series(1, 1000) g")
    assert all_index_definitions(conn) == before
    assert conn.execute("SELECT count(*) FROM import_pipeline.suspended_indexes").fetchone() == (0,)


def test_suspension_restores_indexes_after_an_exception(conn: psycopg.Connection, indexed: str) -> None:
    before = all_index_definitions(conn)
    with pytest.raises(psycopg.errors.UniqueViolation), suspended_indexes(conn, indexed), conn.transaction():
        conn.execute("INSERT INTO indexed VALUES (1, 'a', 1)")
        conn.execute("INSERT INTO indexed VALUES (1, 'b', 1)")  # violates the primary key
    conn.rollback()
    assert all_index_definitions(conn) == before
    with pytest.raises(RuntimeError, match="load failed"), suspended_indexes(conn, indexed):
        raise RuntimeError("load failed")
    assert all_index_definitions(conn) == before


def test_indexes_of_a_killed_load_are_restored_from_the_record(conn: psycopg.Connection, indexed: str) -> None:
    before = all_index_definitions(conn)
    # What a process killed inside the block leaves: indexes dropped, definitions recorded.
    context = suspended_indexes(conn, indexed)
    context.__enter__()
    assert len(all_index_definitions(conn)) == 2
    assert restore_indexes(conn) == ["public.indexed_name_fts", "public.indexed_ql_idx"]
    assert all_index_definitions(conn) == before
    context.__exit__(None, None, None)  # finishing the abandoned block now restores nothing more
    assert all_index_definitions(conn) == before


def test_interning_returns_stable_ids_in_bulk(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE stat_values (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                 " stat integer NOT NULL, value integer NOT NULL, UNIQUE (stat, value))")
    keys = [(54, 200), (76, 1), (54, 200), (0, -2147483648)]
    first = intern_rows(conn, "public.stat_values", ["stat", "value"], keys)
    assert set(first) == {(54, 200), (76, 1), (0, -2147483648)}
    second = intern_rows(conn, "public.stat_values", ["stat", "value"], [(76, 1), (999, 5), (54, 200)])
    assert second[(76, 1)] == first[(76, 1)] and second[(54, 200)] == first[(54, 200)]
    assert second[(999, 5)] not in first.values()
    assert conn.execute("SELECT count(*) FROM stat_values").fetchone() == (4,)
    assert intern_rows(conn, "public.stat_values", ["stat", "value"], []) == {}


def test_concurrent_interning_agrees_on_ids(database_url: str, conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE criteria (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                 " value1 integer NOT NULL, value2 integer NOT NULL, UNIQUE (value1, value2))")
    conn.commit()
    keys = [(i % 50, i % 7) for i in range(2000)]
    results: list[dict] = []

    def intern_in_own_connection() -> None:
        with psycopg.connect(database_url) as own:
            results.append(intern_rows(own, "public.criteria", ["value1", "value2"], keys))

    threads = [threading.Thread(target=intern_in_own_connection) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and results[0] == results[1] == results[2]
    assert conn.execute("SELECT count(*) FROM criteria").fetchone() == (len(set(keys)),)


def test_rejects_are_written_and_cleared_per_partition(conn: psycopg.Connection) -> None:
    rejects = [
        Reject(source="items.json", reason="missing AOID", line=3, offset=120, raw='{"Name": "x"}'),
        Reject(source="items.json", reason="NUL in text", offset=400, raw="a\x00b"),
    ]
    assert write_rejects(conn, rejects, asset="gamedata/items", partition_key="items", run_id="r1") == 2
    write_rejects(conn, rejects[:1], asset="gamedata/items", partition_key="nanos")
    stored = conn.execute(
        "SELECT source, line, byte_offset, reason, raw, run_id FROM import_pipeline.rejects"
        " WHERE partition_key = 'items' ORDER BY id"
    ).fetchall()
    assert stored == [
        ("items.json", 3, 120, "missing AOID", '{"Name": "x"}', "r1"),
        ("items.json", None, 400, "NUL in text", "a\\x00b", "r1"),
    ]
    assert clear_rejects(conn, "gamedata/items", "items") == 2
    assert conn.execute("SELECT partition_key FROM import_pipeline.rejects").fetchall() == [("nanos",)]


def test_reject_raw_text_is_bounded() -> None:
    assert len(Reject(source="f", reason="r", raw="x" * 50_000).raw) == Reject.MAX_RAW_CHARS + 1


def test_a_complete_merge_deletes_the_absent_rows_only_when_told_and_never_most(
        conn: psycopg.Connection, docs: str) -> None:
    cols = ["key", "body", "hash"]
    rows = [(f"k{n}", str(n), f"h{n}") for n in range(20)]
    merge_rows(conn, docs, cols, rows, ["key"], hash_column="hash")
    result = merge_rows(conn, docs, cols, rows[:18], ["key"], hash_column="hash", delete_absent=lambda: False,
                        max_delete_share=0.1)
    assert result.deleted == 0 and conn.execute("SELECT count(*) FROM docs").fetchone() == (20,)  # partial: kept
    result = merge_rows(conn, docs, cols, rows[:18], ["key"], hash_column="hash", delete_absent=lambda: True,
                        max_delete_share=0.1)
    assert result == MergeResult(inserted=0, updated=0, unchanged=18, deleted=2)
    conn.commit()
    with pytest.raises(DeletionRefused, match="would delete 3 of the 18 stored rows"):
        merge_rows(conn, docs, cols, [*rows[:15], ("new", "x", "hx")], ["key"], hash_column="hash",
                   delete_absent=lambda: True, max_delete_share=0.1)
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM docs").fetchone() == (18,)  # nothing written, "new" included

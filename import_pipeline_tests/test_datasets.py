"""The datasets family on a real PostgreSQL: readers against pandas, commits, refs, resume, sensor."""

import datetime as dt
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import dagster as dg
import openpyxl
import pandas as pd
import psycopg
import pytest

import import_pipeline.load.datasets.staging as staging
from import_pipeline.defs.datasets.assets import commits, dataset_search, staged_rows
from import_pipeline.defs.datasets.checks import commit_rows_resolve
from import_pipeline.defs.datasets.partitions import dataset_files
from import_pipeline.defs.datasets.resources import DatasetFiles
from import_pipeline.defs.datasets.sensors import datasets_landing_sensor
from import_pipeline.load.datasets.commit import EmptyImport, commit_import
from import_pipeline.load.datasets.request import FileTooLarge, ImportRequest
from import_pipeline.load.datasets.staging import stage_file
from import_pipeline.load.datasets.state import UnknownBaseRef
from import_pipeline.records import Reject
from import_pipeline.resources import PostgresResource
from import_pipeline.sources.datasets.csv_file import detect_format, read_csv
from import_pipeline.sources.datasets.excel_file import UnsupportedFile
from import_pipeline.sources.datasets.table import canonical_json, row_hash
from import_pipeline_tests.conftest import run_at_once


def imported(conn: psycopg.Connection, dataset: str, ref: str = "main") -> dict[str, list[dict]]:
    """The rows of the dataset's ref, by table, in row order."""
    rows = conn.execute(
        """SELECT cr.logical_row_id, r.data FROM datasets.datasets d
           JOIN datasets.refs f ON f.dataset_id = d.id AND f.name = %s
           JOIN datasets.commit_rows cr ON cr.commit_id = f.commit_id
           JOIN datasets.rows r ON r.row_hash = cr.row_hash WHERE d.name = %s""", (ref, dataset)).fetchall()
    tables: dict[str, list[tuple[int, dict]]] = {}
    for logical_id, data in rows:
        table, _, number = logical_id.rpartition(":")
        tables.setdefault(table, []).append((int(number), data))
    return {table: [data for _, data in sorted(entries, key=lambda e: e[0])] for table, entries in tables.items()}


def run_import(conn: psycopg.Connection, path: Path, dataset: str, **options):
    request = ImportRequest(path=path, dataset=dataset, **options)
    staged = stage_file(conn, request)
    return staged, commit_import(conn, request, sha256=staged.sha256)


def pandas_records(frame: pd.DataFrame) -> list[dict]:
    def clean(value):
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, (pd.Timestamp, dt.datetime)):
            return value.isoformat()
        if hasattr(value, "item"):
            return value.item()
        return value
    return [{k: clean(v) for k, v in record.items()} for record in frame.to_dict("records")]


TRICKY_CSVS = {
    "quotes_and_newlines.csv": ('id,text,note\n"007","He said ""hi""",x\n008,"line one\nline two",\n'
                                '009,"  spaced  ","a,b"\n', "utf-8"),
    "bom.csv": ("\ufeffname,city\nÅsa,Malmö\nJürgen,Köln\n", "utf-8-sig"),
    "latin1.csv": ("navn;by\nSøren;Århus\nJosé;Málaga\n", "latin-1"),
    "empty_columns.csv": ("a,,c,\n1,,3,\n,,,x\n", "utf-8"),
    "duplicate_headers.csv": ("a,a,b,a\n1,2,3,4\n5,6,7,8\n", "utf-8"),
    "odd_headers.csv": ('"select","from where",""" quoted ""","",\u00e9\n1,2,3,4,5\n', "utf-8"),
}


@pytest.mark.parametrize("name", sorted(TRICKY_CSVS))
def test_csv_round_trips_as_pandas_reads_it(conn: psycopg.Connection, tmp_path: Path, name: str) -> None:
    text, encoding = TRICKY_CSVS[name]
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8" if encoding == "utf-8-sig" else encoding))
    run_import(conn, path, "tricky")
    expected = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding=encoding,
                           sep=None, engine="python")
    assert imported(conn, "tricky") == {"primary": pandas_records(expected)}


def write_workbook(path: Path) -> None:
    """Two sheets with numbers, text, dates, empty cells and a formula whose cached value is 84."""
    workbook = openpyxl.Workbook()
    sales = workbook.active
    sales.title = "Sales"
    sales.append(["sku", "qty", "price", "sold_on", "note", "double"])
    sales.append(["007", 3, 9.5, dt.datetime(2026, 1, 2, 3, 4, 5), "  keep  spaces ", "=B2*2"])
    sales.append(["008", 42, 1.25, dt.datetime(2026, 2, 3), None, "=B3*2"])
    stock = workbook.create_sheet("Stock; 2026")
    stock.append(["item", "count"])
    stock.append(["bolt", 10])
    stock.append(["nut", 0])
    workbook.save(path)
    # openpyxl stores no cached values for formulas; write them as Excel would.
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    for formula, cached in (("B2*2", "6"), ("B3*2", "84")):
        # An empty <v>: "<v />" from the standard library's writer, "<v></v>" from lxml's.
        sheet, found = re.subn(rf"<f>{re.escape(formula)}</f><v\s*/>|<f>{re.escape(formula)}</f><v></v>",
                               f"<f>{formula}</f><v>{cached}</v>", sheet)
        assert found == 1
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)


def test_excel_round_trips_every_sheet_with_types(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    write_workbook(path)
    run_import(conn, path, "book")
    sheets = pd.read_excel(path, sheet_name=None, dtype=object)
    expected = {name: pandas_records(frame) for name, frame in sheets.items()}
    got = imported(conn, "book")
    assert got == expected
    assert got["Sales"][0]["sku"] == "007" and got["Sales"][0]["qty"] == 3 and got["Sales"][0]["double"] == 6
    assert got["Sales"][0]["sold_on"] == "2026-01-02T03:04:05" and got["Sales"][1]["note"] is None


def test_xls_is_refused_with_a_clear_message(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0 not really")
    with pytest.raises(UnsupportedFile, match=r"\.xls \(Excel 97-2003\) files are not supported"):
        stage_file(conn, ImportRequest(path=path, dataset="old"))


def test_row_hash_is_sha256_of_canonical_json(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("b,a\n2,é\n", encoding="utf-8")
    run_import(conn, path, "one")
    stored_hash, data = conn.execute("SELECT row_hash, data FROM datasets.rows").fetchone()
    canonical = '{"a":"é","b":"2"}'.encode()
    assert canonical_json(data) == canonical
    assert stored_hash == row_hash(canonical)


def test_commit_chain_and_refs_after_replace_append_replace(conn: psycopg.Connection, tmp_path: Path) -> None:
    first, second, third = tmp_path / "v1.csv", tmp_path / "v2.csv", tmp_path / "v3.csv"
    first.write_text("k,v\n1,a\n2,b\n")
    second.write_text("k,v\n3,c\n1,a\n")
    third.write_text("k,v\n9,z\n")
    _, c1 = run_import(conn, first, "chain")
    staged, c2 = run_import(conn, second, "chain", mode="append", message="more rows", author="ann")
    _, c3 = run_import(conn, third, "chain")
    assert (c1.parent_commit_id, c2.parent_commit_id, c3.parent_commit_id) == (None, c1.commit_id, c2.commit_id)
    assert (c1.row_count, c2.row_count, c3.row_count) == (2, 4, 1)
    assert staged.new_unique_rows == 1 and staged.duplicates == 1  # "1,a" is stored once
    assert imported(conn, "chain") == {"primary": [{"k": "9", "v": "z"}]}
    appended = conn.execute(
        "SELECT logical_row_id, data FROM datasets.commit_rows JOIN datasets.rows USING (row_hash)"
        " WHERE commit_id = %s ORDER BY logical_row_id", (c2.commit_id,)).fetchall()
    assert [(i, d["k"]) for i, d in appended] == [
        ("primary:1", "1"), ("primary:2", "2"), ("primary:3", "3"), ("primary:4", "1")]
    ref = conn.execute("SELECT r.commit_id FROM datasets.refs r JOIN datasets.datasets d ON d.id = r.dataset_id"
                       " WHERE d.name = 'chain' AND r.name = 'main'").fetchone()[0]
    assert ref.hex == c3.commit_id
    assert conn.execute("SELECT message, author FROM datasets.commits WHERE commit_id = %s",
                        (c2.commit_id,)).fetchone() == ("more rows", "ann")
    assert conn.execute("SELECT count(*) FROM datasets.rows").fetchone()[0] == 4
    # A branch moves independently of main.
    _, branch = run_import(conn, first, "chain", ref="experiment")
    assert imported(conn, "chain", "experiment") == {"primary": [{"k": "1", "v": "a"}, {"k": "2", "v": "b"}]}
    assert imported(conn, "chain") == {"primary": [{"k": "9", "v": "z"}]}


def test_redropping_an_identical_file_creates_no_commit(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "same.csv"
    path.write_text("a\n1\n2\n")
    _, first = run_import(conn, path, "same")
    os.utime(path, (time.time() + 60, time.time() + 60))
    staged, again = run_import(conn, path, "same")
    assert staged.skipped and not again.created and again.commit_id == first.commit_id
    assert conn.execute("SELECT count(*) FROM datasets.commits").fetchone()[0] == 1


def test_rejects_are_recorded_with_line_and_the_rest_imports(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,b\n1,2\n3\n4,\xff\xfe\n5,6\n7,8,9\n")
    staged, commit = run_import(conn, path, "bad", encoding="utf-8")
    assert (staged.rows, staged.rejects, commit.row_count, commit.reject_count) == (2, 3, 2, 3)
    stored = conn.execute("SELECT line, reason FROM import_pipeline.rejects WHERE asset = 'datasets/staged_rows'"
                          " ORDER BY line").fetchall()
    assert [line for line, _ in stored] == [3, 4, 6]
    assert "expected 2 fields, got 1" in stored[0][1] and "not utf-8" in stored[1][1]


def test_file_over_the_maximum_size_is_refused_before_anything_is_written(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    path.write_text("a\n" + "1\n" * 1000)
    with pytest.raises(FileTooLarge, match="more than the maximum of 100"):
        stage_file(conn, ImportRequest(path=path, dataset="big", max_bytes=100))
    assert conn.execute("SELECT count(*) FROM datasets.imports").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM datasets.datasets").fetchone()[0] == 0


KILLED_STAGING = """
import sys
from pathlib import Path
import psycopg
from import_pipeline.load.datasets.request import ImportRequest
from import_pipeline.load.datasets.staging import stage_file
if __name__ == "__main__":
    with psycopg.connect(sys.argv[1]) as conn:
        stage_file(conn, ImportRequest(path=Path(sys.argv[2]), dataset="resumed"), batch_rows=2000)
"""


def test_staging_killed_midway_resumes_without_duplicates(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    with path.open("w") as out:
        out.write("id,name,amount\n")
        for n in range(200_000):
            out.write(f"{n},name {n % 1000},{n * 3}\n")
    script = tmp_path / "stage.py"
    script.write_text(KILLED_STAGING)
    child = subprocess.Popen([sys.executable, str(script), database_url, str(path)])
    with psycopg.connect(database_url, autocommit=True) as watcher:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = watcher.execute("SELECT staged_batches FROM datasets.imports").fetchone()
            if state and state[0] >= 3:
                break
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        staged_before = watcher.execute("SELECT staged_rows, staged_at FROM datasets.imports").fetchone()
    assert 0 < staged_before[0] < 200_000 and staged_before[1] is None  # killed midway

    with psycopg.connect(database_url) as conn:
        request = ImportRequest(path=path, dataset="resumed")
        staged = stage_file(conn, request, batch_rows=2000)
        assert staged.resumed_from_rows >= staged_before[0] and staged.rows == 200_000
        # Every row is unique: the resumed rows are not counted again; only the contents the
        # killed run stored ahead of its last checkpoint (at most two batches) were found stored.
        assert staged.duplicates <= 2 * 2000 < staged.resumed_from_rows
        commit = commit_import(conn, request)
        assert commit.row_count == 200_000
        assert conn.execute("SELECT count(*), count(DISTINCT logical_row_id) FROM datasets.commit_rows").fetchone() == (
            200_000, 200_000)
        assert conn.execute("SELECT count(*) FROM datasets.commits").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM datasets.imports").fetchone()[0] == 0


def test_append_staged_before_the_ref_moved_is_renumbered_at_commit(conn: psycopg.Connection, tmp_path: Path) -> None:
    base, late, early = tmp_path / "base.csv", tmp_path / "late.csv", tmp_path / "early.csv"
    base.write_text("n\nb1\nb2\n")
    late.write_text("n\nl1\n")
    early.write_text("n\ne1\ne2\ne3\n")
    run_import(conn, base, "moving")
    request = ImportRequest(path=late, dataset="moving", mode="append")
    staged = stage_file(conn, request)          # staged on base: its row is primary:3
    run_import(conn, early, "moving", mode="append")  # meanwhile the ref moves (5 rows)
    commit = commit_import(conn, request, sha256=staged.sha256)
    assert commit.row_count == 6
    rows = conn.execute("SELECT logical_row_id, data->>'n' FROM datasets.commit_rows JOIN datasets.rows"
                        " USING (row_hash) WHERE commit_id = %s", (commit.commit_id,)).fetchall()
    assert sorted(rows, key=lambda r: int(r[0].split(":")[1])) == [
        ("primary:1", "b1"), ("primary:2", "b2"), ("primary:3", "e1"), ("primary:4", "e2"), ("primary:5", "e3"),
        ("primary:6", "l1")]


def test_concurrent_imports_into_one_dataset_serialize_on_the_ref(database_url: str, tmp_path: Path) -> None:
    files = []
    for n in range(4):
        path = tmp_path / f"part{n}.csv"
        path.write_text("n\n" + "".join(f"{n}-{i}\n" for i in range(500)))
        files.append(path)
    def append(path: Path) -> None:
        with psycopg.connect(database_url) as conn:
            run_import(conn, path, "shared", mode="append")

    assert run_at_once(append, files) == []
    with psycopg.connect(database_url) as conn:
        chain = conn.execute("SELECT commit_id, parent_commit_id, row_count FROM datasets.commits").fetchall()
        assert sorted(count for _, _, count in chain) == [500, 1000, 1500, 2000]
        assert len({parent for _, parent, _ in chain}) == 4  # a line, no two commits share a parent
        assert len(imported(conn, "shared")["primary"]) == 2000


def resources(database_url: str, landing: Path) -> dict:
    return {"postgres": PostgresResource(url=database_url),
            "dataset_files_folder": DatasetFiles(landing_dir=str(landing))}


def test_assets_import_a_landed_file_with_its_sidecar(database_url: str, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "q1.csv").write_text("region,total\nnorth,10\nsouth,\n")
    (landing / "q1.csv.json").write_text(json.dumps({"dataset": "sales", "description": "Quarterly sales",
                                                     "message": "Q1", "author": "ops"}))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(dataset_files.name, ["q1.csv"])
    result = dg.materialize([staged_rows, commits, commit_rows_resolve], partition_key="q1.csv",
                            instance=instance, resources=resources(database_url, landing))
    assert result.success
    assert dg.materialize([dataset_search], instance=instance, resources=resources(database_url, landing)).success
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True]
    metadata = {e.event_specific_data.materialization.asset_key.to_user_string():
                e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()}
    assert metadata["datasets/staged_rows"]["rows"].value == 2
    assert metadata["datasets/commits"]["dagster/row_count"].value == 2
    with psycopg.connect(database_url) as conn:
        found = conn.execute("SELECT name, row_count FROM datasets.dataset_search"
                             " WHERE search @@ to_tsquery('simple', 'quarterly')").fetchall()
        assert found == [("sales", 2)]


def test_an_oversize_file_fails_the_run_with_one_line(database_url: str, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "huge.csv").write_text("a\n" + "1\n" * 100)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(dataset_files.name, ["huge.csv"])
    res = {"postgres": PostgresResource(url=database_url),
           "dataset_files_folder": DatasetFiles(landing_dir=str(landing), max_bytes=50)}
    result = dg.materialize([staged_rows, commits], partition_key="huge.csv", instance=instance,
                            resources=res, raise_on_error=False)
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert "more than the maximum of 50" in error.message


def test_sensor_adds_partitions_and_requests_runs_for_new_stable_files_only(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    instance = dg.DagsterInstance.ephemeral()
    folder = DatasetFiles(landing_dir=str(landing))

    def tick(cursor):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"dataset_files_folder": folder})
        result = datasets_landing_sensor(context)
        for request in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return result

    (landing / "a.csv").write_text("x\n1\n")
    (landing / "a.csv.json").write_text("{}")
    (landing / ".partial.csv").write_text("x\n")
    first = tick(None)
    assert first.run_requests == []
    second = tick(first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["a.csv"]
    assert instance.get_dynamic_partitions(dataset_files.name) == ["a.csv"]
    (landing / "b.xlsx").write_bytes(b"")
    third = tick(second.cursor)
    assert third.run_requests == []  # b.xlsx seen once; a.csv already requested
    fourth = tick(third.cursor)
    assert [r.partition_key for r in fourth.run_requests] == ["b.xlsx"]
    assert tick(fourth.cursor).run_requests == []


def test_the_search_asset_refreshes_the_view_and_rebuilds_abandoned_indexes(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("a\n1\n")
    with psycopg.connect(database_url) as conn:
        run_import(conn, path, "maintained")
        assert conn.execute("SELECT count(*) FROM datasets.dataset_search").fetchone()[0] == 0
        # What a bulk import killed between dropping and rebuilding its index leaves behind.
        conn.execute("INSERT INTO import_pipeline.suspended_indexes (index_name, table_name, definition)"
                     " SELECT 'datasets.commit_rows_row_hash_idx', 'datasets.commit_rows', indexdef FROM pg_indexes"
                     " WHERE indexname = 'commit_rows_row_hash_idx'")
        conn.execute("DROP INDEX datasets.commit_rows_row_hash_idx")
        conn.commit()
    result = dg.materialize([dataset_search], resources={"postgres": PostgresResource(url=database_url)})
    assert result.success
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT name FROM datasets.dataset_search").fetchall() == [("maintained",)]
        assert conn.execute("SELECT to_regclass('datasets.commit_rows_row_hash_idx')").fetchone()[0] is not None
        assert conn.execute("SELECT count(*) FROM import_pipeline.suspended_indexes").fetchone()[0] == 0


@pytest.mark.parametrize("block_bytes", [1, 2, 3, 5, 7, 64, 1 << 20])
def test_csv_reads_the_same_whatever_the_block_size(tmp_path: Path, block_bytes: int) -> None:
    # CRLF and CR line ends, a quoted CRLF, multi-byte characters and a bad byte far from
    # the start: block edges fall inside each of them for some block size.
    path = tmp_path / "edges.csv"
    path.write_bytes("id,text\r\n1,Malmö\r\n2,\"two\r\nlines\"\r\n3,naïve €\r4,ok\r\n".encode()
                     + b"5,\xff\r\n6,last")
    fmt = detect_format(path, encoding="utf-8", has_header=True)
    records = list(read_csv(path, fmt, block_bytes=block_bytes))
    rows = [r for r in records if isinstance(r, dict)]
    rejects = [r for r in records if isinstance(r, Reject)]
    assert rows == [{"id": "1", "text": "Malmö"}, {"id": "2", "text": "two\r\nlines"}, {"id": "3", "text": "naïve €"},
                    {"id": "4", "text": "ok"}, {"id": "6", "text": "last"}]
    assert [(r.line, r.reason) for r in rejects] == [(7, "bytes that are not utf-8")]


def test_a_large_import_builds_the_row_hash_index_after_staging(
    conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "BULK_MIN_ROWS", 100)
    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    big.write_text("n,sq\n" + "".join(f"{n},{n * n}\n" for n in range(1, 1001)))
    small.write_text("n,sq\n" + "".join(f"{n},{n * n}\n" for n in range(1, 151)))
    staged, _ = run_import(conn, big, "squares")
    assert staged.index_rebuild_seconds is not None
    assert conn.execute("SELECT to_regclass('datasets.commit_rows_row_hash_idx')").fetchone()[0] is not None
    assert conn.execute("SELECT count(*) FROM import_pipeline.suspended_indexes").fetchone()[0] == 0
    assert len(imported(conn, "squares")["primary"]) == 1000
    conn.execute("ANALYZE datasets.commit_rows")
    staged, _ = run_import(conn, small, "squares")  # 150 rows next to 1,000: maintained row by row
    assert staged.index_rebuild_seconds is None
    conn.execute("SET enable_seqscan = off")
    found = conn.execute("SELECT count(*) FROM datasets.commit_rows cr"
                         " JOIN datasets.rows r USING (row_hash) WHERE r.data ->> 'n' = '7'").fetchone()[0]
    assert found == 2  # row "7,49" in both commits


def test_a_file_parsed_in_a_child_process_imports_what_parsing_in_process_imports(
    conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mixed.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write('id,text,"amount ""eur"""\n')
        for n in range(20_000):
            out.write(f'{n:06d},"say ""{n % 97}""\nagain",{n * 1.5}\n' if n % 3 else f"{n},plain {n % 11},\n")
            if n == 7_777:
                out.write("only,two\n")

    def imported(dataset: str) -> tuple:
        request = ImportRequest(path=path, dataset=dataset)
        staged = stage_file(conn, request, batch_rows=1_000)  # many batches: shared memory is reused
        commit = commit_import(conn, request, sha256=staged.sha256)
        rows = conn.execute("SELECT logical_row_id, data FROM datasets.commit_rows JOIN datasets.rows USING (row_hash)"
                            " WHERE commit_id = %s ORDER BY logical_row_id", (commit.commit_id,)).fetchall()
        return staged.rows, staged.rejects, commit.reject_count, rows

    in_process = imported("in process")
    monkeypatch.setattr(staging, "CHILD_PROCESS_MIN_BYTES", 0)
    in_child = imported("in a child process")
    assert in_child == in_process
    assert in_child[:3] == (20_000, 1, 1)


def test_a_rejected_line_with_undecodable_bytes_is_stored_not_fatal(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes("name,city\nSøren,Århus\n".encode() + b"bad\xff\xfe,line,extra\n" + "Åse,Oslo\n".encode())
    staged, commit = run_import(conn, path, "mixed")
    assert (staged.rows, staged.rejects) == (2, 1)
    assert imported(conn, "mixed")["primary"] == [{"city": "Århus", "name": "Søren"}, {"city": "Oslo", "name": "Åse"}]
    line, reason, raw = conn.execute("SELECT line, reason, raw FROM import_pipeline.rejects").fetchone()
    assert line == 3 and "expected 2 fields" in reason and raw == "bad\\xff\\xfe,line,extra"


def test_a_nul_in_a_header_name_is_shown_not_fatal(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "nulhead.csv"
    path.write_bytes(b"a,b\x00c\n1,2\n")
    staged, _ = run_import(conn, path, "nulhead")
    assert staged.rows == 1
    assert imported(conn, "nulhead")["primary"] == [{"a": "1", "b\\x00c": "2"}]


@pytest.mark.parametrize("encoding, bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
                                           ("utf-16-le", b""), ("utf-8", b"\xef\xbb\xbf")])
def test_utf16_and_byte_order_marks_are_honoured(conn: psycopg.Connection, tmp_path: Path, encoding: str,
                                                 bom: bytes) -> None:
    path = tmp_path / "wide.csv"
    path.write_bytes(bom + "name,city\r\nSøren,Århus\r\nÅse,Oslo\r\n".encode(encoding))
    staged, _ = run_import(conn, path, "wide")
    assert (staged.rows, staged.rejects) == (2, 0)
    assert imported(conn, "wide")["primary"] == [{"city": "Århus", "name": "Søren"}, {"city": "Oslo", "name": "Åse"}]


def test_a_legacy_file_is_still_read_as_legacy(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    path.write_bytes("name,city\nSøren,Århus\nÅse,Oslo\n".encode("cp1252"))
    staged, _ = run_import(conn, path, "legacy")
    assert imported(conn, "legacy")["primary"] == [{"city": "Århus", "name": "Søren"}, {"city": "Oslo", "name": "Åse"}]


def test_an_import_with_rejects_warns_with_the_first_reasons(database_url: str, tmp_path: Path) -> None:
    import logging

    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "ragged.csv").write_text("a,b\n1,2\n3\n4,5,6\n7,8\n")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(dataset_files.name, ["ragged.csv"])
    result = dg.materialize([staged_rows], partition_key="ragged.csv", instance=instance,
                            resources=resources(database_url, landing))
    assert result.success
    warnings = [e.message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    assert len(warnings) == 1
    assert "ragged.csv: 2 records rejected" in warnings[0]
    assert "line 3: expected 2 fields, got 1" in warnings[0] and "line 4: expected 2 fields, got 3" in warnings[0]


@pytest.mark.parametrize("content", ["", "a,b\n", "a,b\n\n\n"])
def test_an_empty_file_does_not_empty_the_dataset_unless_allowed(conn: psycopg.Connection, tmp_path: Path,
                                                                  content: str) -> None:
    full = tmp_path / "full.csv"
    full.write_text("a,b\n1,2\n")
    run_import(conn, full, "kept")
    empty = tmp_path / "empty.csv"
    empty.write_text(content)
    with pytest.raises(EmptyImport, match="empty.csv holds no rows"):
        run_import(conn, empty, "kept")
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM datasets.imports").fetchone()[0] == 0  # nothing half done left
    assert imported(conn, "kept")["primary"] == [{"a": "1", "b": "2"}]
    _, commit = run_import(conn, empty, "kept", allow_empty=True)
    assert commit.created and commit.row_count == 0


def test_a_sheet_starting_at_c3_with_a_date_only_cell(conn: psycopg.Connection, tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Offset"
    sheet["C3"], sheet["D3"], sheet["E3"] = "day", "at", "n"
    sheet["C4"], sheet["D4"], sheet["E4"] = dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, 0, 0), 1
    sheet["C5"], sheet["D5"], sheet["E5"] = dt.date(2024, 3, 2), dt.datetime(2024, 3, 2, 13, 30), 2
    sheet["A6"], sheet["C6"] = "stray", dt.date(2024, 3, 3)
    path = tmp_path / "offset.xlsx"
    workbook.save(path)
    staged, _ = run_import(conn, path, "offset")
    assert imported(conn, "offset")["Offset"] == [
        {"day": "2024-03-01", "at": "2024-03-01T00:00:00", "n": 1},
        {"day": "2024-03-02", "at": "2024-03-02T13:30:00", "n": 2},
    ]
    assert staged.rejects == 1  # the row with a value left of the table


@pytest.mark.parametrize("content, expected", [
    ("country,2019,2020\nDenmark,58,59\nSweden,60,61\n",
     [{"country": "Denmark", "2019": "58", "2020": "59"}, {"country": "Sweden", "2019": "60", "2020": "61"}]),
    ("a,b,\n1,2,3\n4,5\n", [{"a": "1", "b": "2", "Unnamed: 2": "3"}, {"a": "4", "b": "5", "Unnamed: 2": None}]),
    ("1,2\n3,4\n5,6\n", [{"column_1": "1", "column_2": "2"}, {"column_1": "3", "column_2": "4"},
                         {"column_1": "5", "column_2": "6"}]),
])
def test_headers_are_read_as_pandas_reads_them(conn: psycopg.Connection, tmp_path: Path, content: str,
                                               expected: list[dict]) -> None:
    path = tmp_path / "headers.csv"
    path.write_text(content)
    staged, _ = run_import(conn, path, "headers")
    assert staged.rejects == 0
    assert imported(conn, "headers")["primary"] == expected


def test_a_new_ref_branches_from_main_or_the_base_ref_named(conn: psycopg.Connection, tmp_path: Path) -> None:
    first, second, third = tmp_path / "first.csv", tmp_path / "second.csv", tmp_path / "third.csv"
    first.write_text("n\n1\n2\n")
    second.write_text("n\n3\n")
    third.write_text("n\n4\n")
    _, main = run_import(conn, first, "branched")
    _, feature = run_import(conn, second, "branched", ref="feature", mode="append")
    assert feature.parent_commit_id == main.commit_id  # not a root commit
    assert imported(conn, "branched", "feature")["primary"] == [{"n": "1"}, {"n": "2"}, {"n": "3"}]
    _, topic = run_import(conn, third, "branched", ref="topic", base_ref="feature", mode="append")
    assert topic.parent_commit_id == feature.commit_id
    assert imported(conn, "branched", "topic")["primary"] == [{"n": "1"}, {"n": "2"}, {"n": "3"}, {"n": "4"}]
    assert imported(conn, "branched")["primary"] == [{"n": "1"}, {"n": "2"}]  # main did not move
    with pytest.raises(UnknownBaseRef, match="base_ref 'nope' does not exist"):
        run_import(conn, third, "branched", ref="other", base_ref="nope")


def test_a_file_that_fails_leaves_no_import_behind(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(UnsupportedFile):
        stage_file(conn, ImportRequest(path=path, dataset="broken"))
    assert conn.execute("SELECT count(*) FROM datasets.imports").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM datasets.commit_rows").fetchone()[0] == 0

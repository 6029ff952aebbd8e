"""`import-pipeline bench datasets`: a CSV imported end to end, next to two raw COPYs.

In one process, against a scratch database (`import_pipeline_bench`, created for the run
and dropped after it), on a generated CSV of N rows x C columns (text and numbers):

1. the import: staging (parse, canonical JSON, SHA-256, COPY, content-addressed insert)
   plus the commit (commit_rows, ref move);
2. raw COPY of the CSV file into a plain typed table: the speed of reading the file;
3. raw COPY of the final rows (row_hash uuid, data jsonb), exported in binary, into a
   table laid out and indexed like `datasets.rows`: the speed of this data model;
4. the straightforward loop the issue compares against: csv -> canonical JSON ->
   hex SHA-256 -> COPY into a jsonb table with a text primary key.

Peak memory is reported for this process and for the parsing child process.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from import_pipeline.bench.report import child_peak_rss_mb, peak_rss_mb, scratch_database
from import_pipeline.load.datasets import ImportRequest, commit_import, stage_file

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def write_csv(path: Path, rows: int, cols: int, seed: int = 1) -> int:
    """Write a CSV of `rows` x `cols` (even columns text, odd columns numbers); return its size."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(f"col_{c}" for c in range(cols)) + "\n")
        for n in range(rows):
            cells = []
            for c in range(cols):
                if c % 2 == 0:
                    cells.append(f"{rng.choice(WORDS)} {n % 9973} {rng.choice(WORDS)}")
                else:
                    cells.append(f"{rng.random() * 10000:.2f}" if c % 4 == 1 else str(rng.randint(0, 10**9)))
            out.write(",".join(cells) + "\n")
    return path.stat().st_size


def naive_loop(conn: psycopg.Connection, path: Path) -> int:
    """The straightforward import: one pass, hashing in Python, one text-keyed COPY."""
    import csv
    import hashlib
    import json

    conn.execute("CREATE TABLE bench_naive (row_hash text PRIMARY KEY, data jsonb NOT NULL)")
    count = 0
    with path.open(encoding="utf-8", newline="") as source, conn.cursor().copy(
        "COPY bench_naive (row_hash, data) FROM STDIN"
    ) as copy:
        for record in csv.DictReader(source):
            canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            copy.write_row((hashlib.sha256(canonical.encode()).hexdigest(), canonical))
            count += 1
    return count


def _copy_file(conn: psycopg.Connection, statement: sql.Composable, path: Path) -> None:
    with path.open("rb") as source, conn.cursor().copy(statement) as copy:
        while chunk := source.read(1 << 20):
            copy.write(chunk)


def run(server_url: str, rows: int, cols: int) -> None:
    """Generate the CSV, run the import and both baselines, print the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as scratch_dir:
        scratch = Path(scratch_dir)
        csv_path = scratch / "bench.csv"
        print(f"generating {rows:,} x {cols} CSV ...")
        size = write_csv(csv_path, rows, cols)
        print(f"  {size / 1e6:,.1f} MB")
        with scratch_database(server_url) as url:
            with psycopg.connect(url) as conn:
                request = ImportRequest(path=csv_path, dataset="bench")
                started = time.perf_counter()
                staged = stage_file(conn, request)
                staged_at = time.perf_counter()
                commit = commit_import(conn, request, sha256=staged.sha256)
                seconds = time.perf_counter() - started
            child_rss = child_peak_rss_mb()
            rebuild = ("" if staged.index_rebuild_seconds is None
                       else f" of which row_hash index rebuild {staged.index_rebuild_seconds:.2f} s")
            print(f"\nimport: {commit.row_count:,} rows ({staged.new_unique_rows:,} new unique) in {seconds:.2f} s "
                  f"= {rows / seconds:,.0f} rows/s, {size / 1e6 / seconds:,.1f} MB/s "
                  f"(stage {staged_at - started:.2f} s{rebuild}, commit {seconds - (staged_at - started):.2f} s)")

            with psycopg.connect(url, autocommit=True) as conn:
                columns = sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(f"col_{c}"), sql.SQL("text" if c % 2 == 0 else "numeric"))
                    for c in range(cols))
                conn.execute(sql.SQL("CREATE TABLE bench_typed ({})").format(columns))
                started = time.perf_counter()
                _copy_file(conn, sql.SQL("COPY bench_typed FROM STDIN (FORMAT csv, HEADER true)"), csv_path)
                raw_csv = time.perf_counter() - started

                final = scratch / "rows.copy"
                with final.open("wb") as out, conn.cursor().copy(
                    "COPY datasets.rows (row_hash, data) TO STDOUT (FORMAT BINARY)"
                ) as copy:
                    for chunk in copy:
                        out.write(chunk)
                conn.execute("CREATE TABLE bench_rows (row_hash uuid PRIMARY KEY, data jsonb NOT NULL)")
                started = time.perf_counter()
                _copy_file(conn, sql.SQL("COPY bench_rows (row_hash, data) FROM STDIN (FORMAT BINARY)"), final)
                raw_rows = time.perf_counter() - started

                started = time.perf_counter()
                naive_loop(conn, csv_path)
                naive = time.perf_counter() - started
    import_rate = rows / seconds
    print(f"raw COPY of the CSV into a typed table:       {rows / raw_csv:>11,.0f} rows/s ({raw_csv:.2f} s)")
    print(f"raw COPY of the final rows (uuid pk, jsonb):  {rows / raw_rows:>11,.0f} rows/s ({raw_rows:.2f} s)")
    print(f"straightforward Python loop (text key):       {rows / naive:>11,.0f} rows/s ({naive:.2f} s)")
    print(f"import vs raw final rows: {import_rate / (rows / raw_rows):.2f}x, vs the straightforward loop: "
          f"{import_rate / (rows / naive):.2f}x")
    print(f"peak RSS: this process {peak_rss_mb():,.0f} MiB, parsing child {child_rss:,.0f} MiB")

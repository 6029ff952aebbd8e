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

With `--repeat N` all four run N rounds, interleaved, each round on a fresh scratch
database; each measurement's fastest round gives the figures (this machine's speed drifts
by tens of percent within minutes). Peak memory is reported for this process and for the
parsing child process.
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from import_pipeline.bench.report import child_peak_rss_mb, peak_rss_mb, scratch_database
from import_pipeline.load.datasets.commit import commit_import
from import_pipeline.load.datasets.request import ImportRequest
from import_pipeline.load.datasets.staging import stage_file

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]


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


def _copy_file(conn: psycopg.Connection, statement: sql.SQL | sql.Composed, path: Path) -> None:
    with path.open("rb") as source, conn.cursor().copy(statement) as copy:
        while chunk := source.read(1 << 20):
            copy.write(chunk)


@dataclass
class Round:
    """One round's seconds per measurement, and what the import reported."""

    seconds: dict[str, float]
    index_rebuild: float | None
    new_unique: int


IMPORT, RAW_CSV, RAW_ROWS, LOOP = ("import", "raw COPY of the CSV", "raw COPY of the final rows",
                                   "straightforward loop")


def _round(server_url: str, csv_path: Path, cols: int, final: Path) -> Round:
    """The import and the three baselines, each on fresh tables of a fresh scratch database.
    The first round also exports the import's final rows to `final` for the raw COPY."""
    seconds: dict[str, float] = {}
    with scratch_database(server_url) as url:
        with psycopg.connect(url) as conn:
            request = ImportRequest(path=csv_path, dataset="bench")
            started = time.perf_counter()
            staged = stage_file(conn, request)
            commit_import(conn, request, sha256=staged.sha256)
            seconds[IMPORT] = time.perf_counter() - started
        with psycopg.connect(url, autocommit=True) as conn:
            if not final.exists():
                with final.open("wb") as out, conn.cursor().copy(
                    "COPY datasets.rows (row_hash, data) TO STDOUT (FORMAT BINARY)"
                ) as copy:
                    for chunk in copy:
                        out.write(chunk)
            columns = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(f"col_{c}"), sql.SQL("text" if c % 2 == 0 else "numeric"))
                for c in range(cols))
            conn.execute(sql.SQL("CREATE TABLE bench_typed ({})").format(columns))
            started = time.perf_counter()
            _copy_file(conn, sql.SQL("COPY bench_typed FROM STDIN (FORMAT csv, HEADER true)"), csv_path)
            seconds[RAW_CSV] = time.perf_counter() - started

            conn.execute("CREATE TABLE bench_rows (row_hash uuid PRIMARY KEY, data jsonb NOT NULL)")
            started = time.perf_counter()
            _copy_file(conn, sql.SQL("COPY bench_rows (row_hash, data) FROM STDIN (FORMAT BINARY)"), final)
            seconds[RAW_ROWS] = time.perf_counter() - started

            started = time.perf_counter()
            naive_loop(conn, csv_path)
            seconds[LOOP] = time.perf_counter() - started
    return Round(seconds, staged.index_rebuild_seconds, staged.new_unique_rows)


def run(server_url: str, rows: int, cols: int, repeat: int = 1) -> None:
    """Generate the CSV; run the import and the baselines `repeat` rounds (each round on a
    fresh scratch database, the measurements interleaved); print each round and, from
    every measurement's fastest round, the rates and ratios."""
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as scratch_dir:
        scratch = Path(scratch_dir)
        csv_path = scratch / "bench.csv"
        print(f"generating {rows:,} x {cols} CSV ...")
        size = write_csv(csv_path, rows, cols)
        print(f"  {size / 1e6:,.1f} MB")
        rounds = []
        for number in range(1, repeat + 1):
            done = _round(server_url, csv_path, cols, scratch / "rows.copy")
            rounds.append(done)
            rebuild = "" if done.index_rebuild is None else f" (row_hash index rebuild {done.index_rebuild:.2f} s)"
            print(f"round {number}: " + ", ".join(f"{label} {s:.2f} s" for label, s in done.seconds.items()) + rebuild)
    best = {label: min(r.seconds[label] for r in rounds) for label in rounds[0].seconds}
    rate = {label: rows / seconds for label, seconds in best.items()}
    print(f"\nimport: {rows:,} rows ({rounds[0].new_unique:,} new unique) in {best[IMPORT]:.2f} s = "
          f"{rate[IMPORT]:,.0f} rows/s, {size / 1e6 / best[IMPORT]:,.1f} MB/s"
          + (f" (fastest of {repeat})" if repeat > 1 else ""))
    print(f"raw COPY of the CSV into a typed table:       {rate[RAW_CSV]:>11,.0f} rows/s ({best[RAW_CSV]:.2f} s)")
    print(f"raw COPY of the final rows (uuid pk, jsonb):  {rate[RAW_ROWS]:>11,.0f} rows/s ({best[RAW_ROWS]:.2f} s)")
    print(f"straightforward Python loop (text key):       {rate[LOOP]:>11,.0f} rows/s ({best[LOOP]:.2f} s)")
    print(f"import vs raw final rows: {rate[IMPORT] / rate[RAW_ROWS]:.2f}x, vs the straightforward loop: "
          f"{rate[IMPORT] / rate[LOOP]:.2f}x")
    print(f"peak RSS: this process {peak_rss_mb():,.0f} MiB, parsing child {child_peak_rss_mb():,.0f} MiB")

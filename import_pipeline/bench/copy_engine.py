"""`import-pipeline bench copy`: the engine's copy_rows and merge next to a raw COPY.

All runs load the same N narrow rows (three bigint columns) into fresh tables of one
definition, in this process, fastest of `repeat` interleaved rounds each:

- raw COPY: the rows pre-rendered as COPY text in a file, streamed as `psql \\copy` would;
- copy_rows: Python tuples through the engine's binary COPY;
- merge (all new): merge_rows into an empty table keyed on the first column;
- merge (unchanged): the same rows merged again, so every row is compared and none written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import psycopg

from import_pipeline.bench.report import Timing, best_of_interleaved, peak_rss_mb, print_table
from import_pipeline.postgres.copy import copy_rows, copy_text, merge_rows
from import_pipeline.postgres.tables import create_schema, create_table, drop_schema

SCHEMA = "bench_copy"
COLUMNS = ("id", "a", "b")
TYPES = ("bigint", "bigint", "bigint")
CHUNK_BYTES = 1 << 20


def narrow_rows(n: int) -> Iterator[tuple[int, int, int]]:
    return ((i, i * 2, i * 3) for i in range(n))


def write_copy_text(n: int, path: str) -> None:
    with open(path, "w", encoding="ascii") as out:
        for i, a, b in narrow_rows(n):
            out.write(f"{i}\t{a}\t{b}\n")


def read_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            yield chunk


def run(url: str, rows: int, repeat: int = 2) -> list[Timing]:
    """Run the copy benchmark against `url`, print the table and return the timings."""
    table = f"{SCHEMA}.narrow"
    keyed = f"{SCHEMA}.narrow_keyed"
    columns = list(zip(COLUMNS, TYPES, strict=False))
    with psycopg.connect(url, autocommit=True) as conn, tempfile.TemporaryDirectory() as scratch:
        create_schema(conn, SCHEMA, replace=True)
        text_path = os.path.join(scratch, "narrow.copy")
        write_copy_text(rows, text_path)

        def raw() -> int:
            create_table(conn, table, columns)
            copy_text(conn, table, COLUMNS, read_chunks(text_path))
            return rows

        def engine() -> int:
            create_table(conn, table, columns)
            return copy_rows(conn, table, COLUMNS, narrow_rows(rows), TYPES)

        def merge_new() -> int:
            create_table(conn, keyed, columns, primary_key=["id"])
            return merge_rows(conn, keyed, COLUMNS, narrow_rows(rows), ["id"], types=TYPES).inserted

        def merge_unchanged() -> int:
            result = merge_rows(conn, keyed, COLUMNS, narrow_rows(rows), ["id"], types=TYPES)
            assert result.unchanged == rows, result
            return rows

        try:
            timings = best_of_interleaved(
                repeat,
                [
                    ("raw COPY (text file)", raw),
                    ("engine copy_rows (binary)", engine),
                    ("engine merge, all rows new", merge_new),
                    ("engine merge, all rows unchanged", merge_unchanged),
                ],
            )
        finally:
            drop_schema(conn, SCHEMA)
    print(f"bench copy: {rows:,} rows of 3 bigint columns, best of {repeat}")
    print_table(timings, timings[0])
    print(f"peak RSS: {peak_rss_mb():.0f} MiB")
    return timings

"""A tabular file as batches of content-addressed rows, ready to stage (no database here).

`hashed_batches` picks the reader by suffix (`.xlsx`/`.xlsm` workbooks, `.xls` refused,
anything else CSV), skips the records an earlier run already staged, and hashes each
row's canonical JSON. A batch keeps each row's hash in file order, each distinct content
once, and the row numbers as runs, so a 50,000-row batch is a few lists and no per-row
objects beyond the hash. It runs happily in a child process.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from import_pipeline.records import Reject
from import_pipeline.sources.datasets.csv_file import detect_format, estimate_rows, read_csv
from import_pipeline.sources.datasets.excel_file import EXCEL_SUFFIXES, read_xlsx
from import_pipeline.sources.datasets.table import TableStart, canonical_json, row_hash_bytes


@dataclass(frozen=True)
class RowRun:
    """Consecutive rows of one table: `count` rows numbered from `first_number` on."""

    table: str
    first_number: int
    count: int

    def logical_row_ids(self) -> list[str]:
        """`<table>:<number>` of each row of the run, in order."""
        return [f"{self.table}:{n}" for n in range(self.first_number, self.first_number + self.count)]


@dataclass
class RowBatch:
    """Rows and rejects of consecutive records.

    `hashes[i]` is the 16-byte hash of the batch's i-th row; `runs` number the rows in the
    same order; `contents` maps each distinct hash to its content (by default the canonical
    JSON). `records` counts every record consumed so far (rows and rejects, skipped ones
    included); `bytes_read` is how far the file was read.
    """

    hashes: list[bytes] = field(default_factory=list)
    contents: dict[bytes, bytes] = field(default_factory=dict)
    runs: list[RowRun] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    records: int = 0
    bytes_read: int = 0

    def logical_row_ids(self) -> list[str]:
        """The logical row id of each row, in the order of `hashes`."""
        return [row_id for run in self.runs for row_id in run.logical_row_ids()]


Record = TableStart | dict[str, Any] | Reject


def file_records(path: Path | str, *, encoding: str | None = None, has_header: bool | None = None,
                 counter: list[int] | None = None) -> Iterator[Record]:
    """Every record of the tabular file at `path`, read by the reader its suffix calls for
    (see `TableStart` for what readers yield)."""
    path = Path(path)
    if _is_workbook(path):
        return read_xlsx(path)
    return read_csv(path, detect_format(path, encoding=encoding, has_header=has_header), counter=counter)


def estimated_rows(path: Path | str) -> int:
    """A rough count of the file's rows, from its size (0 for workbooks, which are compressed)."""
    return 0 if _is_workbook(Path(path)) else estimate_rows(path)


def _is_workbook(path: Path) -> bool:
    # .xls too: read_xlsx refuses it with a message saying what to do instead.
    return path.suffix.lower() in (*EXCEL_SUFFIXES, ".xls")


def exact_copy(row_hash: bytes, canonical: bytes) -> bytes:
    """The canonical JSON in a bytes object of its own size (orjson's result holds a ~4 KB buffer)."""
    return memoryview(canonical).tobytes()


def hashed_batches(
    path: Path | str,
    *,
    skip_records: int = 0,
    batch_rows: int = 50_000,
    encoding: str | None = None,
    has_header: bool | None = None,
    row_offsets: dict[str, int] | None = None,
    content_form: Callable[[bytes, bytes], bytes] = exact_copy,
) -> Iterator[RowBatch]:
    """Yield the file's records after the first `skip_records` in batches of up to
    `batch_rows` rows, each row hashed: the first 16 bytes of SHA-256 over its canonical JSON.

    `row_offsets` shifts the row numbers of a table (appending after existing rows).
    `content_form(row_hash, canonical_json)` is what a batch keeps of each distinct row
    (called once per distinct row of a batch; the JSON itself by default). A row that has
    no canonical JSON is rejected; its row number is not reused.
    """
    offsets = row_offsets or {}
    source = str(path)
    counter = [0]
    records = iter(file_records(path, encoding=encoding, has_header=has_header, counter=counter))
    table, number, consumed = "", 0, 0
    for record in records:  # what an earlier run staged: only the numbering matters
        if consumed == skip_records:
            records = itertools.chain((record,), records)
            break
        if type(record) is TableStart:
            table, number = record.table, 0
            continue
        consumed += 1
        number += type(record) is dict

    def close_run(batch: RowBatch) -> None:
        count = number - run_first + 1
        if count:
            batch.runs.append(RowRun(table, run_first + offsets.get(table, 0), count))

    batch = RowBatch(records=consumed)
    run_first = number + 1
    hashes, contents = batch.hashes, batch.contents
    for record in records:
        if type(record) is dict:
            number += 1
            try:
                canonical = canonical_json(record)
            except ValueError as exc:
                batch.rejects.append(Reject(source, f"{table}:{number} has no JSON form: {exc}", raw=repr(record)))
                close_run(batch)
                run_first = number + 1
                continue
            row_hash = row_hash_bytes(canonical)
            hashes.append(row_hash)
            if row_hash not in contents:
                contents[row_hash] = content_form(row_hash, canonical)
            if len(hashes) >= batch_rows:
                close_run(batch)
                batch.records += len(hashes) + len(batch.rejects)
                batch.bytes_read = counter[0]
                yield batch
                batch = RowBatch(records=batch.records)
                run_first = number + 1
                hashes, contents = batch.hashes, batch.contents
        elif type(record) is TableStart:
            close_run(batch)
            table, number, run_first = record.table, 0, 1
        else:
            batch.rejects.append(record)
    close_run(batch)
    batch.records += len(hashes) + len(batch.rejects)
    batch.bytes_read = Path(path).stat().st_size
    yield batch

"""A tabular file as batches of content-addressed rows, ready to stage (no database here).

`hashed_batches` picks the reader by suffix (`.xlsx`/`.xlsm` workbooks, `.xls` refused,
anything else CSV), skips the records an earlier run already staged, and hashes each
row's canonical JSON. Two lanes give the same batches:

- a clean UTF-8 CSV is read column-wise by pyarrow (`ColumnReader`) and its canonical JSON
  built by Arrow kernels, with no Python work per cell;
- anything else, and the rest of a CSV from the first block that reader cannot take
  exactly, goes record by record through `read_csv` / `read_xlsx`, which reject bad
  records with their line. The columnar lane yields only full batches (and the last), so
  the record lane picks up where a batch ends and cuts the next ones where the columnar
  lane would have: both lanes give the same batches.

A batch keeps each row's hash in file order, each distinct content once, and the row
numbers as runs, so a batch of tens of thousands of rows is a few arrays and lists. It runs happily in a
child process.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa

from import_pipeline.records import Reject
from import_pipeline.sources.datasets.canonical_columns import canonical_json_of_texts
from import_pipeline.sources.datasets.csv_columns import ColumnReader
from import_pipeline.sources.datasets.csv_file import CSV_TABLE, detect_format, read_csv
from import_pipeline.sources.datasets.excel_file import read_xlsx
from import_pipeline.sources.datasets.files import is_workbook
from import_pipeline.sources.datasets.table import TableStart, canonical_json, row_hashes

_KEY = np.dtype((np.void, 16))  # a 16-byte hash compared as bytes: the uuid order


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

    `hashes` is an `(n, 16)` uint8 array: the 16-byte hash of each of the batch's n rows,
    in file order, numbered by `runs`. `keys` are the distinct hashes in ascending (uuid)
    order and `documents` (a `large_binary` Arrow array) their canonical JSON, in the same
    order. `records` counts every record consumed so far (rows and rejects, skipped ones
    included); `bytes_read` is how far the file was read.
    """

    hashes: np.ndarray
    keys: np.ndarray
    documents: pa.Array
    runs: list[RowRun]
    rejects: list[Reject]
    records: int
    bytes_read: int

    @property
    def rows(self) -> int:
        return len(self.hashes)

    def logical_row_ids(self) -> list[str]:
        """The logical row id of each row, in the order of `hashes`."""
        return [row_id for run in self.runs for row_id in run.logical_row_ids()]


def _row_batch(texts: list[bytes], runs: list[RowRun], rejects: list[Reject], records: int, bytes_read: int,
               documents: pa.Array | None = None) -> RowBatch:
    """The batch of rows whose canonical JSON, in file order, is `texts` (and `documents`,
    the same as an Arrow array, when the caller has one)."""
    hashes = row_hashes(texts)
    _, first = np.unique(hashes.view(_KEY).ravel(), return_index=True)
    if documents is None:
        distinct = pa.array([texts[i] for i in first.tolist()], type=pa.large_binary())
    else:
        distinct = documents.take(pa.array(first, type=pa.int64()))
    return RowBatch(hashes, hashes[first], distinct, runs, rejects, records, bytes_read)


Record = TableStart | dict[str, Any] | Reject


def file_records(path: Path | str, *, encoding: str | None = None, has_header: bool | None = None,
                 counter: list[int] | None = None) -> Iterator[Record]:
    """Every record of the tabular file at `path`, read by the reader its suffix calls for
    (see `TableStart` for what readers yield)."""
    path = Path(path)
    if is_workbook(path):
        return read_xlsx(path)
    return read_csv(path, detect_format(path, encoding=encoding, has_header=has_header), counter=counter)


def hashed_batches(
    path: Path | str,
    *,
    skip_records: int = 0,
    batch_rows: int = 25_000,
    encoding: str | None = None,
    has_header: bool | None = None,
    row_offsets: dict[str, int] | None = None,
    columnar: bool = True,
) -> Iterator[RowBatch]:
    """Yield the file's records after the first `skip_records` in batches of up to
    `batch_rows` rows, each row hashed: the first 16 bytes of SHA-256 over its canonical JSON.

    `row_offsets` shifts the row numbers of a table (appending after existing rows). A row
    that has no canonical JSON is rejected; its row number is not reused. `columnar=False`
    reads every file record by record (the reference the columnar lane is tested against).
    """
    path = Path(path)
    offsets = row_offsets or {}
    if columnar and not is_workbook(path):
        reader = ColumnReader.open(path, detect_format(path, encoding=encoding, has_header=has_header))
        if reader is not None:
            for batch in _column_batches(reader, skip_records, batch_rows, offsets.get(CSV_TABLE, 0)):
                skip_records = batch.records
                yield batch
            if reader.stopped is None:
                return
    yield from _record_batches(path, skip_records, batch_rows, encoding, has_header, offsets)


def _column_batches(reader: ColumnReader, skip_records: int, batch_rows: int, offset: int) -> Iterator[RowBatch]:
    """The CSV's batches as `ColumnReader` reads them: every record is a row, numbered by its position."""
    pending: list[pa.Array] = []  # canonical JSON of rows read and not yet batched
    pending_rows = 0
    read = 0  # rows the reader gave, skipped ones included
    bytes_read = 0

    def take_batch(rows: int) -> RowBatch:
        nonlocal pending, pending_rows
        documents = pa.concat_arrays(pending) if pending else pa.array([], type=pa.large_binary())
        first = read - pending_rows + 1
        pending = [documents.slice(rows)] if rows < pending_rows else []
        pending_rows -= rows
        runs = [RowRun(CSV_TABLE, first + offset, rows)] if rows else []
        taken = documents.slice(0, rows)
        return _row_batch(taken.to_pylist(), runs, [], first - 1 + rows, bytes_read, taken)

    for columns in reader.batches():
        start, read = read, read + columns.rows
        if read <= skip_records:
            continue
        documents = canonical_json_of_texts(columns.keys, columns.columns)
        pending.append(documents.slice(max(skip_records - start, 0)))
        pending_rows += read - max(skip_records, start)
        bytes_read = columns.bytes_read
        while pending_rows >= batch_rows:
            yield take_batch(batch_rows)
    # Stopped early: the rows pending are read again by `_record_batches`, which then cuts
    # its batches where this lane would have.
    if reader.stopped is None:
        bytes_read = reader.path.stat().st_size
        yield take_batch(pending_rows)  # the last batch, even empty, as `_record_batches` ends


def _record_batches(path: Path, skip_records: int, batch_rows: int, encoding: str | None,
                    has_header: bool | None, offsets: dict[str, int]) -> Iterator[RowBatch]:
    """The file's batches read record by record."""
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

    documents: list[bytes] = []
    runs: list[RowRun] = []
    rejects: list[Reject] = []
    run_first = number + 1

    def close_run(last: int) -> None:
        """End the run of rows numbered `run_first` to `last`."""
        if last >= run_first:
            runs.append(RowRun(table, run_first + offsets.get(table, 0), last - run_first + 1))

    for record in records:
        if type(record) is dict:
            number += 1
            try:
                canonical = canonical_json(record)
            except ValueError as exc:
                rejects.append(Reject(source, f"{table}:{number} has no JSON form: {exc}", raw=repr(record)))
                close_run(number - 1)
                run_first = number + 1
                continue
            documents.append(memoryview(canonical).tobytes())  # of its own size: orjson's holds ~4 KB
            if len(documents) >= batch_rows:
                close_run(number)
                consumed += len(documents) + len(rejects)
                yield _row_batch(documents, runs, rejects, consumed, counter[0])
                documents, runs, rejects = [], [], []
                run_first = number + 1
        elif type(record) is TableStart:
            close_run(number)
            table, number, run_first = record.table, 0, 1
        else:
            rejects.append(cast(Reject, record))
    close_run(number)
    consumed += len(documents) + len(rejects)
    yield _row_batch(documents, runs, rejects, consumed, path.stat().st_size)

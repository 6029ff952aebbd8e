"""A tabular file as batches of content-addressed rows, ready to stage (no database here).

`hashed_batches` picks the reader by suffix (`.xlsx`/`.xlsm` workbooks, `.xls` refused,
anything else CSV), skips the records an earlier run already staged, and turns each row
into `(row_hash, logical_row_id, canonical_json)`. It runs happily in a child process.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from import_pipeline.records import Reject
from import_pipeline.sources.datasets.csv_file import detect_format, read_csv
from import_pipeline.sources.datasets.excel_file import EXCEL_SUFFIXES, read_xlsx
from import_pipeline.sources.datasets.table import TableRow, canonical_json, row_hash_bytes


@dataclass
class RowBatch:
    """Rows and rejects of consecutive records. `records` counts every record consumed so
    far (rows and rejects, skipped ones included); `bytes_read` is how far the file was read."""

    rows: list[tuple[bytes, str, bytes]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    records: int = 0
    bytes_read: int = 0


def file_records(path: Path | str, *, encoding: str | None = None, has_header: bool | None = None,
                 counter: list[int] | None = None) -> Iterator[TableRow | Reject]:
    """Every record of the tabular file at `path`, read by the reader its suffix calls for."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES or suffix == ".xls":
        return read_xlsx(path)
    return read_csv(path, detect_format(path, encoding=encoding, has_header=has_header), counter=counter)


def hashed_batches(
    path: Path | str,
    *,
    skip_records: int = 0,
    batch_rows: int = 50_000,
    encoding: str | None = None,
    has_header: bool | None = None,
    row_offsets: dict[str, int] | None = None,
) -> Iterator[RowBatch]:
    """Yield the file's records after the first `skip_records` in batches of up to
    `batch_rows`, each row as `(16-byte row hash, logical row id, canonical JSON)`.

    `row_offsets` shifts the row numbers of a table (appending after existing rows).
    """
    offsets = row_offsets or {}
    counter = [0]
    batch = RowBatch(records=skip_records)
    for consumed, record in enumerate(file_records(path, encoding=encoding, has_header=has_header,
                                                   counter=counter), 1):
        if consumed <= skip_records:
            continue
        batch.records = consumed
        if isinstance(record, Reject):
            batch.rejects.append(record)
            continue
        canonical = canonical_json(record.data)
        batch.rows.append((row_hash_bytes(canonical), record.logical_row_id(offsets.get(record.table, 0)), canonical))
        if len(batch.rows) >= batch_rows:
            batch.bytes_read = counter[0]
            yield batch
            batch = RowBatch(records=consumed)
    batch.bytes_read = Path(path).stat().st_size
    yield batch

"""Batches of document rows from a dump, made in the parsing child (see `parallel.py`).

A row is `(data_id, hash, raw_hash, data, dump_date)`. Converted (`convert=True`, for a first
load: every record must be converted anyway), `data` is the canonical JSON text. Raw
(`convert=False`, for a re-load: most records are unchanged and need not be converted),
`hash` is None and `data` is `(raw bytes, byte offset)`, for `convert_rows` to turn into a
converted row once the record is known to be new or changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from import_pipeline.records import Reject
from import_pipeline.sources.discogs.dump import RawRecord, convert_record, read_raw_records

Row = tuple[Any, ...]


def row_batches(path: str, dump_type: str, dump_date: str, convert: bool, share: tuple[int, int] = (0, 1),
                batch_rows: int = 2_000) -> Iterator[tuple[list[Row], list[Reject]]]:
    """The dump's rows in batches of `batch_rows`, each with the rejects met while reading it.

    `share` `(k, n)`: only the records (and rejects) whose position in the file is k modulo n,
    so that n children can each read the whole file (splitting records is cheap) and convert
    a share of it (converting is not).
    """
    rows: list[Row] = []
    rejects: list[Reject] = []
    for item in read_raw_records(Path(path), dump_type, share):
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        if convert:
            converted = convert_record(item, dump_type, path)
            if isinstance(converted, Reject):
                rejects.append(converted)
                continue
            rows.append((converted.data_id, converted.hash, converted.raw_hash, converted.document.decode(),
                         dump_date))
        else:
            rows.append((item.data_id, None, item.raw_hash, (item.raw, item.offset), dump_date))
        if len(rows) >= batch_rows:
            yield rows, rejects
            rows, rejects = [], []
    if rows or rejects:
        yield rows, rejects


def convert_rows(rows: Iterable[Sequence[Any]], dump_type: str, source: str,
                 rejects: list[Reject]) -> Iterator[Sequence[Any]]:
    """Raw rows converted (converted ones pass as they are); a record that does not convert
    is appended to `rejects` and dropped."""
    for row in rows:
        if row[1] is not None:
            yield row
            continue
        raw, offset = row[3]
        converted = convert_record(RawRecord(row[0], row[2], raw, offset), dump_type, source)
        if isinstance(converted, Reject):
            rejects.append(converted)
            continue
        yield (converted.data_id, converted.hash, converted.raw_hash, converted.document.decode(), *row[4:])

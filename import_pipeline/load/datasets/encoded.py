"""A dataset file's batches encoded for binary COPY, by the process that parses the file.

This is what the parsing child process runs: it imports no database driver and opens
no connection, so it starts quickly, and the writer in the parent only sends bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from import_pipeline.postgres.binary import binary_fixed_width_rows, binary_uuid_jsonb_rows
from import_pipeline.records import Reject
from import_pipeline.sources.datasets.batches import RowBatch, hashed_batches


@dataclass
class EncodedBatch:
    """A `RowBatch` encoded for binary COPY by the process that parsed it: `contents` are
    its distinct `(row_hash, data)` rows in key order, `references` its commit_rows in file
    order, both as memoryviews (which `iterate_in_process` sends out of band, as raw bytes).
    The writer only sends bytes."""

    contents: memoryview
    references: memoryview
    rows: int
    rejects: list[Reject]
    records: int
    bytes_read: int


def encoded_batches(commit_id: str, **batch_options: Any) -> Iterator[EncodedBatch]:
    """`hashed_batches(**batch_options)`, each batch encoded as the commit_rows of
    `commit_id` (32 hex digits) and the contents they refer to, in key order (the primary
    key's leaf pages are then each touched once per batch instead of at random)."""
    commit_key = np.frombuffer(bytes.fromhex(commit_id), dtype=np.uint8)
    for batch in hashed_batches(**batch_options):
        yield EncodedBatch(binary_uuid_jsonb_rows(batch.keys, batch.documents),
                           memoryview(_reference_rows(commit_key, batch)),
                           batch.rows, batch.rejects, batch.records, batch.bytes_read)


def _reference_rows(commit_key: np.ndarray, batch: RowBatch) -> bytes:
    """The batch's `(commit_id, logical_row_id, row_hash)` rows, built column-wise."""
    parts = []
    start = 0
    for run in batch.runs:
        prefix = np.frombuffer(f"{run.table}:".encode(), dtype=np.uint8)
        for first, digits, count in _same_width_ranges(run.first_number, run.count):
            numbers = np.arange(first, first + count, dtype=np.int64)
            row_ids = np.empty((count, len(prefix) + digits), dtype=np.uint8)
            row_ids[:, :len(prefix)] = prefix
            row_ids[:, len(prefix):] = decimal_digits(numbers, digits)
            stop = start + len(numbers)
            parts.append(binary_fixed_width_rows(
                [np.broadcast_to(commit_key, (len(numbers), 16)), row_ids, batch.hashes[start:stop]]))
            start = stop
    return b"".join(parts)


def _same_width_ranges(first: int, count: int) -> Iterator[tuple[int, int, int]]:
    """Split `first .. first + count - 1` where the number of decimal digits changes:
    `(first number, digits, how many)` per piece."""
    end = first + count
    while first < end:
        digits = len(str(first))
        stop = min(end, 10**digits)
        yield first, digits, stop - first
        first = stop


def decimal_digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """The ASCII decimal digits of non-negative `numbers` that all have `width` digits,
    as an `(n, width)` uint8 array."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (numbers[:, None] // powers % 10 + ord("0")).astype(np.uint8)

"""Rows in PostgreSQL's binary COPY format, encoded column-wise with numpy and Arrow.

No connection here (and no database driver imported), so a parsing child process can
encode rows for `copy.copy_binary` to send. pyarrow is imported only by the encoder that
takes Arrow arrays, so the engine's other users do not load it (~60 MiB).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags 0, no header extension
BINARY_TRAILER = b"\xff\xff"


def binary_int4_rows(columns: Sequence[array]) -> bytes:
    """The rows given as equal-length `array('i')` columns, in PostgreSQL's binary COPY row format.

    Built column-wise with numpy (each row: field count, then length 4 and the big-endian
    value of each field), so millions of integer rows cost no per-row Python work.
    """
    count = len(columns[0]) if columns else 0
    if any(len(column) != count for column in columns):
        raise ValueError("columns differ in length")
    if any(column.typecode != "i" or column.itemsize != 4 for column in columns):
        raise ValueError("columns must be array('i') of 4-byte integers")
    fields: list[tuple[Any, ...]] = [("count", ">i2")]
    for n in range(len(columns)):
        fields += [(f"length{n}", ">i4"), (f"value{n}", ">i4")]
    rows = np.empty(count, dtype=np.dtype(fields))
    rows["count"] = len(columns)
    for n, column in enumerate(columns):
        rows[f"length{n}"] = 4
        rows[f"value{n}"] = np.frombuffer(column, dtype=np.int32) if count else 0
    return rows.tobytes()


def binary_fixed_width_rows(columns: Sequence[np.ndarray]) -> bytes:
    """Rows whose fields all have a fixed width, in PostgreSQL's binary COPY row format.

    Each column is an `(n, width)` uint8 array holding every row's field in the column
    type's binary form (16 bytes for a uuid, the UTF-8 bytes for a text), so the rows are
    assembled column-wise with numpy, with no per-row Python work.
    """
    count = len(columns[0]) if columns else 0
    if any(column.ndim != 2 or column.dtype != np.uint8 or len(column) != count for column in columns):
        raise ValueError("columns must be (n, width) uint8 arrays of one length n")
    fields: list[tuple[Any, ...]] = [("count", ">i2")]
    for n, column in enumerate(columns):
        fields += [(f"length{n}", ">i4"), (f"value{n}", np.uint8, (column.shape[1],))]
    rows = np.empty(count, dtype=np.dtype(fields))
    rows["count"] = len(columns)
    for n, column in enumerate(columns):
        rows[f"length{n}"] = column.shape[1]
        rows[f"value{n}"] = column
    return rows.tobytes()


def binary_uuid_jsonb_rows(keys: np.ndarray, documents: pa.Array) -> memoryview:
    """`(uuid, jsonb)` rows in PostgreSQL's binary COPY row format, from an `(n, 16)` uint8
    array of uuids and an Arrow binary array of each row's JSON text (jsonb's binary form is
    a version byte, then the text). Assembled by numpy and one Arrow kernel, with no per-row
    Python work; returned as a view of the Arrow buffer (no copy). The JSON is not checked
    here: the server parses it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    count = len(documents)
    if keys.shape != (count, 16) or keys.dtype != np.uint8:
        raise ValueError("keys must be an (n, 16) uint8 array, one per document")
    if not count:
        return memoryview(b"")
    headers = np.empty(count, dtype=_UUID_JSONB_HEADER)
    headers["fields"] = 2
    headers["key_length"] = 16
    headers["key"] = keys
    headers["document_length"] = pc.binary_length(documents).to_numpy(zero_copy_only=True) + 1
    headers["version"] = 1
    header_array = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(_UUID_JSONB_HEADER.itemsize), count, [None, pa.py_buffer(headers)])
    rows = pc.binary_join_element_wise(header_array.cast(documents.type), documents,
                                       pa.scalar(b"", type=documents.type))
    return _binary_values(rows)


def _binary_values(array: Any) -> memoryview:
    """The bytes of a binary array's values, first to last, as a view of its data buffer (no
    copy; the view keeps the buffer alive)."""
    import pyarrow as pa

    offset_type = np.dtype(np.int64 if pa.types.is_large_binary(array.type) else np.int32)
    offsets = np.frombuffer(array.buffers()[1], dtype=offset_type, count=len(array) + 1,
                            offset=array.offset * offset_type.itemsize)
    data = array.buffers()[2]
    return memoryview(b"") if data is None else memoryview(data)[offsets[0]:offsets[-1]]


_UUID_JSONB_HEADER = np.dtype([("fields", ">i2"), ("key_length", ">i4"), ("key", np.uint8, (16,)),
                               ("document_length", ">i4"), ("version", np.uint8)])

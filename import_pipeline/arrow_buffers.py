"""Arrow binary arrays and scalars built from buffers, without pyarrow's pandas check.

Converting Python values to Arrow (`pa.array`, `pa.scalar`, or a plain `str` handed to a
compute function) makes pyarrow import pandas, when it is installed, to ask whether the
values are pandas objects: ~0.2 s and ~40 MiB in the parsing process, which never uses
pandas. These build the same arrays straight from their offsets and data buffers.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa

_LARGE_BINARY = pa.large_binary()


def binary_array(values: Sequence[bytes], type: pa.DataType = _LARGE_BINARY) -> pa.Array:
    """An Arrow array of `type` (a binary or string type, large or not) holding `values`, no nulls."""
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    offset_type = _offset_type(type)
    if offsets[-1] > np.iinfo(offset_type).max:
        raise ValueError(f"{offsets[-1]:,} bytes do not fit an array of {type}; use its large variant")
    offsets = offsets.astype(offset_type, copy=False)
    return pa.Array.from_buffers(type, len(values), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(values))])


def int64_array(values: np.ndarray) -> pa.Array:
    """An Arrow int64 array holding a one-dimensional numpy array's integers (copied only to
    convert or make them contiguous), no nulls."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def integers_of(array: pa.Array) -> np.ndarray:
    """A numpy view of the values of an Arrow integer array without nulls (no copy)."""
    if not pa.types.is_integer(array.type) or array.null_count:
        raise TypeError(f"not an integer array without nulls: {array.type}, {array.null_count} nulls")
    dtype = np.dtype(f"{'i' if pa.types.is_signed_integer(array.type) else 'u'}{array.type.bit_width // 8}")
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def binary_values(array: pa.Array) -> memoryview:
    """The bytes of a binary or string array's values, first to last, as a view of its data
    buffer (no copy; the view keeps the buffer alive). Nulls hold no bytes."""
    offset_type = np.dtype(_offset_type(array.type))
    offsets = np.frombuffer(array.buffers()[1], dtype=offset_type, count=len(array) + 1,
                            offset=array.offset * offset_type.itemsize)
    data = array.buffers()[2]
    return memoryview(b"") if data is None else memoryview(data)[offsets[0]:offsets[-1]]


@lru_cache(maxsize=1024)  # the same few literals serve every block of a file
def binary_scalar(value: bytes | str, type: pa.DataType) -> pa.Scalar:
    """An Arrow scalar of `type` (a binary or string type) holding `value` (a `str` as UTF-8)."""
    data = value.encode() if isinstance(value, str) else value
    return binary_array([data], type)[0]


def _offset_type(type: pa.DataType) -> type[np.integer]:
    if pa.types.is_large_binary(type) or pa.types.is_large_string(type):
        return np.int64
    if pa.types.is_binary(type) or pa.types.is_string(type):
        return np.int32
    raise TypeError(f"not a binary or string type: {type}")

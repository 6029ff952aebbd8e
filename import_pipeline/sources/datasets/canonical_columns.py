"""Canonical JSON (`table.canonical_json`) of text rows, built column-wise by Arrow kernels.

For the CSV fast lane: a batch of text columns becomes each row's canonical JSON with no
Python work per cell, byte for byte what `canonical_json` gives.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# How canonical JSON writes each character that needs escaping: `"`, `\\` and U+0000..U+001F
# (orjson and the standard library's C encoder agree on every code point). The backslash
# comes first, so that the escapes added after it keep theirs.
_ESCAPES = {char: json.dumps(char, ensure_ascii=False)[1:-1] for char in ['\\', '"', *map(chr, range(32))]}


@lru_cache(maxsize=1024)  # the same few literals serve every block of a file
def _text_scalar(value: str, type: pa.DataType) -> pa.Scalar:
    return pa.scalar(value.encode(), type=type) if pa.types.is_binary(type) or pa.types.is_large_binary(type) \
        else pa.scalar(value, type=type)


def canonical_json_of_texts(keys: Sequence[str], columns: Sequence[pa.Array]) -> pa.Array:
    """The canonical JSON of each row of text `columns` (one per key, in sorted key order;
    null is JSON null), built column-wise by Arrow kernels: byte for byte what
    `canonical_json({key: value, ...})` gives for the same row. Returns a `large_binary` array.
    """
    if not keys or list(keys) != sorted(keys) or len(set(keys)) != len(keys):
        raise ValueError("keys must be distinct, sorted and at least one")
    # Literal text and columns alternate; a column without nulls has its quotes in the
    # literals around it, so one join per batch does most of the work.
    text_type = columns[0].type

    def text(value: str) -> pa.Scalar:
        return _text_scalar(value, text_type)

    parts: list[Any] = []
    literal = "{"
    for key, column in zip(keys, columns, strict=False):
        literal += json.dumps(key, ensure_ascii=False) + ":"
        escaped = _escaped(column)
        if column.null_count:
            quoted = pc.binary_join_element_wise(text('"'), escaped, text('"'), text(""))
            parts += [text(literal), pc.if_else(column.is_null(), text("null"), quoted)]
            literal = ","
        else:
            parts += [text(literal + '"'), escaped]
            literal = '",'
    parts.append(text(literal[:-1] + "}"))
    return pc.binary_join_element_wise(*parts, text("")).cast(pa.large_binary())


def _escaped(column: pa.Array) -> pa.Array:
    """The text column with each character escaped as canonical JSON escapes it. Only
    characters present are replaced: a byte count of the column's data finds them (in
    UTF-8 no byte of a multi-byte character is below 0x80)."""
    data = column.buffers()[2]
    if data is None:
        return column
    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    for char, escape in _ESCAPES.items():
        if counts[ord(char)]:
            column = pc.replace_substring(column, char, escape)
    return column

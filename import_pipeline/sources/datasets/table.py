"""What every tabular reader yields, and the rules for column names and row content."""

from __future__ import annotations

import hashlib
import operator
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson


@dataclass(frozen=True)
class TableStart:
    """The rows after this record belong to `table` (`primary`, or a sheet's name).

    Readers yield a `TableStart`, then each data row of that table as a plain
    `{column: value}` dict (its row number is its 1-based position among the table's rows,
    the header not counted), with `Reject`s in between. Plain dicts, because a reader
    makes one per row, millions per file.
    """

    table: str


def column_names(header: Sequence[Any], *, prefix: str | None = None) -> list[str]:
    """Unique column names for a header row, as pandas names them.

    An empty name becomes `Unnamed: <0-based position>`, a repeated one gets `.1`, `.2`...
    A NUL character, which no jsonb key can hold, is written `\\x00` (as rejects show it).
    Any other text is kept exactly (spaces, quotes, SQL keywords: names are JSON keys, never
    SQL). With `prefix`, the names are `<prefix>1`, `<prefix>2`... (a file without header).
    """
    if prefix is not None:
        return [f"{prefix}{n}" for n in range(1, len(header) + 1)]
    names: list[str] = []
    used: set[str] = set()
    for position, raw in enumerate(header):
        name = "" if raw is None else str(raw).replace("\x00", "\\x00")
        base = name if name != "" else f"Unnamed: {position}"
        name, suffix = base, 0
        while name in used:
            suffix += 1
            name = f"{base}.{suffix}"
        used.add(name)
        names.append(name)
    return names


class UnencodableRow(ValueError):
    """A row that has no canonical JSON: text that is not valid Unicode, a NUL character
    (PostgreSQL's jsonb cannot hold one), or a value of a type JSON cannot hold."""


def canonical_json(data: dict[str, Any]) -> bytes:
    """The row's canonical JSON: keys sorted, no whitespace, UTF-8 with non-ASCII unescaped
    (orjson with `OPT_SORT_KEYS`). Raises `UnencodableRow` when there is none.

    The bytes object keeps orjson's ~4 KB output buffer allocated: a caller that holds many
    keeps a copy of the exact size (`bytes(memoryview(result))`, or a concatenation)."""
    try:
        canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise UnencodableRow(str(exc)) from None
    # The escape only appears for a NUL or for the six characters `\u0000` in a text;
    # the rare hit is settled on the values.
    if b"\\u0000" in canonical and any("\0" in key or (type(value) is str and "\0" in value)
                                       for key, value in data.items()):
        raise UnencodableRow("a NUL character, which PostgreSQL cannot store in jsonb")
    return canonical


def row_hash_bytes(canonical: bytes) -> bytes:
    """The row's content address: the first 16 bytes of SHA-256 over its canonical JSON."""
    return hashlib.sha256(canonical).digest()[:16]


def row_hashes(documents: Iterable[bytes]) -> np.ndarray:
    """`row_hash_bytes` of each canonical JSON, as an `(n, 16)` uint8 array (no Python loop per row)."""
    digests = b"".join(map(_DIGEST, map(hashlib.sha256, documents)))
    return np.frombuffer(digests, dtype=np.uint8).reshape(-1, 32)[:, :16].copy()


_DIGEST = operator.methodcaller("digest")


def row_hash(canonical: bytes) -> uuid.UUID:
    """`row_hash_bytes` as the uuid PostgreSQL stores."""
    return uuid.UUID(bytes=row_hash_bytes(canonical))

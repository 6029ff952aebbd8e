"""Where the records of a dump begin and end, found in its bytes without decoding them.

A dump is one JSON array whose elements are objects that all start with the same key (the
game's dumps: `{"DBType": ...`). `RecordSlices` learns that key from the first element and
cuts the array where `}` `,` `{"<key>":` follows (whitespace allowed between them). Inside a
JSON string every `"` is escaped, so that sequence is always structure: the cut is either an
element boundary or the inside of an object nested in an element. A cut of the second kind
yields a slice that is not a whole JSON value; whoever decodes or compares it notices (a
decoder fails, a hash of a whole stored record does not match) and goes on with a full
decoder from the slice's offset, which `RecordSlices` gives as where it started.

Memory is bounded by the read block and the largest record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

READ_BYTES = 4 * 1024 * 1024
_SPACE = rb"[ \t\r\n]*"
_FIRST_KEY = re.compile(rb"\{" + _SPACE + rb'"([^"\\]{1,64})"' + _SPACE + b":")
_BOM = b"\xef\xbb\xbf"


class RecordSlices:
    """Iterate over `(offset, bytes)` of each element of the JSON array read from `stream`.

    Stops early, with `unrecognised_at` set to the file offset of the first element it could
    not cut (or of the array's start when the file does not look like an array of objects),
    when the layout is not the one described above, when a record would exceed
    `max_record_bytes`, or when the array does not close. `unrecognised_at` is None when the
    slices cover the whole array.
    """

    def __init__(self, stream: BinaryIO, max_record_bytes: int) -> None:
        self.stream = stream
        self.max_record_bytes = max_record_bytes
        self.unrecognised_at: int | None = None

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        data = self.stream.read(READ_BYTES)
        eof = not data
        start = len(_BOM) if data.startswith(_BOM) else 0
        start = _skip_space(data, start)
        if data[start:start + 1] != b"[":
            self.unrecognised_at = 0
            return
        base = 0  # file offset of data[0]
        pos = _skip_space(data, start + 1)
        if data[pos:pos + 1] == b"]":
            return
        first = _FIRST_KEY.match(data, pos)
        if first is None:
            self.unrecognised_at = pos
            return
        boundary = re.compile(rb"(\})" + _SPACE + b"," + _SPACE + rb"(\{)" + _SPACE
                              + b'"' + re.escape(first.group(1)) + b'"' + _SPACE + b":")
        while True:
            cut = boundary.search(data, pos + 1)
            if cut is not None:
                yield base + pos, data[pos:cut.end(1)]
                pos = cut.start(2)
                continue
            if not eof:
                if len(data) - pos > self.max_record_bytes:
                    self.unrecognised_at = base + pos
                    return
                block = self.stream.read(READ_BYTES)
                eof = not block
                base += pos
                data = data[pos:] + block
                pos = 0
                continue
            # The last element: it ends at the `}` before the closing `]`.
            tail = data[pos:].rstrip(b" \t\r\n")
            last = tail[:-1].rstrip(b" \t\r\n")
            if not (tail.endswith(b"]") and last.endswith(b"}")):
                self.unrecognised_at = base + pos
                return
            yield base + pos, last
            return


def _skip_space(data: bytes, pos: int) -> int:
    while data[pos:pos + 1] in (b" ", b"\t", b"\r", b"\n"):
        pos += 1
    return pos

"""Read a CSV file of any size, one record at a time, with its dialect, encoding and header detected.

`detect_format` looks at the first `SAMPLE_BYTES`: a UTF-8 BOM or valid UTF-8 means UTF-8,
anything else the declared legacy encoding (default cp1252, which maps every byte);
`csv.Sniffer` picks the delimiter (`,` `;` tab `|`) and the quote character and says
whether the first row is a header. `read_csv` then streams records: each value is kept as
the exact text of the cell (leading zeros, spaces, newlines, quotes), an empty cell is
None. A record with the wrong number of fields, or with bytes the encoding cannot decode,
becomes a `Reject` with its line number; the rest go on.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from import_pipeline.records import Reject
from import_pipeline.sources.datasets.table import TableRow, column_names

SAMPLE_BYTES = 1024 * 1024
DELIMITERS = ",;\t|"
LEGACY_ENCODING = "cp1252"
# csv's own per-field limit (128 KiB) is too small for real exports; memory stays bounded
# by this per cell.
FIELD_LIMIT = 64 * 1024 * 1024
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True)
class CsvFormat:
    """How to read a CSV file: its encoding, dialect, and whether line 1 is a header."""

    encoding: str
    delimiter: str
    quotechar: str
    has_header: bool


def detect_format(path: Path | str, *, encoding: str | None = None, has_header: bool | None = None) -> CsvFormat:
    """The format of the CSV file at `path`, detected from its first MiB.

    `encoding` and `has_header`, when given, are used as declared instead of detected.
    """
    with open(path, "rb") as stream:
        sample = stream.read(SAMPLE_BYTES)
        complete = len(sample) < SAMPLE_BYTES
    if encoding is None:
        if sample.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        else:
            try:
                sample.decode("utf-8", errors="strict")
                encoding = "utf-8"
            except UnicodeDecodeError as exc:
                # A multi-byte character cut by the end of the sample is still UTF-8.
                encoding = "utf-8" if not complete and exc.start >= len(sample) - 3 else LEGACY_ENCODING
    text = sample.decode(encoding, errors="replace")
    if not complete:
        text = text[: text.rfind("\n") + 1] or text  # whole lines only
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=DELIMITERS)
        delimiter, quotechar = dialect.delimiter, dialect.quotechar or '"'
    except csv.Error:
        delimiter, quotechar = ",", '"'
    if has_header is None:
        has_header = _looks_like_header(text, delimiter, quotechar)
    return CsvFormat(encoding=encoding, delimiter=delimiter, quotechar=quotechar, has_header=has_header)


class CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read from it (`bytes_read`), for progress."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)
        self.bytes_read += count or 0
        return count


def _looks_like_header(text: str, delimiter: str, quotechar: str) -> bool:
    """Whether the first row is a header. `csv.Sniffer.has_header` says no whenever every
    column holds text, so a first row is taken for a header unless one of its cells is a
    number (headers are names) and the sniffer agrees it is data."""
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quotechar), [])
    if not any(_NUMBER.fullmatch(cell.strip()) for cell in first):
        return True
    try:
        return csv.Sniffer().has_header(text[:65536])
    except csv.Error:
        return False


def read_csv(
    path: Path | str, fmt: CsvFormat, *, table: str = "primary", counter: list[int] | None = None
) -> Iterator[TableRow | Reject]:
    """Yield the records of the CSV file at `path` as `TableRow`s (1-based row numbers, the
    header not counted) or `Reject`s. An empty file yields nothing. When `counter` is given,
    `counter[0]` follows the bytes read so far."""
    csv.field_size_limit(FIELD_LIMIT)
    source = str(path)
    with open(path, "rb") as raw:
        counting = CountingReader(raw)
        stream = io.TextIOWrapper(io.BufferedReader(counting), encoding=fmt.encoding, errors="surrogateescape",
                                  newline="")
        yield from _records(stream, fmt, table, source, counting, counter)


def _records(
    stream: Any, fmt: CsvFormat, table: str, source: str, counting: CountingReader, counter: list[int] | None
) -> Iterator[TableRow | Reject]:
    reader = csv.reader(stream, delimiter=fmt.delimiter, quotechar=fmt.quotechar, strict=False)
    first_line = 1
    header: list[str] | None = None
    row_number = 0
    for fields in reader:
        line = first_line
        first_line = reader.line_num + 1
        if header is None:
            if fmt.has_header:
                header = column_names(fields)
                continue
            header = column_names([""] * len(fields), prefix="column_")
        if not fields:
            continue  # a blank line
        if len(fields) != len(header):
            yield Reject(source, f"expected {len(header)} fields, got {len(fields)}", line=line,
                         raw=fmt.delimiter.join(fields))
            continue
        text = "\x1f".join(fields)
        if _UNDECODABLE.search(text):
            yield Reject(source, f"bytes that are not {fmt.encoding}", line=line,
                         raw=text.encode(fmt.encoding, "surrogateescape").decode(fmt.encoding, "replace"))
            continue
        row_number += 1
        if counter is not None:
            counter[0] = counting.bytes_read
        yield TableRow(table, row_number, line, {name: (value if value != "" else None)
                                                for name, value in zip(header, fields)})

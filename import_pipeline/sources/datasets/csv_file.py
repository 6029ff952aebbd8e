"""Read a CSV file of any size, one record at a time, with its dialect, encoding and header detected.

`detect_format` looks at the first `SAMPLE_BYTES` (see `detect_encoding`: a BOM decides,
else the sample's evidence for UTF-8 against a legacy encoding, by default cp1252);
`csv.Sniffer` picks the delimiter (`,` `;` tab `|`) and the quote character and says
whether the first row is a header. `read_csv` then streams records: each value is kept as
the exact text of the cell (leading zeros, spaces, newlines, quotes), an empty cell is
None. A record with the wrong number of fields, or with bytes the encoding cannot decode,
becomes a `Reject` with its line number; the rest go on.

The file is decoded in blocks of whole lines that the csv module reads without a Python
call per line; rows are only searched for undecodable bytes once a block held one.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from import_pipeline.records import Reject
from import_pipeline.sources.datasets.table import TableStart, column_names

SAMPLE_BYTES = 1024 * 1024
DELIMITERS = ",;\t|"
LEGACY_ENCODING = "cp1252"
# csv's own per-field limit (128 KiB) is too small for real exports; memory stays bounded
# by this per cell.
FIELD_LIMIT = 64 * 1024 * 1024
#: Bytes read and decoded at a time.
BLOCK_BYTES = 1024 * 1024
#: The table name of a CSV file's rows (a workbook's tables are its sheets).
CSV_TABLE = "primary"
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
        encoding = detect_encoding(sample, complete=complete)
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


#: Byte order marks, longest first (the UTF-32 LE mark begins with the UTF-16 LE one).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def detect_encoding(sample: bytes, *, complete: bool = True) -> str:
    """The encoding of a file that starts with `sample` (`complete`: the sample is the whole file).

    A byte order mark decides (UTF-8, UTF-16 or UTF-32, the mark itself skipped when read).
    Without one, UTF-16 without a mark is recognised by its NUL bytes at every other
    position. Otherwise the sample is UTF-8 when it decodes as UTF-8, or when its valid
    multi-byte UTF-8 characters outnumber its undecodable bytes: a few stray bytes in a
    UTF-8 file are rejected with their records instead of turning every `ø` into `Ã¸`.
    Only a sample with more undecodable bytes than UTF-8 characters is `LEGACY_ENCODING`.
    """
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if len(sample) >= 4:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > 0.4 * (len(sample) // 2) and even == 0:
            return "utf-16-le"
        if even > 0.4 * (len(sample) // 2) and odd == 0:
            return "utf-16-be"
    if sample.isascii():
        return "utf-8"
    # Not final unless complete: a multi-byte character cut by the end of the sample is no evidence.
    text = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(sample, final=complete)
    undecodable = len(_UNDECODABLE.findall(text))
    if undecodable == 0:
        return "utf-8"
    characters = len(text) - len(text.encode("ascii", "ignore")) - undecodable  # non-ASCII, decoded
    return "utf-8" if characters > undecodable else LEGACY_ENCODING


def estimate_rows(path: Path | str) -> int:
    """About how many lines the CSV file at `path` has: its size over the average length
    of the lines in its first MiB."""
    size = Path(path).stat().st_size
    with open(path, "rb") as stream:
        sample = stream.read(SAMPLE_BYTES)
    lines = sample.count(b"\n") or 1
    return size * lines // max(len(sample), 1)


class DecodedBlocks:
    """A binary file's text as blocks of whole lines, decoded with `surrogateescape`.

    `bytes_read` follows the reading (for progress); `undecodable` turns True when a block
    holds a byte the encoding could not decode, before any of that block's lines is read.
    """

    def __init__(self, raw: BinaryIO, encoding: str, block_bytes: int = BLOCK_BYTES) -> None:
        self.raw = raw
        self.encoding = encoding
        self.block_bytes = block_bytes
        self.bytes_read = 0
        self.undecodable = False

    def lines(self) -> Iterator[str]:
        """Every line of the file, its line end (LF, CRLF or CR) kept."""
        return itertools.chain.from_iterable(map(_line_reader, self._blocks()))

    def _blocks(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="surrogateescape")
        pending = ""
        while True:
            data = self.raw.read(self.block_bytes)
            self.bytes_read += len(data)
            text = pending + decoder.decode(data, final=not data)
            if not data:
                if text:
                    yield self._checked(text)
                return
            # Cut after the last line end; a final \r may be half of a \r\n.
            cut = text.rfind("\n") + 1 or text.rfind("\r", 0, len(text) - 1) + 1
            pending = text[cut:]
            if cut:
                yield self._checked(text[:cut])

    def _checked(self, text: str) -> str:
        if not self.undecodable and not text.isascii() and _UNDECODABLE.search(text):
            self.undecodable = True
        return text


def _trailing_empty(fields: list[str]) -> int:
    """How many of `fields` at the end are empty."""
    count = 0
    while count < len(fields) and not fields[len(fields) - 1 - count]:
        count += 1
    return count


def _line_reader(text: str) -> io.StringIO:
    return io.StringIO(text, newline="")


def table_header(first_record: list[str], has_header: bool) -> list[str]:
    """The column names of a CSV file from its first record: the record itself when it is
    a header, else `column_1`, `column_2`... (see `column_names`)."""
    return column_names(first_record) if has_header else column_names(first_record, prefix="column_")


def _looks_like_header(text: str, delimiter: str, quotechar: str) -> bool:
    """Whether the first row is a header. As pandas assumes, it is, unless every one of its
    cells is a number or empty (`1,2,3`): then `csv.Sniffer` decides. A header may name
    columns by number (`country,2019,2020`): one name that is not a number makes it a header.
    (`csv.Sniffer.has_header` alone says no whenever every column holds text.)"""
    first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar), [])
    if any(cell.strip() and not _NUMBER.fullmatch(cell.strip()) for cell in first):
        return True
    try:
        return csv.Sniffer().has_header(text[:65536])
    except csv.Error:
        return False


def read_csv(
    path: Path | str, fmt: CsvFormat, *, table: str = CSV_TABLE, counter: list[int] | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[TableStart | dict[str, Any] | Reject]:
    """Yield `TableStart(table)`, then the records of the CSV file at `path`: each data row
    as a `{column: value}` dict (keys in sorted order, so the canonical JSON needs no
    reordering), each bad record as a `Reject`. When `counter` is given, `counter[0]`
    follows the bytes read so far. The file is read `block_bytes` at a time."""
    csv.field_size_limit(FIELD_LIMIT)
    with open(path, "rb") as raw:
        yield from _records(DecodedBlocks(raw, fmt.encoding, block_bytes), fmt, table, str(path), counter)


def _records(
    text: DecodedBlocks, fmt: CsvFormat, table: str, source: str, counter: list[int] | None
) -> Iterator[TableStart | dict[str, Any] | Reject]:
    yield TableStart(table)
    reader = csv.reader(text.lines(), delimiter=fmt.delimiter, quotechar=fmt.quotechar, strict=False)
    first_line = 1
    width = -1
    # Rows may leave out the columns of empty trailing header cells (`a,b,`), as pandas allows.
    shortest = -1
    keys: list[str] = []
    in_key_order: Callable[[list[str]], tuple[str, ...]] = tuple
    for fields in reader:
        line = first_line
        first_line = reader.line_num + 1
        if width < 0:
            header = table_header(fields, fmt.has_header)
            order = sorted(range(len(header)), key=header.__getitem__)
            keys = [header[i] for i in order]
            width = len(header)
            shortest = width - _trailing_empty(fields) if fmt.has_header else width
            # A tuple of the fields in key order, made in C (itemgetter of one index gives no tuple).
            in_key_order = operator.itemgetter(*order) if width > 1 else lambda fields: tuple(fields)
            if fmt.has_header:
                continue
        if shortest <= len(fields) < width and fields:
            fields = fields + [""] * (width - len(fields))
        if len(fields) != width or not fields:
            if fields:  # a blank line is no record
                yield Reject(source, f"expected {width} fields, got {len(fields)}", line=line,
                             raw=fmt.delimiter.join(fields))
            continue
        if text.undecodable:
            joined = fmt.delimiter.join(fields)
            if _UNDECODABLE.search(joined):
                yield Reject(source, f"bytes that are not {fmt.encoding}", line=line, raw=joined)
                continue
        if counter is not None:
            counter[0] = text.bytes_read
        values: Sequence[str | None] = in_key_order(fields)
        if "" in values:
            values = [value or None for value in values]
        yield dict(zip(keys, values, strict=False))

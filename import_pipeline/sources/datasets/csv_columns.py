"""Read a clean UTF-8 CSV file in column batches with pyarrow, giving exactly the rows `read_csv` gives.

`read_csv` defines how a CSV file is read; it makes Python objects for every cell. This
reader is its fast lane: pyarrow's C++ parser reads blocks of the file into text columns
with no per-row Python work. It reads a file only while it can give the same rows as
`read_csv`: a UTF-8 file (with or without BOM) whose first record is one non-empty line,
every record as wide as that one, every value valid UTF-8 without NUL. At the first block
holding anything else (a record of another width, bytes that are not UTF-8, a NUL, a
record larger than a block) it stops before that block and says why; the caller reads the
rest with `read_csv`, which rejects what it must with its line number.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from import_pipeline.sources.datasets.csv_file import FIELD_LIMIT, CsvFormat, DecodedBlocks, table_header

#: Encodings this reader takes (what `detect_format` says of a UTF-8 file).
UTF8_ENCODINGS = ("utf-8", "utf-8-sig")
#: Bytes parsed at a time; a record longer than this ends the fast lane.
BLOCK_BYTES = 256 * 1024


@dataclass(frozen=True)
class ColumnBatch:
    """Consecutive data rows: `columns[i]` holds the text (or null) of column `keys[i]`;
    `keys` are sorted. `bytes_read` is how far the file was read."""

    keys: list[str]
    columns: list[pa.Array]
    bytes_read: int

    @property
    def rows(self) -> int:
        return len(self.columns[0])


class ColumnReader:
    """The data rows of a CSV file as `ColumnBatch`es, while they are exactly `read_csv`'s.

    After iterating, `stopped` is None when the whole file was read, or why reading ended
    early: every row of the batches yielded is then exactly a row of `read_csv`, in order,
    and the rows after them still need reading.
    """

    def __init__(self, path: Path, fmt: CsvFormat, header: list[str]) -> None:
        self.path = path
        self.fmt = fmt
        self.order = sorted(range(len(header)), key=header.__getitem__)
        self.keys = [header[i] for i in self.order]
        self.stopped: str | None = None

    @classmethod
    def open(cls, path: Path | str, fmt: CsvFormat) -> ColumnReader | None:
        """A reader for the file, or None when its encoding or first record already rule it out."""
        path = Path(path)
        if fmt.encoding not in UTF8_ENCODINGS:
            return None
        csv.field_size_limit(FIELD_LIMIT)
        with open(path, "rb") as raw:
            reader = csv.reader(DecodedBlocks(raw, fmt.encoding).lines(), delimiter=fmt.delimiter,
                                quotechar=fmt.quotechar, strict=False)
            first = next(reader, [])
            one_line = reader.line_num == 1
        # pyarrow skips a header by lines, not records, and skips blank lines read_csv would
        # take for the header; both are left to read_csv.
        if not first or not one_line:
            return None
        return cls(path, fmt, table_header(first, fmt.has_header))

    def batches(self) -> Iterator[ColumnBatch]:
        """The file's data rows, block by block, until the end or the first block that is not exact."""
        invalid: list[str] = []

        def on_invalid_row(row: pa_csv.InvalidRow) -> str:
            invalid.append(f"a record of {row.actual_columns} fields where the header has {row.expected_columns}")
            return "skip"

        names = [str(n) for n in range(len(self.keys))]
        with pa.OSFile(str(self.path)) as source:
            try:  # opening parses the first block already
                reader = pa_csv.open_csv(
                    source,
                    read_options=pa_csv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES, column_names=names,
                                                    skip_rows=1 if self.fmt.has_header else 0),
                    parse_options=pa_csv.ParseOptions(delimiter=self.fmt.delimiter, quote_char=self.fmt.quotechar,
                                                      double_quote=True, escape_char=False, newlines_in_values=True,
                                                      ignore_empty_lines=True, invalid_row_handler=on_invalid_row),
                    convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                          null_values=[""], strings_can_be_null=True,
                                                          quoted_strings_can_be_null=True),
                )
                while True:
                    batch = reader.read_next_batch()
                    columns = [batch.column(i) for i in self.order]
                    if invalid or any(map(_holds_nul, columns)):
                        self.stopped = invalid[0] if invalid else "a NUL character"
                        return
                    if batch.num_rows:
                        yield ColumnBatch(self.keys, columns, source.tell())
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:  # bytes that are not UTF-8, a record larger than a block...
                self.stopped = str(exc).splitlines()[0]


def _holds_nul(column: pa.Array) -> bool:
    data = column.buffers()[2]
    return data is not None and data.size > 0 and not np.frombuffer(data, dtype=np.uint8).all()

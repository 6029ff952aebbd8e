"""Read `.xlsx` workbooks in openpyxl's read-only streaming mode: every sheet its own table.

The first non-empty row of a sheet is its header, and its first non-empty cell the table's
first column (a table may start at C3). Values keep their type: numbers stay numbers,
booleans booleans, dates and times become ISO 8601 strings (a cell formatted as a date
alone gives `2024-03-01`, not a midnight time), formulas give their cached value, text
stays exactly as typed; an empty cell is None. Fully empty rows are skipped. A row with
values outside the header's columns is rejected with its sheet and row.
`.xls` (Excel 97-2003) is refused: save it as `.xlsx` or `.csv`.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from import_pipeline.records import Reject
from import_pipeline.sources.datasets.table import TableStart, column_names


class UnsupportedFile(ValueError):
    """A file this reader cannot read, with what to do instead."""


_FORMAT_LITERALS = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.')


def _shows_time(number_format: str) -> bool:
    """Whether an Excel number format shows a time of day (hours, seconds or AM/PM)."""
    shown = _FORMAT_LITERALS.sub("", number_format or "").lower()
    return "h" in shown or "s" in shown or "am/pm" in shown or "a/p" in shown


def _value(cell: Any) -> Any:
    value = cell.value
    if isinstance(value, dt.datetime) and not _shows_time(getattr(cell, "number_format", "")):
        return value.date().isoformat()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, str) and value == "":
        return None
    return value


def read_xlsx(path: Path | str) -> Iterator[TableStart | dict[str, Any] | Reject]:
    """Yield the data rows of every sheet of the workbook at `path`, each sheet's after a
    `TableStart` with its name."""
    path = Path(path)
    if path.suffix.lower() == ".xls":
        raise UnsupportedFile(f"{path.name}: .xls (Excel 97-2003) files are not supported; save it as .xlsx or .csv")
    from openpyxl import load_workbook  # here: a CSV import (and its parsing process) never loads openpyxl

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise UnsupportedFile(f"{path.name}: not a readable .xlsx workbook ({exc})") from None
    try:
        for sheet in workbook.worksheets:
            yield from _sheet_rows(str(path), sheet)
    finally:
        workbook.close()


def _sheet_rows(source: str, sheet: Any) -> Iterator[TableStart | dict[str, Any] | Reject]:
    yield TableStart(sheet.title)
    header: list[str] | None = None
    first = 0  # the table's first column
    for line, cells in enumerate(sheet.iter_rows(), 1):
        values = [_value(c) for c in cells]
        if all(v is None for v in values):
            continue
        if header is None:
            while values and values[-1] is None:
                values.pop()
            while values[first] is None:
                first += 1
            header = column_names(values[first:])
            continue
        outside = values[:first] + values[first + len(header):]
        if any(v is not None for v in outside):
            yield Reject(source, f"sheet {sheet.title!r}: values outside the header's {len(header)} columns",
                         line=line, raw=repr(values)[:2000])
            continue
        values = values[first:first + len(header)]
        values += [None] * (len(header) - len(values))
        yield dict(zip(header, values, strict=False))

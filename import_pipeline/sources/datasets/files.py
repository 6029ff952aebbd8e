"""What kind of tabular file a path is, and about how many rows it holds (no reader loaded)."""

from __future__ import annotations

from pathlib import Path

from import_pipeline.sources.datasets.csv_file import estimate_rows

#: Workbooks `read_xlsx` reads; `.xls` goes to it too, to be refused with a message.
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls")


def is_workbook(path: Path | str) -> bool:
    """Whether the file at `path` is read as an Excel workbook (by its suffix); else it is a CSV."""
    return Path(path).suffix.lower() in WORKBOOK_SUFFIXES


def estimated_rows(path: Path | str) -> int:
    """A rough count of the file's rows, from its size (0 for workbooks, which are compressed)."""
    return 0 if is_workbook(path) else estimate_rows(path)

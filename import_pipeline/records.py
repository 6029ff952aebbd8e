"""Plain record types shared by sources, the engine and the Dagster layer (no I/O here)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reject:
    """A source record that could not be imported, and where it was.

    `line` and `offset` locate it in `source` (a file path or URL); either may be None
    when the format has no such notion. `raw` holds the record's text, cut to a sane size.
    """

    source: str
    reason: str
    line: int | None = None
    offset: int | None = None
    raw: str | None = None

    MAX_RAW_CHARS = 10_000

    def __post_init__(self) -> None:
        if self.raw is not None and len(self.raw) > self.MAX_RAW_CHARS:
            object.__setattr__(self, "raw", self.raw[: self.MAX_RAW_CHARS] + "…")


@dataclass
class RowStream:
    """Rows that must not be held in memory: column names and a one-shot iterator of tuples.

    `types` are PostgreSQL type names, one per column (`"bigint"`, `"text"`, `"jsonb"`...);
    when given, the engine writes binary COPY. The table must exist (declared in `sql/`).
    `delete_absent` (a merge's): the rows are the whole table, so once they are written
    without a reject, stored rows absent from them are deleted, unless they are more than
    this share of the stored rows (then nothing is written); None keeps them. `prepare`
    (a merge's): turns the rows to be sent, new or changed, into the rows sent (see
    `merge_rows`).
    """

    columns: Sequence[str]
    rows: Iterable[Sequence[Any]]
    types: Sequence[str] | None = None
    rejects: list[Reject] = field(default_factory=list)
    delete_absent: float | None = None
    prepare: Callable[[Iterable[Sequence[Any]]], Iterable[Sequence[Any]]] | None = None

    def __post_init__(self) -> None:
        if self.types is not None and len(self.types) != len(self.columns):
            raise ValueError(
                f"RowStream has {len(self.columns)} columns but {len(self.types)} types"
            )

    def __iter__(self) -> Iterator[Sequence[Any]]:
        return iter(self.rows)


@dataclass(frozen=True)
class Progress:
    """How far an import is: `records` done, `bytes_read` of `total_bytes`, after `seconds`."""

    records: int
    bytes_read: int
    total_bytes: int
    seconds: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if not self.bytes_read:
            return None
        return self.seconds * (self.total_bytes - self.bytes_read) / self.bytes_read

    def describe(self, what: str, unit: str = "records") -> str:
        """One log line: `<what>: N <unit>, X of Y MB, R <unit>/s, about E s left`."""
        eta = f", about {self.eta_seconds:.0f} s left" if self.eta_seconds is not None else ""
        return (f"{what}: {self.records:,} {unit}, {self.bytes_read / 1e6:,.1f} of {self.total_bytes / 1e6:,.1f} MB, "
                f"{self.records_per_second:,.0f} {unit}/s{eta}")

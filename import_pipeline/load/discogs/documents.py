"""A dump file as the merge stream of its document table.

The rows are read in parsing children (`parallel.iterate_in_process`), so that parsing and
writing overlap. Into an empty table (a first load) `CONVERTING_CHILDREN` children convert
every record between them. Into a filled one it sends raw records only, and the merge converts just the new
and changed ones, after the key + raw-hash check (`RowStream.prepare`): an unchanged record
costs its reading and hashing, not its conversion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from import_pipeline.parallel import iterate_in_process
from import_pipeline.records import Progress, RowStream
from import_pipeline.sources.discogs.batches import convert_rows

COLUMNS = ("data_id", "hash", "raw_hash", "data", "dump_date", "updated_at")
#: Parsing children of a first load, each converting every n-th record: converting is the
#: first load's critical path (~6,000 releases/s per child), splitting the file is not.
CONVERTING_CHILDREN = 2
DUMP_TYPES = ("artists", "labels", "masters", "releases")


def document_stream(path: Path, dump_type: str, dump_date: dt.date, *, convert_in_child: bool,
                    delete_absent: float | None, progress: Callable[[Progress], None] | None = None) -> RowStream:
    """The rows of the dump at `path` for `discogs.<dump_type>`, to merge on `data_id` with
    `raw_hash` as the change check. `convert_in_child`: the child converts every record (for
    an empty table); else the merge converts those it sends. `delete_absent` as `RowStream`'s.
    `progress`, if given, is called with a `Progress` after each batch."""
    stream = RowStream(columns=COLUMNS, rows=(), delete_absent=delete_absent)
    total = path.stat().st_size
    source = str(path)

    def rows() -> Iterator[Sequence[Any]]:
        done = 0
        started = dt.datetime.now(dt.UTC)
        shares = CONVERTING_CHILDREN if convert_in_child else 1
        children = [
            iterate_in_process("import_pipeline.sources.discogs.batches:row_batches", {
                "path": source, "dump_type": dump_type, "dump_date": dump_date.isoformat(),
                "convert": convert_in_child, "share": (k, shares)})
            for k in range(shares)
        ]
        for batch, rejects in _round_robin(children):
            stream.rejects.extend(rejects)
            now = dt.datetime.now(dt.UTC)
            for row in batch:
                yield (*row, now)
            done += len(batch)
            if progress is not None:
                progress(Progress(records=done, bytes_read=0, total_bytes=total,
                                  seconds=(now - started).total_seconds()))

    def prepare(sent: Iterable[Sequence[Any]]) -> Iterable[Sequence[Any]]:
        return convert_rows(sent, dump_type, source, stream.rejects)

    stream.rows = rows()
    stream.prepare = None if convert_in_child else prepare
    return stream


def _round_robin(iterators: list[Iterator[Any]]) -> Iterator[Any]:
    """The items of `iterators` taken in turn, until all are exhausted; leaving early closes
    them all (which stops their child processes)."""
    live = list(iterators)
    try:
        while live:
            for iterator in list(live):
                try:
                    yield next(iterator)
                except StopIteration:
                    live.remove(iterator)
    finally:
        for iterator in iterators:
            close = getattr(iterator, "close", None)  # a generator's: stops its child
            if close is not None:
                close()

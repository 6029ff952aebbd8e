"""A dump file as the merge stream of its document table.

The rows are read in the parsing child (`parallel.iterate_in_process`), so that parsing and
writing overlap on two cores. Into an empty table (a first load) the child converts every
record. Into a filled one it sends raw records only, and the merge converts just the new
and changed ones, after the key + raw-hash check (`RowStream.prepare`): an unchanged record
costs its reading and hashing, not its conversion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from import_pipeline.parallel import iterate_in_process
from import_pipeline.records import Progress, RowStream
from import_pipeline.sources.discogs.batches import convert_rows

COLUMNS = ("data_id", "hash", "raw_hash", "data", "dump_date", "updated_at")
DUMP_TYPES = ("artists", "labels", "masters", "releases")


def document_stream(path: Path, dump_type: str, dump_date: dt.date, *, convert_in_child: bool,
                    delete_absent: float | None, progress: Any = None) -> RowStream:
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
        kwargs = {"path": source, "dump_type": dump_type, "dump_date": dump_date.isoformat(),
                  "convert": convert_in_child}
        for batch, rejects in iterate_in_process("import_pipeline.sources.discogs.batches:row_batches", kwargs):
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

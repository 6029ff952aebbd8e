"""A dump turned into batches of table rows, with change detection against what is stored.

`dump_batches` reads a dump once. Each record's raw UTF-8 text is hashed (16-byte
BLAKE2b) and compared with the hash stored for its AOID: unchanged records are skipped
(the reader does not even decode them), new records get the next item id, changed ones
keep theirs. Rows are built by `ItemRows` and handed out every `batch_items` written
items. The last thing yielded is a `DumpSummary`. No I/O besides reading the file, so it
can run in another process.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from import_pipeline.records import Reject
from import_pipeline.sources.gamedata.dump import DumpRecord, UnchangedRecord, read_dump, record_digest
from import_pipeline.sources.gamedata.normalize import Interner, ItemRows, RecordError, TableRows


@dataclass
class StoredState:
    """What the database holds before the import: `{aoid: (item id, document hash)}` of the
    dump's kind, the interned keys, and the next free id of each table."""

    items: dict[int, tuple[int, bytes]]
    stat_values: Interner
    criteria: Interner
    shop_hash: Interner
    next_ids: dict[str, int]
    next_item_id: int


@dataclass
class DumpBatch:
    """Rows of up to `batch_items` new or changed items; `changed` are the ids of changed items
    (their old rows must go first). `records` and `offset` say how far the file was read."""

    tables: dict[str, TableRows]
    changed: set[int]
    records: int
    offset: int


@dataclass
class DumpSummary:
    """The outcome once the whole dump was read. `absent` are ids of stored items the dump
    does not contain (any more)."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    absent: list[int] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def dump_batches(
    path: Path | str, *, is_nano: bool, stored: StoredState, batch_items: int
) -> Iterator[DumpBatch | DumpSummary]:
    """Yield the dump at `path` as `DumpBatch`es of new and changed items, then one `DumpSummary`.

    A record that cannot be normalized is rejected with its offset; if its AOID was stored,
    it does not count as absent.
    """
    builder = ItemRows(stored.stat_values, stored.criteria, stored.shop_hash, stored.next_ids)
    existing = stored.items
    next_item_id = stored.next_item_id
    summary = DumpSummary()
    seen: set[int] = set()
    changed: set[int] = set()
    in_batch = records = 0
    for record in read_dump(path, {aoid: digest for aoid, (_, digest) in existing.items()}):
        if isinstance(record, UnchangedRecord):
            records += 1
            seen.add(record.aoid)
            summary.unchanged += 1
            continue
        if not isinstance(record, DumpRecord):
            summary.rejects.append(record)
            continue
        records += 1
        raw = record.data
        digest = record_digest(raw)
        aoid = record.aoid
        known = existing.get(aoid)
        if known is not None:
            seen.add(aoid)
            if known[1] == digest:  # from the full decoder, which compares no digests
                summary.unchanged += 1
                continue
            item_id = known[0]
        else:
            item_id = next_item_id
        try:
            builder.add(item_id, record.document, raw, digest, is_nano)
        except RecordError as exc:
            summary.rejects.append(Reject(record.source, str(exc), offset=record.offset, raw=record.raw))
            continue
        if known is None:
            next_item_id += 1
            summary.new += 1
        else:
            changed.add(item_id)
            summary.changed += 1
        in_batch += 1
        if in_batch >= batch_items:
            yield DumpBatch(builder.take(), changed, records, record.offset)
            changed = set()
            in_batch = 0
    yield DumpBatch(builder.take(), changed, records, Path(path).stat().st_size)
    summary.absent = [item_id for aoid, (item_id, _) in existing.items() if aoid not in seen]
    yield summary

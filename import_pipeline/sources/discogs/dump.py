"""Read a Discogs dump (`discogs_YYYYMMDD_<type>.xml.gz`, or the plain XML) record by record.

The decompressed stream is split into record elements by a byte scanner that follows the
depth of the record tag (labels nest `<label>` inside `<sublabels>`), then each record is
parsed on its own with lxml and converted (`documents.record_document`). So memory holds
one record at a time, a malformed record is a reject with its byte offset (in the
decompressed stream) while the next record is read as usual, and the SHA-256 of a record's
raw bytes is known before it is converted. gzip is decoded with `isal` (ISA-L, a few times
faster than zlib) when it is installed, else with the standard library.

A file that is not a dump of its type, or a gzip stream that ends early (a truncated
download), raises `DumpFormatError` in one line, after the records read before it.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from import_pipeline.records import Reject
from import_pipeline.sources.discogs.documents import (
    RECORD_TAGS,
    canonical_json,
    document_hash,
    record_document,
    record_id,
)

try:
    from isal import igzip as fast_gzip
except ImportError:  # pragma: no cover - isal is a dependency; the standard library still works
    fast_gzip = None  # type: ignore[assignment]

CHUNK_BYTES = 1 << 20
DUMP_NAME = re.compile(r"^discogs_(\d{8})_(artists|labels|masters|releases)\.xml(\.gz)?$")
_PARSER = etree.XMLParser(resolve_entities=False, huge_tree=True, remove_comments=True, remove_pis=True)


class DumpFormatError(ValueError):
    """The file is not a readable dump of its type (or its gzip stream ends early)."""


@dataclass(frozen=True)
class DumpRecord:
    """One record: its id, the SHA-256 of its raw bytes and of its document's canonical JSON,
    the canonical JSON itself, and where it started in the decompressed stream."""

    data_id: str
    raw_hash: str
    hash: str
    document: bytes
    offset: int


def dump_name_parts(name: str) -> tuple[str, str] | None:
    """`(YYYYMMDD, type)` of a dump file name, or None when it is not one."""
    match = DUMP_NAME.match(name)
    return (match.group(1), match.group(2)) if match else None


def open_dump(path: Path) -> BinaryIO:
    """The decompressed bytes of `path` (gzip when its name ends in `.gz`)."""
    if path.name.endswith(".gz"):
        return fast_gzip.open(path, "rb") if fast_gzip is not None else gzip.open(path, "rb")
    return path.open("rb")


def split_records(stream: BinaryIO, tag: str, source: str) -> Iterator[tuple[int, bytes] | Reject]:
    """The raw bytes of each `<tag>` element at the top of `stream`, with their offset.

    A record tag opened inside a record whose tag never nests (artist, master, release)
    means the record before was cut short: it is a reject, and reading goes on from the new
    one. Raises `DumpFormatError` when the stream ends inside a record or the gzip data ends early.
    """
    pattern = re.compile(rb"<(/?)" + re.escape(tag.encode()) + rb"(?=[\s/>])")
    nests = tag == "label"
    buffer = b""
    base = 0  # offset of buffer[0] in the stream
    scan = 0  # where the scanner goes on in buffer
    depth = 0
    start = 0  # the current record's start in buffer, while depth > 0
    read = getattr(stream, "read1", stream.read)  # read1: what decompressed so far, before a truncation
    while True:
        try:
            chunk = read(CHUNK_BYTES)
        except EOFError as exc:
            raise DumpFormatError(f"{source}: the gzip stream ends early at byte {base + len(buffer):,} "
                                  f"(a truncated file?): {exc}") from None
        except (OSError, gzip.BadGzipFile) as exc:
            raise DumpFormatError(f"{source}: cannot be read as gzip: {exc}") from None
        if not chunk:
            if depth:
                raise DumpFormatError(f"{source}: the file ends inside the <{tag}> record at byte {base + start:,}")
            return
        buffer += chunk
        unfinished = len(buffer)
        while (match := pattern.search(buffer, scan)) is not None:
            end = buffer.find(b">", match.end())
            if end < 0:
                unfinished = match.start()  # the tag goes on in the next chunk
                break
            scan = end + 1
            if match.group(1):  # </tag>
                if depth == 0:
                    yield Reject(source=source, reason=f"</{tag}> without its <{tag}>", offset=base + match.start())
                    continue
                depth -= 1
                if depth == 0:
                    yield base + start, buffer[start:end + 1]
            elif buffer[end - 1:end] == b"/":  # <tag .../>
                if depth == 0:
                    yield base + match.start(), buffer[match.start():end + 1]
            else:
                if depth and not nests:
                    yield Reject(source=source, reason=f"<{tag}> record not closed before the next one",
                                 offset=base + start, raw=buffer[start:match.start()].decode("utf-8", "replace"))
                    depth = 0
                if depth == 0:
                    start = match.start()
                depth += 1
        keep = start if depth else min(max(scan, len(buffer) - len(tag) - 3), unfinished)
        buffer, base, scan, start = buffer[keep:], base + keep, max(scan - keep, 0), (start - keep if depth else 0)


@dataclass(frozen=True)
class RawRecord:
    """One record as it is in the file: its id (read from its first tag, or its first `<id>`),
    the SHA-256 of its bytes, the bytes, and where it started in the decompressed stream."""

    data_id: str
    raw_hash: str
    raw: bytes
    offset: int


def _id_pattern(dump_type: str) -> re.Pattern[bytes]:
    tag = RECORD_TAGS[dump_type].encode()
    if dump_type in ("masters", "releases"):
        return re.compile(rb"\A<" + tag + rb"\s[^>]*?\bid=[\"']([^\"']*)[\"']")
    return re.compile(rb"<id>([^<]*)</id>")


def read_raw_records(path: Path | str, dump_type: str, share: tuple[int, int] = (0, 1)) -> Iterator[RawRecord | Reject]:
    """Every record of the dump at `path` unparsed, as a `RawRecord`; a `Reject` (byte offset,
    reason) for a record cut short or without an id. With `share` `(k, n)`, only the records
    (and rejects) whose position in the file is k modulo n. See the module for `DumpFormatError`."""
    path = Path(path)
    tag = RECORD_TAGS.get(dump_type)
    if tag is None:
        raise DumpFormatError(f"{path.name}: unknown dump type {dump_type!r} (one of {', '.join(RECORD_TAGS)})")
    source = str(path)
    ids = _id_pattern(dump_type)
    with open_dump(path) as stream:
        head = stream.peek(4096)[:4096] if hasattr(stream, "peek") else b""
        if head and f"<{dump_type}".encode() not in head:
            raise DumpFormatError(
                f"{path.name}: not a Discogs {dump_type} dump (no <{dump_type}> element at its start)")
        mine, shares = share
        for position, item in enumerate(split_records(stream, tag, source)):
            if position % shares != mine:
                continue
            if isinstance(item, Reject):
                yield item
                continue
            offset, raw = item
            match = ids.search(raw)
            if match is None or not match.group(1).strip():
                yield Reject(source=source, reason=f"<{tag}> without an id", offset=offset,
                             raw=raw.decode("utf-8", "replace"))
                continue
            yield RawRecord(data_id=match.group(1).strip().decode("utf-8", "replace"),
                            raw_hash=hashlib.sha256(raw).hexdigest(), raw=raw, offset=offset)


def convert_record(record: RawRecord, dump_type: str, source: str) -> DumpRecord | Reject:
    """A raw record parsed and converted to its document; a `Reject` when it is malformed or
    its document's id is not the one read from its bytes."""
    tag = RECORD_TAGS[dump_type]
    try:
        element = etree.fromstring(record.raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        return Reject(source=source, reason=f"malformed <{tag}>: {exc}", offset=record.offset,
                      raw=record.raw.decode("utf-8", "replace"))
    document = record_document(element)
    data_id = record_id(dump_type, document)
    if data_id != record.data_id:
        return Reject(source=source, reason=f"<{tag}> without an id" if data_id is None else
                      f"<{tag}> id {data_id!r} is not the first id in its bytes ({record.data_id!r})",
                      offset=record.offset, raw=record.raw.decode("utf-8", "replace"))
    canonical = canonical_json(document)
    return DumpRecord(data_id=data_id, raw_hash=record.raw_hash, hash=document_hash(canonical), document=canonical,
                      offset=record.offset)


def read_dump(path: Path | str, dump_type: str) -> Iterator[DumpRecord | Reject]:
    """Every record of the dump at `path` as a `DumpRecord`, or a `Reject` (byte offset and
    reason) when it is malformed or has no id; see the module for `DumpFormatError`."""
    source = str(path)
    for item in read_raw_records(path, dump_type):
        yield item if isinstance(item, Reject) else convert_record(item, dump_type, source)

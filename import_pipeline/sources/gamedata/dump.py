"""Stream the records of an item or nano dump (`items.json`, `nanos.json`) in bounded memory.

A dump is one JSON array of item objects, usually on a single line, hundreds of MB long.
The full decoder reads one element at a time from a bounded text buffer with the C JSON
decoder, so records come out at C speed with their exact byte offset, and memory stays
bounded by the buffer and the largest record. A malformed element becomes a `Reject`; the
reader then resumes at the next object that decodes as an item (one with an `AOID`), so
one bad record costs only itself: bytes that are not UTF-8, `NaN` or `Infinity` (not JSON,
and PostgreSQL's json types refuse them), nesting deeper than the decoder's recursion
limit, a lone UTF-16 surrogate escape (`"\ud800"`, which no UTF-8 text can hold) and NUL
characters are each a reject, and so is a number too large for a double (`1e400`). A UTF-8
byte order mark before the array is skipped. A truncated file yields the complete records
and one reject for the tail.

Records are first cut from the bytes (`scan.RecordSlices`). A record whose AOID has a known
digest and whose bytes hash to it is yielded as an `UnchangedRecord`, never decoded; the
others are decoded with orjson (or, when they hold a run of 19 digits, which orjson may
read as a float, with the stdlib decoder). At the first slice that the decoder refuses or
that is not an element, and for the rest of the file, the reader falls back to the full
decoder described above, which finds every reject and its reason. The one difference left:
orjson accepts nesting to 1,024 levels, the full decoder to its recursion limit (~990).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from import_pipeline.records import Reject
from import_pipeline.sources.gamedata.scan import RecordSlices

READ_CHARS = 4 * 1024 * 1024
#: A record larger than this is rejected instead of growing the buffer without end.
MAX_RECORD_CHARS = 64 * 1024 * 1024
INT32 = (-(2**31), 2**31 - 1)
#: An error this close to the end of the buffer may be a cut token, not bad JSON.
CUT_MARGIN = 64


class _NotJson(ValueError):
    """A constant Python's decoder accepts but JSON (and PostgreSQL) does not: NaN, Infinity."""


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value (PostgreSQL cannot store it)")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise _NotJson(f"{text} is too large for a double (PostgreSQL cannot store it)")
    return value


_decoder = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
#: Errors that make one element undecodable, not the file.
_ELEMENT_ERRORS = (json.JSONDecodeError, _NotJson, RecursionError)
#: Escapes of characters PostgreSQL text cannot hold (NUL), or that may be lone surrogates.
_SUSPICIOUS_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89abAB])")
_SKIP = re.compile(r"[\s,]*")  # between elements
_SPACE = re.compile(r"\s*")
_NEXT_OBJECT = re.compile(r"[,\[]\s*\{")


@dataclass(frozen=True)
class DumpRecord:
    """One item document from a dump, where it was, and its raw JSON text."""

    source: str
    offset: int
    aoid: int
    document: dict[str, Any]
    #: The record's JSON text as the UTF-8 bytes it was in the file.
    data: bytes

    @property
    def raw(self) -> str:
        """The record's JSON text."""
        return self.data.decode("utf-8")


@dataclass(frozen=True, slots=True)
class UnchangedRecord:
    """A record whose bytes hash to the digest the caller knows for its AOID: not decoded."""

    offset: int
    aoid: int


def record_digest(data: bytes) -> bytes:
    """The 16-byte BLAKE2b of a record's raw bytes, as stored in `items.document_hash`."""
    return hashlib.blake2b(data, digest_size=16).digest()


class DumpFormatError(ValueError):
    """The file is not a JSON array at all; nothing in it can be imported."""


class _Buffer:
    """Decoded text of a byte stream, read on demand.

    `pos` is where unread text starts; `pos_byte` is its offset in the file. Text before
    `pos` is dropped only when more is read, so consuming a record costs no copy. Bytes
    that are not UTF-8 decode to lone surrogates (`surrogateescape`), so the record that
    holds them can be rejected and its offsets stay exact.
    """

    def __init__(self, stream: BinaryIO, start: int = 0) -> None:
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.text = ""
        self.pos = 0
        self.pos_byte = start
        self.eof = False

    def fill(self) -> bool:
        """Append the next block of text; False when the stream is exhausted."""
        if self.eof:
            return False
        block = self.stream.read(READ_CHARS)
        if not block:
            # No rebase here: callers' indexes into the text must stay valid at the end.
            self.eof = True
            tail = self.decoder.decode(b"", final=True)
            self.text += tail
            return bool(tail)
        self.text = self.text[self.pos:] + self.decoder.decode(block)
        self.pos = 0
        return True

    def read_more(self, since: int) -> bool:
        """`fill`, unless the text from index `since` already holds a record-size limit's worth."""
        return len(self.text) - since < MAX_RECORD_CHARS and self.fill()

    def consume(self, index: int) -> None:
        """Mark the text up to `index` as read."""
        self.pos_byte = self.byte_offset(index)
        self.pos = index

    def byte_offset(self, index: int) -> int:
        """The file offset of text index `index` (at or after `pos`)."""
        return self.pos_byte + len(self.text[self.pos:index].encode("utf-8", errors="surrogateescape"))


def read_dump(
    path: Path | str, known: Mapping[int, bytes] | None = None
) -> Iterator[DumpRecord | UnchangedRecord | Reject]:
    """Yield every element of the dump at `path` as a `DumpRecord` or, if it cannot be one, a `Reject`.

    Checks: the element is a JSON object with an integer `AOID`; `StatValues` is a list of
    `{Stat, RawValue}` with 32-bit integers; no AOID repeats within the file (the second
    one is rejected). Raises `DumpFormatError` when the file does not start a JSON array.
    An element whose AOID is in `known` and whose bytes hash (`record_digest`) to the digest
    given there is yielded as an `UnchangedRecord` instead, without being decoded.
    """
    path = Path(path)
    with path.open("rb") as stream:
        yield from _read_stream(stream, str(path), known or {})


_AOID = re.compile(rb'"AOID"[ \t\r\n]*:[ \t\r\n]*(-?[0-9]{1,10})[ \t\r\n]*[,}]')
#: orjson reads integers past 64 bits (some of 19 digits) as floats; such records go to the
#: stdlib. A run of 19 digits is found by mapping every digit to "0" (a regex is 10x slower).
_DIGITS_AS_ZEROS = bytes.maketrans(b"0123456789", b"0" * 10)
_NINETEEN_DIGITS = b"0" * 19


def _long_digit_run(data: bytes) -> bool:
    return _NINETEEN_DIGITS in data.translate(_DIGITS_AS_ZEROS)


def _read_stream(
    stream: BinaryIO, source: str, known: Mapping[int, bytes]
) -> Iterator[DumpRecord | UnchangedRecord | Reject]:
    seen: set[int] = set()
    slices = RecordSlices(stream, MAX_RECORD_CHARS)
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for offset, data in slices:
        # The first "AOID" may be a nested object's; then the digest cannot match (see scan.py).
        found = _AOID.search(data) if known else None
        if found is not None:
            aoid = int(found.group(1))
            digest = known.get(aoid)
            if digest is not None and aoid not in seen and record_digest(data) == digest:
                seen.add(aoid)
                yield UnchangedRecord(offset, aoid)
                continue
        if not _long_digit_run(data):
            try:
                value = loads(data)
            except decode_error:
                slices.unrecognised_at = offset
                break
        else:
            value = _exactly_decoded(data)
            if value is _UNDECODABLE:
                slices.unrecognised_at = offset
                break
        problem = _element_problem(value, seen) or text_problem(value, data)
        if problem:
            yield Reject(source, problem, offset=offset, raw=data.decode("utf-8"))
            continue
        seen.add(value["AOID"])
        yield DumpRecord(source=source, offset=offset, aoid=value["AOID"], document=value, data=data)
    if slices.unrecognised_at is not None:
        yield from _decode_stream(stream, source, slices.unrecognised_at, seen)


_UNDECODABLE = object()


def _element_problem(value: Any, seen: set[int]) -> str | None:
    """Why decoded element `value` is no item document, or is one whose AOID came earlier in the file."""
    problem = record_problem(value)
    if problem is None and value["AOID"] in seen:
        problem = f"duplicate AOID {value['AOID']} in this file"
    return problem


def _exactly_decoded(data: bytes) -> Any:
    """`data` decoded by the stdlib decoder (exact integers of any size), or `_UNDECODABLE`
    when it is not one whole JSON value that decoder accepts."""
    try:
        text = data.decode("utf-8")
        value, end = _decoder.raw_decode(text)
    except (UnicodeDecodeError, *_ELEMENT_ERRORS):
        return _UNDECODABLE
    return value if end == len(text) else _UNDECODABLE


def _decode_stream(stream: BinaryIO, source: str, start: int, seen: set[int]) -> Iterator[DumpRecord | Reject]:
    """The full decoder, from file offset `start` (0: the file's start, where the array must
    open; otherwise the start of an element, or of the space before one)."""
    stream.seek(start)
    buf = _Buffer(stream, start)
    buf.fill()
    if start == 0:
        opening = _SKIP.match(buf.text, 1 if buf.text.startswith("\ufeff") else 0).end()  # type: ignore[union-attr]
        if buf.text[opening:opening + 1] != "[":
            raise DumpFormatError(f"{source}: not a JSON array (a dump starts with '[')")
        buf.consume(opening + 1)
    while True:
        index = _SKIP.match(buf.text, buf.pos).end()  # type: ignore[union-attr]
        if index == len(buf.text):
            if not buf.fill():
                yield Reject(source, "invalid JSON tail: the array is not closed", offset=buf.byte_offset(index))
                return
            continue
        if buf.text[index] == "]":
            return
        try:
            value, end = _decoder.raw_decode(buf.text, index)
        except _ELEMENT_ERRORS as exc:
            if isinstance(exc, json.JSONDecodeError) and _maybe_cut(buf, exc):
                # Possibly just cut by the end of the buffer (mid-string, mid-number,
                # mid-literal like `nul`): read more and try again.
                if buf.read_more(index):
                    continue
                yield Reject(source, f"invalid JSON tail: {exc.msg}", offset=buf.byte_offset(index),
                             raw=buf.text[index:index + 2000])
                return
            if isinstance(exc, json.JSONDecodeError):
                reason = f"invalid JSON: {exc.msg} at byte {buf.byte_offset(exc.pos)}"
            elif isinstance(exc, RecursionError):
                reason = "nested deeper than the JSON decoder's limit"
            else:
                reason = str(exc)
            buf.consume(index)
            offset = buf.pos_byte
            # Well-formed but unstorable (NaN, too deep): it ends where its brackets close.
            closed = None if isinstance(exc, json.JSONDecodeError) else _element_end(buf)
            resume = _resume_after(buf) if closed is None else closed
            yield Reject(source, reason, offset=offset, raw=buf.text[buf.pos:resume][:Reject.MAX_RAW_CHARS])
            buf.consume(resume)
            continue
        buf.consume(index)
        offset = buf.pos_byte
        raw = buf.text[index:end]
        buf.consume(end)
        problem = _element_problem(value, seen)
        data = b""
        if problem is None:
            try:
                data = raw.encode("utf-8")
            except UnicodeEncodeError as exc:
                bad_at = offset + len(raw[:exc.start].encode("utf-8", "surrogateescape"))
                problem = f"bytes that are not UTF-8 at byte {bad_at}"
        if problem is None:
            problem = text_problem(value, data)
        if problem:
            yield Reject(source, problem, offset=offset, raw=raw)
            continue
        seen.add(value["AOID"])
        yield DumpRecord(source=source, offset=offset, aoid=value["AOID"], document=value, data=data)


def _maybe_cut(buf: _Buffer, exc: json.JSONDecodeError) -> bool:
    """Whether a decode error may come from the buffer ending mid-token rather than bad JSON."""
    return exc.pos >= len(buf.text) - CUT_MARGIN or exc.msg.startswith("Unterminated")


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _element_end(buf: _Buffer) -> int | None:
    """The index just after the element starting at `buf.pos`, found by matching its brackets
    (strings skipped), reading more text as needed; None if it does not close within the
    record-size limit. For elements that are well-formed JSON but cannot be decoded."""
    while True:
        depth = 0
        for token in _TOKEN.finditer(buf.text, buf.pos):
            first = token.group()[0]
            if first in "[{":
                depth += 1
            elif first in "]}":
                depth -= 1
                if depth == 0:
                    return token.end()
        if not buf.read_more(buf.pos):
            return None


def _resume_after(buf: _Buffer) -> int:
    """Index of the next array element after the malformed one at `buf.pos`: the next object
    that decodes to a dict with an `AOID` and is followed by `,` or `]`; end of text if none.

    Works in offsets from `buf.pos`, which stay valid when reading more rebases the text.
    """
    skip = 1
    while True:
        match = _NEXT_OBJECT.search(buf.text, buf.pos + skip)
        if match is None:
            if buf.read_more(buf.pos):
                continue
            return len(buf.text)
        match_start = match.start() - buf.pos  # relative, so it survives a rebase
        candidate = match.end() - 1
        skip = candidate + 1 - buf.pos
        try:
            value, end = _decoder.raw_decode(buf.text, candidate)
        except _ELEMENT_ERRORS as exc:
            if isinstance(exc, json.JSONDecodeError) and _maybe_cut(buf, exc) and buf.read_more(buf.pos):
                skip = match_start  # the candidate was cut by the buffer: try it again
            continue
        follower = _SPACE.match(buf.text, end).end()  # type: ignore[union-attr]
        if isinstance(value, dict) and "AOID" in value and buf.text[follower:follower + 1] in (",", "]", ""):
            return candidate


def text_problem(value: Any, data: bytes) -> str | None:
    """Why the text of a decoded record cannot be stored in PostgreSQL (a NUL character, a lone
    UTF-16 surrogate), or None. `data` is the record's UTF-8 JSON text: only a record whose
    text holds a `\\u0000` or `\\uD800`-`\\uDFFF` escape is walked, so the common record costs
    one search of its bytes."""
    if _SUSPICIOUS_ESCAPE.search(data) is None:
        return None
    for text in _strings(value):
        if "\x00" in text:
            return "text contains a NUL character (\\u0000), which PostgreSQL cannot store"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "text contains a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not Unicode text"
    return None


def _strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included (iteratively: no recursion limit)."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            yield current
        elif isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)


def record_problem(value: Any) -> str | None:
    """Why `value` cannot be imported as an item document, or None when it can."""
    if not isinstance(value, dict):
        return f"expected an object, got {type(value).__name__}"
    if "AOID" not in value:
        return "missing AOID"
    if type(value["AOID"]) is not int:
        return f"AOID must be an integer, got {value['AOID']!r}"
    if not isinstance(value.get("Name", ""), str):
        return "Name must be a string"
    stats = value.get("StatValues") or []
    if not isinstance(stats, list):
        return "StatValues must be a list"
    low, high = INT32
    for stat in stats:  # inlined: this runs for every stat of every record
        if type(stat) is dict:
            number, value = stat.get("Stat"), stat.get("RawValue")
            if type(number) is int and type(value) is int and low <= number <= high and low <= value <= high:
                continue
        return f"bad StatValues entry {stat!r}: Stat and RawValue must be 32-bit integers"
    return None

"""Read a Skype export (`messages.json`, or the export `.tar` holding it) one message at a time.

The file is `{"userId", "exportDate", "conversations": [{"id", "displayName", "version",
"properties", "threadProperties", "MessageList": [...]}]}`. It is read by ijson's C parser
and object builder, fed `READ_BYTES` at a time, and each message is taken out of what is
built as soon as it is complete, so memory holds a few messages, not one conversation,
however large a chat is; a `.tar` member is read straight out of the archive, never extracted.

Yielded in file order: an `ExportHeader` once the user and date are known, each
conversation's `Conversation` as soon as its fields before `MessageList` are read (again at
its end when fields follow the list), each `Message`, and a `Reject` for a message that
cannot be stored (not an object, no id, no readable time), with the stream position at which
it was read (exact to `READ_BYTES`). A file that is not JSON or ends early raises
`ExportFormatError` in one line, after what was good.
"""

from __future__ import annotations

import datetime as dt
import itertools
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

from import_pipeline.records import Reject
from import_pipeline.sources.skype.content import read_content

#: Bytes the parser reads at a time: a reject's position is exact to this much.
READ_BYTES = 16 * 1024
#: Conversation id prefixes and the kind of conversation they name.
KINDS = {"8": "person", "19": "group", "28": "bot", "48": "notes", "2": "phone", "4": "pstn"}


class ExportFormatError(ValueError):
    """The file is not a readable Skype export (not JSON, no messages, cut short)."""


@dataclass(frozen=True)
class ExportHeader:
    """Whose export it is and when it was made."""

    user_id: str | None
    export_date: dt.datetime | None


@dataclass
class Conversation:
    """A conversation's own fields (its messages follow it)."""

    id: str
    kind: str
    display_name: str | None = None
    topic: str | None = None
    member_count: int | None = None
    members: list[str] = field(default_factory=list)
    properties: dict[str, Any] | None = None
    thread_properties: dict[str, Any] | None = None


@dataclass(frozen=True)
class Message:
    """One message, with its content read (`content.read_content`)."""

    id: str
    conversation_id: str
    sent_at: dt.datetime
    sender_id: str | None
    sender_name: str | None
    message_type: str | None
    plain: str
    content: str | None
    edited_at: dt.datetime | None
    deleted_at: dt.datetime | None
    call_seconds: int | None
    file_name: str | None
    file_size: int | None
    reactions: list[Any] | None
    properties: dict[str, Any] | None


def conversation_kind(conversation_id: str) -> str:
    """`person`, `group`, `bot`... from the id's prefix (`8:`, `19:`, `28:`...); `other` if unknown."""
    prefix, _, _ = conversation_id.partition(":")
    return KINDS.get(prefix, "other")


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO time of the export (`2020-07-06T17:20:30.609Z`, fractions optional) as UTC; None if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _millis(value: Any) -> dt.datetime | None:
    """Epoch milliseconds (a number or a numeric string) as UTC; None otherwise."""
    try:
        return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class _Counting:
    """A binary stream that counts the bytes read from it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.position += len(data)
        return data


@contextmanager
def open_export(path: Path) -> Iterator[IO[bytes]]:
    """The bytes of `messages.json`: the file itself, or the member of an export `.tar` (any
    folder), read out of the archive without extracting it."""
    if path.name.lower().endswith(".json"):
        with path.open("rb") as plain:
            yield plain
        return
    try:
        archive = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the `with` below; opening is what fails
    except (tarfile.TarError, OSError) as exc:
        raise ExportFormatError(f"{path.name}: not a readable .tar export: {exc}") from None
    with archive:
        member = next((m for m in archive if m.isfile() and Path(m.name).name == "messages.json"), None)
        if member is None:
            raise ExportFormatError(f"{path.name}: the archive holds no messages.json")
        stream = archive.extractfile(member)
        assert stream is not None  # a regular file
        with stream:
            yield stream


def read_export(path: Path | str) -> Iterator[ExportHeader | Conversation | Message | Reject]:
    """The export at `path`, record by record (see the module)."""
    path = Path(path)
    source = str(path)
    with open_export(path) as raw:
        stream = _Counting(raw)
        yield from _records(stream, source, path.name)


def _records(stream: _Counting, source: str, name: str) -> Iterator[ExportHeader | Conversation | Message | Reject]:
    # ijson's C object builder builds the whole document, fed READ_BYTES at a time. Python
    # never sees its events: after each piece it takes the finished messages out of the
    # conversation being built (every element of its MessageList but the last, which may be
    # half-built) and the finished conversations out of the list, so memory holds one piece
    # of messages. The root is the first object the builder makes: `map_type` hands it ours.
    root: dict[str, Any] = {}
    built: list[Any] = []
    builder = ijson.items_coro(_Collect(built), "", use_float=True,
                               map_type=itertools.chain((root,), iter(dict, None)).__next__)
    reading: _Reading | None = None
    header_sent = False
    messages = 0
    try:
        while chunk := stream.read(READ_BYTES):
            builder.send(chunk)
            conversations = root.get("conversations")
            if not isinstance(conversations, list):
                continue
            if not header_sent:
                header_sent = True
                yield ExportHeader(_text(root.get("userId")), parse_time(root.get("exportDate")))
            while conversations:
                finished = len(conversations) > 1
                if reading is None or reading.fields is not conversations[0]:
                    reading = _Reading(conversations[0])
                for record in reading.take(source, stream.position, finished=finished):
                    messages += isinstance(record, Message)
                    yield record
                if not finished:
                    break
                del conversations[0]
                reading = None
        builder.close()
        last = root.get("conversations")
        for fields in last if isinstance(last, list) else ():
            reading = reading if reading is not None and reading.fields is fields else _Reading(fields)
            yield from reading.take(source, stream.position, finished=True)
    except ijson.IncompleteJSONError as exc:
        raise ExportFormatError(f"{name}: the file ends early or is not JSON, at byte {stream.position:,} after "
                                f"{messages:,} messages: {_first_line(exc)}") from None
    except ijson.JSONError as exc:
        raise ExportFormatError(f"{name}: not JSON at byte {stream.position:,}: {_first_line(exc)}") from None
    if not header_sent:
        raise ExportFormatError(f"{name}: no conversations: not a Skype export")


class _Collect(list[Any]):
    """The target of ijson's push interface: what it sends is appended."""

    def send(self, value: Any) -> None:
        self.append(value)


class _Reading:
    """A conversation (`fields`, as the builder fills it) read so far: its header is sent once
    its `MessageList` begins (again at its end if fields came after the list), then its
    messages as they finish."""

    def __init__(self, fields: Any) -> None:
        self.fields = fields
        self.sent_keys: int | None = None  # how many fields the sent header had

    def take(self, source: str, position: int, *, finished: bool) -> Iterator[Conversation | Message | Reject]:
        fields = self.fields
        if not isinstance(fields, dict):
            if finished:
                yield Reject(source=source, reason="a conversation that is not an object", offset=position,
                             raw=repr(fields)[:1000])
            return
        listed = fields.get("MessageList")
        if self.sent_keys is None and ("MessageList" in fields or finished):
            self.sent_keys = len(fields)
            yield _conversation(fields)
        elif finished and self.sent_keys is not None and len(fields) > self.sent_keys:
            yield _conversation(fields)  # fields that followed the messages
        if not isinstance(listed, list):
            return
        done = len(listed) if finished else len(listed) - 1
        if done <= 0:
            return
        conversation_id = fields.get("id")
        for message in listed[:done]:
            yield _message(message, conversation_id, source, position)
        del listed[:done]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _first_line(error: Exception) -> str:
    """The parser's message without the picture of where it stopped (yajl draws one)."""
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


def _conversation(fields: dict[str, Any]) -> Conversation:
    conversation_id = str(fields.get("id") or "")
    thread = fields.get("threadProperties") if isinstance(fields.get("threadProperties"), dict) else None
    members: list[str] = []
    if thread and isinstance(thread.get("members"), str):
        try:
            parsed = orjson.loads(thread["members"])  # a JSON array inside a string
            members = [str(m) for m in parsed] if isinstance(parsed, list) else []
        except ValueError:
            members = []
    count = thread.get("membercount") if thread else None
    return Conversation(
        id=conversation_id, kind=conversation_kind(conversation_id), display_name=fields.get("displayName"),
        topic=thread.get("topic") if thread else None, member_count=int(count) if isinstance(count, int | float)
        else None, members=members, properties=fields.get("properties") if isinstance(fields.get("properties"), dict)
        else None, thread_properties=thread)


def _message(fields: Any, conversation_id: Any, source: str, position: int) -> Message | Reject:
    if not isinstance(fields, dict):
        return Reject(source=source, reason="a message that is not an object", offset=position, raw=repr(fields))
    message_id = fields.get("id")
    sent_at = parse_time(fields.get("originalarrivaltime"))
    if message_id in (None, "") or sent_at is None:
        problem = "no id" if message_id in (None, "") else \
            f"unreadable originalarrivaltime {fields.get('originalarrivaltime')!r}"
        return Reject(source=source, reason=f"message {problem} (it ended near byte {position:,})", offset=position,
                      raw=repr(fields))
    content = fields.get("content") if isinstance(fields.get("content"), str) else None
    read = read_content(content)
    properties = fields.get("properties") if isinstance(fields.get("properties"), dict) else None
    reactions = properties.get("emotions") if properties and isinstance(properties.get("emotions"), list) else None
    return Message(
        id=str(message_id), conversation_id=str(fields.get("conversationid") or conversation_id or ""),
        sent_at=sent_at, sender_id=fields.get("from"), sender_name=fields.get("displayName"),
        message_type=fields.get("messagetype"), plain=read.plain, content=content,
        edited_at=_millis(properties.get("edittime")) if properties else None,
        deleted_at=_millis(properties.get("deletetime")) if properties else None,
        call_seconds=read.call_seconds, file_name=read.file_name, file_size=read.file_size, reactions=reactions,
        properties=properties)

"""Read a Skype export (`messages.json`, or the export `.tar` holding it) one message at a time.

The file is `{"userId", "exportDate", "conversations": [{"id", "displayName", "version",
"properties", "threadProperties", "MessageList": [...]}]}`. It is read with ijson's
event parser (its C backend), so memory holds one message, not one conversation, however
large a chat is; a `.tar` member is read straight out of the archive, never extracted.

Yielded in file order: an `ExportHeader` once the user and date are known, each
conversation's `Conversation` as soon as its fields before `MessageList` are read (the
fields after it, if any, are folded into the next one), each `Message`, and a `Reject`
for a message that cannot be stored (no id, no readable time), with the stream position
at which it ended (exact to the parser's read-ahead of `READ_BYTES`). A file that is not
JSON or ends early raises `ExportFormatError` in one line, after what was good.
"""

from __future__ import annotations

import datetime as dt
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
    header: dict[str, Any] = {}
    header_sent = False
    conversation: dict[str, Any] | None = None
    conversation_sent = False
    builder: ijson.ObjectBuilder | None = None
    building: str | None = None  # the prefix of what the builder is building
    messages = 0
    try:
        for prefix, event, value in ijson.parse(stream, buf_size=READ_BYTES, use_float=True):
            if builder is not None:
                builder.event(event, value)
                if prefix == building and event in ("end_map", "end_array"):
                    finished = builder.value
                    builder, what = None, building
                    if what == "conversations.item.MessageList.item":
                        assert conversation is not None
                        messages += 1
                        yield _message(finished, conversation.get("id"), source, stream.position)
                    elif what is not None and conversation is not None:
                        conversation[what.rsplit(".", 1)[1]] = finished
                continue
            if prefix in ("userId", "exportDate") and event in ("string", "null"):
                header[prefix] = value
            elif prefix == "conversations.item" and event == "start_map":
                if not header_sent:
                    header_sent = True
                    yield ExportHeader(header.get("userId"), parse_time(header.get("exportDate")))
                conversation, conversation_sent = {}, False
            elif prefix == "conversations.item.MessageList" and event == "start_array":
                assert conversation is not None
                conversation_sent = True
                yield _conversation(conversation)
            elif prefix == "conversations.item.MessageList.item":
                if event in ("start_map", "start_array"):
                    builder, building = ijson.ObjectBuilder(), prefix
                    builder.event(event, value)
                else:
                    yield _message(value, None, source, stream.position)
            elif prefix == "conversations.item" and event == "end_map":
                if conversation is not None and not conversation_sent:
                    yield _conversation(conversation)
                conversation = None
            elif conversation is not None and prefix.startswith("conversations.item.") \
                    and prefix.count(".") == 2 and event != "map_key" and not prefix.endswith(".MessageList"):
                if event in ("start_map", "start_array"):
                    builder, building = ijson.ObjectBuilder(), prefix
                    builder.event(event, value)
                else:
                    conversation[prefix.rsplit(".", 1)[1]] = value
    except ijson.IncompleteJSONError as exc:
        raise ExportFormatError(f"{name}: the file ends early or is not JSON, at byte {stream.position:,} after "
                                f"{messages:,} messages: {_first_line(exc)}") from None
    except ijson.JSONError as exc:
        raise ExportFormatError(f"{name}: not JSON at byte {stream.position:,}: {_first_line(exc)}") from None
    if not header_sent:
        raise ExportFormatError(f"{name}: no conversations: not a Skype export")


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

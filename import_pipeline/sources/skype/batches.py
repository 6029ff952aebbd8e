"""Batches of message rows from an export, made in the parsing child (see `parallel.py`).

A batch closes when its messages' text reaches `batch_bytes`, so a chat of huge messages
cannot blow memory and small ones are not sent a hundred at a time. Within a batch a message
the export repeats (it does after edits) counts once: the later version wins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from import_pipeline.records import Reject
from import_pipeline.sources.skype.export import Conversation, ExportHeader, Message, read_export

#: The columns of a message row (`skype.messages` without the export's id).
MESSAGE_COLUMNS = ("conversation_id", "id", "sent_at", "sender_id", "sender_name", "message_type", "content_plain",
                   "content_raw", "edited_at", "deleted_at", "call_seconds", "file_name", "file_size", "reactions",
                   "properties", "hash")
#: Bytes a row costs beside its text, for sizing batches.
ROW_OVERHEAD = 300


@dataclass
class MessageBatch:
    """What one batch carries: the header (once known), conversations read since the last
    batch, message rows by key, rejects, repeated messages and the bytes of text."""

    header: ExportHeader | None = None
    conversations: list[Conversation] = field(default_factory=list)
    rows: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    repeated: int = 0
    messages: int = 0
    bytes: int = 0


def message_row(message: Message) -> tuple[Any, ...]:
    """A message as a row of `MESSAGE_COLUMNS`; `hash` is the SHA-256 of all its other values."""
    values = (message.conversation_id, message.id, message.sent_at, message.sender_id, message.sender_name,
              message.message_type, message.plain, message.content, message.edited_at, message.deleted_at,
              message.call_seconds, message.file_name, message.file_size, message.reactions, message.properties)
    digest = hashlib.sha256(orjson.dumps(values, option=orjson.OPT_NON_STR_KEYS)).hexdigest()
    reactions = orjson.dumps(message.reactions).decode() if message.reactions is not None else None
    properties = orjson.dumps(message.properties).decode() if message.properties is not None else None
    return (*values[:13], reactions, properties, digest)


def message_batches(path: str, batch_bytes: int) -> Iterator[MessageBatch]:
    """The export at `path` in batches of about `batch_bytes` of message text (the last may be
    smaller, and may hold no message)."""
    batch = MessageBatch()
    for record in read_export(Path(path)):
        if isinstance(record, Message):
            key = (record.conversation_id, record.id)
            batch.repeated += key in batch.rows
            batch.rows[key] = message_row(record)
            batch.messages += 1
            batch.bytes += len(record.content or "") + len(record.plain) + ROW_OVERHEAD
            if batch.bytes >= batch_bytes:
                yield batch
                batch = MessageBatch()
        elif isinstance(record, Conversation):
            batch.conversations.append(record)
        elif isinstance(record, ExportHeader):
            batch.header = record
        else:
            batch.rejects.append(record)
    yield batch

"""An export's pass: its messages merged into `skype.messages`, its conversations recorded.

Messages go in batches sized by bytes (`batch_mb`), so a chat of huge messages cannot blow
memory and small ones are not sent a hundred at a time. Each batch (its messages, the
conversation headers read since the last one, its rejects) is one unit of work under the
engine's retry (`postgres/retry.py`): on a fresh connection, in a transaction of its own,
tried again after a dropped connection, a terminated backend or a server restart. A
killed run resumes for free: its committed batches merge as unchanged (keys and hashes
only) when the export is read again.

Why through the engine rather than `PostgresBulkIOManager`: each batch writes three tables
(messages, conversations, rejects) and commits on its own, which one asset output cannot.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from import_pipeline.postgres.connect import Connect
from import_pipeline.postgres.copy import merge_rows
from import_pipeline.postgres.rejects import clear_rejects, write_rejects
from import_pipeline.postgres.retry import RetryCounter, RetryPolicy, with_retries
from import_pipeline.postgres.scalar import fetch_value
from import_pipeline.postgres.statements import statement
from import_pipeline.records import Progress, Reject
from import_pipeline.sources.skype.export import Conversation, ExportHeader, Message, read_export

MESSAGES = "skype.messages"
MESSAGE_COLUMNS = ("conversation_id", "id", "sent_at", "sender_id", "sender_name", "message_type", "content_plain",
                   "content_raw", "edited_at", "deleted_at", "call_seconds", "file_name", "file_size", "reactions",
                   "properties", "hash", "export_id")
#: Bytes a row costs beside its text, for sizing batches.
ROW_OVERHEAD = 300
FIRST_REJECTS = 5


@dataclass
class ExportImport:
    """What an export's pass did."""

    file_name: str
    export_id: int = 0
    conversations: int = 0
    messages: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejects: int = 0
    first_rejects: list[Reject] = field(default_factory=list)
    batches: int = 0
    retries: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at `path`, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def message_row(message: Message, export_id: int) -> tuple[Any, ...]:
    """A message as a `skype.messages` row; `hash` covers every value but the export's id."""
    values = (message.conversation_id, message.id, message.sent_at, message.sender_id, message.sender_name,
              message.message_type, message.plain, message.content, message.edited_at, message.deleted_at,
              message.call_seconds, message.file_name, message.file_size, message.reactions, message.properties)
    digest = hashlib.sha256(orjson.dumps(values, option=orjson.OPT_NON_STR_KEYS)).hexdigest()
    reactions = orjson.dumps(message.reactions).decode() if message.reactions is not None else None
    properties = orjson.dumps(message.properties).decode() if message.properties is not None else None
    return (*values[:13], reactions, properties, digest, export_id)


def _text_bytes(message: Message) -> int:
    return len(message.content or "") + len(message.plain) + ROW_OVERHEAD


def import_messages(connect: Connect, path: Path, *, batch_mb: float = 8.0, policy: RetryPolicy | None = None,
                    asset: str = "skype/messages", partition_key: str | None = None, run_id: str | None = None,
                    progress: Callable[[Progress], None] | None = None) -> ExportImport:
    """Merge the messages of the export at `path` and record its conversations; see the module.

    The partition's earlier rejects are replaced by this run's. Raises the reader's
    `ExportFormatError` (after committing the batches read before it) and the database's
    permanent errors.
    """
    result = ExportImport(file_name=path.name)
    counter = RetryCounter()
    total = path.stat().st_size
    started = time.perf_counter()
    sha = file_sha256(path)
    limit = int(batch_mb * 1024 * 1024)
    pending_conversations: list[Conversation] = []
    batch: dict[tuple[str, str], tuple[Any, ...]] = {}
    rejects: list[Reject] = []
    size = 0
    header = ExportHeader(None, None)

    def clear(conn: psycopg.Connection) -> None:
        clear_rejects(conn, asset, partition_key)

    with_retries(connect, clear, policy=policy, counter=counter)

    def write(conn: psycopg.Connection) -> tuple[int, int, int, int]:
        # The export's id is only known for sure once a batch commits: a retried batch asks again.
        export_id = result.export_id or int(fetch_value(conn, statement("skype", "record_export"), {
            "user_id": header.user_id, "export_date": header.export_date, "file_name": path.name,
            "file_sha256": sha}))
        for conversation in pending_conversations:
            conn.execute(statement("skype", "upsert_conversation"), {
                "id": conversation.id, "export_id": export_id, "kind": conversation.kind,
                "display_name": conversation.display_name, "topic": conversation.topic,
                "members": conversation.members,
                "properties": Jsonb(conversation.properties) if conversation.properties is not None else None,
                "thread_properties": Jsonb(conversation.thread_properties)
                if conversation.thread_properties is not None else None,
                "participant_count": conversation.member_count})
        rows = [(*row[:-1], export_id) for row in batch.values()]
        merged = merge_rows(conn, MESSAGES, MESSAGE_COLUMNS, rows, ["conversation_id", "id"], hash_column="hash")
        write_rejects(conn, rejects, asset=asset, partition_key=partition_key, run_id=run_id)
        return export_id, merged.inserted, merged.updated, merged.unchanged

    def flush() -> None:
        nonlocal batch, rejects, size, pending_conversations
        result.export_id, inserted, updated, unchanged = with_retries(connect, write, policy=policy, counter=counter)
        result.inserted += inserted
        result.updated += updated
        result.unchanged += unchanged
        result.batches += 1
        room = FIRST_REJECTS - len(result.first_rejects)
        result.first_rejects.extend(rejects[:max(room, 0)])
        batch, rejects, size, pending_conversations = {}, [], 0, []
        if progress is not None:
            progress(Progress(records=result.messages, bytes_read=min(result.bytes, total), total_bytes=total,
                              seconds=time.perf_counter() - started))

    for record in read_export(path):
        if isinstance(record, Message):
            key = (record.conversation_id, record.id)
            if key in batch:
                result.duplicates += 1  # the export repeats a message after an edit: the later one wins
            batch[key] = message_row(record, 0)
            result.messages += 1
            cost = _text_bytes(record)
            size += cost
            result.bytes += cost
            if size >= limit:
                flush()
        elif isinstance(record, Conversation):
            pending_conversations.append(record)
            result.conversations += 1
        elif isinstance(record, ExportHeader):
            header = record
        else:
            rejects.append(record)
            result.rejects += 1
    flush()
    result.retries = counter.retries
    result.seconds = time.perf_counter() - started
    return result


def refresh_conversations(conn: psycopg.Connection) -> tuple[int, int]:
    """Recount every conversation's messages and first / last times, and refresh its
    participants (writers and listed members); return (conversations changed, participants changed)."""
    conversations = conn.execute(statement("skype", "refresh_conversation_counts")).rowcount
    participants = conn.execute(statement("skype", "refresh_participants")).rowcount
    return conversations, participants

"""An export's pass: its messages merged into `skype.messages`, its conversations recorded.

The export is read in a parsing child (`parallel.py`), in batches sized by bytes of text
(`batch_mb`, see `sources/skype/batches.py`), so that reading and writing overlap. Each batch (its messages, the
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

import psycopg
from psycopg.types.json import Jsonb

from import_pipeline.parallel import iterate_in_process
from import_pipeline.postgres.connect import Connect
from import_pipeline.postgres.copy import merge_rows
from import_pipeline.postgres.rejects import clear_rejects, write_rejects
from import_pipeline.postgres.retry import RetryCounter, RetryPolicy, with_retries
from import_pipeline.postgres.scalar import fetch_value
from import_pipeline.postgres.statements import statement
from import_pipeline.records import Progress, Reject
from import_pipeline.sources.skype.batches import MESSAGE_COLUMNS, MessageBatch
from import_pipeline.sources.skype.export import ExportHeader

MESSAGES = "skype.messages"
COLUMNS = (*MESSAGE_COLUMNS, "export_id")
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
    header = ExportHeader(None, None)

    def clear(conn: psycopg.Connection) -> None:
        clear_rejects(conn, asset, partition_key)

    with_retries(connect, clear, policy=policy, counter=counter)

    def stored_conversations(conn: psycopg.Connection) -> frozenset[str]:
        return frozenset(row[0] for row in conn.execute("SELECT id FROM skype.conversations"))

    # A conversation is recorded in the transaction that writes its first messages: messages
    # of one unknown now cannot be stored yet, so they skip the merge's key probe.
    stored_before = with_retries(connect, stored_conversations, policy=policy, counter=counter)

    def writer(batch: MessageBatch) -> Callable[[psycopg.Connection], tuple[int, int, int, int]]:
        def write(conn: psycopg.Connection) -> tuple[int, int, int, int]:
            # The export's id is only known for sure once a batch commits: a retried batch asks again.
            export_id = result.export_id or int(fetch_value(conn, statement("skype", "record_export"), {
                "user_id": header.user_id, "export_date": header.export_date, "file_name": path.name,
                "file_sha256": sha}))
            for conversation in batch.conversations:
                conn.execute(statement("skype", "upsert_conversation"), {
                    "id": conversation.id, "export_id": export_id, "kind": conversation.kind,
                    "display_name": conversation.display_name, "topic": conversation.topic,
                    "members": conversation.members,
                    "properties": Jsonb(conversation.properties) if conversation.properties is not None else None,
                    "thread_properties": Jsonb(conversation.thread_properties)
                    if conversation.thread_properties is not None else None,
                    "participant_count": conversation.member_count})
            rows = [(*row, export_id) for row in batch.rows.values()]
            merged = merge_rows(conn, MESSAGES, COLUMNS, rows, ["conversation_id", "id"], hash_column="hash",
                                presumed_new=lambda row: row[0] not in stored_before)
            write_rejects(conn, batch.rejects, asset=asset, partition_key=partition_key, run_id=run_id)
            return export_id, merged.inserted, merged.updated, merged.unchanged
        return write

    kwargs = {"path": str(path), "batch_bytes": int(batch_mb * 1024 * 1024)}
    for batch in iterate_in_process("import_pipeline.sources.skype.batches:message_batches", kwargs):
        header = batch.header or header
        result.export_id, inserted, updated, unchanged = with_retries(connect, writer(batch), policy=policy,
                                                                      counter=counter)
        result.inserted += inserted
        result.updated += updated
        result.unchanged += unchanged
        result.messages += batch.messages
        result.duplicates += batch.repeated
        result.conversations += len(batch.conversations)
        result.rejects += len(batch.rejects)
        result.bytes += batch.bytes
        result.batches += 1
        room = FIRST_REJECTS - len(result.first_rejects)
        result.first_rejects.extend(batch.rejects[:max(room, 0)])
        if progress is not None:
            progress(Progress(records=result.messages, bytes_read=min(result.bytes, total), total_bytes=total,
                              seconds=time.perf_counter() - started))
    result.retries = counter.retries
    result.seconds = time.perf_counter() - started
    return result


def refresh_conversations(conn: psycopg.Connection) -> tuple[int, int]:
    """Recount every conversation's messages and first / last times, and refresh its
    participants (writers and listed members); return (conversations changed, participants changed)."""
    conversations = conn.execute(statement("skype", "refresh_conversation_counts")).rowcount
    participants = conn.execute(statement("skype", "refresh_participants")).rowcount
    return conversations, participants

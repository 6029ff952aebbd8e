"""The Skype export reader: .json and .tar, streaming, lenient where the format is, strict where it must be."""

import datetime as dt
import json
import tarfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from import_pipeline.records import Reject
from import_pipeline.sources.skype.export import (
    Conversation,
    ExportFormatError,
    ExportHeader,
    Message,
    conversation_kind,
    parse_time,
    read_export,
)

UTC = dt.UTC


def message(n: int, conversation: str = "8:live:anna", **extra: Any) -> dict[str, Any]:
    return {"id": str(1594056030000 + n), "displayName": "Anna", "originalarrivaltime": "2020-07-06T17:20:30.609Z",
            "messagetype": "RichText", "version": 1594056030000 + n, "content": f"message <b>{n}</b>",
            "conversationid": conversation, "from": "8:live:anna", "properties": None, "amsreferences": [], **extra}


def export(conversations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"userId": "8:live:me", "exportDate": "2020-07-06T20:55", "conversations": conversations}


def write(tmp_path: Path, document: dict[str, Any], name: str = "messages.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_json_export_reads_header_conversations_and_messages_in_order(tmp_path: Path) -> None:
    document = export([
        {"id": "8:live:anna", "displayName": "Anna", "version": 1.0, "properties": {"conversationblocked": False},
         "threadProperties": None, "MessageList": [message(1), message(2)]},
        {"id": "19:abc@thread.skype", "displayName": None, "version": 1.0, "properties": None,
         "threadProperties": {"membercount": 3, "topic": "Trip", "members": '["8:live:me","8:live:anna","8:live:b"]'},
         "MessageList": [message(3, "19:abc@thread.skype")]},
    ])
    read = list(read_export(write(tmp_path, document)))
    assert [type(r).__name__ for r in read] == ["ExportHeader", "Conversation", "Message", "Message",
                                                 "Conversation", "Message"]
    header, anna, first, _, group, third = read
    assert header == ExportHeader("8:live:me", dt.datetime(2020, 7, 6, 20, 55, tzinfo=UTC))
    assert isinstance(anna, Conversation) and (anna.kind, anna.display_name) == ("person", "Anna")
    assert isinstance(group, Conversation) and (group.kind, group.topic, group.member_count) == ("group", "Trip", 3)
    assert group.members == ["8:live:me", "8:live:anna", "8:live:b"]
    assert isinstance(first, Message) and first.plain == "message 1" and first.content == "message <b>1</b>"
    assert first.sent_at == dt.datetime(2020, 7, 6, 17, 20, 30, 609000, tzinfo=UTC)
    assert isinstance(third, Message) and third.conversation_id == "19:abc@thread.skype"


def test_fields_after_the_message_list_send_the_conversation_again(tmp_path: Path) -> None:
    late = "19:late@thread.skype"
    document = export([{"id": late, "MessageList": [message(n, late) for n in range(500)],  # longer than a read
                        "displayName": "Late", "threadProperties": {"topic": "After", "members": '["8:live:me"]'}},
                       {"id": "8:live:anna", "displayName": "Anna", "MessageList": [message(1000)]}])
    read = list(read_export(write(tmp_path, document)))
    conversations = [(n, r) for n, r in enumerate(read) if isinstance(r, Conversation)]
    messages = [(n, r) for n, r in enumerate(read) if isinstance(r, Message)]
    assert [r.id for _, r in conversations] == [late, late, "8:live:anna"]
    (first_at, first), (_, again), (anna_at, anna) = conversations
    assert (first.display_name, first.topic) == (None, None)  # sent when its messages began
    assert (again.display_name, again.topic, again.members) == ("Late", "After", ["8:live:me"])
    assert anna.display_name == "Anna" and len(messages) == 501
    assert all(first_at < n for n, m in messages if m.conversation_id == late)
    assert all(anna_at < n for n, m in messages if m.conversation_id == "8:live:anna")


def test_the_member_of_an_export_tar_is_read_without_extracting(tmp_path: Path) -> None:
    path = write(tmp_path, export([{"id": "8:live:anna", "MessageList": [message(1)]}]))
    archive = tmp_path / "8_live_me_export.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(path, arcname="8_live_me_export/messages.json")
    path.unlink()
    read = list(read_export(archive))
    assert [type(r).__name__ for r in read] == ["ExportHeader", "Conversation", "Message"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["8_live_me_export.tar"]


def test_an_archive_without_messages_is_one_line(tmp_path: Path) -> None:
    archive = tmp_path / "export.tar"
    (tmp_path / "readme.txt").write_text("no messages here")
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "readme.txt", arcname="readme.txt")
    with pytest.raises(ExportFormatError, match="holds no messages.json"):
        list(read_export(archive))


def test_edits_deletions_reactions_calls_and_files(tmp_path: Path) -> None:
    reactions = [{"key": "like", "users": [{"mri": "8:live:me", "time": 1594056032000, "value": "like"}]}]
    messages = [
        message(1, properties={"edittime": "1594056031000", "emotions": reactions}),
        message(2, content="", properties={"deletetime": "1594056099000"}),
        message(3, messagetype="Event/Call", content='<partlist type="ended" alt="" callId="c"><part '
                'identity="8:live:anna"><name>Anna</name><duration>61</duration></part></partlist>'),
        message(4, messagetype="RichText/Media_GenericFile", content='<URIObject uri="u" type="File.1">'
                '<OriginalName v="a.pdf"/><FileSize v="10"/></URIObject>'),
    ]
    read = [r for r in read_export(write(tmp_path, export([{"id": "8:live:anna", "MessageList": messages}])))
            if isinstance(r, Message)]
    assert read[0].edited_at == dt.datetime(2020, 7, 6, 17, 20, 31, tzinfo=UTC) and read[0].reactions == reactions
    assert read[1].deleted_at == dt.datetime(2020, 7, 6, 17, 21, 39, tzinfo=UTC) and read[1].plain == ""
    assert read[2].call_seconds == 61 and read[2].plain == "Call: 1 min 1 s"
    assert (read[3].file_name, read[3].file_size) == ("a.pdf", 10)


def test_a_message_that_cannot_be_stored_is_a_reject_and_the_rest_is_read(tmp_path: Path) -> None:
    messages = [message(1), {"content": "no id", "originalarrivaltime": "2020-07-06T17:20:30Z"},
                message(2, originalarrivaltime="yesterday"), "not an object", message(3)]
    path = write(tmp_path, export([{"id": "8:live:anna", "MessageList": messages}]))
    read = list(read_export(path))
    assert [r.id for r in read if isinstance(r, Message)] == ["1594056030001", "1594056030003"]
    rejects = [r for r in read if isinstance(r, Reject)]
    assert [r.reason.split(" (")[0] for r in rejects] == [
        "message no id", "message unreadable originalarrivaltime 'yesterday'", "a message that is not an object"]
    size = path.stat().st_size
    assert all(r.offset is not None and 0 < r.offset <= size for r in rejects)


def test_a_truncated_export_ends_in_one_line_after_the_good_messages(tmp_path: Path) -> None:
    path = write(tmp_path, export([{"id": "8:live:anna", "MessageList": [message(n) for n in range(2000)]}]))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    read: list = []
    with pytest.raises(ExportFormatError) as raised:
        for record in read_export(path):
            read.append(record)
    assert "ends early" in str(raised.value) and "\n" not in str(raised.value)
    assert len([r for r in read if isinstance(r, Message)]) > 500


@pytest.mark.parametrize("text", ["", "not json at all", "[1, 2, 3]", '{"userId": "x"}'])
def test_a_file_that_is_not_an_export_is_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "messages.json"
    path.write_text(text)
    with pytest.raises(ExportFormatError) as raised:
        list(read_export(path))
    assert "\n" not in str(raised.value)


def test_memory_holds_one_message_not_a_conversation(tmp_path: Path) -> None:
    big = "x" * 2000
    path = write(tmp_path, export([{"id": "8:live:anna", "MessageList": [message(n, content=big)
                                                                         for n in range(20000)]}]))
    assert path.stat().st_size > 40_000_000
    tracemalloc.start()
    count = sum(1 for r in read_export(path) if isinstance(r, Message))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 20000 and peak < 5_000_000


@pytest.mark.parametrize(("value", "expected"), [
    ("2020-07-06T17:20:30.609Z", dt.datetime(2020, 7, 6, 17, 20, 30, 609000, tzinfo=UTC)),
    ("2020-07-06T17:20:30Z", dt.datetime(2020, 7, 6, 17, 20, 30, tzinfo=UTC)),
    ("2020-07-06T17:20:30.6Z", dt.datetime(2020, 7, 6, 17, 20, 30, 600000, tzinfo=UTC)),
    ("2020-07-06T20:55", dt.datetime(2020, 7, 6, 20, 55, tzinfo=UTC)),
    ("not a time", None), (None, None), (1594056030, None),
])
def test_times_with_and_without_fractions(value: Any, expected: dt.datetime | None) -> None:
    assert parse_time(value) == expected


def test_conversation_kinds() -> None:
    assert [conversation_kind(c) for c in ("8:live:x", "19:a@thread.skype", "28:bot", "48:notes", "x")] == [
        "person", "group", "bot", "notes", "other"]

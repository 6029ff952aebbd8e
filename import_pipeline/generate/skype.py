"""`import-pipeline generate skype`: exports shaped like Microsoft's Skype export (`messages.json`).

Conversations of every kind (people `8:`, group threads `19:...@thread.skype` with members
and topics, a bot `28:`, notes `48:`), one chat holding a large share of all messages, and
every message type the export has: rich text with bold, italics, links, mentions, quotes,
emoticons and entities; calls (`partlist`), files, media and cards (`URIObject`), thread
activity (`addmember`...), polls, notices and encrypted messages; emoji and non-Latin text;
edits (`edittime`, an edit marker) and deletions (`deletetime`, empty content); reactions.
Times come with and without fractions.

Each message follows from the seed and its number, so the same seed gives the same bytes.
`newer=True` gives the same user's later export: the same messages, a share of them edited,
and new ones after them. Written one message at a time: memory does not grow with the size.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USER = "8:live:.cid.1a2b3c4d5e6f"
WORDS = ("hej", "hello", "meeting", "tomorrow", "coffee", "☕", "😀", "🎉", "Привет", "東京", "café", "naïve", "ok",
         "project", "deadline", "photos", "weekend", "Ærø", "straße", "👍", "lol", "thanks", "call", "later")
TYPES = (("RichText", 60), ("Text", 8), ("RichText/UriObject", 3), ("RichText/Media_Album", 2),
         ("RichText/Media_GenericFile", 3), ("RichText/Media_Video", 1), ("RichText/Media_AudioMsg", 1),
         ("RichText/Media_CallRecording", 1), ("RichText/Media_Card", 1), ("Event/Call", 6), ("Poll", 1),
         ("Notice", 1), ("PopCard", 1), ("ThreadActivity/AddMember", 2), ("ThreadActivity/DeleteMember", 1),
         ("ThreadActivity/TopicUpdate", 1), ("ThreadActivity/PictureUpdate", 1),
         ("ThreadActivity/HistoryDisclosedUpdate", 1), ("EndToEndEncryption/EncryptedText", 1))
START = dt.datetime(2015, 3, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class GeneratedExport:
    """A written export: its path, conversations, messages and size."""

    path: Path
    conversations: int
    messages: int
    bytes: int


def _conversations(count: int) -> list[dict[str, Any]]:
    """The conversations' own fields: people, groups, a bot and notes."""
    out = []
    for n in range(count):
        if n % 5 == 1:
            members = [USER] + [f"8:live:friend{m}" for m in range(n % 7 + 2)]
            out.append({"id": f"19:{n:032x}@thread.skype", "displayName": f"Group {n} – Ærø 🎉", "version": 1.5e12 + n,
                        "properties": {"conversationblocked": False, "lastimreceivedtime": "2020-07-06T17:20:30.609Z",
                                       "consumptionhorizon": "1594056030000;1594056030001;1234"},
                        "threadProperties": {"membercount": len(members), "topic": f"Topic {n}",
                                             "members": json.dumps(members)}})
        elif n == 2:
            out.append({"id": "28:concierge", "displayName": "Skype Concierge", "version": 1.5e12, "properties": None,
                        "threadProperties": None})
        elif n == 3:
            out.append({"id": "48:notes", "displayName": None, "version": 1.5e12, "properties": None,
                        "threadProperties": None})
        else:
            out.append({"id": f"8:live:friend{n}", "displayName": f"Friend {n} 東京" if n % 2 else None,
                        "version": 1.5e12 + n, "properties": {"conversationblocked": False},
                        "threadProperties": None})
    return out


def _text(rng: random.Random, low: int = 2, high: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def _content(rng: random.Random, kind: str, sender: str, sent: dt.datetime) -> str:
    if kind == "RichText":
        choice = rng.random()
        if choice < 0.15:
            return f'<at id="8:live:friend1">Friend 1</at> {_text(rng)} &amp; <b>{_text(rng, 1, 3)}</b>'
        if choice < 0.25:
            return (f'<quote author="{sender}" authorname="Someone" timestamp="{int(sent.timestamp()) - 60}">'
                    f"<legacyquote>[{sent:%d/%m/%Y %H:%M:%S}] Someone: </legacyquote>{_text(rng)}"
                    f"<legacyquote>\n\n&lt;&lt;&lt; </legacyquote></quote>{_text(rng)}")
        if choice < 0.35:
            return f'see <a href="https://example.org/{rng.randint(1, 999)}">this</a> <ss type="smile">:)</ss>'
        if choice < 0.45:
            return f"<i>{_text(rng)}</i> <s>{_text(rng, 1, 2)}</s> &lt;3 &quot;ok&quot;"
        return _text(rng, 1, 40)
    if kind == "Text":
        return _text(rng)
    if kind == "Event/Call":
        duration = rng.randint(5, 3600)
        return (f'<partlist type="ended" alt="" callId="{rng.getrandbits(64):016x}"><part identity="{sender}">'
                f"<name>Someone</name><duration>{duration}</duration></part><part identity=\"{USER}\"><name>Me</name>"
                f"<duration>{duration}</duration></part></partlist>")
    if kind.startswith("RichText/Media") or kind == "RichText/UriObject":
        name = f"{_text(rng, 1, 2).replace(' ', '_')}.{rng.choice(('pdf', 'jpg', 'mp4', 'm4a', 'docx'))}"
        return (f'<URIObject uri="https://api.asm.skype.com/v1/objects/0-weu-d1-{rng.getrandbits(64):016x}" '
                f'url_thumbnail="https://api.asm.skype.com/v1/objects/x/views/thumbnail" type="File.1" '
                f'doc_id="0-weu-d1-{rng.getrandbits(32):08x}">To view this file, go to: '
                f'<a href="https://login.skype.com/login/sso?go=webclientfilesharing">https://login.skype.com</a>'
                f'<OriginalName v="{name}"/><FileSize v="{rng.randint(1000, 9_000_000)}"/></URIObject>')
    if kind.startswith("ThreadActivity/"):
        tag = kind.split("/", 1)[1].lower()
        value = f"<value>{_text(rng, 1, 3)}</value>" if tag in ("topicupdate", "historydisclosedupdate") else \
            f"<target>8:live:friend{rng.randint(1, 9)}</target>"
        return f"<{tag}><eventtime>{int(sent.timestamp() * 1000)}</eventtime><initiator>{sender}</initiator>" \
               f"{value}</{tag}>"
    if kind == "Poll":
        return f"<Poll><Question>{_text(rng, 3, 6)}?</Question></Poll>"
    if kind == "EndToEndEncryption/EncryptedText":
        return ""
    return _text(rng, 3, 8)


def _message(seed: int, number: int, conversation: dict[str, Any], version: int) -> dict[str, Any]:
    rng = random.Random(seed * 1_000_003 + number)
    kind = rng.choices([t for t, _ in TYPES], [w for _, w in TYPES])[0]
    sent = START + dt.timedelta(seconds=number * 97 + rng.randint(0, 90), milliseconds=rng.randint(0, 999))
    sender = USER if rng.random() < 0.4 else f"8:live:friend{rng.randint(1, 9)}"
    content = _content(rng, kind, sender, sent)
    properties: dict[str, Any] | None = None
    # Every draw is made whatever the version, so that a later export differs in its edits only.
    edit, delete, react = rng.random(), rng.random(), rng.random()
    if version and edit < 0.5:  # edited in the later export
        content += f'<e_m a="{sender}" ts_ms="{int(sent.timestamp() * 1000) + 60_000}" ts="{int(sent.timestamp())}" ' \
                   f't="61"></e_m>'
        properties = {"edittime": str(int(sent.timestamp() * 1000) + 60_000)}
    elif delete < 0.01:
        content, properties = "", {"deletetime": str(int(sent.timestamp() * 1000) + 30_000)}
    if react < 0.05:
        properties = {**(properties or {}), "emotions": [{"key": "like", "users": [
            {"mri": USER, "time": int(sent.timestamp() * 1000) + 5000, "value": "like"}]}]}
    stamp = sent.strftime("%Y-%m-%dT%H:%M:%S") + (f".{sent.microsecond // 1000:03d}Z" if number % 10 else "Z")
    return {"id": str(int(sent.timestamp() * 1000)), "displayName": None if sender == USER else "Someone",
            "originalarrivaltime": stamp, "messagetype": kind, "version": int(sent.timestamp() * 1000) + version,
            "content": content, "conversationid": conversation["id"], "from": sender, "properties": properties,
            "amsreferences": []}


def generate(out: Path, *, messages: int, conversations: int = 20, seed: int = 1, newer: bool = False,
             edited: float = 0.02, added: float = 0.05, tar: bool = False) -> GeneratedExport:
    """Write an export of about `messages` messages in `conversations` conversations (half of
    them in the first chat) to `out` (`messages.json`, or an export `.tar` holding it).
    `newer`: the later export, with `edited` of the messages edited and `added` more."""
    out.mkdir(parents=True, exist_ok=True)
    people = _conversations(max(conversations, 4))
    total = messages + (round(messages * added) if newer else 0)
    name = f"skype_export_{seed}{'_newer' if newer else ''}"
    json_path = out / f"{name}.json"
    written = 0
    with json_path.open("w", encoding="utf-8") as export:
        export.write(json.dumps({"userId": USER, "exportDate": "2026-11-30T12:00" if newer else "2025-05-01T12:00"})
                     [:-1] + ', "conversations": [')
        for index, conversation in enumerate(people):
            # The first chat holds half of all messages, the others share the rest.
            share = total // 2 if index == 0 else (total - total // 2) // (len(people) - 1)
            numbers = range(index * 10_000_000, index * 10_000_000 + share)
            header = json.dumps(conversation, ensure_ascii=False)[:-1]
            export.write(("," if index else "") + header + ', "MessageList": [')
            for position, number in enumerate(numbers):
                version = 1 if newer and random.Random(seed * 31 + number).random() < edited else 0
                export.write(("," if position else "") + json.dumps(_message(seed, number, conversation, version),
                                                                    ensure_ascii=False))
                written += 1
            export.write("]}")
        export.write("]}")
    path = json_path
    if tar:
        path = out / f"{name}.tar"
        with tarfile.open(path, "w") as archive:
            archive.add(json_path, arcname=f"{name}/messages.json")
        json_path.unlink()
    return GeneratedExport(path=path, conversations=len(people), messages=written, bytes=path.stat().st_size)

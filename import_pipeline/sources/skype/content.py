"""A Skype message's content (HTML-ish markup) as plain text for search, and what its markup says.

The markup of Microsoft's export: `<b>`, `<i>`, `<s>`, `<a href>`, `<at id>Name</at>`
(mentions), `<ss type>:)</ss>` (emoticons), `<quote author authorname timestamp>` with a
`<legacyquote>` repeating the quote's header for old clients, `<e_m .../>` (an edit marker),
`<partlist type callId><part identity><name/><duration/></part></partlist>` (calls),
`<URIObject ...><OriginalName v/><FileSize v/></URIObject>` (files), `<addmember>` /
`<deletemember>` / `<topicupdate>` ... (thread activity), and HTML entities. It is not
always well-formed, so it is read by a lenient tokenizer (one regular expression over tags
and text; stray end tags are ignored, unclosed tags end with the content), several times
faster than the standard library's `HTMLParser` on these short strings.

Plain text keeps what a reader sees: text, link texts (with their address when it differs),
mentions as `@Name`, emoticons as their text, a quote as `> Name: text` on lines of its own,
a file as `File: name`, a call as `Call: N min S s`, membership changes as sentences.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

#: Elements whose text is not shown (the legacy quote header repeats the quote's author).
_HIDDEN = frozenset({"legacyquote", "e_m", "eventtime", "originalname", "filesize", "meta", "title", "description"})
#: Thread activity elements and the verb of their sentence.
_ACTIVITY = {"addmember": "added", "deletemember": "removed", "topicupdate": "changed the topic",
             "pictureupdate": "changed the picture", "historydisclosedupdate": "changed the history setting"}
_SPACES = re.compile(r"[^\S\n]+")  # any run of white space but a line break, no-break spaces included
_BLANK_LINES = re.compile(r"\n\s*\n+")


@dataclass
class Content:
    """What a message's content holds: its plain text and the facts its markup states."""

    plain: str = ""
    mentions: list[str] = field(default_factory=list)
    call_seconds: int | None = None
    call_participants: list[tuple[str, str | None]] = field(default_factory=list)
    file_name: str | None = None
    file_size: int | None = None


_TOKENS = re.compile(r"<(/?)([A-Za-z_][\w:.-]*+)((?:[^>\"']++|\"[^\"]*+\"|'[^']*+')*+)>|([^<]+)|<", re.S)
#: The tokenizer's tags, split out with their names (for markup that is formatting only).
_PLAIN_SPLIT = re.compile(r"</?([A-Za-z_][\w:.-]*+)(?:[^>\"']++|\"[^\"]*+\"|'[^']*+')*+>", re.S)
#: Tags the reader does more with than drop them: everything but formatting.
_TAGS_WITH_MEANING = frozenset({"a", "at", "quote", "part", "partlist", "name", "duration", "uriobject", "br",
                                "initiator", "target", "value", *_HIDDEN - {"e_m"}, *_ACTIVITY})
_ATTRIBUTES = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>/]+))""")


#: The tags whose attributes the reader uses.
_READ_ATTRIBUTES = frozenset({"a", "quote", "part", "originalname", "filesize"})


def _attributes(text: str) -> list[tuple[str, str]]:
    return [(name.lower(), html.unescape(a if a is not None else b if b is not None else c))
            for name, a, b, c in _ATTRIBUTES.findall(text)] if "=" in text else []


class _Reader:
    def __init__(self) -> None:
        self.content = Content()
        self.out: list[str] = []
        self.stack: list[str] = []
        self.hidden = 0
        self.href: str | None = None
        self.link_text: list[str] = []
        self.part: dict[str, str] | None = None
        self.activity: dict[str, str] | None = None
        self.field: str | None = None

    def handle_starttag(self, tag: str, attributes: str) -> None:
        values = dict(_attributes(attributes)) if tag in _READ_ATTRIBUTES else {}
        if tag in _HIDDEN:
            if tag == "originalname" and values.get("v"):
                self.content.file_name = values["v"]
            elif tag == "filesize" and values.get("v", "").isdigit():
                self.content.file_size = int(values["v"])
            if tag != "e_m":  # <e_m .../> is empty; the others hold text to hide
                self.hidden += 1
                self.stack.append(tag)
            return
        self.stack.append(tag)
        if tag == "a":
            self.href, self.link_text = values.get("href"), []
        elif tag == "quote":
            self.out.append(f"\n> {values.get('authorname') or values.get('author') or ''}: ")
        elif tag == "part":
            self.part = {"identity": values.get("identity", "")}
        elif tag in ("name", "duration") and self.part is not None:
            self.field = tag
        elif tag in _ACTIVITY:
            self.activity = {"kind": tag}
        elif tag in ("initiator", "target", "value") and self.activity is not None:
            self.field = tag
        elif tag == "br":
            self.out.append("\n")

    def handle_startendtag(self, tag: str, attributes: str) -> None:
        self.handle_starttag(tag, attributes)
        if tag != "e_m":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.stack:
            return  # a stray end tag: HTML-ish content has them
        while self.stack:
            open_tag = self.stack.pop()
            if open_tag in _HIDDEN:
                self.hidden -= 1
            self._closed(open_tag)
            if open_tag == tag:
                break

    def _closed(self, tag: str) -> None:
        if tag == "a":
            text = "".join(self.link_text).strip()
            if self.href and text and text != self.href:
                self.out.append(f" ({self.href})")
            self.href = None
        elif tag == "quote":
            self.out.append("\n")
        elif tag == "part" and self.part is not None:
            self.content.call_participants.append((self.part["identity"], self.part.get("name")))
            duration = self.part.get("duration", "")
            if duration.isdigit():
                self.content.call_seconds = max(self.content.call_seconds or 0, int(duration))
            self.part = None
        elif tag == "partlist" and self.content.call_seconds is not None:
            minutes, seconds = divmod(self.content.call_seconds, 60)
            self.out.append(f"Call: {minutes} min {seconds} s")
        elif tag == "uriobject" and self.content.file_name:
            self.out.append(f"File: {self.content.file_name}")
        elif tag in _ACTIVITY and self.activity is not None:
            who = self.activity.get("initiator", "someone")
            target = self.activity.get("target") or self.activity.get("value") or ""
            self.out.append(f"{who} {_ACTIVITY[tag]} {target}".strip())
            self.activity = None
        if tag in ("name", "duration", "initiator", "target", "value"):
            self.field = None

    def handle_data(self, data: str) -> None:
        if self.field is not None:
            target = self.part if self.part is not None else self.activity
            if target is not None:
                target[self.field] = target.get(self.field, "") + data.strip()
            return
        if self.hidden or "partlist" in self.stack or "uriobject" in self.stack:
            return  # their text is a notice for old clients; what they state is read from their markup
        if self.stack and self.stack[-1] == "at":
            name = data.strip()
            self.content.mentions.append(name)
            self.out.append(f"@{name}")
            return
        if self.href is not None:
            self.link_text.append(data)
        self.out.append(data)


    def feed(self, content: str) -> None:
        for match in _TOKENS.finditer(content):
            closing, tag, attributes, text = match.groups()
            if text is not None:
                self.handle_data(html.unescape(text) if "&" in text else text)
            elif tag is None:
                self.handle_data("<")  # a lone "<" is text
            elif closing:
                self.handle_endtag(tag.lower())
            elif attributes.rstrip().endswith("/"):
                self.handle_startendtag(tag.lower(), attributes.rstrip()[:-1])
            else:
                self.handle_starttag(tag.lower(), attributes)


def read_content(content: str | None) -> Content:
    """The plain text and facts of a message's `content` (None: an empty `Content`)."""
    if not content:
        return Content()
    if "<" not in content:
        return Content(plain=_tidy(html.unescape(content) if "&" in content else content))
    pieces = _PLAIN_SPLIT.split(content)  # text, tag name, text, tag name, ..., text
    if _TAGS_WITH_MEANING.isdisjoint(name.lower() for name in pieces[1::2]):
        # Only formatting (<b>, <i>, <ss>, <e_m/> ...): the text between the tags is all there is.
        return Content(plain=_tidy("".join(html.unescape(t) if "&" in t else t for t in pieces[0::2])))
    reader = _Reader()
    reader.feed(content)
    reader.content.plain = _tidy("".join(reader.out))  # entities are decoded by the reader
    return reader.content


def _tidy(text: str) -> str:
    """Runs of spaces as one space, each line stripped, no blank lines."""
    if "\n" not in text:
        return _SPACES.sub(" ", text).strip()
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n", "\n".join(lines)).strip()

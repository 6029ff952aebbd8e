"""A Skype message's markup as plain text and facts, one case per kind of markup in the export."""

import pytest

from import_pipeline.sources.skype import content as content_module
from import_pipeline.sources.skype.content import read_content


@pytest.mark.parametrize(("content", "plain"), [
    ("plain text, no markup", "plain text, no markup"),
    ("Hello <b>world</b> &amp; <i>friends</i> <s>gone</s> &lt;3", "Hello world & friends gone <3"),
    ("a &amp;lt; b", "a &lt; b"),  # decoded once, not twice
    ("x&nbsp;&nbsp;y\n\n\nz", "x y\nz"),
    ('see <a href="https://example.org">this page</a>', "see this page (https://example.org)"),
    ('<a href="https://x.y">https://x.y</a>', "https://x.y"),
    ('<ss type="smile">:)</ss> <ss type="heart">(heart)</ss>', ":) (heart)"),
    ('<quote author="8:live:bob" authorname="Bob" timestamp="1594056030"><legacyquote>[06/07/2020 19:20:30] Bob: '
     "</legacyquote>original words<legacyquote>\n\n&lt;&lt;&lt; </legacyquote></quote>my reply",
     "> Bob: original words\nmy reply"),
    ('fixed typo<e_m a="8:live:me" ts_ms="1594056031000" ts="1594056031" t="61"></e_m>', "fixed typo"),
    ('also fixed<e_m a="8:live:me" ts="1594056031"/>', "also fixed"),
    ("Unclosed <b>bold and a stray </i> tag", "Unclosed bold and a stray tag"),
    ("Ünïcödé 日本語 😀 Привет", "Ünïcödé 日本語 😀 Привет"),
    ("<addmember><eventtime>1594056030</eventtime><initiator>8:live:me</initiator>"
     "<target>8:live:anna</target></addmember>", "8:live:me added 8:live:anna"),
    ("<deletemember><eventtime>1</eventtime><initiator>8:live:me</initiator><target>8:live:bob</target>"
     "</deletemember>", "8:live:me removed 8:live:bob"),
    ("<topicupdate><eventtime>1</eventtime><initiator>8:live:me</initiator><value>Trip 2020</value></topicupdate>",
     "8:live:me changed the topic Trip 2020"),
    (None, ""),
    ("", ""),
])
def test_plain_text(content: str | None, plain: str) -> None:
    assert read_content(content).plain == plain


def test_mentions_are_kept_as_names() -> None:
    content = read_content('<at id="8:live:anna">Anna</at> and <at id="8:live:bob">Bob B.</at>, look')
    assert content.plain == "@Anna and @Bob B., look"
    assert content.mentions == ["Anna", "Bob B."]


def test_a_call_gives_its_duration_and_participants() -> None:
    content = read_content(
        '<partlist type="ended" alt="" callId="abc"><part identity="8:live:anna"><name>Anna</name>'
        '<duration>323</duration></part><part identity="8:live:me"><name>Me</name><duration>320</duration>'
        "</part></partlist>")
    assert content.call_seconds == 323
    assert content.call_participants == [("8:live:anna", "Anna"), ("8:live:me", "Me")]
    assert content.plain == "Call: 5 min 23 s"


def test_a_call_that_never_started_has_no_duration() -> None:
    content = read_content('<partlist type="started" alt="" callId="x"><part identity="8:live:me"><name>Me</name>'
                           "</part></partlist>")
    assert content.call_seconds is None and content.plain == ""
    assert content.call_participants == [("8:live:me", "Me")]


def test_a_file_gives_its_name_and_size() -> None:
    content = read_content(
        '<URIObject uri="https://api.asm.skype.com/v1/objects/0-x" url_thumbnail="t" type="File.1" doc_id="0-x">'
        'To view this file, go to: <a href="https://login.skype.com">https://login.skype.com</a>'
        '<OriginalName v="report Q2.pdf"/><FileSize v="123456"/></URIObject>')
    assert (content.file_name, content.file_size) == ("report Q2.pdf", 123456)
    assert content.plain == "File: report Q2.pdf"


class _EveryTagMeansSomething:
    def isdisjoint(self, names: object) -> bool:
        return False


@pytest.mark.parametrize("content", [
    "Hello <b>world</b> &amp; <i>friends</i> <s>gone</s> &lt;3",
    "&am<b>p;</b> split entity", "a < b and <b>c</b>", "<b title=\"x>y\">quoted > inside</b>",
    "<b title='unclosed>text</b> after", "<B>Upper</B>\n\n  <I>lines</I>  ", '<ss type="cool">(cool)</ss>',
    "fixed<e_m a=\"8:live:me\" ts=\"1\"/>", "<font color=red>red</font>&nbsp;text", "<b>a</b><br/>",
])
def test_formatting_only_markup_reads_as_the_full_reader_reads_it(content: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    quick = read_content(content)
    monkeypatch.setattr(content_module, "_TAGS_WITH_MEANING", _EveryTagMeansSomething())
    assert quick == read_content(content)


def test_a_tag_that_never_closes_is_read_as_text() -> None:
    hostile = "<b " + "a" * 200_000 + ' "' + "y" * 200_000  # no ">" and an open quote: no backtracking either
    assert read_content(hostile).plain == hostile

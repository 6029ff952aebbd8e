"""The Discogs dump reader on the real samples and hand-written records: documents, lists, rejects."""

import gzip
import io
from pathlib import Path

import orjson
import pytest
import xmltodict

from import_pipeline.records import Reject
from import_pipeline.sources.discogs.documents import LIST_CHILDREN, RECORD_TAGS
from import_pipeline.sources.discogs.dump import DumpFormatError, DumpRecord, read_dump, split_records

DATA = Path(__file__).resolve().parent / "data" / "discogs"
TYPES = ("artists", "labels", "masters", "releases")


def records(path: Path, dump_type: str) -> list[DumpRecord]:
    read = list(read_dump(path, dump_type))
    assert not [r for r in read if isinstance(r, Reject)]
    return [r for r in read if isinstance(r, DumpRecord)]


def documents(path: Path, dump_type: str) -> list[dict]:
    return [orjson.loads(r.document) for r in records(path, dump_type)]


def as_xmltodict(value: object, parent: str = "") -> object:
    """Our document as xmltodict gives it: a one-element list of an always-list child unwrapped."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in LIST_CHILDREN.get(parent, ()) and isinstance(item, list) and len(item) == 1:
                item = item[0]
            out[key] = as_xmltodict(item, key) if not isinstance(item, list) else [as_xmltodict(i, key) for i in item]
        return out
    return value


def write_dump(path: Path, dump_type: str, body: str, *, gz: bool = True) -> Path:
    data = f'<?xml version="1.0" encoding="UTF-8"?>\n<{dump_type}>\n{body}\n</{dump_type}>\n'.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("dump_type", TYPES)
def test_the_real_samples_read_as_xmltodict_reads_them_apart_from_lists(dump_type: str) -> None:
    path = DATA / f"{dump_type}.xml"
    tag = RECORD_TAGS[dump_type]
    expected = xmltodict.parse(path.read_bytes())[dump_type][tag]
    ours = documents(path, dump_type)
    assert len(ours) == len(expected) > 0
    for mine, theirs in zip(ours, expected, strict=True):
        assert as_xmltodict(mine, tag) == theirs


def test_real_quirks() -> None:
    release = documents(DATA / "releases.xml", "releases")[0]
    assert release["@id"] == "1" and release["@status"] == "Accepted"
    assert release["released"] == "1999-03-00"
    assert release["tracklist"]["track"][0]["title"] == "Östermalm"
    assert release["formats"]["format"][0]["descriptions"]["description"] == ['12"', "33 ⅓ RPM"]
    assert release["artists"]["artist"][0]["anv"] is None  # <anv></anv>
    label = documents(DATA / "labels.xml", "labels")[0]
    assert "\r\n" in label["contactinfo"]  # &#13; kept
    members = documents(DATA / "artists.xml", "artists")[1]["members"]
    assert members == {"id": ["26", "27"], "name": [{"@id": "26", "#text": "Alexi Delano"},
                                                    {"@id": "27", "#text": "Cari Lekebusch"}]}
    masters = {r["@id"]: r for r in documents(DATA / "releases.xml", "releases")}
    assert any(r.get("master_id", {}).get("@is_main_release") for r in masters.values() if r.get("master_id"))


@pytest.mark.parametrize(("container", "child"), sorted((c, t) for c, tags in LIST_CHILDREN.items() for t in tags))
def test_each_list_field_is_a_list_of_one(tmp_path: Path, container: str, child: str) -> None:
    body = f'<release id="7"><title>T</title><{container}><{child}>only</{child}></{container}></release>'
    [document] = documents(write_dump(tmp_path / "d.xml.gz", "releases", body), "releases")
    assert document[container] == {child: ["only"]}


def test_a_child_not_in_the_rule_is_a_list_only_when_repeated(tmp_path: Path) -> None:
    body = '<release id="8"><title>One</title><note>a</note><note>b</note></release>'
    [document] = documents(write_dump(tmp_path / "d.xml.gz", "releases", body), "releases")
    assert document["title"] == "One" and document["note"] == ["a", "b"]


def test_both_format_generations(tmp_path: Path) -> None:
    newer = '<release id="9"><artists><artist><id>1</id><name>X</name></artist></artists><title>New</title></release>'
    older = ('<release id="10" status="Accepted"><images><image height="1" type="primary" uri="" uri150="" '
             'width="1"/></images><title>Old</title></release>')
    new_doc, old_doc = documents(write_dump(tmp_path / "d.xml.gz", "releases", newer + "\n" + older), "releases")
    assert "@status" not in new_doc and "images" not in new_doc
    assert old_doc["@status"] == "Accepted" and old_doc["images"]["image"][0]["@type"] == "primary"


def test_entities_unicode_and_sublabels_nesting(tmp_path: Path) -> None:
    body = ('<label><id>3</id><name>A &amp; B — Ø</name><profile>line&#13;\nnext</profile>'
            '<sublabels><label id="4">Sub</label></sublabels><parentLabel id="1">Parent</parentLabel></label>\n'
            '<label><id>4</id><name>Sub</name></label>')
    first, second = documents(write_dump(tmp_path / "l.xml.gz", "labels", body), "labels")
    assert first["name"] == "A & B — Ø" and first["profile"] == "line\r\nnext"
    assert first["sublabels"] == {"label": [{"@id": "4", "#text": "Sub"}]}
    assert second["id"] == "4"


def test_a_malformed_record_is_a_reject_with_its_offset_and_the_next_is_read(tmp_path: Path) -> None:
    good = '<release id="1"><title>Good</title></release>'
    bad = '<release id="2"><title>Bad</titel></release>'
    unclosed = '<release id="3"><title>Cut'
    body = "\n".join([good, bad, unclosed, '<release id="4"><title>After</title></release>',
                      '<release><title>No id</title></release>'])
    path = write_dump(tmp_path / "d.xml.gz", "releases", body)
    read = list(read_dump(path, "releases"))
    assert [r.data_id for r in read if isinstance(r, DumpRecord)] == ["1", "4"]
    rejects = [r for r in read if isinstance(r, Reject)]
    assert len(rejects) == 3
    plain = gzip.decompress(path.read_bytes())
    assert rejects[0].offset == plain.index(b'<release id="2">') and "malformed" in rejects[0].reason
    assert rejects[1].offset == plain.index(b'<release id="3">') and "not closed" in rejects[1].reason
    assert "without an id" in rejects[2].reason


@pytest.mark.parametrize("decoder", ["isal", "zlib"])
def test_a_truncated_gzip_ends_in_one_line_after_the_good_records(tmp_path: Path, decoder: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if decoder == "zlib":
        monkeypatch.setattr("import_pipeline.sources.discogs.dump.fast_gzip", None)
    body = "\n".join(f'<release id="{n}"><title>{n * 7919 % 104729:x} {n ** 3}</title></release>' for n in range(20000))
    path = write_dump(tmp_path / "d.xml.gz", "releases", body)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    read: list = []
    with pytest.raises(DumpFormatError) as raised:
        for record in read_dump(path, "releases"):
            read.append(record)
    assert "ends early" in str(raised.value) and "\n" not in str(raised.value)
    assert read and all(isinstance(r, DumpRecord) for r in read)


def test_a_file_of_another_type_is_refused(tmp_path: Path) -> None:
    path = write_dump(tmp_path / "d.xml.gz", "labels", "<label><id>1</id></label>")
    with pytest.raises(DumpFormatError, match="not a Discogs releases dump"):
        list(read_dump(path, "releases"))


def test_records_split_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("import_pipeline.sources.discogs.dump.CHUNK_BYTES", 7)
    data = b"<labels><label><id>1</id><sublabels><label id='2'>S</label></sublabels></label><label/></labels>"
    split = list(split_records(io.BytesIO(data), "label", "x"))
    assert split == [(8, data[8:data.index(b"<label/>")]), (data.index(b"<label/>"), b"<label/>")]


def test_the_hash_is_of_the_canonical_document_and_the_raw_hash_of_the_bytes(tmp_path: Path) -> None:
    one = write_dump(tmp_path / "a.xml.gz", "releases", '<release id="1"><title>T</title><country>SE</country>'
                                                        '</release>')
    two = write_dump(tmp_path / "b.xml.gz", "releases", '<release id="1"><country>SE</country><title>T</title>'
                                                        '</release>')
    [a], [b] = records(one, "releases"), records(two, "releases")
    assert a.hash == b.hash and a.raw_hash != b.raw_hash  # same document, other bytes
    assert a.document == b'{"@id":"1","country":"SE","title":"T"}'


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 997])
@pytest.mark.parametrize("dump_type", TYPES)
def test_any_chunk_size_splits_the_same_records(monkeypatch: pytest.MonkeyPatch, dump_type: str, chunk: int) -> None:
    whole = records(DATA / f"{dump_type}.xml", dump_type)
    monkeypatch.setattr("import_pipeline.sources.discogs.dump.CHUNK_BYTES", chunk)
    assert records(DATA / f"{dump_type}.xml", dump_type) == whole


@pytest.mark.parametrize(("record", "reason"), [
    ("<artist><id>1</id><id>2</id><name>Two ids</name></artist>", "without an id"),
    # The id is read from the bytes (the first <id>) before a record is converted: a record
    # whose own <id> comes after a member's would be checked under the wrong id.
    ("<artist><members><id>9</id></members><id>1</id><name>Late id</name></artist>", "is not the first id"),
])
def test_a_record_whose_id_is_ambiguous_is_a_reject(tmp_path: Path, record: str, reason: str) -> None:
    body = f"{record}\n<artist><id>3</id><name>Fine</name></artist>"
    read = list(read_dump(write_dump(tmp_path / "a.xml.gz", "artists", body), "artists"))
    assert [r.data_id for r in read if isinstance(r, DumpRecord)] == ["3"]
    [reject] = [r for r in read if isinstance(r, Reject)]
    assert reason in reject.reason

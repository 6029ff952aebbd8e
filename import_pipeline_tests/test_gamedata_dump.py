"""The dump reader on the real 500-item sample and on malformed dumps."""

import json
from pathlib import Path

import pytest

from import_pipeline.records import Reject
from import_pipeline.sources.gamedata import dump
from import_pipeline.sources.gamedata.dump import DumpFormatError, DumpRecord, read_dump

# A copy of shared/data/gamedata/items_500.json: 500 real records as the game dump writes them.
SAMPLE = Path(__file__).resolve().parent / "data" / "gamedata" / "items_500.json"


@pytest.fixture(scope="module")
def sample() -> Path:
    return SAMPLE


def test_real_sample_reads_every_record_with_its_exact_offset(sample: Path) -> None:
    expected = json.loads(sample.read_text(encoding="utf-8"))
    raw = sample.read_bytes()
    out = list(read_dump(sample))
    assert all(isinstance(r, DumpRecord) for r in out)
    assert [r.document for r in out] == expected
    assert [r.aoid for r in out] == [d["AOID"] for d in expected]
    for record in out:
        chunk = raw[record.offset: record.offset + len(record.raw.encode("utf-8"))]
        assert json.loads(chunk) == record.document


def test_records_span_buffer_refills(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dump, "READ_CHARS", 1000)  # every record crosses a buffer boundary
    assert [r.aoid for r in read_dump(sample)] == [d["AOID"] for d in json.loads(sample.read_text())]


def write_dump(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "items.json"
    path.write_text(text, encoding="utf-8")
    return path


def item(aoid, **extra) -> str:
    return json.dumps({"DBType": 1000020, "AOID": aoid, "Name": f"Item {aoid}",
                       "StatValues": [{"Stat": 54, "RawValue": 10}], **extra}, ensure_ascii=False)


def split(out):
    out = list(out)
    return [r for r in out if isinstance(r, DumpRecord)], [r for r in out if isinstance(r, Reject)]


def test_bad_records_are_rejected_with_offset_and_reason(tmp_path: Path) -> None:
    elements = [
        item(1, Description="Øresund ⅓"),
        '{"DBType": 1000020, "Name": "no id"}',
        item("seven"),
        item(3, StatValues=[{"Stat": 1, "RawValue": 2**31}]),
        item(1),
        item(4),
    ]
    text = "[" + ", ".join(elements) + "]"
    path = write_dump(tmp_path, text)
    records, rejects = split(read_dump(path))
    assert [r.aoid for r in records] == [1, 4]
    assert [r.reason for r in rejects] == [
        "missing AOID",
        "AOID must be an integer, got 'seven'",
        "bad StatValues entry {'Stat': 1, 'RawValue': 2147483648}: Stat and RawValue must be 32-bit integers",
        "duplicate AOID 1 in this file",
    ]
    raw = path.read_bytes()
    assert raw[rejects[0].offset:].startswith(b'{"DBType": 1000020, "Name": "no id"}')
    assert all(r.source == str(path) for r in rejects)


def test_malformed_json_in_the_middle_costs_only_that_record(tmp_path: Path) -> None:
    broken = '{"DBType": 1000020, "AOID": 2, "StatValues": [{"Stat": 1, "RawValue": 2},, ], "Name": "x"}'
    path = write_dump(tmp_path, "[" + ", ".join([item(1), broken, item(3)]) + "]")
    records, rejects = split(read_dump(path))
    assert [r.aoid for r in records] == [1, 3]
    [reject] = rejects
    assert reject.reason.startswith("invalid JSON: Expecting value")
    assert path.read_bytes()[reject.offset:].startswith(b'{"DBType": 1000020, "AOID": 2')


def test_resync_after_bad_json_works_across_buffer_refills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dump, "READ_CHARS", 50)
    broken = '{"AOID": 2, "StatValues": [{"Stat": 1 "RawValue": 2}], "Name": "' + "x" * 300 + '"}'
    path = write_dump(tmp_path, "[" + ", ".join([item(1), broken, item(3), item(4)]) + "]")
    records, rejects = split(read_dump(path))
    assert [r.aoid for r in records] == [1, 3, 4]
    [reject] = rejects
    assert path.read_bytes()[reject.offset:].startswith(b'{"AOID": 2,')
    assert reject.raw.startswith('{"AOID": 2,') and reject.raw.rstrip(", ").endswith('"}')


def test_truncated_tail_keeps_the_complete_records(tmp_path: Path) -> None:
    text = "[" + ", ".join([item(1), item(2), item(3)]) + "]"
    path = write_dump(tmp_path, text[: len(text) - 30])
    records, rejects = split(read_dump(path))
    assert [r.aoid for r in records] == [1, 2]
    [reject] = rejects
    assert reject.reason.startswith("invalid JSON tail")
    assert reject.offset == text.index(item(3))


def test_unclosed_array_is_reported(tmp_path: Path) -> None:
    records, rejects = split(read_dump(write_dump(tmp_path, "[" + item(1) + ",")))
    assert [r.aoid for r in records] == [1]
    assert [r.reason for r in rejects] == ["invalid JSON tail: the array is not closed"]


def test_not_an_array_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DumpFormatError, match="not a JSON array"):
        list(read_dump(write_dump(tmp_path, '{"columns": []}')))


def test_empty_array_yields_nothing(tmp_path: Path) -> None:
    assert list(read_dump(write_dump(tmp_path, " [ ] "))) == []


def test_records_no_database_can_hold_are_rejected_one_by_one(tmp_path: Path) -> None:
    deep = '{"AOID": 5, "Deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    elements = [
        item(1),
        '{"AOID": 2, "Name": "\\ud800 lone"}',
        '{"AOID": 3, "Name": "x", "Ratio": NaN}',
        '{"AOID": 4, "Name": "x", "Ratio": -Infinity}',
        deep,
        '{"AOID": 6, "Name": "\\ud83d\\ude00 a real pair is fine"}',
        item(7),
    ]
    text = "[" + ", ".join(elements) + "]"
    data = text.encode("utf-8")
    bad_byte = data.replace(b'"Item 7"', b'"Item \xff7"')
    path = tmp_path / "items.json"
    path.write_bytes(bad_byte)
    records, rejects = split(read_dump(path))
    assert [r.aoid for r in records] == [1, 6]
    assert records[1].document["Name"].startswith("\U0001F600")
    reasons = [r.reason for r in rejects]
    assert "surrogate" in reasons[0]
    assert "NaN is not a JSON value" in reasons[1]
    assert "-Infinity is not a JSON value" in reasons[2]
    assert "nested deeper" in reasons[3]
    bad_at = bad_byte.index(b"\xff")
    assert reasons[4] == f"bytes that are not UTF-8 at byte {bad_at}"
    assert len(rejects) == 5
    for reject, element in zip(rejects, elements[1:5], strict=False):
        assert reject.offset == data.index(element.encode())


def test_a_utf8_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_bytes(b"\xef\xbb\xbf[" + item(1).encode() + b"]")
    records, rejects = split(read_dump(path))
    assert [r.aoid for r in records] == [1] and not rejects
    assert records[0].offset == 4

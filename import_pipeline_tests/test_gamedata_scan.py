"""The byte scanner's fast path reads every dump exactly as the full decoder does: the same records
at the same offsets, the same rejects for the same reasons, whatever the damage."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

from import_pipeline.records import Reject
from import_pipeline.sources.gamedata import dump, scan
from import_pipeline.sources.gamedata.dump import DumpRecord, UnchangedRecord, read_dump, record_digest

SAMPLE = Path(__file__).resolve().parent / "data" / "gamedata" / "items_500.json"

Outcome = tuple[str, int, object, object, str | None]


def full_decoder(path: Path, documents: bool) -> list[Outcome]:
    with path.open("rb") as stream:
        return [_outcome(r, {}, documents) for r in dump._decode_stream(stream, str(path), 0, set())]


def fast_path(path: Path, known: dict[int, bytes]) -> list[Outcome]:
    return [_outcome(r, known, not known) for r in read_dump(path, known)]


def _outcome(record: DumpRecord | UnchangedRecord | Reject, known: dict[int, bytes], documents: bool) -> Outcome:
    """What a reader said about one element; documents as JSON text, so 1e+20 is not 10**20."""
    if isinstance(record, UnchangedRecord):
        return ("record", record.offset, record.aoid, known[record.aoid], None)
    if isinstance(record, DumpRecord):
        document = json.dumps(record.document) if documents else None
        return ("record", record.offset, record.aoid, record_digest(record.data), document)
    return ("reject", record.offset or 0, record.reason, None, None)


def sample_head(records: int) -> bytes:
    """The first `records` records of the real sample, written as the game writes them."""
    documents = json.loads(SAMPLE.read_text(encoding="utf-8"))[:records]
    return ("[" + ", ".join(json.dumps(d) for d in documents) + "]").encode()


def test_the_real_sample_is_read_by_the_scanner_alone(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    slices = scan.RecordSlices(io.BytesIO(data), 1 << 20)
    cut = list(slices)
    assert slices.unrecognised_at is None and len(cut) == 500
    assert [json.loads(piece) for _, piece in cut] == json.loads(data)
    assert all(data[offset:offset + len(piece)] == piece for offset, piece in cut)


def test_known_records_are_not_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "items.json"
    path.write_bytes(sample_head(50))
    first = list(read_dump(path))
    known = {r.aoid: record_digest(r.data) for r in first if isinstance(r, DumpRecord)}
    decoded: list[bytes] = []
    loads = dump.orjson.loads
    monkeypatch.setattr(dump.orjson, "loads", lambda data: decoded.append(data) or loads(data))
    again = list(read_dump(path, known))
    assert all(isinstance(r, UnchangedRecord) for r in again) and len(again) == 50
    assert decoded == []


@pytest.mark.parametrize("read_bytes", [scan.READ_BYTES, 997])
def test_every_damage_reads_as_the_full_decoder_reads_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        read_bytes: int) -> None:
    monkeypatch.setattr(scan, "READ_BYTES", read_bytes)  # 997: records cross block boundaries
    clean = sample_head(12)
    documents = json.loads(clean)
    path = tmp_path / "items.json"
    path.write_bytes(clean)
    known_all = {r.aoid: record_digest(r.data) for r in read_dump(path) if isinstance(r, DumpRecord)}
    nested = json.dumps(dict(documents[3], Extra=[{"DBType": 1, "AOID": 99}, {"DBType": 2}]))
    first = json.dumps(documents[0]).encode()
    damages: list[bytes] = [
        clean.replace(b"[", b"\xef\xbb\xbf  [\n", 1),
        clean.replace(b"}, {", b"},\n  {"),
        clean[:-1],
        clean[: len(clean) // 2],
        clean + b" trailing",
        b"[" + clean[1:].replace(json.dumps(documents[3]).encode(), nested.encode()),
        clean.replace(b'"AOID": ', b'"AOID": 1', 1),
        clean.replace(json.dumps(documents[5]).encode(), json.dumps(documents[4]).encode()),  # a repeated AOID
        b"[]", b"  [ ] ", b"{}", b"", b"[1, 2]", b'[{"AOID": 1}, {"AOID": 2}]',
        # Numbers orjson reads differently from the stdlib: past 64 bits, past a double.
        clean.replace(first, first[:-1] + b', "Big": 123456789012345678901234, "Low": -9223372036854775809}'),
        clean.replace(first, first[:-1] + b', "Huge": 1e400}'),
    ]
    rng = random.Random(7)
    for _ in range(150):
        at = rng.randrange(len(clean))
        insert = rng.choice([b'"', b"\\", b"\x00", b"\xff", b"}", b"{", b"]", b",", b"NaN", b'\\ud800',
                             b'}, {"DBType": 1, "AOID": 5', b"\\u0000", b""])
        cut = rng.choice([0, 0, 1, 3])
        damages.append(clean[:at] + insert + clean[at + cut:])
    for n, damaged in enumerate(damages):
        path.write_bytes(damaged)
        try:
            expected = {True: full_decoder(path, True), False: full_decoder(path, False)}
        except dump.DumpFormatError:
            with pytest.raises(dump.DumpFormatError):
                list(read_dump(path, known_all))
            continue
        for known in ({}, known_all):
            assert fast_path(path, known) == expected[not known], (n, damaged[:200])


def test_numbers_keep_their_exact_value_or_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_bytes(b'[{"DBType": 1, "AOID": 1, "Big": 123456789012345678901234, "Low": -9223372036854775809}, '
                     b'{"DBType": 1, "AOID": 2, "Huge": -1e400}, {"DBType": 1, "AOID": 3}]')
    out = list(read_dump(path))
    assert isinstance(out[0], DumpRecord)
    assert (out[0].document["Big"], out[0].document["Low"]) == (123456789012345678901234, -9223372036854775809)
    assert isinstance(out[1], Reject)
    assert out[1].reason == "-1e400 is too large for a double (PostgreSQL cannot store it)"
    assert isinstance(out[2], DumpRecord) and out[2].aoid == 3

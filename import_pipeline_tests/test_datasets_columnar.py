"""The datasets CSV fast lane: pyarrow's column batches give exactly the record-by-record batches."""

import random
import subprocess
import sys
from pathlib import Path

import orjson
import psycopg
import pyarrow as pa
import pytest

import import_pipeline.sources.datasets.csv_columns as csv_columns
from import_pipeline.load.datasets.commit import commit_import
from import_pipeline.load.datasets.request import ImportRequest
from import_pipeline.load.datasets.staging import stage_file
from import_pipeline.sources.datasets.batches import RowBatch, hashed_batches
from import_pipeline.sources.datasets.canonical_columns import canonical_json_of_texts
from import_pipeline.sources.datasets.csv_columns import ColumnReader
from import_pipeline.sources.datasets.csv_file import CsvFormat, detect_format, read_csv
from import_pipeline.sources.datasets.table import canonical_json

# Every character canonical JSON escapes, and some it must not.
ALPHABET = ["a", "Z", "0", " ", ",", ";", "'", '"', "\\", "/", "é", "€", "😀", "\u2028", "\x7f", "u",
            *map(chr, range(1, 32))]


def random_text(rng: random.Random, longest: int = 8) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def test_canonical_json_of_texts_is_canonical_json_byte_for_byte() -> None:
    rng = random.Random(7)
    keys = sorted(["id", 'say "hi"', "back\\slash", "é", "Unnamed: 3", "select", "tab\there"])
    null_share = {key: share for key, share in zip(keys, [0.0, 0.2, 0.0, 1.0, 0.5, 0.0, 0.05], strict=False)}
    rows = [{key: None if rng.random() < null_share[key] else random_text(rng) for key in keys} for _ in range(3000)]
    columns = [pa.array([row[key] for row in rows], type=pa.string()) for key in keys]
    assert canonical_json_of_texts(keys, columns).to_pylist() == [canonical_json(row) for row in rows]
    one = [{"only": random_text(rng)} for _ in range(200)]
    assert (canonical_json_of_texts(["only"], [pa.array([row["only"] for row in one])]).to_pylist()
            == [orjson.dumps(row) for row in one])
    with pytest.raises(ValueError, match="sorted"):
        canonical_json_of_texts(["b", "a"], columns[:2])


def csv_text(records: list[list[str]], *, delimiter: str = ",", line_end: str = "\n") -> str:
    """The records as CSV, quoting a field only where it holds the delimiter, a quote or a line break."""
    def field(value: str) -> str:
        if any(char in value for char in (delimiter, '"', "\r", "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value
    return "".join(delimiter.join(map(field, record)) + line_end for record in records)


def tricky_records(rows: int, seed: int = 3) -> list[list[str]]:
    """A header (with a repeated and an empty name) and data rows whose cells hold quotes,
    delimiters, line breaks, control characters, non-ASCII text, leading zeros and empty cells."""
    rng = random.Random(seed)
    return [["id", "text", "note", "id", ""]] + [
        [f"{n:05d}", random_text(rng, 12), rng.choice(["", "x", "a\r\nb", "two\nlines", '"', "\r"]), str(n * 7),
         random_text(rng, 3)]
        for n in range(rows)]


RECORDS = tricky_records(900)
CLEAN = csv_text(RECORDS)


def with_line(at_row: int, line: str) -> str:
    """The clean file with `line` inserted before its data row `at_row`."""
    return csv_text(RECORDS[: at_row + 1]) + line + csv_text(RECORDS[at_row + 1:])


FILES: dict[str, bytes] = {
    "clean": CLEAN.encode(),
    "crlf_semicolons": csv_text(RECORDS[:400], delimiter=";", line_end="\r\n").encode(),
    "cr_only": csv_text(RECORDS[:300], line_end="\r").encode(),
    "bom": b"\xef\xbb\xbf" + csv_text(RECORDS[:300]).encode(),
    "blank_lines": with_line(400, "\n\n").encode(),
    "no_header": "".join(f"{n},{n * n}\n" for n in range(1, 700)).encode(),
    "wrong_width": with_line(600, "1,2\n").encode(),
    "not_utf8": with_line(600, "x,BAD,z,1,2\n").encode().replace(b"BAD", b"\xff"),
    "nul": with_line(600, "x,y\x00y,z,1,2\n").encode(),
    "record_longer_than_a_block": with_line(600, "x," + "y" * 20_000 + ",z,1,2\n").encode(),
    "unterminated_quote": (CLEAN + 'x,"open,z,1,2\n5,6,7,8,9\n').encode(),
    "two_line_header": b'a,"b\nc"\n1,2\n3,4\n',
    "blank_first_line": b"\na,b\n1,2\n",
    "cp1252": "navn;by\nSøren;Århus\nJosé;Málaga\n".encode("cp1252"),
}
CLEAN_FILES = ["clean", "crlf_semicolons", "cr_only", "bom", "blank_lines", "no_header"]
# A bad byte within the first MiB makes detection pick a legacy encoding; past it (as in a
# large file) the file is read as UTF-8: declared here, as a sidecar would.
DECLARED_ENCODING = {"not_utf8": "utf-8"}
# Where the fast lane must stop, and what it says.
STOPS = {"wrong_width": "2 fields where the header has 5", "not_utf8": "UTF8", "nul": "NUL",
         "record_longer_than_a_block": "straddling", "unterminated_quote": "fields where the header has 5"}


def batch_view(batch: RowBatch) -> tuple:
    return (batch.hashes.tobytes(), batch.keys.tobytes(), batch.documents.to_pylist(), batch.runs,
            [(r.source, r.line, r.reason, r.raw) for r in batch.rejects], batch.records)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """4 KiB blocks: every file here spans many, so the fast lane stops after several clean ones."""
    monkeypatch.setattr(csv_columns, "BLOCK_BYTES", 4096)


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_column_lane_gives_the_record_lanes_batches(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(FILES[name])
    encoding = DECLARED_ENCODING.get(name)
    for batch_rows in (37, 50_000):
        columnar = [batch_view(b) for b in hashed_batches(path, batch_rows=batch_rows, encoding=encoding)]
        by_record = [batch_view(b) for b in hashed_batches(path, batch_rows=batch_rows, encoding=encoding,
                                                           columnar=False)]
        assert columnar == by_record


@pytest.mark.parametrize("name", CLEAN_FILES)
def test_the_column_reader_reads_clean_files_to_the_end(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(FILES[name])
    fmt = detect_format(path)
    reader = ColumnReader.open(path, fmt)
    assert reader is not None
    rows = sum(batch.rows for batch in reader.batches())
    assert reader.stopped is None
    assert rows == sum(type(record) is dict for record in read_csv(path, fmt)) > 250


@pytest.mark.parametrize("name", sorted(STOPS))
def test_the_column_reader_stops_before_the_first_block_it_cannot_read_exactly(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(FILES[name])
    fmt = detect_format(path, encoding=DECLARED_ENCODING.get(name))
    reader = ColumnReader.open(path, fmt)
    assert reader is not None
    rows = [dict(zip(batch.keys, values, strict=False)) for batch in reader.batches()
            for values in zip(*(column.to_pylist() for column in batch.columns), strict=False)]
    assert STOPS[name] in reader.stopped
    assert 100 < len(rows) < 900  # clean blocks were read before the stop
    exact = [record for record in read_csv(path, fmt) if type(record) is dict]
    assert rows == exact[: len(rows)]


def test_on_malformed_quoting_the_column_reader_stops_or_reads_exactly_what_read_csv_reads(tmp_path: Path) -> None:
    # Random lines of stray, doubled and unclosed quotes, delimiters and line breaks: where
    # pyarrow takes a record the csv module reads differently, the fast lane would be wrong
    # without noticing. (A sweep of 167,784 such inputs found no such record.)
    rng = random.Random(11)
    pieces = ["a", "b", '"', '""', ",", " ", "\n", "\r\n", "\r", 'x"y', '"a"b', '"q"']
    fmt = CsvFormat(encoding="utf-8", delimiter=",", quotechar='"', has_header=False)
    path = tmp_path / "quotes.csv"
    read_exactly = 0
    for _ in range(1500):
        path.write_text("".join(rng.choice(pieces) for _ in range(rng.randint(1, 10))) + "\n", newline="")
        reader = ColumnReader.open(path, fmt)
        if reader is None:
            continue
        rows = [list(values) for batch in reader.batches()
                for values in zip(*(column.to_pylist() for column in batch.columns), strict=False)]
        if reader.stopped is None:
            read_exactly += 1
            exact = [[record[key] for key in sorted(record)] for record in read_csv(path, fmt) if type(record) is dict]
            assert rows == exact, path.read_text()
        else:
            assert rows == []  # a one-block file: stopped before its only block
    assert read_exactly > 500


@pytest.mark.parametrize("name", ["two_line_header", "blank_first_line", "cp1252"])
def test_the_column_reader_leaves_files_it_cannot_start_on_to_the_record_reader(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(FILES[name])
    assert ColumnReader.open(path, detect_format(path)) is None


@pytest.mark.parametrize("name", ["clean", "wrong_width", "nul", "not_utf8"])
def test_resuming_after_any_record_gives_the_rest_of_the_batches(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(FILES[name])
    for skip in (1, 36, 37, 599, 601, 650, 899, 10_000):
        options = {"skip_records": skip, "batch_rows": 37, "encoding": DECLARED_ENCODING.get(name)}
        columnar = [batch_view(b) for b in hashed_batches(path, **options)]
        by_record = [batch_view(b) for b in hashed_batches(path, **options, columnar=False)]
        assert columnar == by_record, skip


def test_a_nul_character_rejects_its_row_and_the_rest_imports(conn: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"a,b\n1,x\x00y\n2,z\n3,w\n")
    request = ImportRequest(path=path, dataset="nul")
    staged = stage_file(conn, request)
    commit = commit_import(conn, request, sha256=staged.sha256)
    assert (staged.rows, staged.rejects, commit.row_count, commit.reject_count) == (2, 1, 2, 1)
    reason, raw = conn.execute("SELECT reason, raw FROM import_pipeline.rejects").fetchone()
    assert reason == "primary:1 has no JSON form: a NUL character, which PostgreSQL cannot store in jsonb"
    assert "x\\x00y" in raw
    rows = conn.execute("SELECT cr.logical_row_id, r.data FROM datasets.commit_rows cr"
                        " JOIN datasets.rows r USING (row_hash) ORDER BY 1").fetchall()
    assert rows == [("primary:2", {"a": "2", "b": "z"}), ("primary:3", {"a": "3", "b": "w"})]


def test_encoding_batches_imports_no_database_driver_excel_reader_or_pandas(tmp_path: Path) -> None:
    """What the parsing child runs, in a fresh interpreter where pandas cannot be imported (as
    staging's child makes it), on files taking either lane: it works, and loads neither
    psycopg nor openpyxl."""
    for name in ("clean", "wrong_width"):
        (tmp_path / f"{name}.csv").write_bytes(FILES[name])
    script = (
        "import sys; from pathlib import Path\n"
        "from import_pipeline.parallel import _Unimportable; sys.meta_path.insert(0, _Unimportable(('pandas',)))\n"
        "from import_pipeline.load.datasets.encoded import encoded_batches\n"
        f"for name in ('clean', 'wrong_width'):\n"
        f"    path = Path({str(tmp_path)!r}) / f'{{name}}.csv'\n"
        "    batches = list(encoded_batches('0' * 32, path=path, batch_rows=100))\n"
        "    assert sum(b.rows for b in batches) > 0\n"
        "print(sorted(m for m in ('psycopg', 'openpyxl', 'pandas') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

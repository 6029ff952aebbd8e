"""copy_rows round-trips every supported column type exactly, in text and binary COPY."""

import datetime as dt
import decimal
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from import_pipeline.postgres.copy import append_rows, column_types, copy_rows
from import_pipeline.postgres.tables import create_table

TRICKY_TEXT = "tab\there\nnew line\\backslash \\N café Øresund 33 ⅓ RPM 🎲 \r end"

# (column type, value written, value read back); None rows cover NULL for every type.
CASES = [
    ("smallint", -32768, -32768),
    ("integer", -2147483648, -2147483648),
    ("bigint", 9223372036854775807, 9223372036854775807),
    ("numeric", decimal.Decimal("-12345.678900"), decimal.Decimal("-12345.678900")),
    ("real", 1.5, 1.5),
    ("double precision", -2.5e-300, -2.5e-300),
    ("boolean", True, True),
    ("text", TRICKY_TEXT, TRICKY_TEXT),
    ("varchar(200)", TRICKY_TEXT, TRICKY_TEXT),
    ("bytea", b"\x00\x01\\\t\n\xff", b"\x00\x01\\\t\n\xff"),
    ("date", dt.date(1999, 3, 1), dt.date(1999, 3, 1)),
    ("timestamp", dt.datetime(2026, 1, 2, 3, 4, 5, 678901), dt.datetime(2026, 1, 2, 3, 4, 5, 678901)),
    (
        "timestamptz",
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    ),
    ("time", dt.time(23, 59, 59, 1), dt.time(23, 59, 59, 1)),
    ("interval", dt.timedelta(days=3, seconds=7), dt.timedelta(days=3, seconds=7)),
    ("uuid", uuid.UUID(int=12345), uuid.UUID(int=12345)),
    ("jsonb", Jsonb({"k": TRICKY_TEXT, "n": [1, 2.5, None]}), {"k": TRICKY_TEXT, "n": [1, 2.5, None]}),
    ("integer[]", [1, None, -3], [1, None, -3]),
    ("text[]", ["a\tb", "", None, "ü"], ["a\tb", "", None, "ü"]),
]


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_every_type_round_trips_with_nulls(conn: psycopg.Connection, binary: bool) -> None:
    columns = [(f"c{i}", type_) for i, (type_, _, _) in enumerate(CASES)]
    create_table(conn, "public.every_type", [("n", "integer"), *columns])
    names = ["n", *(name for name, _ in columns)]
    types = column_types(conn, "public.every_type", names) if binary else None
    rows = [(1, *(written for _, written, _ in CASES)), (2, *([None] * len(CASES)))]

    assert copy_rows(conn, "public.every_type", names, iter(rows), types) == 2

    stored = conn.execute("SELECT * FROM every_type ORDER BY n").fetchall()
    assert stored[0] == (1, *(read for _, _, read in CASES))
    assert stored[1] == (2, *([None] * len(CASES)))


def test_copy_streams_a_generator_and_counts_rows(conn: psycopg.Connection) -> None:
    create_table(conn, "public.narrow", [("a", "bigint"), ("b", "text")])
    count = copy_rows(conn, "public.narrow", ["a", "b"], ((i, str(i)) for i in range(50_000)), ["bigint", "text"])
    assert count == 50_000
    totals = conn.execute("SELECT count(*), sum(a), max(b::bigint) FROM narrow").fetchone()
    assert totals == (50_000, 1249975000, 49_999)


def test_copy_of_nothing_writes_nothing(conn: psycopg.Connection) -> None:
    create_table(conn, "public.narrow", [("a", "bigint")])
    assert copy_rows(conn, "public.narrow", ["a"], iter([])) == 0


def test_append_fills_constant_columns(conn: psycopg.Connection) -> None:
    create_table(conn, "public.parts", [("a", "integer"), ("partition_key", "text")])
    append_rows(conn, "public.parts", ["a"], [(1,), (2,)], constants={"partition_key": "p1"}, types=["integer"])
    assert conn.execute("SELECT a, partition_key FROM parts ORDER BY a").fetchall() == [(1, "p1"), (2, "p1")]


def test_identifiers_are_quoted_not_injected(conn: psycopg.Connection) -> None:
    create_table(conn, 'public.we"ird table', [('select', "text"), ("a b", "integer")])
    copy_rows(conn, 'public.we"ird table', ["select", "a b"], [("x", 1)])
    assert conn.execute('SELECT "select", "a b" FROM "we""ird table"').fetchall() == [("x", 1)]

"""Our gamedata schema holds every table and column of the item-lookup app's schema, with a
type the app can read (its models then work on a database we imported)."""

import json
import re
from pathlib import Path

import psycopg

SCHEMA = Path(__file__).resolve().parent / "data" / "gamedata" / "item_lookup_app_schema.json"
#: Types of ours that read back as the app's type: text stands in for varchar (we keep names
#: longer than the app's 128 characters).
COMPATIBLE = {"character varying": {"character varying", "text"}}


def our_columns(conn: psycopg.Connection) -> dict[str, dict[str, str]]:
    """Every table's and materialized view's columns in schema gamedata, with their type (no length)."""
    rows = conn.execute("""
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'gamedata' AND c.relkind IN ('r', 'm', 'v') AND a.attnum > 0 AND NOT a.attisdropped
    """).fetchall()
    columns: dict[str, dict[str, str]] = {}
    for table, column, type_name in rows:
        columns.setdefault(table, {})[column] = re.sub(r"\(\d+(,\d+)?\)", "", type_name)
    return columns


def test_every_table_and_column_of_the_app_exists_with_a_compatible_type(conn: psycopg.Connection) -> None:
    app = json.loads(SCHEMA.read_text())["tables"]
    ours = our_columns(conn)
    missing, wrong = [], []
    for table, columns in app.items():
        for column, app_type in columns.items():
            our_type = ours.get(table, {}).get(column)
            if our_type is None:
                missing.append(f"{table}.{column}")
            elif our_type not in COMPATIBLE.get(app_type, {app_type}):
                wrong.append(f"{table}.{column}: ours {our_type}, the app's {app_type}")
    assert missing == [] and wrong == []


def test_the_source_types_have_the_apps_ids(conn: psycopg.Connection) -> None:
    expected = [tuple(row) for row in json.loads(SCHEMA.read_text())["source_types"]]
    assert conn.execute("SELECT id, name FROM gamedata.source_types ORDER BY id").fetchall() == expected

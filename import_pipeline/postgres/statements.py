"""A family's own set-based SQL, kept as named statements in `sql/<family>/*.sql`.

A file holds one or more statements, each introduced by a `-- name: <name>` line (the
convention of yesql and aiosql). Statements take `%(param)s` placeholders; identifiers
are written out in the file, never formatted in. `fetch_row` returns a
statement's row as an instance of a dataclass named after what it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from import_pipeline.postgres.migrate import sql_dir

Row = TypeVar("Row")
_NAME_LINE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


class UnknownStatement(KeyError):
    """No statement of that name in the family's folder."""


@cache
def family_statements(family: str) -> dict[str, sql.SQL]:
    """Every named statement of `sql/<family>/`, by name. Raises ValueError on a repeated name."""
    found: dict[str, sql.SQL] = {}
    for path in sorted((sql_dir() / family).glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        parts = _NAME_LINE.split(text)
        for name, body in zip(parts[1::2], parts[2::2], strict=False):
            if name in found:
                raise ValueError(f"statement {name!r} is defined twice in sql/{family}/")
            found[name] = sql.SQL(body.strip().rstrip(";"))
    return found


def statement(family: str, name: str) -> sql.SQL:
    """The statement `name` of `sql/<family>/`; raises `UnknownStatement` if there is none."""
    try:
        return family_statements(family)[name]
    except KeyError:
        raise UnknownStatement(f"no statement {name!r} in sql/{family}/") from None


def fetch_row(conn: psycopg.Connection[Any], family: str, name: str, row_type: type[Row],
              params: Mapping[str, Any] | None = None) -> Row | None:
    """Run statement `name` of `sql/<family>/` and return its first row as a `row_type`
    (a dataclass whose fields are the statement's column names), or None when it returns none."""
    cursor = conn.cursor(row_factory=class_row(row_type))
    return cursor.execute(statement(family, name), params).fetchone()

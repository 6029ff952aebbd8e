"""Safe SQL names: every table and column name reaches SQL text through here."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql


def table_identifier(table: str) -> sql.Identifier:
    """`"schema"."name"` for `schema.name`, `"name"` for a bare name (search_path applies).

    Only the first dot separates the schema, so a name may contain dots only after it.
    """
    schema, dot, name = table.partition(".")
    return sql.Identifier(schema, name) if dot else sql.Identifier(schema)


def split_table(table: str, default_schema: str = "public") -> tuple[str, str]:
    """`(schema, name)` of `table`, with `default_schema` for a bare name."""
    schema, dot, name = table.partition(".")
    return (schema, name) if dot else (default_schema, schema)


def qualified_name(table: str, default_schema: str = "public") -> str:
    """`schema.name` of `table` as plain text (for records and messages, not for SQL)."""
    return "{}.{}".format(*split_table(table, default_schema))


def column_list(columns: Sequence[str], prefix: str | None = None) -> sql.Composed:
    """`"a", "b"` or, with a prefix, `"t"."a", "t"."b"`."""
    if prefix is None:
        return sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    return sql.SQL(", ").join(sql.Identifier(prefix, c) for c in columns)

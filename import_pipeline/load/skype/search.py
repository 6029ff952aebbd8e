"""The language of the full-text index on message text."""

from __future__ import annotations

import psycopg
from psycopg import sql

DEFAULT_LANGUAGE = "simple"


def search_language(conn: psycopg.Connection) -> str | None:
    """The text search configuration the message index uses now (None: no index)."""
    row = conn.execute("SELECT pg_get_indexdef('skype.messages_search_idx'::regclass)").fetchone()
    if row is None or row[0] is None:
        return None
    definition: str = row[0]
    return definition.split("to_tsvector('", 1)[1].split("'", 1)[0] if "to_tsvector('" in definition else None


def set_search_language(conn: psycopg.Connection, language: str) -> bool:
    """Rebuild the message index for the text search configuration `language` (`danish`,
    `english`, `simple`...) unless it uses it already; return whether it was rebuilt. Queries
    must use the same configuration (`to_tsvector('danish', content_plain) @@ ...`) to use it.
    Raises psycopg's error for a configuration the server does not have."""
    conn.execute("SELECT %s::regconfig", (language,))
    if search_language(conn) == language:
        return False
    conn.execute("DROP INDEX IF EXISTS skype.messages_search_idx")
    conn.execute(sql.SQL("CREATE INDEX messages_search_idx ON skype.messages USING gin "
                         "(to_tsvector({}::regconfig, content_plain))").format(sql.Literal(language)))
    return True

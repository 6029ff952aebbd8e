"""The relation tables of the discogs graph, derived set-based from the documents that changed.

For each document type, the relation rows of the documents written since the last derivation
(`discogs.graph_progress`) are deleted and derived anew from their `data`, in one transaction
at REPEATABLE READ, so the documents it reads and the watermark it moves agree. Deleted
documents take their relation rows with them (ON DELETE CASCADE).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from import_pipeline.postgres.scalar import fetch_value
from import_pipeline.postgres.statements import statement

#: The relations derived from each document type, in `sql/discogs/graph.sql`.
RELATIONS: dict[str, tuple[str, ...]] = {
    "artists": ("artist_members", "artist_aliases"),
    "labels": ("label_sublabels",),
    "masters": ("master_artists",),
    "releases": ("release_artists", "release_labels", "release_master", "release_genres", "release_styles"),
}


@dataclass
class GraphResult:
    """What one derivation did: documents re-derived, rows written per relation, seconds."""

    dump_type: str
    documents: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def derive_graph(conn: psycopg.Connection, dump_type: str) -> GraphResult:
    """Derive the relation rows of the `dump_type` documents written since the last derivation;
    commits. A document written again without change of data gets the same rows again."""
    if dump_type not in RELATIONS:
        raise ValueError(f"no relations for {dump_type!r}")
    result = GraphResult(dump_type)
    started = time.perf_counter()
    conn.commit()
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        since = fetch_value(conn, statement("discogs", "graph_since"), {"dump_type": dump_type})
        row = conn.execute(sql.SQL("SELECT count(*), max(updated_at) FROM {} WHERE updated_at > %s").format(
            sql.Identifier("discogs", dump_type)), (since,)).fetchone()
        documents, through = row if row else (0, None)
        result.documents = int(documents or 0)
        if through is not None:
            for relation in RELATIONS[dump_type]:
                conn.execute(statement("discogs", f"{relation}_clear"), {"since": since})
                result.rows[relation] = conn.execute(statement("discogs", f"{relation}_derive"),
                                                     {"since": since}).rowcount
            conn.execute(statement("discogs", "graph_advance"), {"dump_type": dump_type, "through": through})
    result.seconds = time.perf_counter() - started
    return result


def dangling_references(conn: psycopg.Connection) -> dict[str, int]:
    """Per relation, how many rows point at a document the mirror does not hold."""
    return {relation: int(count) for relation, count in conn.execute(statement("discogs", "dangling_references"))}

"""Nightly upkeep of the discogs tables: rebuild bloated indexes without blocking readers, ANALYZE."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from import_pipeline.load.discogs.documents import DUMP_TYPES
from import_pipeline.load.discogs.graph import RELATIONS
from import_pipeline.postgres.statements import statement

SCHEMA = "discogs"


@dataclass(frozen=True)
class Rebuilt:
    """One index rebuilt: its estimated bloat before, its size before and after, seconds."""

    index: str
    bloat: float
    bytes_before: int
    bytes_after: int
    seconds: float


@dataclass
class Maintenance:
    """What a maintenance run did: the indexes rebuilt, those checked, the tables analyzed."""

    rebuilt: list[Rebuilt] = field(default_factory=list)
    checked: int = 0
    not_estimated: list[str] = field(default_factory=list)
    analyzed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def maintain(url: str, *, bloat_threshold: float = 0.3) -> Maintenance:
    """`REINDEX INDEX CONCURRENTLY` each btree index of the schema whose estimated bloat is over
    `bloat_threshold`, then `ANALYZE` the family's tables. Uses a connection of its own in
    autocommit (a concurrent reindex cannot run inside a transaction)."""
    result = Maintenance()
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for index, _table, size, bloat in conn.execute(statement("discogs", "btree_index_bloat"),
                                                       {"schema": SCHEMA}).fetchall():
            result.checked += 1
            if bloat is None:
                result.not_estimated.append(index)
                continue
            if bloat <= bloat_threshold:
                continue
            began = time.perf_counter()
            conn.execute(sql.SQL("REINDEX INDEX CONCURRENTLY {}").format(sql.Identifier(SCHEMA, index)))
            after = conn.execute("SELECT pg_relation_size(%s::regclass)", (f"{SCHEMA}.{index}",)).fetchone()
            result.rebuilt.append(Rebuilt(index, float(bloat), int(size), int(after[0]) if after else 0,
                                          time.perf_counter() - began))
        for table in (*DUMP_TYPES, *(r for relations in RELATIONS.values() for r in relations)):
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(SCHEMA, table)))
            result.analyzed.append(table)
    result.seconds = time.perf_counter() - started
    return result

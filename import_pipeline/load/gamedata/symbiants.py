"""Import `symbiants.csv` into mobs, sources and item_sources, and refresh `symbiant_items`.

Mobs are upserted on (name, playfield, location) and their sources on (type mob, mob id),
so their ids stay the same from one import to the next. The mob links to items are
replaced as a whole; mobs the file no longer names are deleted with their sources and
links. Everything is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from import_pipeline.load.gamedata.dump import LOCK_NAME
from import_pipeline.postgres.copy import copy_rows, merge_rows
from import_pipeline.postgres.intern import intern_rows
from import_pipeline.postgres.locks import advisory_lock
from import_pipeline.postgres.rejects import clear_rejects, write_rejects
from import_pipeline.postgres.statements import statement
from import_pipeline.records import Reject
from import_pipeline.sources.gamedata.symbiants import SymbiantDrop, mob_names, read_symbiants

MOB_SOURCE_TYPE = 3  # gamedata.source_types 'mob', as the item-lookup app numbers it


@dataclass
class SymbiantsImport:
    """What a symbiants import wrote and rejected."""

    source: str
    mobs: int = 0
    item_sources: int = 0
    duplicates: int = 0
    rejects: list[Reject] = field(default_factory=list)


def import_symbiants(
    conn: psycopg.Connection, path: Path | str, *, reject_asset: str = "gamedata/symbiants", run_id: str | None = None
) -> SymbiantsImport:
    """Load the drop table at `path`; return counts and rejects.

    A row whose AOID names no imported item is rejected (import the items first); a row
    repeating an (item, boss) pair is counted as a duplicate and skipped.
    """
    result = SymbiantsImport(source=str(path))
    drops: list[SymbiantDrop] = []
    for drop in read_symbiants(path):
        if isinstance(drop, Reject):
            result.rejects.append(drop)
        else:
            drops.append(drop)
    with advisory_lock(conn, LOCK_NAME), conn.transaction():
        item_ids: dict[int, int] = dict(conn.execute(statement("gamedata", "item_ids_by_aoid")).fetchall())
        mobs: dict[tuple[str, str, str], SymbiantDrop] = {}
        names: dict[tuple[str, str, str], dict[str, None]] = {}
        for drop in drops:
            key = (drop.boss, drop.playfield, drop.location)
            mobs.setdefault(key, drop)
            names.setdefault(key, {}).update(dict.fromkeys(mob_names(drop.mob_family)))
        mob_ids = intern_rows(conn, "gamedata.mobs", ["name", "playfield", "location"], mobs)
        merge_rows(
            conn, "gamedata.mobs", ["id", "name", "playfield", "location", "level", "mob_names"],
            [(mob_ids[key], *key, drop.boss_level, list(names[key])) for key, drop in mobs.items()],
            key=["id"],
        )
        merge_rows(
            conn, "gamedata.sources", ["source_type_id", "source_id", "name"],
            [(MOB_SOURCE_TYPE, mob_ids[key], key[0]) for key in mobs],
            key=["source_type_id", "source_id"],
        )
        ids = list(mob_ids.values())
        conn.execute(statement("gamedata", "delete_other_mob_sources"), {"mob_ids": ids})
        conn.execute(statement("gamedata", "delete_other_mobs"), {"mob_ids": ids})
        source_ids: dict[int, int] = dict(conn.execute(statement("gamedata", "mob_source_ids")).fetchall())
        conn.execute(statement("gamedata", "delete_mob_item_sources"))
        links: dict[tuple[int, int], dict] = {}
        for drop in drops:
            item_id = item_ids.get(drop.aoid)
            if item_id is None:
                result.rejects.append(Reject(str(path), f"no item with AOID {drop.aoid}; import the items dump first",
                                             line=drop.line, raw=drop.item_name))
                continue
            link = (item_id, source_ids[mob_ids[(drop.boss, drop.playfield, drop.location)]])
            if link in links:
                result.duplicates += 1
                continue
            links[link] = {"ql": drop.ql, "slot": drop.slot, "unit_type": drop.unit_type}
        result.item_sources = copy_rows(
            conn, "gamedata.item_sources", ["item_id", "source_id", "metadata"],
            [(*link, metadata) for link, metadata in links.items()], ["int4", "int4", "jsonb"],
        )
        result.mobs = len(mobs)
        conn.execute(statement("gamedata", "refresh_symbiant_items"))
        clear_rejects(conn, reject_asset, None)
        write_rejects(conn, result.rejects, asset=reject_asset, partition_key=None, run_id=run_id)
    return result

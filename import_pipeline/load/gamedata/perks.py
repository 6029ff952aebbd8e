"""Import `perks.json` into `gamedata.perks`, linked to the (non-nano) items by AOID."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from import_pipeline.load.gamedata.dump import LOCK_NAME
from import_pipeline.postgres.copy import copy_rows
from import_pipeline.postgres.locks import advisory_lock
from import_pipeline.postgres.rejects import clear_rejects, write_rejects
from import_pipeline.postgres.statements import statement
from import_pipeline.records import Reject
from import_pipeline.sources.gamedata.perks import Perk, read_perks

COLUMNS = ("item_id", "name", "perk_series", "counter", "type", "level_required", "ai_level_required",
           "professions", "breeds")
TYPES = ("int4", "text", "text", "int4", "text", "int4", "int4", "int4[]", "int4[]")


@dataclass
class PerksImport:
    """What a perks import wrote and rejected."""

    source: str
    perks: int = 0
    rejects: list[Reject] = field(default_factory=list)


def import_perks(
    conn: psycopg.Connection, path: Path | str, *, reject_asset: str = "gamedata/perks", run_id: str | None = None
) -> PerksImport:
    """Replace the perks with those of `path` in one transaction; return counts and rejects.

    A perk whose AOID names no imported item (nanos do not count) is rejected, so import
    the items first. A perk listed twice keeps its first row.
    """
    result = PerksImport(source=str(path))
    with advisory_lock(conn, LOCK_NAME), conn.transaction():
        item_ids: dict[int, int] = dict(conn.execute(statement("gamedata", "item_ids_by_aoid")).fetchall())
        rows: dict[int, tuple] = {}
        for perk in read_perks(path):
            if isinstance(perk, Reject):
                result.rejects.append(perk)
            elif perk.aoid not in item_ids:
                reason = f"no item with AOID {perk.aoid}; import the items dump first"
                result.rejects.append(_reject(path, perk, reason))
            elif item_ids[perk.aoid] in rows:
                result.rejects.append(_reject(path, perk, f"AOID {perk.aoid} is listed twice"))
            else:
                rows[item_ids[perk.aoid]] = (
                    item_ids[perk.aoid], perk.name, perk.perk_series, perk.counter, perk.type,
                    perk.level_required, perk.ai_level_required, perk.professions, perk.breeds,
                )
        conn.execute(statement("gamedata", "delete_perks"))
        result.perks = copy_rows(conn, "gamedata.perks", COLUMNS, rows.values(), TYPES)
        clear_rejects(conn, reject_asset, None)
        write_rejects(conn, result.rejects, asset=reject_asset, partition_key=None, run_id=run_id)
    return result


def _reject(path: Path | str, perk: Perk, reason: str) -> Reject:
    return Reject(str(path), reason, raw=repr(perk))

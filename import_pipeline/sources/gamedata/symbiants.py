"""Read `symbiants.csv`: which pocket boss drops which symbiant (no header row).

Columns: QL, slot, unit type, pocket boss, playfield, location, mob family, boss level,
two empty columns, and an HTML link whose `AOID=` parameter names the item, e.g.
`<a href=http://aomainframe.info/showitem.asp?AOID=219135>QL 170 Active Ocular Symbiant,
Artillery Unit Aban</A>`. Link text may hold commas, so the link is whatever follows the
tenth comma.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from import_pipeline.records import Reject

FIELDS_BEFORE_LINK = 10
_AOID = re.compile(r"[?&]AOID=(\d+)", re.IGNORECASE)
_LINK_TEXT = re.compile(r">([^<]*)<")


@dataclass(frozen=True)
class SymbiantDrop:
    """One row: a symbiant (by AOID) dropped by a pocket boss, and where that row was."""

    line: int
    aoid: int
    item_name: str
    ql: int | None
    slot: str
    unit_type: str
    boss: str
    playfield: str
    location: str
    mob_family: str
    boss_level: int | None


_MOB_NAME_SEPARATORS = re.compile(r"\s*(?:/|,|&|\band\b)\s*")


def mob_names(field: str) -> list[str]:
    """The mob names a drop's "mob family" field lists: `Spirits/Souls/Dredges`, `Ithaki &
    Spetses`, `Whirling Rocks and Named Golems` each name several; order kept, each once."""
    return list(dict.fromkeys(name for name in _MOB_NAME_SEPARATORS.split(field) if name))


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def read_symbiants(path: Path | str) -> Iterator[SymbiantDrop | Reject]:
    """Yield each non-empty line of the drop table at `path` as a `SymbiantDrop` or a `Reject`."""
    path = Path(path)
    with path.open(encoding="utf-8", errors="replace", newline="") as stream:
        for number, line in enumerate(stream, 1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            fields = next(csv.reader([text]))
            if len(fields) <= FIELDS_BEFORE_LINK:
                yield Reject(str(path), f"expected {FIELDS_BEFORE_LINK + 1} columns, got {len(fields)}",
                             line=number, raw=text)
                continue
            link = ",".join(fields[FIELDS_BEFORE_LINK:])
            aoid = _AOID.search(link)
            boss = fields[3].strip()
            if aoid is None:
                yield Reject(str(path), "no AOID= in the item link", line=number, raw=text)
                continue
            if not boss:
                yield Reject(str(path), "no pocket boss named", line=number, raw=text)
                continue
            name = _LINK_TEXT.search(link)
            yield SymbiantDrop(
                line=number,
                aoid=int(aoid.group(1)),
                item_name=name.group(1).strip() if name else "",
                ql=_int_or_none(fields[0]),
                slot=fields[1].strip(),
                unit_type=fields[2].strip(),
                boss=boss,
                playfield=fields[4].strip(),
                location=fields[5].strip(),
                mob_family=fields[6].strip(),
                boss_level=_int_or_none(fields[7]),
            )

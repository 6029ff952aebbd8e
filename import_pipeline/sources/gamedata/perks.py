"""Read `perks.json`: the perk table of the game, column-oriented.

The file is `{"columns": [...], "values": [[...], ...]}` with the columns `aoid, name,
counter, type, professions, breeds, level, aiTitle` in any order. Each row becomes a
`Perk` or, if a value is missing or out of its domain, a `Reject` naming the row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from import_pipeline.records import Reject

#: The file is read whole; a perk table is well under a megabyte.
MAX_BYTES = 64 * 1024 * 1024
COLUMNS = ("aoid", "name", "counter", "type", "professions", "breeds", "level", "aiTitle")
PERK_TYPES = ("SL", "AI", "LE")
#: Profession ids as the game numbers them; 13 is unused.
PROFESSIONS = {
    "Soldier": 1, "Martial Artist": 2, "MartialArtist": 2, "Engineer": 3, "Fixer": 4, "Agent": 5,
    "Adventurer": 6, "Trader": 7, "Bureaucrat": 8, "Enforcer": 9, "Doctor": 10,
    "Nano-Technician": 11, "NanoTechnician": 11, "Meta-Physicist": 12, "Meta Physicist": 12,
    "MetaPhysicist": 12, "Keeper": 14, "Shade": 15,
}
BREEDS = {"Solitus": 1, "Opifex": 2, "Nanomage": 3, "Atrox": 4}


class PerksFormatError(ValueError):
    """The file is not a perk table at all (not JSON, or no columns/values)."""


@dataclass(frozen=True)
class Perk:
    """One perk: the item it is (by AOID) and its requirements, with names mapped to ids."""

    aoid: int
    name: str
    perk_series: str
    counter: int
    type: str
    level_required: int
    ai_level_required: int
    professions: list[int]
    breeds: list[int]


def read_perks(path: Path | str) -> Iterator[Perk | Reject]:
    """Yield each row of the perk table at `path` as a `Perk` or a `Reject`.

    Raises `PerksFormatError` for a file that is too large, not JSON, or lacks the
    `columns`/`values` layout or one of the expected columns.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise PerksFormatError(f"{path}: {size:,} bytes is more than a perk table's limit of {MAX_BYTES:,}")
    try:
        text = path.read_text(encoding="utf-8")
        table = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PerksFormatError(f"{path}: not a JSON perk table: {exc}") from None
    if not (isinstance(table, dict) and isinstance(table.get("columns"), list)
            and isinstance(table.get("values"), list)):
        raise PerksFormatError(f'{path}: expected {{"columns": [...], "values": [...]}}')
    missing = [c for c in COLUMNS if c not in table["columns"]]
    if missing:
        raise PerksFormatError(f"{path}: no column(s) {', '.join(missing)}")
    index = {name: table["columns"].index(name) for name in COLUMNS}
    starts = _value_starts(text)
    for number, row in enumerate(table["values"]):
        try:
            yield _perk(row, index)
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            start = starts[number] if number < len(starts) else None
            yield Reject(str(path), f"values[{number}]: {exc}", raw=json.dumps(row)[:2000],
                         line=None if start is None else text.count("\n", 0, start) + 1,
                         offset=None if start is None else len(text[:start].encode("utf-8")))


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _value_starts(text: str) -> list[int]:
    """Where each row of the top-level `values` array starts in `text` (a valid JSON object)."""
    decoder = json.JSONDecoder()

    def skip(index: int) -> int:
        return _WHITESPACE.match(text, index).end()  # type: ignore[union-attr]

    index = skip(0) + 1  # past "{"
    while True:
        index = skip(index)
        if text[index] == "}":
            return []
        key, index = decoder.raw_decode(text, index)
        index = skip(skip(index) + 1)  # past ":"
        if key != "values":
            _, index = decoder.raw_decode(text, index)
            index = skip(index) + 1  # past "," (or "}")
            continue
        starts = []
        index = skip(index + 1)  # past "["
        while text[index] != "]":
            starts.append(index)
            _, index = decoder.raw_decode(text, index)
            index = skip(index)
            if text[index] == ",":
                index = skip(index + 1)
        return starts


def _level(value: Any, what: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if type(value) is int and value >= 0:
        return value
    raise ValueError(f"{what} must be a non-negative integer or null, got {value!r}")


def _perk(row: list[Any], index: dict[str, int]) -> Perk:
    value = {name: row[i] for name, i in index.items()}
    aoid, name, counter, perk_type = value["aoid"], value["name"], value["counter"], value["type"]
    if type(aoid) is not int:
        raise ValueError(f"aoid must be an integer, got {aoid!r}")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if type(counter) is not int or not 1 <= counter <= 10:
        raise ValueError(f"counter must be an integer from 1 to 10, got {counter!r}")
    if perk_type not in PERK_TYPES:
        raise ValueError(f"type must be one of {', '.join(PERK_TYPES)}, got {perk_type!r}")
    unknown = [p for p in value["professions"] if p not in PROFESSIONS]
    if unknown:
        raise ValueError(f"unknown profession(s) {', '.join(map(repr, unknown))}")
    unknown = [b for b in value["breeds"] if b not in BREEDS]
    if unknown:
        raise ValueError(f"unknown breed(s) {', '.join(map(repr, unknown))}")
    series = name.strip()
    return Perk(
        aoid=aoid,
        name=f"{series} {counter}",
        perk_series=series,
        counter=counter,
        type=perk_type,
        level_required=_level(value["level"], "level"),
        ai_level_required=_level(value["aiTitle"], "aiTitle"),
        professions=sorted({PROFESSIONS[p] for p in value["professions"]}),
        breeds=sorted({BREEDS[b] for b in value["breeds"]}),
    )

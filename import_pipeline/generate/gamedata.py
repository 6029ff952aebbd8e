"""`import-pipeline generate gamedata`: item and nano dumps shaped like the real game dump.

Modeled on the real 500-item sample (`shared/data/gamedata/items_500.json`) and the full
dump's published figures: per item 6-17 stats (mean ~13, now and then a stat id twice),
80% with 1-2 actions of 1-14 criteria, 88% with 1-2 spell data of 1-27 spells, weapons
with attack/defense and animation mesh; nanos with 24-28 stats, one action of 7-11
criteria and 1-13 spells. Stat values and criteria are drawn from pools sized so a full
dump (156,771 items) holds about 45,000 distinct (stat, value) pairs and 9,000 criteria.
Records average about 2.6 KB. The same seed gives byte-identical files. Files are written
one record at a time, so memory does not grow with their size.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from import_pipeline.sources.gamedata.normalize import COLUMNS

ITEM_DBTYPE = 1000020
NANO_DBTYPE = 1040005
STAT_VALUE_POOL = 45_000
CRITERIA_POOL = 9_000
# Stats every record carries in the real dump, with how many values each takes:
# flags (0), value (23? icon 30?), QL (54), item class (76).
MANDATORY_STATS = {0: 200, 23: 400, 30: 300, 54: 300, 76: 20}
COMMON_STATS = (12, 298, 88, 74, 79)
OTHER_STATS = (2, 4, 26, 1, 211, 352, 3, 688, 250, 501, 426, 427, 41, 212, 294, 8, 9, 17, 19, 21)
SPELL_EVENTS = (0, 0, 0, 14, 14, 10, 3)
ACTIONS = (3, 3, 3, 6, 5)
OPERATORS = (2, 2, 2, 2, 4, 4, 4, 0, 36, 99, 107, 18)
WORDS = [
    "Ammo", "Nano", "Crystal", "Implant", "Armor", "Rifle", "Pistol", "Symbiant", "Ocular", "Thigh", "Boots",
    "Sleeves", "Energy", "Beam", "Flamethrower", "Ammunition", "Advanced", "Basic", "Superior", "Ancient", "Infused",
    "Shielding", "Combat", "Healing", "Reflect", "Matter", "Creation", "Psychological", "Modifications", "Sensory",
    "Improvement", "Time", "Space", "Biological", "Metamorphosis",
]
SENTENCE = (
    "This {a} was made by the {b} corporation for use by {c} in the field. It requires {d} training "
    "and should be kept away from {e} sources. "
)


@dataclass(frozen=True)
class GeneratedDump:
    path: Path
    records: int
    bytes: int


class _Pools:
    """The value pools draws come from; a few values are drawn very often, most rarely."""

    def __init__(self, rng: random.Random) -> None:
        stats = tuple(MANDATORY_STATS) + COMMON_STATS + OTHER_STATS + tuple(range(300, 700))
        self.stat_values = [(rng.choice(stats), rng.randint(-(2**31), 2**31 - 1) if rng.random() < 0.1
                             else rng.randint(0, 40_000)) for _ in range(STAT_VALUE_POOL)]
        self.criteria = [
            {"Value1": rng.choice(stats), "Value2": rng.randint(0, 2_000), "Operator": rng.choice(OPERATORS)}
            for _ in range(CRITERIA_POOL)
        ]

    @staticmethod
    def skewed(rng: random.Random, size: int) -> int:
        return int(size * rng.random() ** 1.6)


def _stat(stat: int, value: int) -> dict[str, int]:
    return {"Stat": stat, "RawValue": value}


def _name(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))


def _description(rng: random.Random, sentences: int) -> str:
    return "".join(
        SENTENCE.format(a=rng.choice(WORDS).lower(), b=rng.choice(WORDS), c=rng.choice(WORDS).lower(),
                        d=rng.choice(WORDS).lower(), e=rng.choice(WORDS).lower())
        for _ in range(sentences)
    )


def _spell(rng: random.Random, pools: _Pools) -> dict[str, Any]:
    common = {"Version": 0, "Patch": None,
              "Criteria": [pools.criteria[pools.skewed(rng, CRITERIA_POOL)]
                           for _ in range(rng.choice((0, 0, 0, 1, 2)))],
              "Target": rng.choice((1, 2, 3)), "TickCount": rng.choice((1, 1, 1, 5, 10)),
              "TickInterval": rng.choice((0, 0, 100, 400)), "Unknown2": 9, "SpellID": rng.randint(53_000, 53_300)}
    shape = rng.random()
    if shape < 0.62:
        stat, amount = rng.choice(OTHER_STATS), rng.randint(-500, 3_000)
        return {"Stat": stat, "Amount": amount, **common, "SpellFormat": "Modify {Stat} {|right|}{Amount}{|/right|}",
                "SpellDescription": f"Modify Stat{stat} {{|right|}}{amount}{{|/right|}}"}
    if shape < 0.84:
        nano = rng.randint(20_000, 300_000)
        return {"NanoID": nano, **common, "SpellFormat": "Upload {NanoID}.", "SpellDescription": f"Upload {nano}."}
    if shape < 0.94:
        return {"A": rng.randint(0, 100), "B": rng.randint(0, 100), **common, "SpellFormat": None,
                "SpellDescription": None}
    texture, location = rng.randint(9_000, 30_000), rng.randint(0, 6)
    return {"Texture": texture, "Location": location, "C": 0, **common,
            "SpellFormat": "Apply texture {Texture} to {Location}.",
            "SpellDescription": f"Apply texture {texture} to {location}."}


def _record(rng: random.Random, pools: _Pools, aoid: int, nano: bool) -> dict[str, Any]:
    if nano:
        n_stats, n_actions, criteria_range, spell_range = rng.randint(24, 28), 1, (7, 11), (1, 13)
        has_actions, spell_data = True, 1
    else:
        n_stats = max(6, min(17, round(rng.gauss(13.4, 2.4))))
        has_actions = rng.random() < 0.80
        n_actions, criteria_range, spell_range = rng.choice((1, 1, 1, 2)), (1, 14), (1, 27)
        spell_data = 0 if rng.random() >= 0.88 else rng.choice((1, 1, 1, 2))
    stats = [_stat(stat, rng.randint(1, values)) for stat, values in MANDATORY_STATS.items()]
    present = set(MANDATORY_STATS)
    while len(stats) < n_stats:
        stat, value = pools.stat_values[pools.skewed(rng, STAT_VALUE_POOL)]
        if stat not in present:
            present.add(stat)
            stats.append(_stat(stat, value))
    if not nano and rng.random() < 0.06:  # the real dump repeats a stat id now and then
        stats[-1] = _stat(stats[1]["Stat"], rng.randint(1, 100))
    weapon = not nano and rng.random() < 0.12
    spells_per = lambda: min(spell_range[1], spell_range[0] + int(rng.expovariate(1 / 3)))  # noqa: E731
    return {
        "DBType": NANO_DBTYPE if nano else ITEM_DBTYPE,
        "AOID": aoid,
        "Version": 1_000_000,
        "UNK1": rng.randint(50_000, 52_000),
        "StatValues": stats,
        "Name": _name(rng),
        "Description": _description(rng, rng.randint(0, 4)),
        "AttackDefenseData": {
            "Attack": [_stat(rng.choice((116, 117, 118)), 100) for _ in range(rng.randint(1, 3))],
            "Defense": [_stat(rng.choice((153, 154)), 100)],
        } if weapon else None,
        "AnimationMesh": {"Animation": _stat(13, rng.randint(0, 3_000)), "Mesh": _stat(12, rng.randint(0, 40_000))}
        if weapon else None,
        "ActionData": {
            "Actions": [
                {"Action": rng.choice(ACTIONS),
                 "Criteria": [pools.criteria[pools.skewed(rng, CRITERIA_POOL)]
                              for _ in range(rng.randint(*criteria_range))]}
                for _ in range(n_actions)
            ]
        } if has_actions else None,
        "SpellData": [
            {"Items": [_spell(rng, pools) for _ in range(spells_per())], "Event": rng.choice(SPELL_EVENTS)}
            for _ in range(spell_data)
        ],
        "Sounds": None,
        "ShopHashData": None,
    }


def records(count: int, *, nano: bool, seed: int) -> Iterator[dict[str, Any]]:
    """`count` generated item (or nano) documents with increasing AOIDs, deterministic by `seed`.

    Item and nano AOIDs overlap on purpose (both start near 20,000), as in the real dumps.
    """
    rng = random.Random(f"{seed}:{'nanos' if nano else 'items'}")
    pools = _Pools(random.Random(seed))
    aoid = 20_000
    for _ in range(count):
        aoid += rng.choice((1, 1, 2, 4))
        yield _record(rng, pools, aoid, nano)


def expected_row_counts(documents: Iterable[dict[str, Any]],
                        other_kind: Iterable[dict[str, Any]] = ()) -> dict[str, int]:
    """Row counts of every gamedata table once `documents` are imported, counted from the
    documents alone, without the importer's code: the oracle that tests and the bench hold an
    import to. `other_kind` are the stored documents of the other kind (items or nanos), which
    share the interned tables. One pass over each; memory holds only the interned keys."""
    counts: Counter[str] = Counter()
    pairs: set[tuple[int, int]] = set()
    criteria: set[tuple[int, int, int]] = set()
    shop_hashes: set[tuple[Any, ...]] = set()

    def shop_keys(doc: dict[str, Any]) -> set[tuple[Any, ...]]:
        return {(e["Hash"]["Text"], e["MinLevel"], e["MaxLevel"], e["BaseAmount"], e["RegenAmount"],
                 e["RegenInterval"], e["SpawnChance"]) for e in (doc.get("ShopHashData") or {}).get("Items") or []}

    def intern(doc: dict[str, Any]) -> None:
        shop_hashes.update(shop_keys(doc))
        pairs.update((s["Stat"], s["RawValue"]) for s in doc.get("StatValues") or [])
        atkdef = doc.get("AttackDefenseData") or {}
        for side in ("Attack", "Defense"):
            pairs.update((s["Stat"], s["RawValue"]) for s in atkdef.get(side) or [])
        for part in ("Animation", "Mesh"):
            stat = (doc.get("AnimationMesh") or {}).get(part)
            if stat:
                pairs.add((stat["Stat"], stat["RawValue"]))
        for action in (doc.get("ActionData") or {}).get("Actions") or []:
            criteria.update((c["Value1"], c["Value2"], c["Operator"]) for c in action["Criteria"])
        for data in doc.get("SpellData") or []:
            for spell in data["Items"]:
                criteria.update((c["Value1"], c["Value2"], c["Operator"]) for c in spell["Criteria"])

    for doc in documents:
        intern(doc)
        counts["items"] += 1
        counts["item_shop_hash"] += len(shop_keys(doc))
        counts["item_stats"] += len(doc.get("StatValues") or [])
        atkdef = doc.get("AttackDefenseData")
        if atkdef:
            counts["attack_defense"] += 1
            counts["attack_defense_attack"] += len(atkdef.get("Attack") or [])
            counts["attack_defense_defense"] += len(atkdef.get("Defense") or [])
        counts["animation_mesh"] += 1 if doc.get("AnimationMesh") else 0
        for action in (doc.get("ActionData") or {}).get("Actions") or []:
            counts["actions"] += 1
            counts["action_criteria"] += len(action["Criteria"])
        for data in doc.get("SpellData") or []:
            counts["spell_data"] += 1
            counts["item_spell_data"] += 1
            counts["spells"] += len(data["Items"])
            counts["spell_data_spells"] += len(data["Items"])
            counts["spell_criteria"] += sum(len(spell["Criteria"]) for spell in data["Items"])
    for doc in other_kind:
        intern(doc)
    counts["stat_values"] = len(pairs)
    counts["criteria"] = len(criteria)
    counts["shop_hash"] = len(shop_hashes)
    return {table: counts[table] for table in COLUMNS}


def write_dump(path: Path, documents: Iterator[dict[str, Any]]) -> GeneratedDump:
    """Write `documents` as one JSON array, as the game dump does; return what was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for count, document in enumerate(documents, 1):
            if count > 1:
                out.write(", ")
            out.write(json.dumps(document, ensure_ascii=False))
        out.write("]")
    return GeneratedDump(path=path, records=count, bytes=path.stat().st_size)


def generate(out_dir: Path, items: int, nanos: int, seed: int = 1) -> list[GeneratedDump]:
    """Write `items.json` and `nanos.json` into `out_dir`; return both files' figures."""
    return [
        write_dump(out_dir / "items.json", records(items, nano=False, seed=seed)),
        write_dump(out_dir / "nanos.json", records(nanos, nano=True, seed=seed)),
    ]


def changed(documents: Iterator[dict[str, Any]], fraction: float, seed: int = 1) -> Iterator[dict[str, Any]]:
    """`documents` with about `fraction` of them edited as a new game patch would: a new
    name suffix, the first stat's value moved by one, and a spell's first criterion (if
    any) swapped for another. Deterministic by `seed`; the others pass through unchanged."""
    rng = random.Random(f"{seed}:changed")
    for document in documents:
        if rng.random() < fraction:
            document = json.loads(json.dumps(document))
            document["Name"] = f"{document.get('Name') or ''} (patched)"
            stats = document.get("StatValues") or []
            if stats:
                stats[0]["RawValue"] = (stats[0]["RawValue"] + 1) if stats[0]["RawValue"] < 2**31 - 1 else 0
            for data in document.get("SpellData") or []:
                for spell in data.get("Items") or []:
                    if spell.get("Criteria"):
                        spell["Criteria"][0] = {"Value1": 54, "Value2": rng.randint(1, 300), "Operator": 2}
                        break
        yield document


PERK_SERIES = ("Accumulator", "Acquisition", "Bio Shielding", "Combat Awareness", "Deadeye", "Energize")
PROFESSION_NAMES = ("Soldier", "Martial Artist", "Engineer", "Fixer", "Agent", "Adventurer", "Trader",
                    "Bureaucrat", "Enforcer", "Doctor", "Nano-Technician", "Meta-Physicist", "Keeper", "Shade")


def write_perks(path: Path, aoids: list[int], seed: int = 1) -> int:
    """Write a `perks.json` (column-oriented, as the real one) for the items `aoids`; return its row count."""
    rng = random.Random(f"{seed}:perks")
    values = []
    for n, aoid in enumerate(aoids):
        values.append([
            aoid, PERK_SERIES[n // 10 % len(PERK_SERIES)], n % 10 + 1, rng.choice(("SL", "SL", "AI", "LE")),
            rng.sample(PROFESSION_NAMES, rng.choice((0, 1, 1, 2, 3))),
            rng.sample(("Solitus", "Opifex", "Nanomage", "Atrox"), rng.choice((0, 0, 0, 1))),
            10 * (n % 10 + 1), rng.choice((None, None, str(n % 30))),
        ])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"columns": ["aoid", "name", "counter", "type", "professions", "breeds", "level",
                                            "aiTitle"], "values": values}), encoding="utf-8")
    return len(values)


def write_symbiants(path: Path, aoids: list[int], seed: int = 1) -> int:
    """Write a `symbiants.csv` (no header, as the real one) dropping the items `aoids`; return its line count."""
    rng = random.Random(f"{seed}:symbiants")
    bosses = [(f"Boss {n}", rng.choice(("Scheol Upper", "Adonis Abyss", "Penumbra Forest")), f"Incarnator {n}",
               rng.choice(("Eremites", "Cultists", "Redeemed")), rng.randint(100, 250))
              for n in range(max(1, len(aoids) // 6))]
    lines = []
    for aoid in aoids:
        boss, playfield, location, family, level = rng.choice(bosses)
        slot, unit = rng.choice(("Eye", "Legs", "Feet", "Chest")), rng.choice(("Artillery", "Infantry", "Support"))
        ql = rng.randint(50, 300)
        lines.append(f"{ql},{slot},{unit},{boss},{playfield},{location},{family},{level},,,"
                     f"<a href=http://aomainframe.info/showitem.asp?AOID={aoid}>QL {ql} Symbiant, {unit} Unit Aban</A>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)

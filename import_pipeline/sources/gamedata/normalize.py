"""Turn item documents into the rows of the normalized gamedata tables (no I/O here).

`ItemRows` collects, for a batch of items, the rows of every table with the columns listed
in `COLUMNS`: tables of plain integers as one `array('i')` per column (`Columns`), which
checks each value is a 32-bit integer as it is appended and can be sent to PostgreSQL
without a per-row encoding step; `items`, `spells`, `shop_hash` and `animation_mesh` as tuples.
Ids of owned rows (attack/defense, animation
mesh, actions, spell data, spells) come from counters the caller seeds; stat values and
criteria are interned through `Interner`s the caller seeds with what the database holds,
so only keys never seen before become new rows. A record whose nested data has the wrong
shape or type raises `RecordError` and leaves the batch exactly as it was.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from import_pipeline.sources.gamedata.dump import INT32

STAT_QL = 54
STAT_ITEM_CLASS = 76
DEFAULT_QL = 1
DEFAULT_ITEM_CLASS = 0

#: Columns (and PostgreSQL types, for binary COPY) of every table an item writes, in the
#: order rows are built. Parents come before children, so the batch can be written in
#: this order with foreign keys in force.
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "stat_values": (("id", "int4"), ("stat", "int4"), ("value", "int4")),
    "criteria": (("id", "int4"), ("value1", "int4"), ("value2", "int4"), ("operator", "int4")),
    "shop_hash": (
        ("id", "int4"), ("hash", "text"), ("min_level", "int4"), ("max_level", "int4"), ("base_amount", "int4"),
        ("regen_amount", "int4"), ("regen_interval", "int4"), ("spawn_chance", "int4"),
    ),
    "attack_defense": (("id", "int4"),),
    "attack_defense_attack": (("attack_defense_id", "int4"), ("stat_value_id", "int4")),
    "attack_defense_defense": (("attack_defense_id", "int4"), ("stat_value_id", "int4")),
    "animation_mesh": (("id", "int4"), ("animation_id", "int4"), ("mesh_id", "int4")),
    "items": (
        ("id", "int4"), ("aoid", "int4"), ("name", "text"), ("ql", "int4"), ("item_class", "int4"),
        ("description", "text"), ("is_nano", "bool"), ("atkdef_id", "int4"), ("animation_mesh_id", "int4"),
        # json's binary format is its UTF-8 text: the record's raw bytes go as they are.
        ("document", "bytea"), ("document_hash", "bytea"),
    ),
    "item_stats": (("item_id", "int4"), ("stat_value_id", "int4")),
    "item_shop_hash": (("item_id", "int4"), ("shop_hash_id", "int4")),
    "actions": (("id", "int4"), ("action", "int4"), ("item_id", "int4")),
    # Its id is numbered here too: a server-side default would cost a sequence call per row.
    "action_criteria": (("action_id", "int4"), ("criterion_id", "int4"), ("order_index", "int4"), ("id", "int4")),
    "spell_data": (("id", "int4"), ("event", "int4")),
    "item_spell_data": (("item_id", "int4"), ("spell_data_id", "int4")),
    "spells": (
        ("id", "int4"), ("target", "int4"), ("tick_count", "int4"), ("tick_interval", "int4"),
        # jsonb's binary format is a version byte (1) and the text: built as bytes (`jsonb_binary`).
        ("spell_id", "int4"), ("spell_format", "text"), ("spell_params", "bytea"),
    ),
    "spell_data_spells": (("spell_data_id", "int4"), ("spell_id", "int4"), ("order_index", "int4")),
    "spell_criteria": (("spell_id", "int4"), ("criterion_id", "int4"), ("order_index", "int4")),
}
#: Tables kept as tuples (text, json, NULLs); every other table is integer columns.
TUPLE_TABLES = ("shop_hash", "animation_mesh", "items", "spells")
#: Tables of interned keys, written from their `Interner`s.
INTERNED_TABLES = ("stat_values", "criteria", "shop_hash")
#: Tables whose ids the builder hands out (stat_values and criteria through their interners).
OWNED_ID_TABLES = ("attack_defense", "animation_mesh", "actions", "action_criteria", "spell_data", "spells")


class RecordError(ValueError):
    """An item document whose nested data cannot be normalized; the reason says where."""


def jsonb_binary(value: Any) -> bytes:
    """`value` in jsonb's binary COPY format: the version byte 1, then its JSON text."""
    try:
        return b"\x01" + orjson.dumps(value)
    except orjson.JSONEncodeError:  # integers past 64 bits, which the stdlib encodes
        return b"\x01" + json.dumps(value, ensure_ascii=False).encode("utf-8")


def _int32(value: Any, what: str) -> int:
    if type(value) is not int or not INT32[0] <= value <= INT32[1]:
        raise RecordError(f"{what} must be a 32-bit integer, got {value!r}")
    return value


@dataclass
class Interner:
    """Ids of interned keys: those known from the database plus those new in this import.

    `new` holds `(id, *key)` rows not yet written; the caller writes and then clears them.
    """

    name: str
    arity: int
    known: dict[tuple[Any, ...], int] = field(default_factory=dict)
    next_id: int = 1
    new: list[tuple[Any, ...]] = field(default_factory=list)
    #: How many values at the start of a key are text; the rest are 32-bit integers.
    texts: int = 0

    def id_of(self, key: tuple[Any, ...]) -> int:
        """The id of `key`, interning it if it is new. New keys must hold `texts` strings, then
        32-bit integers."""
        found = self.known.get(key)
        if found is not None:
            return found
        if len(key) != self.arity:
            raise RecordError(f"{self.name} entry {key!r} has {len(key)} values, expected {self.arity}")
        for value in key[:self.texts]:
            if type(value) is not str:
                raise RecordError(f"{self.name} text must be a string, got {value!r}")
        for value in key[self.texts:]:
            _int32(value, f"{self.name} value")
        new_id = self.next_id
        self.next_id += 1
        self.known[key] = new_id
        self.new.append((new_id, *key))
        return new_id

    def forget_since(self, mark: int) -> None:
        """Undo the interning of keys added after `len(self.new)` was `mark`."""
        for row in self.new[mark:]:
            del self.known[tuple(row[1:])]
        if len(self.new) > mark:
            self.next_id = self.new[mark][0]
            del self.new[mark:]


Columns = tuple[array, ...]
#: A table's rows in a batch: integer columns, or tuples for `TUPLE_TABLES`.
TableRows = Columns | list[tuple[Any, ...]]


def row_count(rows: TableRows) -> int:
    """How many rows `rows` holds, in either form."""
    if isinstance(rows, tuple):
        return len(rows[0]) if rows else 0
    return len(rows)


def _columns(count: int) -> Columns:
    return tuple(array("i") for _ in range(count))


class ItemRows:
    """Rows of a batch of items, table by table (see `COLUMNS` and `TableRows`).

    Written for speed (this runs ~30 row builds per item): interning is inlined, integer
    values go straight into typed arrays, and values are checked only where neither the
    dump reader nor the arrays check them.
    """

    def __init__(
        self, stat_values: Interner, criteria: Interner, shop_hash: Interner, next_ids: dict[str, int]
    ) -> None:
        self.stat_values = stat_values
        self.criteria = criteria
        self.shop_hash = shop_hash
        self.next_ids = {table: next_ids.get(table, 1) for table in OWNED_ID_TABLES}
        self._new_batch()

    def _new_batch(self) -> None:
        self.tables: dict[str, TableRows] = {
            table: [] if table in TUPLE_TABLES else _columns(len(columns))
            for table, columns in COLUMNS.items() if table not in INTERNED_TABLES
        }
        t = self.tables

        def columns(name: str) -> Columns:
            return cast(Columns, t[name])

        def tuples(name: str) -> list[tuple[Any, ...]]:
            return cast(list[tuple[Any, ...]], t[name])

        self.attack_defense, self.attack_defense_attack = columns("attack_defense"), columns("attack_defense_attack")
        self.attack_defense_defense, self.animation_mesh = columns("attack_defense_defense"), tuples("animation_mesh")
        self.items, self.item_stats, self.actions = tuples("items"), columns("item_stats"), columns("actions")
        self.item_shop_hash = columns("item_shop_hash")
        self.action_criteria, self.spell_data = columns("action_criteria"), columns("spell_data")
        self.item_spell_data, self.spells = columns("item_spell_data"), tuples("spells")
        self.spell_data_spells, self.spell_criteria = columns("spell_data_spells"), columns("spell_criteria")
        self._all: list[Any] = [rows for rows in t.values() if isinstance(rows, list)]
        self._all += [column for rows in t.values() if isinstance(rows, tuple) for column in rows]

    def take(self) -> dict[str, TableRows]:
        """Hand over the batch's rows, table by table in `COLUMNS` order, and start a new batch."""
        interners = (self.stat_values, self.criteria, self.shop_hash)
        batch: dict[str, TableRows] = {interner.name: interner.new for interner in interners}
        batch.update(self.tables)
        batch = {table: batch[table] for table in COLUMNS}
        for interner in interners:
            interner.new = []
        self._new_batch()
        return batch

    def add(self, item_id: int, document: dict[str, Any], raw: bytes, document_hash: bytes, is_nano: bool) -> None:
        """Append the rows of one item, or raise `RecordError` and append nothing.

        `raw` is the record's JSON text as UTF-8 bytes, stored as the item's document.
        """
        lengths = list(map(len, self._all))
        marks = (len(self.stat_values.new), len(self.criteria.new), len(self.shop_hash.new))
        ids = dict(self.next_ids)
        try:
            self._add(item_id, document, raw, document_hash, is_nano)
        except (RecordError, KeyError, TypeError, AttributeError, IndexError, OverflowError) as exc:
            for rows, length in zip(self._all, lengths, strict=False):
                del rows[length:]
            self.stat_values.forget_since(marks[0])
            self.criteria.forget_since(marks[1])
            self.shop_hash.forget_since(marks[2])
            self.next_ids = ids
            if isinstance(exc, RecordError):
                raise
            raise RecordError(_shape_problem(exc)) from exc

    def _stat_id(self, pair: dict[str, Any]) -> int:
        key = (pair["Stat"], pair["RawValue"])
        found = self.stat_values.known.get(key)
        return found if found is not None else self.stat_values.id_of(key)

    def _add(self, item_id: int, doc: dict[str, Any], raw: bytes, document_hash: bytes, is_nano: bool) -> None:
        ql, item_class = DEFAULT_QL, DEFAULT_ITEM_CLASS
        known = self.stat_values.known.get
        intern = self.stat_values.id_of
        stat_value_ids = []
        for pair in doc.get("StatValues") or ():
            stat, value = key = (pair["Stat"], pair["RawValue"])
            found = known(key)
            stat_value_ids.append(found if found is not None else intern(key))
            if stat == STAT_QL:
                if not is_nano:
                    ql = value
            elif stat == STAT_ITEM_CLASS:
                item_class = value
        item_column, stat_value_column = self.item_stats
        item_column.extend([item_id] * len(stat_value_ids))
        stat_value_column.extend(stat_value_ids)

        ids = self.next_ids
        atkdef_id = None
        atkdef = doc.get("AttackDefenseData")
        if atkdef:
            atkdef_id = ids["attack_defense"]
            ids["attack_defense"] = atkdef_id + 1
            self.attack_defense[0].append(atkdef_id)
            for side, (owner, stat_value) in (("Attack", self.attack_defense_attack),
                                              ("Defense", self.attack_defense_defense)):
                for pair in atkdef.get(side) or ():
                    owner.append(atkdef_id)
                    stat_value.append(self._stat_id(pair))

        mesh_id = None
        mesh = doc.get("AnimationMesh")
        if mesh:
            animation, shape = mesh.get("Animation"), mesh.get("Mesh")
            mesh_id = ids["animation_mesh"]
            ids["animation_mesh"] = mesh_id + 1
            self.animation_mesh.append((
                mesh_id,
                self._stat_id(animation) if animation else None,
                self._stat_id(shape) if shape else None,
            ))

        description = doc.get("Description")
        if description is not None and type(description) is not str:
            raise RecordError(f"Description must be a string, got {type(description).__name__}")
        self.items.append((
            item_id, doc["AOID"], doc.get("Name") or "", ql, item_class, description, is_nano,
            atkdef_id, mesh_id, raw, document_hash,
        ))

        shop = doc.get("ShopHashData")
        if shop:
            self._add_shop_hashes(item_id, shop.get("Items") or ())
        action_data = doc.get("ActionData")
        if action_data:
            self._add_actions(item_id, action_data.get("Actions") or ())
        spell_data = doc.get("SpellData")
        if spell_data:
            self._add_spell_data(item_id, spell_data)

    def _criteria_rows(self, owner_id: int, criteria: Iterable[dict[str, Any]], out: Columns,
                       ids_of: str | None = None) -> None:
        """Rows linking `owner_id` to its criteria in order; numbered from `next_ids[ids_of]`
        into a fourth column when `ids_of` names the table."""
        known = self.criteria.known.get
        intern = self.criteria.id_of
        criterion_ids = []
        for c in criteria:
            key = (c["Value1"], c["Value2"], c["Operator"])
            found = known(key)
            criterion_ids.append(found if found is not None else intern(key))
        count = len(criterion_ids)
        owners, criterion_column, order = out[:3]
        owners.extend([owner_id] * count)
        criterion_column.extend(criterion_ids)
        order.extend(range(count))
        if ids_of is not None:
            first = self.next_ids[ids_of]
            self.next_ids[ids_of] = first + count
            out[3].extend(range(first, first + count))

    def _add_shop_hashes(self, item_id: int, entries: Iterable[dict[str, Any]]) -> None:
        intern = self.shop_hash.id_of
        shop_hash_ids = dict.fromkeys(  # an entry listed twice is linked once
            intern((e["Hash"]["Text"], e["MinLevel"], e["MaxLevel"], e["BaseAmount"], e["RegenAmount"],
                    e["RegenInterval"], e["SpawnChance"]))
            for e in entries
        )
        items, shop_hashes = self.item_shop_hash
        items.extend([item_id] * len(shop_hash_ids))
        shop_hashes.extend(shop_hash_ids)

    def _add_actions(self, item_id: int, actions: Iterable[dict[str, Any]]) -> None:
        ids = self.next_ids
        action_ids, action_values, item_ids = self.actions
        for action in actions:
            action_id = ids["actions"]
            ids["actions"] = action_id + 1
            action_ids.append(action_id)
            action_values.append(action["Action"])
            item_ids.append(item_id)
            criteria = action.get("Criteria")
            if criteria:
                self._criteria_rows(action_id, criteria, self.action_criteria, "action_criteria")

    def _add_spell_data(self, item_id: int, spell_data: list[dict[str, Any]]) -> None:
        ids = self.next_ids
        data_ids, events = self.spell_data
        link_items, link_data = self.item_spell_data
        spells = self.spells
        data_column, spell_column, order = self.spell_data_spells
        for data in spell_data:
            spell_data_id = ids["spell_data"]
            ids["spell_data"] = spell_data_id + 1
            data_ids.append(spell_data_id)
            events.append(data["Event"])
            link_items.append(item_id)
            link_data.append(spell_data_id)
            for n, spell in enumerate(data.get("Items") or ()):
                spell_id = ids["spells"]
                ids["spells"] = spell_id + 1
                # SpellID, Target, TickCount, TickInterval, SpellFormat have columns, Criteria
                # its own table; every other key of the spell goes into spell_params.
                params = dict(spell)
                pop = params.pop
                criteria = pop("Criteria", None)
                row = (
                    spell_id, pop("Target", None), pop("TickCount", None), pop("TickInterval", None),
                    pop("SpellID", None), pop("SpellFormat", None), jsonb_binary(params),
                )
                for value in row[1:5]:
                    if value is not None and (type(value) is not int or not INT32[0] <= value <= INT32[1]):
                        raise RecordError(
                            f"spell Target, TickCount, TickInterval and SpellID must be 32-bit integers, got {value!r}"
                        )
                if row[5] is not None and type(row[5]) is not str:
                    raise RecordError(f"SpellFormat must be a string, got {type(row[5]).__name__}")
                spells.append(row)
                data_column.append(spell_data_id)
                spell_column.append(spell_id)
                order.append(n)
                if criteria:
                    self._criteria_rows(spell_id, criteria, self.spell_criteria)


def _shape_problem(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r} in nested data"
    if isinstance(exc, OverflowError):
        return f"a value does not fit a 32-bit integer ({exc})"
    return f"unexpected nested data: {exc}"

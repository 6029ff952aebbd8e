"""The normalizer alone: rows per table, interning, and all-or-nothing records."""

import copy
import json

import pytest

from import_pipeline.sources.gamedata.normalize import Interner, ItemRows, RecordError, row_count

SHOP_ENTRY = {"Hash": {"Text": "AMMO"}, "MinLevel": 1, "MaxLevel": 1, "BaseAmount": 5, "RegenAmount": 1,
              "RegenInterval": 1, "UnknownOne": 1, "UnknownZero": 0, "SpawnChance": 100}
DOC = {
    "AOID": 1, "Name": "Gun", "Description": "d",
    "StatValues": [{"Stat": 54, "RawValue": 200}, {"Stat": 76, "RawValue": 3}, {"Stat": 54, "RawValue": 200}],
    "AttackDefenseData": {"Attack": [{"Stat": 1, "RawValue": 2}], "Defense": []},
    "AnimationMesh": {"Animation": {"Stat": 13, "RawValue": 5}, "Mesh": {"Stat": 12, "RawValue": 6}},
    "ActionData": {"Actions": [{"Action": 3, "Criteria": [
        {"Value1": 1, "Value2": 2, "Operator": 3}, {"Value1": 1, "Value2": 2, "Operator": 3}]}]},
    "SpellData": [{"Event": 0, "Items": [{"SpellID": 9, "Target": 1, "TickCount": 1, "TickInterval": 0,
                                         "SpellFormat": "f", "Criteria": [], "Stat": 4, "Amount": 5}]}],
    "ShopHashData": {"Items": [SHOP_ENTRY, SHOP_ENTRY]},
}


def test_shop_hashes_are_interned_and_linked_once_per_item() -> None:
    rows = builder()
    rows.add(10, DOC, b"{}", b"h", is_nano=False)
    rows.add(11, DOC, b"{}", b"h", is_nano=False)
    batch = rows.take()
    assert batch["shop_hash"] == [(1, "AMMO", 1, 1, 5, 1, 1, 100)]
    assert [list(column) for column in batch["item_shop_hash"]] == [[10, 11], [1, 1]]


def builder() -> ItemRows:
    return ItemRows(Interner("stat_values", 2), Interner("criteria", 3), Interner("shop_hash", 7, texts=1), {})


def test_rows_of_one_item() -> None:
    rows = builder()
    rows.add(10, DOC, b"{}", b"h", is_nano=False)
    batch = rows.take()
    assert {t: row_count(r) for t, r in batch.items()} == {
        "stat_values": 5, "criteria": 1, "attack_defense": 1, "attack_defense_attack": 1,
        "attack_defense_defense": 0, "animation_mesh": 1, "items": 1, "item_stats": 3, "actions": 1,
        "action_criteria": 2, "spell_data": 1, "item_spell_data": 1, "spells": 1, "spell_data_spells": 1,
        "spell_criteria": 0, "shop_hash": 1, "item_shop_hash": 1,
    }
    item = batch["items"][0]
    assert item[:7] == (10, 1, "Gun", 200, 3, "d", False)
    assert list(batch["action_criteria"][2]) == [0, 1]  # order kept, repeats kept
    spell = batch["spells"][0]
    assert spell[1:6] == (1, 1, 0, 9, "f")
    assert spell[6][:1] == b"\x01" and json.loads(spell[6][1:]) == {"Stat": 4, "Amount": 5}  # jsonb, binary
    nano = builder()
    nano.add(10, DOC, b"{}", b"h", is_nano=True)
    assert nano.take()["items"][0][3] == 1  # nanos take no QL from stat 54


@pytest.mark.parametrize("break_it, reason", [
    (lambda d: d["ActionData"]["Actions"][0]["Criteria"].append({"Value1": "x", "Value2": 1, "Operator": 1}),
     "32-bit"),
    (lambda d: d["SpellData"][0].update(Event=2**33), "32-bit"),
    (lambda d: d["SpellData"][0]["Items"][0].update(Target="me"), "32-bit"),
    (lambda d: d["ActionData"]["Actions"][0].pop("Action"), "missing key 'Action'"),
    (lambda d: d.update(Description=5), "Description"),
    (lambda d: d["ShopHashData"]["Items"].append({**SHOP_ENTRY, "Hash": {"Text": 7}}), "shop_hash text"),
    (lambda d: d["ShopHashData"]["Items"].append({**SHOP_ENTRY, "MinLevel": None}), "32-bit"),
    (lambda d: d["ShopHashData"]["Items"][0].pop("SpawnChance"), "missing key 'SpawnChance'"),
])
def test_a_bad_record_leaves_the_batch_and_interners_as_they_were(break_it, reason) -> None:
    rows = builder()
    rows.add(1, DOC, b"{}", b"h", is_nano=False)
    bad = copy.deepcopy(DOC)
    bad["StatValues"].append({"Stat": 999, "RawValue": 999})  # would be a new stat value
    break_it(bad)
    with pytest.raises(RecordError, match=reason):
        rows.add(2, bad, b"{}", b"h", is_nano=False)
    rows.add(3, DOC, b"{}", b"h", is_nano=False)
    batch = rows.take()
    assert [item[0] for item in batch["items"]] == [1, 3]
    assert (999, 999) not in rows.stat_values.known
    assert row_count(batch["stat_values"]) == 5 and row_count(batch["item_stats"]) == 6
    assert list(batch["actions"][0]) == [1, 2]  # ids continue without a gap


def test_spell_parameters_keep_integers_past_64_bits() -> None:
    from import_pipeline.sources.gamedata.normalize import jsonb_binary

    for params in ({"Stat": 4, "Text": "Ø"}, {"Big": 10**30, "Low": -(2**63) - 1}):
        encoded = jsonb_binary(params)
        assert encoded[:1] == b"\x01" and json.loads(encoded[1:]) == params

"""The gamedata dump import against a real PostgreSQL, checked against the JSON itself."""

import copy
import json
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from import_pipeline.generate.gamedata import expected_row_counts
from import_pipeline.load.gamedata.dump import import_dump
from import_pipeline.postgres.references import ReferenceCheckedCopy
from import_pipeline.sources.gamedata.normalize import COLUMNS

DATA = Path(__file__).resolve().parent / "data" / "gamedata"
SAMPLE = DATA / "items_500.json"
ID_TABLES = ("stat_values", "criteria", "attack_defense", "animation_mesh", "items", "actions", "spell_data", "spells")
SPELL_COLUMN_KEYS = {"SpellID", "Target", "TickCount", "TickInterval", "SpellFormat", "Criteria"}


def documents() -> list[dict]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def write(path: Path, docs: list[dict]) -> Path:
    path.write_text(json.dumps(docs), encoding="utf-8")
    return path


def expected_counts(docs: list[dict], other_docs: list[dict] = ()) -> dict[str, int]:
    """Row counts of every table, computed from the documents alone (`other_docs` are the
    other kind's, which share the interned tables)."""
    return expected_row_counts(docs, other_docs)


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    return {table: conn.execute(f"SELECT count(*) FROM gamedata.{table}").fetchone()[0] for table in COLUMNS}


def snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Every row of every table (documents as text), sorted: equal snapshots, equal state."""
    out = {}
    for table in COLUMNS:
        columns = [c if t not in ("bytea",) else f"{c}::text" for c, t in COLUMNS[table]]
        rows = conn.execute(f"SELECT {', '.join(columns)}::text FROM gamedata.{table}").fetchall()
        out[table] = sorted(rows)
    return out


def orphans(conn: psycopg.Connection) -> dict[str, int]:
    """Rows nothing refers to any more, table by table (all must be 0)."""
    checks = {
        "spells": "SELECT count(*) FROM gamedata.spells s WHERE NOT EXISTS "
                  "(SELECT 1 FROM gamedata.spell_data_spells x WHERE x.spell_id = s.id)",
        "spell_data": "SELECT count(*) FROM gamedata.spell_data s WHERE NOT EXISTS "
                      "(SELECT 1 FROM gamedata.item_spell_data x WHERE x.spell_data_id = s.id)",
        "attack_defense": "SELECT count(*) FROM gamedata.attack_defense a WHERE NOT EXISTS "
                          "(SELECT 1 FROM gamedata.items i WHERE i.atkdef_id = a.id)",
        "animation_mesh": "SELECT count(*) FROM gamedata.animation_mesh a WHERE NOT EXISTS "
                          "(SELECT 1 FROM gamedata.items i WHERE i.animation_mesh_id = a.id)",
        "stat_values": "SELECT count(*) FROM gamedata.stat_values v WHERE NOT EXISTS "
                       "(SELECT 1 FROM gamedata.item_stats x WHERE x.stat_value_id = v.id) AND NOT EXISTS "
                       "(SELECT 1 FROM gamedata.attack_defense_attack x WHERE x.stat_value_id = v.id) AND NOT EXISTS "
                       "(SELECT 1 FROM gamedata.attack_defense_defense x WHERE x.stat_value_id = v.id) AND NOT EXISTS "
                       "(SELECT 1 FROM gamedata.animation_mesh x WHERE v.id IN (x.animation_id, x.mesh_id))",
        "criteria": "SELECT count(*) FROM gamedata.criteria c WHERE NOT EXISTS "
                    "(SELECT 1 FROM gamedata.action_criteria x WHERE x.criterion_id = c.id) AND NOT EXISTS "
                    "(SELECT 1 FROM gamedata.spell_criteria x WHERE x.criterion_id = c.id)",
    }
    return {name: conn.execute(query).fetchone()[0] for name, query in checks.items()}


def test_sample_import_writes_exactly_the_rows_the_json_holds(conn: psycopg.Connection) -> None:
    result = import_dump(conn, SAMPLE, "items")
    assert (result.items_new, result.items_changed, result.rejects) == (500, 0, [])
    assert table_counts(conn) == expected_counts(documents())
    assert orphans(conn) == dict.fromkeys(orphans(conn), 0)


def test_spot_checks_against_the_json(conn: psycopg.Connection) -> None:
    import_dump(conn, SAMPLE, "items")
    docs = {d["AOID"]: d for d in documents()}

    doc = docs[21601]
    item_id, name, ql, item_class, description, document = conn.execute(
        "SELECT id, name, ql, item_class, description, document::text FROM gamedata.items WHERE aoid = 21601"
    ).fetchone()
    stats = {s["Stat"]: s["RawValue"] for s in doc["StatValues"]}
    assert (name, ql, item_class, description) == (doc["Name"], stats[54], stats[76], doc["Description"])
    assert json.loads(document) == doc
    stored = conn.execute(
        "SELECT v.stat, v.value FROM gamedata.item_stats s JOIN gamedata.stat_values v ON v.id = s.stat_value_id"
        " WHERE s.item_id = %s", (item_id,)).fetchall()
    assert Counter(stored) == Counter((s["Stat"], s["RawValue"]) for s in doc["StatValues"])
    attack = conn.execute(
        "SELECT v.stat, v.value FROM gamedata.items i"
        " JOIN gamedata.attack_defense_attack a ON a.attack_defense_id = i.atkdef_id"
        " JOIN gamedata.stat_values v ON v.id = a.stat_value_id WHERE i.id = %s", (item_id,)).fetchall()
    assert attack == [(s["Stat"], s["RawValue"]) for s in doc["AttackDefenseData"]["Attack"]]

    # Criteria keep their order (and repeats) per action.
    with_actions = [d for d in docs.values() if d["ActionData"] and d["ActionData"]["Actions"]]
    doc = max(with_actions, key=lambda d: len(d["ActionData"]["Actions"][0]["Criteria"]))
    rows = conn.execute(
        "SELECT a.id, a.action, c.value1, c.value2, c.operator FROM gamedata.items i"
        " JOIN gamedata.actions a ON a.item_id = i.id JOIN gamedata.action_criteria ac ON ac.action_id = a.id"
        " JOIN gamedata.criteria c ON c.id = ac.criterion_id WHERE i.aoid = %s AND NOT i.is_nano"
        " ORDER BY a.id, ac.order_index", (doc["AOID"],)).fetchall()
    expected = [(a["Action"], c["Value1"], c["Value2"], c["Operator"])
                for a in doc["ActionData"]["Actions"] for c in a["Criteria"]]
    assert [row[1:] for row in rows] == expected

    # Spells: columns, criteria in order, and every other key in spell_params.
    doc = next(d for d in docs.values() if any(s["Criteria"] for sd in d["SpellData"] for s in sd["Items"]))
    spells = conn.execute(
        "SELECT sd.event, s.id, s.target, s.tick_count, s.tick_interval, s.spell_id, s.spell_format, s.spell_params"
        " FROM gamedata.items i JOIN gamedata.item_spell_data isd ON isd.item_id = i.id"
        " JOIN gamedata.spell_data sd ON sd.id = isd.spell_data_id"
        " JOIN gamedata.spell_data_spells sds ON sds.spell_data_id = sd.id"
        " JOIN gamedata.spells s ON s.id = sds.spell_id"
        " WHERE i.aoid = %s AND NOT i.is_nano ORDER BY sd.id, sds.order_index", (doc["AOID"],)).fetchall()
    expected_spells = [(sd["Event"], s) for sd in doc["SpellData"] for s in sd["Items"]]
    assert len(spells) == len(expected_spells)
    for (event, spell_row_id, target, ticks, interval, spell_id, spell_format, params), (ev, spell) in zip(
        spells, expected_spells, strict=False
    ):
        assert (event, target, ticks, interval, spell_id, spell_format) == (
            ev, spell["Target"], spell["TickCount"], spell["TickInterval"], spell["SpellID"], spell["SpellFormat"])
        assert params == {k: v for k, v in spell.items() if k not in SPELL_COLUMN_KEYS}
        criteria = conn.execute(
            "SELECT c.value1, c.value2, c.operator FROM gamedata.spell_criteria sc"
            " JOIN gamedata.criteria c ON c.id = sc.criterion_id WHERE sc.spell_id = %s ORDER BY sc.order_index",
            (spell_row_id,)).fetchall()
        assert criteria == [(c["Value1"], c["Value2"], c["Operator"]) for c in spell["Criteria"]]


def test_reimporting_the_same_dump_changes_nothing(conn: psycopg.Connection) -> None:
    import_dump(conn, SAMPLE, "items")
    before = snapshot(conn)
    again = import_dump(conn, SAMPLE, "items")
    assert (again.items_new, again.items_changed, again.items_unchanged, again.items_removed) == (0, 0, 500, 0)
    assert again.rows_written == {} and again.rows_deleted == {}
    assert snapshot(conn) == before


def test_changed_dump_rewrites_only_what_changed_and_leaves_no_orphans(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    docs = documents()
    import_dump(conn, SAMPLE, "items")
    ids_before = dict(conn.execute("SELECT aoid, id FROM gamedata.items").fetchall())

    changed = copy.deepcopy(docs)
    with_spells = [d for d in changed if d["SpellData"]]
    with_spells[0]["SpellData"] = []                          # spells removed
    with_spells[1]["StatValues"][0]["RawValue"] = 123456789   # a new stat value
    with_actions = [d for d in changed if d["ActionData"]]
    with_actions[0]["ActionData"]["Actions"][0]["Criteria"].reverse()
    removed = changed.pop(3)
    added = copy.deepcopy(changed[10])
    added["AOID"] = 299_999
    changed.append(added)
    touched = {with_spells[0]["AOID"], with_spells[1]["AOID"], with_actions[0]["AOID"]}

    result = import_dump(conn, write(tmp_path / "items.json", changed), "items")
    assert (result.items_new, result.items_changed, result.items_removed) == (1, len(touched), 1)
    assert result.items_unchanged == len(docs) - 1 - len(touched)
    assert table_counts(conn) == expected_counts(changed)
    assert orphans(conn) == dict.fromkeys(orphans(conn), 0)
    ids_after = dict(conn.execute("SELECT aoid, id FROM gamedata.items").fetchall())
    assert removed["AOID"] not in ids_after
    assert all(ids_after[aoid] == item_id for aoid, item_id in ids_before.items() if aoid != removed["AOID"])
    order = conn.execute(
        "SELECT c.value1, c.value2, c.operator FROM gamedata.items i JOIN gamedata.actions a ON a.item_id = i.id"
        " JOIN gamedata.action_criteria ac ON ac.action_id = a.id JOIN gamedata.criteria c ON c.id = ac.criterion_id"
        " WHERE i.aoid = %s ORDER BY a.id, ac.order_index", (with_actions[0]["AOID"],)).fetchall()
    assert order[: len(with_actions[0]["ActionData"]["Actions"][0]["Criteria"])] == [
        (c["Value1"], c["Value2"], c["Operator"]) for c in with_actions[0]["ActionData"]["Actions"][0]["Criteria"]]

    # And back to the original: the same content as a clean import of it.
    import_dump(conn, SAMPLE, "items")
    assert table_counts(conn) == expected_counts(docs)
    assert orphans(conn) == dict.fromkeys(orphans(conn), 0)


def test_items_and_nanos_with_the_same_aoids_are_kept_apart(conn: psycopg.Connection) -> None:
    import_dump(conn, SAMPLE, "items")
    nanos = import_dump(conn, SAMPLE, "nanos")
    assert nanos.items_new == 500
    docs = documents()
    counts = table_counts(conn)
    single = expected_counts(docs)
    assert counts["items"] == 1000 and counts["item_stats"] == 2 * single["item_stats"]
    assert counts["stat_values"] == single["stat_values"]  # interned, shared by both kinds
    rows = conn.execute("SELECT is_nano, ql FROM gamedata.items WHERE aoid = 21601 ORDER BY is_nano").fetchall()
    ql = {s["Stat"]: s["RawValue"] for s in docs[0]["StatValues"]}[54]
    assert rows == [(False, ql), (True, 1)]  # QL comes from stat 54 for items only
    # Re-importing one kind neither touches nor removes the other.
    again = import_dump(conn, SAMPLE, "items")
    assert (again.items_unchanged, again.items_removed) == (500, 0)
    assert table_counts(conn)["items"] == 1000


def test_initial_load_drops_and_rebuilds_indexes_and_foreign_keys(conn: psycopg.Connection, tmp_path: Path) -> None:
    structure = """
        SELECT (SELECT array_agg(indexdef ORDER BY indexdef) FROM pg_indexes WHERE schemaname = 'gamedata'),
               (SELECT array_agg(pg_get_constraintdef(oid) ORDER BY conname) FROM pg_constraint
                WHERE connamespace = 'gamedata'::regnamespace AND contype = 'f')
    """
    before = conn.execute(structure).fetchone()
    conn.commit()
    result = import_dump(conn, SAMPLE, "items", initial_load=True)
    assert result.initial_load and result.seconds["index_rebuild"] > 0
    assert conn.execute(structure).fetchone() == before
    assert table_counts(conn) == expected_counts(documents())
    assert conn.execute("SELECT count(*) FROM import_pipeline.suspended_constraints").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM import_pipeline.suspended_indexes").fetchone()[0] == 0


def test_identity_sequences_continue_after_client_side_ids(conn: psycopg.Connection) -> None:
    import_dump(conn, SAMPLE, "items")
    for table in ID_TABLES:
        top = conn.execute(f"SELECT max(id) FROM gamedata.{table}").fetchone()[0] or 0
        following = conn.execute(f"SELECT nextval(pg_get_serial_sequence('gamedata.{table}', 'id'))").fetchone()
        assert following[0] == top + 1


def test_bad_records_are_rejected_with_offset_and_reason_and_the_rest_imports(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    docs = documents()[:20]
    bad_nested = copy.deepcopy(docs[5])
    bad_nested["AOID"] = 500_001
    bad_nested["ActionData"] = {"Actions": [{"Action": 3, "Criteria": [{"Value1": "x", "Value2": 1, "Operator": 2}]}]}
    too_big = copy.deepcopy(docs[6])
    too_big["AOID"] = 500_002
    too_big["SpellData"] = [{"Event": 2**40, "Items": []}]
    parts = [json.dumps(d) for d in docs[:10]]
    parts.append('{"Name": "no aoid", "StatValues": []}')
    parts.append(json.dumps(docs[0]))  # duplicate AOID
    parts.append(json.dumps(bad_nested))
    parts.append(json.dumps(too_big))
    parts.append('{"AOID": 500003, "StatValues": [{"Stat": 1, "RawValue": "7"}]}')
    parts.extend(json.dumps(d) for d in docs[10:])
    path = tmp_path / "items.json"
    path.write_text("[" + ", ".join(parts) + ', {"AOID": 500004, "Name": "cut', encoding="utf-8")

    result = import_dump(conn, path, "items")
    assert result.items_new == 20
    reasons = [r.reason for r in result.rejects]
    assert len(reasons) == 6
    assert "missing AOID" in reasons[0]
    assert "duplicate AOID" in reasons[1]
    assert "Value1" in reasons[2] or "32-bit" in reasons[2]
    assert "32-bit" in reasons[3]
    assert "StatValues" in reasons[4]
    assert "tail" in reasons[5]
    stored = conn.execute(
        "SELECT reason, byte_offset FROM import_pipeline.rejects WHERE asset = 'gamedata/items'"
        " AND partition_key = 'items' ORDER BY byte_offset").fetchall()
    assert [r for r, _ in stored] == reasons
    raw = path.read_bytes()
    assert raw[stored[0][1]:].startswith(b'{"Name": "no aoid"')
    assert table_counts(conn) == expected_counts(docs)
    assert orphans(conn) == dict.fromkeys(orphans(conn), 0)
    # A dump with rejects never removes items it does not mention.
    partial = import_dump(conn, path, "items")
    assert partial.items_removed == 0 and partial.items_unchanged == 20


def test_a_failed_import_leaves_the_previous_state_and_restores_indexes(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    # A server-side failure midway (here a trigger standing in for a full disk or a
    # constraint) must roll everything back and still put indexes and foreign keys back.
    conn.execute("""
        CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.spell_format = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER boom BEFORE INSERT ON gamedata.spells FOR EACH ROW EXECUTE FUNCTION boom();
    """)
    conn.commit()
    indexes = "SELECT count(*) FROM pg_indexes WHERE schemaname = 'gamedata'"
    index_count = conn.execute(indexes).fetchone()[0]
    conn.commit()
    docs = documents()
    poisoned = copy.deepcopy(docs)
    next(d for d in reversed(poisoned) if d["SpellData"])["SpellData"][0]["Items"][0]["SpellFormat"] = "boom"
    path = write(tmp_path / "items.json", poisoned)

    with pytest.raises(psycopg.errors.RaiseException):
        import_dump(conn, path, "items", initial_load=True, batch_items=50)
    assert table_counts(conn) == dict.fromkeys(COLUMNS, 0)
    assert conn.execute(indexes).fetchone()[0] == index_count
    conn.commit()

    import_dump(conn, SAMPLE, "items")
    before = snapshot(conn)
    with pytest.raises(psycopg.errors.RaiseException):
        import_dump(conn, path, "items", batch_items=50)
    assert snapshot(conn) == before


def test_text_with_nul_characters_is_rejected_not_fatal(conn: psycopg.Connection, tmp_path: Path) -> None:
    docs = documents()[:5]
    docs[2] = {**docs[2], "Description": "bad\x00byte"}
    docs[3] = {**docs[3], "Name": "C:\\u0000 is a path, not a NUL"}
    path = write(tmp_path / "items.json", docs)
    result = import_dump(conn, path, "items")
    assert result.items_new == 4
    assert [r.reason for r in result.rejects] == [
        "text contains a NUL character (\\u0000), which PostgreSQL cannot store"]


def test_records_no_database_can_hold_are_stored_as_rejects_and_the_rest_imports(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    docs = documents()[:6]
    parts = [json.dumps(d).encode() for d in docs]
    parts[1] = json.dumps({**docs[1], "Name": "\ud800"}).encode()  # json.dumps escapes it: "\\ud800"
    parts[2] = json.dumps({**docs[2], "Ratio": float("nan")}).encode()
    parts[3] = json.dumps({**docs[3], "Name": "Søren"}, ensure_ascii=False).encode().replace("ø".encode(), b"\xf8")
    parts[4] = b'{"AOID": 900001, "Deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path = tmp_path / "items.json"
    path.write_bytes(b"[" + b", ".join(parts) + b"]")

    result = import_dump(conn, path, "items")
    assert result.items_new == 2
    assert table_counts(conn) == expected_counts([docs[0], docs[5]])
    stored = conn.execute(
        "SELECT byte_offset, reason, raw FROM import_pipeline.rejects ORDER BY byte_offset").fetchall()
    assert [offset for offset, _, _ in stored] == [path.read_bytes().index(part) for part in parts[1:5]]
    assert "surrogate" in stored[0][1] and "NaN" in stored[1][1] and "not UTF-8" in stored[2][1]
    assert "S\\xf8ren" in stored[2][2]  # the undecodable byte is kept, visibly, not replaced


KILLED_IN_REBUILD = """
import os, signal, sys
import psycopg
import import_pipeline.load.gamedata.dump as dump
import import_pipeline.postgres.indexes as indexes

imported = []
original_import, original_restore = dump._import, indexes.restore_indexes

def import_then_mark(*args, **kwargs):
    original_import(*args, **kwargs)
    imported.append(True)

def restore_or_die(*args, **kwargs):
    if imported:  # the items are committed; the rebuild starts: kill -9 now
        os.kill(os.getpid(), signal.SIGKILL)
    return original_restore(*args, **kwargs)

dump._import, indexes.restore_indexes = import_then_mark, restore_or_die
if __name__ == "__main__":
    with psycopg.connect(sys.argv[1]) as conn:
        dump.import_dump(conn, sys.argv[2], "items", initial_load=True)
"""

FOREIGN_KEYS = "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace" \
               " WHERE n.nspname = 'gamedata' AND c.contype = 'f'"
INDEXES = "SELECT count(*) FROM pg_indexes WHERE schemaname = 'gamedata'"


def test_a_kill_during_the_rebuild_is_repaired_by_the_next_import(database_url: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    from import_pipeline.postgres.constraints import suspended_objects

    with psycopg.connect(database_url) as conn:
        in_force = conn.execute(FOREIGN_KEYS).fetchone()[0], conn.execute(INDEXES).fetchone()[0]
    script = tmp_path / "killed.py"
    script.write_text(KILLED_IN_REBUILD)
    child = subprocess.run([sys.executable, str(script), database_url, str(SAMPLE)], timeout=120)
    assert child.returncode == -9

    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM gamedata.items").fetchone()[0] == 500  # committed before the kill
        assert conn.execute(FOREIGN_KEYS).fetchone()[0] < in_force[0]
        assert suspended_objects(conn, "gamedata")  # the asset check sees it
        # Rows that a cascade would have removed, had the keys been in force.
        conn.execute("INSERT INTO gamedata.action_criteria (action_id, criterion_id, order_index)"
                     " SELECT 99999999, min(id), 0 FROM gamedata.criteria")
        conn.commit()

        docs = documents()
        changed = write(tmp_path / "items.json", docs[:400])  # 100 items gone: their rows must go too
        result = import_dump(conn, changed, "items", max_delete_share=1.0)
        assert result.restored.foreign_keys and result.restored.indexes
        assert result.restored.repaired_rows == {"action_criteria_action_id_fkey": 1}
        assert result.items_removed == 100
        assert (conn.execute(FOREIGN_KEYS).fetchone()[0], conn.execute(INDEXES).fetchone()[0]) == in_force
        assert suspended_objects(conn, "gamedata") == []
        assert orphans(conn) == dict.fromkeys(orphans(conn), 0)
        assert table_counts(conn) == expected_counts(docs[:400])


def test_a_foreign_key_that_cannot_be_repaired_is_reported_in_one_line(conn: psycopg.Connection) -> None:
    from import_pipeline.postgres.constraints import (
        ForeignKeyBlocked,
        restore_abandoned,
        suspended_foreign_keys,
        suspended_objects,
    )

    import_dump(conn, SAMPLE, "items")
    message = ("foreign key item_stats_stat_value_id_fkey of gamedata.item_stats cannot be restored: "
               "1 rows refer to missing rows of gamedata.stat_values")
    with pytest.raises(ForeignKeyBlocked, match=message), suspended_foreign_keys(conn, ["gamedata.item_stats"]):
        with psycopg.connect(conn.info.dsn, password=conn.info.password) as other:
            assert restore_abandoned(other).foreign_keys == []  # a live process holds the suspension
        conn.execute("INSERT INTO gamedata.item_stats (item_id, stat_value_id) SELECT min(id), -5 FROM gamedata.items")
        conn.commit()
    assert [o for o in suspended_objects(conn, "gamedata") if "item_stats" in o] == [
        "suspended foreign key item_stats_item_id_fkey of gamedata.item_stats",
        "suspended foreign key item_stats_stat_value_id_fkey of gamedata.item_stats"]


UNGUARDED_IMPORT = """
import sys
import psycopg
import import_pipeline.load.gamedata.dump as dump
dump.CHILD_PROCESS_MIN_BYTES = 0  # parse in a child process, as for a real dump
# No `if __name__ == "__main__":` guard, as in many a user's script.
with psycopg.connect(sys.argv[1]) as conn:
    print(dump.import_dump(conn, sys.argv[2], "items").items_new)
"""


def test_an_import_from_a_script_without_a_main_guard_works(database_url: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED_IMPORT)
    done = subprocess.run([sys.executable, str(script), database_url, str(SAMPLE)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["500"]


def test_batch_checked_and_trigger_checked_foreign_keys_store_the_same_rows(
    conn: psycopg.Connection, tmp_path: Path, limited_role: str
) -> None:
    """A superuser's import skips the per-row foreign-key triggers and checks each batch;
    a role that may not skip them gets the triggers. The tables must come out the same."""
    docs = documents()
    changed = copy.deepcopy(docs)
    changed[0]["StatValues"][0]["RawValue"] = 123456789
    changed.pop(5)
    changed_dump = write(tmp_path / "changed.json", changed)

    def import_all() -> dict[str, list[tuple]]:
        conn.execute(f"TRUNCATE {', '.join(f'gamedata.{table}' for table in COLUMNS)} CASCADE")
        conn.commit()
        import_dump(conn, SAMPLE, "items")
        import_dump(conn, changed_dump, "items")
        import_dump(conn, SAMPLE, "nanos")
        return snapshot(conn)

    with conn.transaction():
        assert ReferenceCheckedCopy.for_tables(conn, [f"gamedata.{table}" for table in COLUMNS]).checked
    batch_checked = import_all()
    # Refreshing the view takes its owner.
    conn.execute(sql.SQL("ALTER MATERIALIZED VIEW gamedata.symbiant_items OWNER TO {}").format(
        sql.Identifier(limited_role)))
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(limited_role)))
    with conn.transaction():
        assert not ReferenceCheckedCopy.for_tables(conn, [f"gamedata.{table}" for table in COLUMNS]).checked
    assert import_all() == batch_checked
    assert table_counts(conn) == expected_counts([*changed, *docs])  # both kinds: their owned rows add up

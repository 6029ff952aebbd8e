"""gamedata perks, symbiants, the Dagster assets and the landing-folder sensor, on a real PostgreSQL."""

import json
import os
import shutil
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from import_pipeline.defs.gamedata.assets import dump_job, extras_job, gamedata_dump, key, perks, symbiants
from import_pipeline.defs.gamedata.checks import no_orphan_rows
from import_pipeline.defs.gamedata.resources import GamedataFiles
from import_pipeline.defs.gamedata.sensors import gamedata_landing_sensor
from import_pipeline.load.gamedata.dump import import_dump
from import_pipeline.load.gamedata.perks import import_perks
from import_pipeline.load.gamedata.symbiants import import_symbiants
from import_pipeline.postgres.guards import DeletionRefused
from import_pipeline.records import Reject
from import_pipeline.resources import PostgresResource
from import_pipeline.sources.gamedata.symbiants import SymbiantDrop, read_symbiants

DATA = Path(__file__).resolve().parent / "data" / "gamedata"
SAMPLE = DATA / "items_500.json"
SYMBIANTS = DATA / "symbiants.csv"
PERK_COLUMNS = ["aoid", "name", "counter", "type", "professions", "breeds", "level", "aiTitle"]


def symbiant_items(path: Path, leave_out: int = 0) -> tuple[list[dict], list[SymbiantDrop]]:
    """Minimal item documents for the AOIDs symbiants.csv names (minus the last `leave_out`)."""
    drops = [d for d in read_symbiants(SYMBIANTS) if isinstance(d, SymbiantDrop)]
    aoids = sorted({d.aoid for d in drops})
    kept = aoids[: len(aoids) - leave_out]
    docs = [{"AOID": a, "Name": f"QL 100 Symbiant {a}, Artillery Unit Aban",
             "StatValues": [{"Stat": 298, "RawValue": 32}, {"Stat": 54, "RawValue": 100}]} for a in kept]
    path.write_text(json.dumps(docs), encoding="utf-8")
    return docs, drops


def write_perks(path: Path, values: list[list]) -> Path:
    path.write_text(json.dumps({"columns": PERK_COLUMNS, "values": values}), encoding="utf-8")
    return path


def test_perks_map_professions_and_breeds_and_link_by_aoid(conn: psycopg.Connection, tmp_path: Path) -> None:
    import_dump(conn, SAMPLE, "items")
    import_dump(conn, SAMPLE, "nanos")
    perks_path = write_perks(tmp_path / "perks.json", [
        [21601, "Accumulator", 1, "SL", ["Trader"], [], 10, None],
        [21605, "Acquisition", 3, "AI", ["Nano-Technician", "Shade", "Keeper"], ["Atrox", "Opifex"], 25, "12"],
        [1, "Ghost", 1, "SL", [], [], 1, None],
        [21607, "Bad", 1, "XX", [], [], 1, None],
        [21607, "Worse", 1, "LE", ["Juggler"], [], 1, None],
    ])
    result = import_perks(conn, perks_path)
    assert result.perks == 2
    assert [r.reason for r in result.rejects] == [
        "no item with AOID 1; import the items dump first",
        "values[3]: type must be one of SL, AI, LE, got 'XX'",
        "values[4]: unknown profession(s) 'Juggler'",
    ]
    rows = conn.execute(
        "SELECT i.aoid, i.is_nano, p.name, p.perk_series, p.counter, p.type, p.level_required, p.ai_level_required,"
        " p.professions, p.breeds FROM gamedata.perks p JOIN gamedata.items i ON i.id = p.item_id ORDER BY i.aoid"
    ).fetchall()
    assert rows == [
        (21601, False, "Accumulator 1", "Accumulator", 1, "SL", 10, 0, [7], []),
        (21605, False, "Acquisition 3", "Acquisition", 3, "AI", 25, 12, [11, 14, 15], [2, 4]),
    ]
    stored = conn.execute("SELECT count(*) FROM import_pipeline.rejects WHERE asset = 'gamedata/perks'").fetchone()[0]
    assert stored == 3
    # Perks follow their item: a dump without the item removes its perk too.
    docs = [d for d in json.loads(SAMPLE.read_text()) if d["AOID"] != 21601]
    (tmp_path / "items.json").write_text(json.dumps(docs))
    import_dump(conn, tmp_path / "items.json", "items")
    assert conn.execute("SELECT count(*) FROM gamedata.perks").fetchone()[0] == 1


def test_symbiants_link_to_items_by_aoid_and_reimport_keeps_ids(conn: psycopg.Connection, tmp_path: Path) -> None:
    docs, drops = symbiant_items(tmp_path / "items.json", leave_out=3)
    import_dump(conn, tmp_path / "items.json", "items")
    known = {d["AOID"] for d in docs}
    expected_links = {(d.aoid, d.boss, d.playfield, d.location) for d in drops if d.aoid in known}
    missing = [d for d in drops if d.aoid not in known]

    result = import_symbiants(conn, SYMBIANTS)
    assert result.mobs == len({(d.boss, d.playfield, d.location) for d in drops})
    assert result.item_sources == len(expected_links)
    assert result.duplicates == sum(1 for d in drops if d.aoid in known) - len(expected_links)
    assert len(result.rejects) == len(missing) and all("no item with AOID" in r.reason for r in result.rejects)
    stored = set(conn.execute(
        "SELECT i.aoid, m.name, m.playfield, m.location FROM gamedata.item_sources s"
        " JOIN gamedata.items i ON i.id = s.item_id JOIN gamedata.sources src ON src.id = s.source_id"
        " JOIN gamedata.mobs m ON m.id = src.source_id AND src.source_type_id = 3").fetchall())
    assert stored == expected_links
    first = conn.execute("SELECT id, name, level FROM gamedata.mobs ORDER BY id").fetchall()
    boss = drops[0]
    assert (boss.boss, boss.boss_level) in {(name, level) for _, name, level in first}
    assert conn.execute("SELECT count(*), count(family), min(slot_id) FROM gamedata.symbiant_items").fetchone() == (
        len(docs), len(docs), 32)

    again = import_symbiants(conn, SYMBIANTS)
    assert again.item_sources == result.item_sources
    assert conn.execute("SELECT id, name, level FROM gamedata.mobs ORDER BY id").fetchall() == first


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


def resources(database_url: str, landing: Path) -> dict:
    return {"postgres": PostgresResource(url=database_url), "gamedata_files": GamedataFiles(landing_dir=str(landing))}


def metadata_by_key(result: dg.ExecuteInProcessResult) -> dict:
    return {
        event.event_specific_data.materialization.asset_key: event.event_specific_data.materialization.metadata
        for event in result.get_asset_materialization_events()
    }


def test_dump_asset_materializes_every_phase_with_metadata(database_url: str, landing: Path) -> None:
    shutil.copy(SAMPLE, landing / "items.json")
    result = dg.materialize([gamedata_dump], resources=resources(database_url, landing), partition_key="items")
    assert result.success
    materialized = metadata_by_key(result)
    assert set(materialized) == {key(p) for p in (
        "stat_values", "criteria", "attack_defense", "animation_mesh", "items", "item_stats", "shop_hash", "actions",
        "spells")}
    items = materialized[key("items")]
    assert items["items_new"].value == 500 and items["rows_rejected"].value == 0
    assert materialized[key("item_stats")]["rows_written"].value == sum(
        len(d["StatValues"]) for d in json.loads(SAMPLE.read_text()))

    again = dg.materialize([gamedata_dump], resources=resources(database_url, landing), partition_key="items")
    metadata = metadata_by_key(again)
    assert metadata[key("items")]["items_unchanged"].value == 500
    assert metadata[key("item_stats")]["rows_written"].value == 0


def test_orphan_check_passes_after_imports(database_url: str, landing: Path) -> None:
    shutil.copy(SAMPLE, landing / "items.json")
    result = dg.materialize([gamedata_dump, no_orphan_rows], resources=resources(database_url, landing),
                            partition_key="items")
    evaluations = result.get_asset_check_evaluations()
    assert [e.passed for e in evaluations] == [True]
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO gamedata.criteria (value1, value2, operator) VALUES (-1, -1, -1)")
    failed = dg.materialize([gamedata_dump, no_orphan_rows], resources=resources(database_url, landing),
                            selection=dg.AssetSelection.checks(no_orphan_rows))
    evaluation = failed.get_asset_check_evaluations()[0]
    assert not evaluation.passed and evaluation.metadata["orphan_criteria"].value == 1


def test_missing_dump_fails_with_a_readable_message(database_url: str, landing: Path) -> None:
    result = dg.materialize([gamedata_dump], resources=resources(database_url, landing), partition_key="nanos",
                            raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "nanos.json does not exist" in failure.message


@pytest.mark.parametrize("content", ['{"not": "an array"}', "garbage"])
def test_a_dump_that_is_not_an_array_fails_with_one_readable_message(
    database_url: str, landing: Path, content: str
) -> None:
    (landing / "items.json").write_text(content)
    result = dg.materialize([gamedata_dump], resources=resources(database_url, landing), partition_key="items",
                            raise_on_error=False)
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert "not a JSON array" in error.message and "Traceback" not in error.message


def test_perks_and_symbiants_assets(database_url: str, landing: Path) -> None:
    symbiant_items(landing / "items.json")
    shutil.copy(SYMBIANTS, landing / "symbiants.csv")
    first = json.loads((landing / "items.json").read_text())[0]["AOID"]
    write_perks(landing / "perks.json", [[first, "Accumulator", 1, "SL", ["Trader"], [], 10, None]])
    res = resources(database_url, landing)
    assert dg.materialize([gamedata_dump], resources=res, partition_key="items").success
    result = dg.materialize([perks, symbiants], resources=res)
    assert result.success
    metadata = metadata_by_key(result)
    assert metadata[key("perks")]["dagster/row_count"].value == 1
    assert metadata[key("symbiants")]["rows_rejected"].value == 0


def test_sensor_requests_each_stable_new_or_changed_file_once(landing: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    files = GamedataFiles(landing_dir=str(landing))

    def tick(cursor: str | None) -> dg.SensorResult:
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"gamedata_files": files})
        return gamedata_landing_sensor(context)

    first = tick(None)
    assert first.run_requests == []  # no files yet
    shutil.copy(SAMPLE, landing / "items.json")
    write_perks(landing / "perks.json", [])
    seen = tick(first.cursor)
    assert seen.run_requests == []  # seen once: maybe still being copied
    stable = tick(seen.cursor)
    assert [(r.job_name, r.partition_key) for r in stable.run_requests] == [(dump_job.name, "items")]
    later = tick(stable.cursor)
    # The dump was requested; perks wait until it no longer is pending. With no run started
    # in this test instance, the next tick lets them through.
    assert [(r.job_name, r.asset_selection) for r in later.run_requests] == [(extras_job.name, [key("perks")])]
    assert tick(later.cursor).run_requests == []  # nothing new

    with (landing / "items.json").open("a") as out:
        out.write(" ")
    stat = (landing / "items.json").stat()
    os.utime(landing / "items.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    changed = tick(tick(later.cursor).cursor)
    assert [r.partition_key for r in changed.run_requests] == ["items"]
    assert changed.run_requests[0].run_key != stable.run_requests[0].run_key


@pytest.mark.parametrize("small", ["[]", "two"])
def test_a_small_dump_does_not_wipe_the_items_unless_the_run_allows_it(
    database_url: str, landing: Path, small: str
) -> None:
    shutil.copy(SAMPLE, landing / "items.json")
    assert dg.materialize([gamedata_dump], resources=resources(database_url, landing), partition_key="items").success
    docs = json.loads(SAMPLE.read_text())
    (landing / "items.json").write_text("[]" if small == "[]" else json.dumps(docs[:2]))
    refused = dg.materialize([gamedata_dump], resources=resources(database_url, landing), partition_key="items",
                             raise_on_error=False)
    assert not refused.success
    message = refused.get_step_failure_events()[0].step_failure_data.error.message
    gone = 500 if small == "[]" else 498
    assert f"items.json would delete {gone} of the 500 stored items" in message and "nothing was changed" in message
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM gamedata.items").fetchone()[0] == 500

    allowed = dg.materialize([gamedata_dump], resources=resources(database_url, landing), partition_key="items",
                             run_config=dg.RunConfig({"gamedata_dump": {"config": {"max_delete_share": 1.0}}}))
    assert metadata_by_key(allowed)[key("items")]["items_removed"].value == gone


def test_a_dump_deleting_a_few_items_needs_no_permission(conn: psycopg.Connection, tmp_path: Path) -> None:
    docs = json.loads(SAMPLE.read_text())
    import_dump(conn, SAMPLE, "items")
    path = tmp_path / "items.json"
    path.write_text(json.dumps(docs[:450]))  # 10% exactly
    assert import_dump(conn, path, "items").items_removed == 50
    path.write_text(json.dumps(docs[:404]))  # 46 of 450: just over 10%
    with pytest.raises(DeletionRefused):
        import_dump(conn, path, "items")


def test_symbiant_items_follow_an_items_import_at_once(conn: psycopg.Connection, tmp_path: Path) -> None:
    docs, _ = symbiant_items(tmp_path / "items.json")
    import_dump(conn, tmp_path / "items.json", "items")
    assert conn.execute("SELECT count(*) FROM gamedata.symbiant_items").fetchone()[0] == len(docs)
    (tmp_path / "items.json").write_text(json.dumps(docs[5:]))
    import_dump(conn, tmp_path / "items.json", "items")  # no symbiants import in between
    listed = {aoid for (aoid,) in conn.execute("SELECT aoid FROM gamedata.symbiant_items")}
    assert listed == {d["AOID"] for d in docs[5:]}


def test_perk_rejects_name_their_line_and_offset(tmp_path: Path) -> None:
    from import_pipeline.sources.gamedata.perks import read_perks

    rows = [[21601, "Accumulator", 1, "SL", ["Trader"], [], 10, None], [21607, "Bad", 1, "XX", [], [], 1, None]]
    text = ('{"values": [\n' + ",\n".join(json.dumps(r) for r in rows) + '\n],\n "columns": '
            + json.dumps(PERK_COLUMNS) + "}")
    path = tmp_path / "perks.json"
    path.write_text(text, encoding="utf-8")
    rejects = [r for r in read_perks(path) if isinstance(r, Reject)]
    assert [(r.line, r.offset) for r in rejects] == [(3, text.index('[21607'))]

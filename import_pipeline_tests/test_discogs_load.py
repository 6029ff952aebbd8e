"""The discogs assets on generated and real dumps, a real PostgreSQL: merges, deletions, indexes, the graph."""

import gzip
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from import_pipeline.defs.discogs.assets import (
    artist_graph,
    artists,
    label_graph,
    labels,
    master_graph,
    masters,
    release_graph,
    releases,
)
from import_pipeline.defs.discogs.checks import graph_references_resolve
from import_pipeline.defs.discogs.partitions import DUMP_DATES
from import_pipeline.defs.discogs.resources import DiscogsFiles
from import_pipeline.defs.discogs.sensors import discogs_landing_sensor
from import_pipeline.generate.discogs import generate
from import_pipeline.io_manager import PostgresBulkIOManager
from import_pipeline.load.discogs.maintenance import maintain
from import_pipeline.resources import PostgresResource

DATA = Path(__file__).resolve().parent / "data" / "discogs"
DOCUMENTS = [artists, labels, masters, releases]
GRAPHS = [artist_graph, label_graph, master_graph, release_graph]
TYPES = ("artists", "labels", "masters", "releases")


def load(database_url: str, folder: Path, date: str, *, selection: list | None = None, raise_on_error: bool = True,
         max_delete_share: float = 0.1) -> dg.ExecuteInProcessResult:
    postgres = PostgresResource(url=database_url, apply_migrations=False)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(DUMP_DATES, [date])
    chosen = selection or [*DOCUMENTS, *GRAPHS]
    config = {"ops": {a.op.name: {"config": {"max_delete_share": max_delete_share}}
                      for a in chosen if a in DOCUMENTS}}
    return dg.materialize([*chosen, graph_references_resolve] if selection is None else chosen,
                          partition_key=date, instance=instance, run_config=config, raise_on_error=raise_on_error,
                          resources={"postgres": postgres, "io_manager": PostgresBulkIOManager(postgres=postgres),
                                     "discogs_files": DiscogsFiles(landing_dir=str(folder))})


def metadata(result: dg.ExecuteInProcessResult, name: str) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path == ["discogs", name]]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def versions(conn: psycopg.Connection, table: str) -> dict[str, str]:
    return dict(conn.execute(f"SELECT data_id, xmin::text FROM discogs.{table}").fetchall())  # type: ignore[arg-type]


def index_definitions(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'discogs' ORDER BY 1"
                        ).fetchall()


def records(path: Path) -> dict[str, str]:
    """id -> the record's raw text, read independently of the project's reader (a generated dump
    starts each record on a line of its own; text inside a record may hold newlines)."""
    text = gzip.decompress(path.read_bytes()).decode()
    tag = path.name.split("_")[2].split(".")[0][:-1]
    first = re.search(f"<{tag}[ >]", text)
    assert first is not None
    body = text[first.start():text.rindex(f"</{tag}s>")].rstrip("\n")
    out = {}
    for record in re.split(f"\n(?=<{tag}[ >])", body):
        if tag in ("release", "master"):
            out[record.split('"', 2)[1]] = record
        else:
            out[record.split("<id>", 1)[1].split("</id>", 1)[0]] = record
    return out


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("discogs")
    generate(folder, releases=400, seed=3)
    generate(folder, releases=400, seed=3, month=1, changed=0.05)
    return {"folder": folder}


@pytest.fixture
def landing(tmp_path: Path, dumps: dict[str, Path]) -> Iterator[Path]:
    folder = tmp_path / "landing"
    folder.mkdir()
    yield folder


def land(landing: Path, dumps: dict[str, Path], date: str) -> None:
    for path in dumps["folder"].glob(f"discogs_{date}_*"):
        shutil.copy(path, landing / path.name)


def test_a_first_load_suspends_indexes_and_writes_every_record(
        database_url: str, conn: psycopg.Connection, landing: Path, dumps: dict) -> None:
    before = index_definitions(conn)
    land(landing, dumps, "20261101")
    result = load(database_url, landing, "20261101")
    for dump_type in TYPES:
        meta = metadata(result, dump_type)
        expected = records(landing / f"discogs_20261101_{dump_type}.xml.gz")
        assert meta["rows_inserted"] == len(expected) and meta["rows_rejected"] == 0
        assert meta["indexes_suspended"] == 5 + (4 if dump_type == "releases" else 1 if dump_type == "masters" else 0)
        assert meta["index_rebuild_seconds"] >= 0
        stored = {r[0] for r in conn.execute(f"SELECT data_id FROM discogs.{dump_type}")}  # type: ignore[arg-type]
        assert stored == set(expected)
    assert index_definitions(conn) == before
    assert result.get_asset_check_evaluations()[0].metadata  # counted, whatever the counts


def test_next_months_dump_writes_only_what_changed_and_deletes_what_is_gone(
        database_url: str, conn: psycopg.Connection, landing: Path, dumps: dict) -> None:
    land(landing, dumps, "20261101")
    land(landing, dumps, "20261201")
    load(database_url, landing, "20261101")
    before = {t: versions(conn, t) for t in TYPES}
    result = load(database_url, landing, "20261201")
    for dump_type in TYPES:
        old = records(landing / f"discogs_20261101_{dump_type}.xml.gz")
        new = records(landing / f"discogs_20261201_{dump_type}.xml.gz")
        meta = metadata(result, dump_type)
        changed = {i for i in set(old) & set(new) if old[i] != new[i]}
        assert (meta["rows_inserted"], meta["rows_updated"], meta["rows_deleted"]) == (
            len(set(new) - set(old)), len(changed), len(set(old) - set(new)))
        assert meta["rows_unchanged"] == len(set(old) & set(new)) - len(changed)
        assert "indexes_suspended" not in meta  # incremental loads keep the indexes
        after = versions(conn, dump_type)
        assert {i for i in after if i in before[dump_type] and after[i] != before[dump_type][i]} == changed
        assert set(after) == set(new)


def test_records_absent_from_a_dump_with_a_reject_are_kept(
        database_url: str, conn: psycopg.Connection, landing: Path, dumps: dict) -> None:
    land(landing, dumps, "20261101")
    load(database_url, landing, "20261101", selection=[labels])
    stored = conn.execute("SELECT count(*) FROM discogs.labels").fetchone()
    kept = list(records(landing / "discogs_20261101_labels.xml.gz").values())[:-2]  # two gone
    kept[0] = kept[0].replace("</name>", "</nam>", 1)  # one malformed
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<labels>\n'
    text = head + "\n".join(kept) + "\n</labels>\n"
    (landing / "discogs_20261201_labels.xml.gz").write_bytes(gzip.compress(text.encode()))
    result = load(database_url, landing, "20261201", selection=[labels])
    meta = metadata(result, "labels")
    assert meta["rows_rejected"] == 1 and meta["rows_deleted"] == 0
    assert conn.execute("SELECT count(*) FROM discogs.labels").fetchone() == stored
    rejects = conn.execute("SELECT byte_offset, reason FROM import_pipeline.rejects").fetchall()
    assert rejects[0][0] == len(head.encode()) and "malformed" in rejects[0][1]


def test_a_truncated_dump_fails_in_one_line_and_changes_nothing(
        database_url: str, conn: psycopg.Connection, landing: Path, dumps: dict) -> None:
    land(landing, dumps, "20261101")
    load(database_url, landing, "20261101", selection=[releases])
    before = versions(conn, "releases")
    whole = (dumps["folder"] / "discogs_20261201_releases.xml.gz").read_bytes()
    (landing / "discogs_20261201_releases.xml.gz").write_bytes(whole[: len(whole) * 2 // 3])
    result = load(database_url, landing, "20261201", selection=[releases], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert "ends early" in message and "\n" not in message.strip()
    assert versions(conn, "releases") == before


def test_a_failed_first_load_leaves_the_index_definitions_as_they_were(
        database_url: str, conn: psycopg.Connection, landing: Path, dumps: dict) -> None:
    before = index_definitions(conn)
    whole = (dumps["folder"] / "discogs_20261101_releases.xml.gz").read_bytes()
    (landing / "discogs_20261101_releases.xml.gz").write_bytes(whole[: len(whole) // 2])
    assert not load(database_url, landing, "20261101", selection=[releases], raise_on_error=False).success
    assert index_definitions(conn) == before
    assert conn.execute("SELECT count(*) FROM discogs.releases").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM import_pipeline.suspended_indexes").fetchone() == (0,)


def expected_relations(conn: psycopg.Connection) -> dict[str, set[tuple]]:
    """The relation rows computed in Python from the stored documents."""
    out: dict[str, set[tuple]] = {k: set() for k in ("release_artists", "release_labels", "release_master",
                                                      "release_genres", "master_artists", "artist_members",
                                                      "artist_aliases", "label_sublabels")}
    for data_id, data in conn.execute("SELECT data_id, data FROM discogs.releases"):
        for credit, container in (("artist", "artists"), ("extra", "extraartists")):
            for n, a in enumerate((data.get(container) or {}).get("artist", []), 1):
                out["release_artists"].add((data_id, credit, n, a["id"], a["role"]))
        for n, label in enumerate((data.get("labels") or {}).get("label", []), 1):
            out["release_labels"].add((data_id, n, label["@id"], label["@catno"]))
        if isinstance(data.get("master_id"), dict):
            out["release_master"].add((data_id, data["master_id"]["#text"]))
        out["release_genres"] |= {(data_id, g) for g in data["genres"]["genre"]}
    for data_id, data in conn.execute("SELECT data_id, data FROM discogs.masters"):
        out["master_artists"] |= {(data_id, n, a["id"]) for n, a in enumerate(data["artists"]["artist"], 1)}
    for data_id, data in conn.execute("SELECT data_id, data FROM discogs.artists"):
        out["artist_members"] |= {(data_id, m["@id"]) for m in (data.get("members") or {}).get("name", [])}
        out["artist_aliases"] |= {(data_id, m["@id"]) for m in (data.get("aliases") or {}).get("name", [])}
    for data_id, data in conn.execute("SELECT data_id, data FROM discogs.labels"):
        out["label_sublabels"] |= {(data_id, s["@id"]) for s in (data.get("sublabels") or {}).get("label", [])}
    return out


def stored_relations(conn: psycopg.Connection) -> dict[str, set[tuple]]:
    queries = {
        "release_artists": "SELECT release_id, credit, position, artist_id, role FROM discogs.release_artists",
        "release_labels": "SELECT release_id, position, label_id, catno FROM discogs.release_labels",
        "release_master": "SELECT release_id, master_id FROM discogs.release_master",
        "release_genres": "SELECT release_id, genre FROM discogs.release_genres",
        "master_artists": "SELECT master_id, position, artist_id FROM discogs.master_artists",
        "artist_members": "SELECT group_id, member_id FROM discogs.artist_members",
        "artist_aliases": "SELECT artist_id, alias_id FROM discogs.artist_aliases",
        "label_sublabels": "SELECT label_id, sublabel_id FROM discogs.label_sublabels",
    }
    return {name: set(conn.execute(query).fetchall()) for name, query in queries.items()}  # type: ignore[arg-type]


def test_the_graph_equals_an_independent_computation_after_each_month(
        database_url: str, conn: psycopg.Connection, landing: Path, dumps: dict) -> None:
    land(landing, dumps, "20261101")
    land(landing, dumps, "20261201")
    first = load(database_url, landing, "20261101")
    assert metadata(first, "release_graph")["documents"] == 400
    assert stored_relations(conn) == expected_relations(conn)
    second = load(database_url, landing, "20261201")
    meta = metadata(second, "releases")
    assert metadata(second, "release_graph")["documents"] == meta["rows_inserted"] + meta["rows_updated"]
    assert stored_relations(conn) == expected_relations(conn)


def test_the_real_samples_load_with_their_graph(database_url: str, conn: psycopg.Connection, tmp_path: Path) -> None:
    for dump_type in TYPES:
        shutil.copy(DATA / f"{dump_type}.xml", tmp_path / f"discogs_20250101_{dump_type}.xml")
    result = load(database_url, tmp_path, "20250101")
    assert [metadata(result, t)["rows_inserted"] for t in TYPES] == [27, 5, 46, 8]
    row = conn.execute("SELECT artist_id, role FROM discogs.release_artists WHERE release_id = '1' AND credit = 'extra'"
                       ).fetchone()
    assert row == ("239", "Music By [All Tracks By]")
    assert conn.execute("SELECT catno FROM discogs.release_labels WHERE release_id = '1'").fetchone() == ("SK032",)
    members = conn.execute("SELECT member_id FROM discogs.artist_members WHERE group_id = '2' ORDER BY 1").fetchall()
    assert members == [("26",), ("27",)]
    check = result.get_asset_check_evaluations()[0]
    assert check.metadata["dangling_release_artists"].value > 0  # the samples point past themselves
    assert check.severity == dg.AssetCheckSeverity.WARN


def test_the_sensor_takes_a_dump_once_it_stopped_growing(landing: Path, dumps: dict) -> None:
    land(landing, dumps, "20261101")
    (landing / "discogs_20261101_releases.xml.gz.part").write_bytes(b"still downloading")
    (landing / "notes.txt").write_text("not a dump")
    instance = dg.DagsterInstance.ephemeral()
    resources = {"discogs_files": DiscogsFiles(landing_dir=str(landing))}
    first = discogs_landing_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(first, dg.SensorResult) and not first.run_requests  # seen once: maybe still being written
    second = discogs_landing_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor,
                                                            resources=resources))
    assert isinstance(second, dg.SensorResult)
    assert sorted(r.asset_selection[0].path[1] for r in second.run_requests) == sorted(TYPES)  # type: ignore[index]
    assert {r.partition_key for r in second.run_requests} == {"20261101"}
    assert second.dynamic_partitions_requests[0].partition_keys == ["20261101"]  # type: ignore[union-attr]
    third = discogs_landing_sensor(dg.build_sensor_context(instance=instance, cursor=second.cursor,
                                                           resources=resources))
    assert isinstance(third, dg.SensorResult) and not third.run_requests


def test_maintenance_rebuilds_the_bloated_indexes_and_analyzes(
        database_url: str, conn: psycopg.Connection, landing: Path, dumps: dict) -> None:
    land(landing, dumps, "20261101")
    load(database_url, landing, "20261101", selection=[releases])
    for _ in range(4):  # every row rewritten: the hash index holds four dead entries per live one
        conn.execute("UPDATE discogs.releases SET hash = hash")
        conn.commit()
    with psycopg.connect(database_url, autocommit=True) as analyze:
        analyze.execute("ANALYZE discogs.releases")
    result = maintain(database_url, bloat_threshold=0.3)
    rebuilt = {r.index: r for r in result.rebuilt}
    assert "releases_hash_idx" in rebuilt
    assert rebuilt["releases_hash_idx"].bytes_after < rebuilt["releases_hash_idx"].bytes_before
    assert "releases" in result.analyzed and "release_artists" in result.analyzed
    again = maintain(database_url, bloat_threshold=0.3)
    assert not again.rebuilt  # nothing left to rebuild


def test_the_generator_is_deterministic_and_next_month_changes_what_it_says(tmp_path: Path) -> None:
    one = generate(tmp_path / "a", releases=300, seed=5, types=("releases",))
    two = generate(tmp_path / "b", releases=300, seed=5, types=("releases",))
    assert one[0].path.read_bytes() == two[0].path.read_bytes()
    later = generate(tmp_path / "a", releases=2000, seed=5, month=1, changed=0.1, types=("releases",))
    first = records(generate(tmp_path / "c", releases=2000, seed=5, types=("releases",))[0].path)
    second = records(later[0].path)
    gone, new = set(first) - set(second), set(second) - set(first)
    changed = {i for i in set(first) & set(second) if first[i] != second[i]}
    assert 60 <= len(gone) <= 140 and len(new) == 100 and 150 <= len(changed) <= 250

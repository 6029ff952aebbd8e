"""The IO manager writes and reads the example family through dg.materialize."""

import dagster as dg
import psycopg
import pytest

from import_pipeline.defs.example import assets
from import_pipeline.defs.example.partitions import regions
from import_pipeline.io_manager import PostgresBulkIOManager
from import_pipeline.records import Reject, RowStream
from import_pipeline.resources import PostgresResource

READINGS = "SELECT station_id, observed_at, temperature_c FROM example.readings ORDER BY 1, 2"

ALL = [assets.stations, assets.readings, assets.station_summary]


@pytest.fixture
def resources(database_url: str) -> dict:
    postgres = PostgresResource(url=database_url)
    return {"postgres": postgres, "io_manager": PostgresBulkIOManager(postgres=postgres)}


def metadata_of(result: dg.ExecuteInProcessResult, key: list[str]) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def materialize_all(resources: dict) -> list[dg.ExecuteInProcessResult]:
    results = [dg.materialize(ALL, selection=[assets.stations], resources=resources)]
    for key in regions.get_partition_keys():
        results.append(dg.materialize(ALL, selection=[assets.readings], partition_key=key, resources=resources))
    results.append(dg.materialize(ALL, selection=[assets.station_summary], resources=resources))
    return results


def test_example_family_end_to_end(resources: dict, database_url: str) -> None:
    stations, north, south, east, summary = materialize_all(resources)

    meta = metadata_of(stations, ["example", "stations"])
    assert meta["rows_inserted"] == 6 and meta["dagster/row_count"] == 6 and meta["write_mode"] == "merge"
    assert meta["rows_written"] == {"example.stations": 6} and meta["rows_rejected"] == 0
    assert isinstance(meta["seconds"], float) and meta["seconds"] > 0
    assert meta["rows_per_second"] == pytest.approx(6 / meta["seconds"], rel=0.05)  # seconds are rounded
    north_meta = metadata_of(north, ["example", "readings"])
    assert north_meta["dagster/row_count"] == 2 * assets.HOURS and north_meta["rows_deleted"] == 0
    assert metadata_of(summary, ["example", "station_summary"])["dagster/row_count"] == 6

    with psycopg.connect(database_url) as conn:
        per_region = conn.execute("SELECT region, count(*) FROM example.readings GROUP BY 1 ORDER BY 1").fetchall()
        assert per_region == [("east", 96), ("north", 96), ("south", 96)]
        assert conn.execute("SELECT sum(readings) FROM example.station_summary").fetchone() == (288,)
        assert conn.execute("SELECT elevation_m FROM example.stations WHERE station_id = 'S2'").fetchone() == (None,)


def test_rematerializing_changes_nothing(resources: dict, database_url: str) -> None:
    materialize_all(resources)
    with psycopg.connect(database_url) as conn:
        before = conn.execute(READINGS).fetchall()
    stations, north, *_ = materialize_all(resources)
    assert metadata_of(stations, ["example", "stations"])["rows_unchanged"] == 6
    assert metadata_of(north, ["example", "readings"])["rows_deleted"] == 96
    with psycopg.connect(database_url) as conn:
        after = conn.execute(READINGS).fetchall()
    assert after == before


def test_stream_rejects_are_recorded_and_replaced_on_rerun(resources: dict, database_url: str) -> None:
    @dg.asset(key_prefix="example", metadata={"write_mode": "append", "table": "example.stations"})
    def station_feed() -> RowStream:
        rejects: list[Reject] = []

        def rows():
            yield ("X1", "Good", "north", 1)
            rejects.append(Reject(source="feed.csv", reason="no station id", line=3, raw=",Bad,north,"))
            yield ("X2", "Also good", "south", 2)

        return RowStream(["station_id", "name", "region", "elevation_m"], rows(), rejects=rejects)

    result = dg.materialize([station_feed], resources=resources)
    assert metadata_of(result, ["example", "station_feed"])["rows_rejected"] == 1
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM example.stations")
        conn.commit()
    dg.materialize([station_feed], resources=resources)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM example.stations").fetchone() == (2,)
        rejects = conn.execute("SELECT asset, source, line, reason FROM import_pipeline.rejects").fetchall()
    assert rejects == [("example/station_feed", "feed.csv", 3, "no station id")]


def test_missing_table_fails_with_a_clear_message(resources: dict) -> None:
    @dg.asset(key_prefix="example")
    def no_such_table() -> RowStream:
        return RowStream(["a"], iter([(1,)]))

    result = dg.materialize([no_such_table], resources=resources, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "table example.no_such_table does not exist" in str(failure.step_failure_data.error.message)


def test_upstream_loads_as_dataframe(resources: dict) -> None:
    materialize_all(resources)

    @dg.asset(deps=[], ins={"stations": dg.AssetIn(key=assets.stations.key)})
    def station_count(stations) -> None:
        assert list(stations.columns) == ["station_id", "name", "region", "elevation_m"]
        assert len(stations) == 6

    assert dg.materialize([assets.stations, station_count], selection=[station_count], resources=resources).success


def test_unreachable_server_fails_the_step_with_one_clear_message() -> None:
    postgres = PostgresResource(url="postgresql://nobody@127.0.0.1:1/none")
    resources = {"postgres": postgres, "io_manager": PostgresBulkIOManager(postgres=postgres)}
    result = dg.materialize([assets.stations], resources=resources, raise_on_error=False)
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error, messages = failure.step_failure_data.error, []
    while error is not None:  # Dagster wraps IO manager errors; ours is in the cause chain
        messages.append((error.cls_name, error.message))
        error = error.cause
    assert any(
        cls == "DatabaseUnavailable" and "cannot reach PostgreSQL at postgresql://nobody@127.0.0.1:1/none" in message
        for cls, message in messages
    ), messages


def test_a_whole_table_merge_suspends_indexes_when_empty_and_deletes_the_absent(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE public.docs (data_id text PRIMARY KEY, hash text NOT NULL, data jsonb NOT NULL)")
        conn.execute("CREATE INDEX docs_hash_idx ON public.docs (hash)")
        conn.execute("CREATE INDEX docs_data_idx ON public.docs USING gin (data)")
        definitions = conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'docs' ORDER BY 1").fetchall()
    keys = {"value": [str(n) for n in range(10)], "rejects": []}

    @dg.asset(key=["public", "docs"], metadata={"write_mode": "merge", "merge_key": ["data_id"],
                                                "hash_column": "hash", "suspend_indexes_when_empty": True})
    def docs() -> RowStream:
        stream = RowStream(columns=["data_id", "hash", "data"],
                           rows=((k, f"h{k}", f'{{"n": {k}}}') for k in keys["value"]), delete_absent=0.5)
        stream.rejects.extend(keys["rejects"])
        return stream

    postgres = PostgresResource(url=database_url)
    resources = {"io_manager": PostgresBulkIOManager(postgres=postgres)}
    first = metadata_of(dg.materialize([docs], resources=resources), ["public", "docs"])
    assert first["indexes_suspended"] == 2 and first["index_rebuild_seconds"] >= 0 and first["rows_inserted"] == 10

    keys["value"] = [str(n) for n in range(8)]
    keys["rejects"] = [Reject(source="x", reason="bad record")]
    partial = metadata_of(dg.materialize([docs], resources=resources), ["public", "docs"])
    assert partial["rows_deleted"] == 0 and "indexes_suspended" not in partial  # a reject: nothing deleted

    keys["rejects"] = []
    complete = metadata_of(dg.materialize([docs], resources=resources), ["public", "docs"])
    assert complete["rows_deleted"] == 2 and complete["rows_unchanged"] == 8
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'docs' ORDER BY 1").fetchall() \
            == definitions
        assert conn.execute("SELECT count(*) FROM public.docs").fetchone() == (8,)

"""The properties crawl end to end: the Dagster assets against the fake API on 127.0.0.1 and a real PostgreSQL."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest
import requests

from import_pipeline.defs.properties.assets import cases, details, search_results
from import_pipeline.defs.properties.checks import every_listed_address_accounted_for
from import_pipeline.defs.properties.resources import PropertyApi
from import_pipeline.generate.properties import PropertyWorld
from import_pipeline.generate.property_api import FakeApiSettings, FakePropertyApi
from import_pipeline.io_manager import PostgresBulkIOManager
from import_pipeline.resources import PostgresResource

MUNICIPALITY = "Frederiksberg"
ASSETS = [search_results, details, cases]


def crawl(database_url: str, api_url: str, *, partition: str = MUNICIPALITY, refresh: bool = False,
          raise_on_error: bool = True, max_delete_share: float = 0.1, **api: object) -> dg.ExecuteInProcessResult:
    postgres = PostgresResource(url=database_url, apply_migrations=False)
    settings: dict = {"base_url": api_url, "rate_limit": None, "backoff_seconds": 0.01, "blocked_pause_seconds": 0.05,
                      "progress_seconds": 0.5, **api}
    config = {"ops": {name: {"config": {"refresh": refresh, "max_delete_share": max_delete_share}}
                      for name in ("properties__details", "properties__cases")}}
    return dg.materialize(
        [*ASSETS, every_listed_address_accounted_for],
        partition_key=partition,
        resources={"postgres": postgres, "io_manager": PostgresBulkIOManager(postgres=postgres),
                   "property_api": PropertyApi(**settings)},
        run_config=config,
        raise_on_error=raise_on_error,
    )


def stored_ids(conn: psycopg.Connection, municipality: str = MUNICIPALITY) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT address_id FROM properties.properties WHERE municipality = %s ORDER BY 1", (municipality,))]


def versions(conn: psycopg.Connection, table: str, key: str) -> dict[str, str]:
    return dict(conn.execute(f"SELECT {key}, xmin::text FROM {table}").fetchall())  # type: ignore[arg-type]


@pytest.fixture
def world() -> PropertyWorld:
    return PropertyWorld(3000, seed=5)


@pytest.fixture
def api(world: PropertyWorld) -> Iterator[FakePropertyApi]:
    with FakePropertyApi(world) as fake:
        yield fake


def test_a_crawl_stores_exactly_the_fakes_villas_with_their_rows(
        database_url: str, conn: psycopg.Connection, api: FakePropertyApi, world: PropertyWorld) -> None:
    result = crawl(database_url, api.url)
    assert result.success
    assert stored_ids(conn) == world.address_ids(MUNICIPALITY)
    villas = len(world.address_ids(MUNICIPALITY))
    on_market = [v for v in world.search(MUNICIPALITY, None, True) if world.on_market(v)]
    assert conn.execute("SELECT count(*) FROM properties.search_results").fetchone() == (villas,)
    assert conn.execute("SELECT count(*) FROM properties.cases").fetchone() == (len(on_market),)
    assert conn.execute("SELECT count(*) FROM properties.price_changes WHERE old_price IS NULL").fetchone() \
        == (len(on_market),)
    # Typed columns agree with the stored documents, which are the fake's documents.
    one = world.search(MUNICIPALITY, None, True)[0]
    row = conn.execute("SELECT zip_code, road_name, document FROM properties.properties WHERE address_id = %s",
                       (one.address_id,)).fetchone()
    assert row == (one.zip_code, one.road_name, world.address_document(one))
    buildings = conn.execute("SELECT count(*) FROM properties.buildings b JOIN properties.properties p "
                             "USING (address_id)").fetchone()
    assert buildings is not None and buildings[0] >= villas
    links = conn.execute("SELECT count(*) FROM properties.property_registrations").fetchone()
    registrations = sum(len(world.address_document(v)["registrations"]) for v in world.search(MUNICIPALITY, None, True))
    assert links == (registrations,)
    shared = conn.execute("SELECT count(*) FROM properties.property_registrations WHERE registration_id LIKE "
                          "'shared-%%' GROUP BY registration_id HAVING count(*) = 2").fetchall()
    assert shared, "pairs of villas share one sale, stored once, linked twice"
    check = result.get_asset_check_evaluations()[0]
    assert check.passed
    metadata = result.asset_materializations_for_node("properties__details")[0].metadata
    assert metadata["new"].value == villas and metadata["failed"].value == 0


def test_a_rerun_fetches_nothing_unchanged_and_rewrites_only_what_changed(
        database_url: str, conn: psycopg.Connection, api: FakePropertyApi, world: PropertyWorld) -> None:
    crawl(database_url, api.url)
    before = versions(conn, "properties.properties", "address_id")
    cases_before = versions(conn, "properties.cases", "case_id")
    requests_before = api.state.stats()["counts"].get("requests_addresses", 0)

    crawl(database_url, api.url)
    assert api.state.stats()["counts"].get("requests_addresses", 0) == requests_before  # nothing refetched
    assert versions(conn, "properties.properties", "address_id") == before

    # refresh fetches everything again, and still rewrites nothing that did not change.
    crawl(database_url, api.url, refresh=True)
    assert api.state.stats()["counts"]["requests_addresses"] == 2 * requests_before
    assert versions(conn, "properties.properties", "address_id") == before
    assert versions(conn, "properties.cases", "case_id") == cases_before

    on_market = next(v for v in world.search(MUNICIPALITY, None, True) if world.on_market(v))
    off_market = next(v for v in world.search(MUNICIPALITY, None, True) if not world.on_market(v))
    old_price = world.case_document(on_market)["priceCash"]
    world.change(on_market.address_id)
    world.change(off_market.address_id)
    new_price = world.case_document(on_market)["priceCash"]
    assert new_price != old_price
    crawl(database_url, api.url)
    after = versions(conn, "properties.properties", "address_id")
    assert {a for a in after if after[a] != before[a]} == {on_market.address_id, off_market.address_id}
    case_after = versions(conn, "properties.cases", "case_id")
    assert [c for c in case_after if case_after[c] != cases_before[c]] == [world.summary(on_market)["caseID"]]
    changes = conn.execute("SELECT old_price, new_price FROM properties.price_changes WHERE old_price IS NOT NULL"
                           ).fetchall()
    assert changes == [(old_price, new_price)]


def test_a_villa_put_on_the_market_is_asked_for_once_more_and_its_case_fetched(
        database_url: str, conn: psycopg.Connection, api: FakePropertyApi, world: PropertyWorld) -> None:
    crawl(database_url, api.url)
    villa = next(v for v in world.search(MUNICIPALITY, None, True) if not world.on_market(v))
    path = f"/addresses/{villa.address_id}"
    world.put_on_market(villa.address_id)  # the summary changes, the address document does not
    case_id = world.summary(villa)["caseID"]

    crawl(database_url, api.url)
    assert api.state.stats()["paths"][path] == 2
    row = conn.execute("SELECT is_on_market, case_id, document FROM properties.properties WHERE address_id = %s",
                       (villa.address_id,)).fetchone()
    assert row == (True, case_id, world.address_document(villa))
    assert conn.execute("SELECT price FROM properties.cases WHERE case_id = %s", (case_id,)).fetchone() \
        == (world.case_document(villa)["priceCash"],)

    crawl(database_url, api.url)
    assert api.state.stats()["paths"][path] == 2  # the new summary is recorded: not asked a third time


def test_villas_no_longer_listed_are_deleted_but_never_most_of_them(
        database_url: str, conn: psycopg.Connection, api: FakePropertyApi, world: PropertyWorld) -> None:
    crawl(database_url, api.url)
    listed = world.address_ids(MUNICIPALITY)
    world.remove(listed[:2])
    crawl(database_url, api.url)
    assert stored_ids(conn) == world.address_ids(MUNICIPALITY)
    assert conn.execute("SELECT count(*) FROM properties.buildings WHERE address_id = ANY(%s)",
                        (listed[:2],)).fetchone() == (0,)

    world.remove(listed[2:2 + len(listed) // 4])
    before = stored_ids(conn)
    refused = crawl(database_url, api.url, raise_on_error=False)
    assert not refused.success
    failure = next(e for e in refused.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert f"would delete {len(listed) // 4} of the {len(before)} stored properties" in message
    assert stored_ids(conn) == before  # nothing changed
    assert crawl(database_url, api.url, max_delete_share=1.0).success
    assert stored_ids(conn) == world.address_ids(MUNICIPALITY)


def test_injected_errors_end_in_exactly_the_fakes_set(database_url: str, conn: psycopg.Connection,
                                                       world: PropertyWorld) -> None:
    settings = FakeApiSettings(error_rate=0.08, rate_429=0.04, blocked_every=150, blocked_burst=3, seed=3)
    with FakePropertyApi(world, settings) as fake:
        result = crawl(database_url, fake.url, max_workers=8)
        counts = fake.state.stats()["counts"]
    assert result.success
    assert stored_ids(conn) == world.address_ids(MUNICIPALITY)
    assert counts.get("fault_drop", 0) and counts.get("fault_429", 0) and counts.get("fault_403", 0)
    metadata = result.asset_materializations_for_node("properties__details")[0].metadata
    assert metadata["retries"].value > 0 and metadata["failed"].value == 0


def test_a_permanent_404_is_a_reject_once_and_not_asked_again(database_url: str, conn: psycopg.Connection,
                                                                world: PropertyWorld) -> None:
    with FakePropertyApi(world, FakeApiSettings(missing_share=0.02)) as fake:
        missing = sorted(set(world.address_ids(MUNICIPALITY)) & fake.state.missing)
        assert missing, "the fake should hide some of the municipality's addresses"
        # 2% missing is over the 1% budget: the run fails, in one line, after storing the rest.
        failed = crawl(database_url, fake.url, raise_on_error=False)
        assert not failed.success
        failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.step_failure_data.error.message  # type: ignore[union-attr]
        assert f"{len(missing)} of" in message and "more than the allowed 1.0%" in message
        assert len(stored_ids(conn)) == len(world.address_ids(MUNICIPALITY)) - len(missing)
        rejects = conn.execute("SELECT source, reason FROM import_pipeline.rejects WHERE asset = 'properties/details'"
                               ).fetchall()
        assert sorted(r[0].rsplit("/", 1)[1] for r in rejects) == missing
        assert all(r[1] == "HTTP 404: Not Found" for r in rejects)
        requested = fake.state.stats()["paths"]
        assert all(requested[f"/addresses/{a}"] == 1 for a in missing)  # not retried

        passed = crawl(database_url, fake.url, max_failure_ratio=0.05)
        assert passed.success
        assert all(fake.state.stats()["paths"][f"/addresses/{a}"] == 1 for a in missing)  # not asked again
        assert conn.execute("SELECT count(*) FROM properties.unavailable WHERE kind = 'address'").fetchone() \
            == (len(missing),)
        assert passed.get_asset_check_evaluations()[0].passed


KILLED_RUN = textwrap.dedent("""
    import sys
    import dagster as dg
    from import_pipeline.defs.properties.assets import details, search_results
    from import_pipeline.defs.properties.resources import PropertyApi
    from import_pipeline.io_manager import PostgresBulkIOManager
    from import_pipeline.resources import PostgresResource
    postgres = PostgresResource(url=sys.argv[1], apply_migrations=False)
    dg.materialize([search_results, details], partition_key=sys.argv[3], resources={
        "postgres": postgres, "io_manager": PostgresBulkIOManager(postgres=postgres),
        "property_api": PropertyApi(base_url=sys.argv[2], rate_limit=None, workers=4, batch_size=20)})
""")


def test_a_killed_run_resumes_without_refetching_what_it_stored(database_url: str, conn: psycopg.Connection,
                                                                  world: PropertyWorld) -> None:
    municipality = "København"
    total = len(world.address_ids(municipality))
    with FakePropertyApi(world, FakeApiSettings(latency_ms=5)) as fake:
        child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, database_url, fake.url, municipality],
                                 env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(stored_ids(conn, municipality)) < total // 3:
            conn.rollback()
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        conn.rollback()
        kept = set(stored_ids(conn, municipality))
        assert total // 3 <= len(kept) < total
        asked_before = dict(fake.state.stats()["paths"])

        result = crawl(database_url, fake.url, partition=municipality)
        assert result.success
        asked = fake.state.stats()["paths"]
        refetched = {a for a in kept if asked.get(f"/addresses/{a}", 0) > asked_before.get(f"/addresses/{a}", 0)}
        assert not refetched
    assert stored_ids(conn, municipality) == world.address_ids(municipality)


def test_the_fake_lists_more_than_10000_villas_and_the_crawl_splits_them(
        database_url: str, conn: psycopg.Connection) -> None:
    world = PropertyWorld(10_300, seed=2, big_municipality="København", big_count=10_100)
    with FakePropertyApi(world) as fake:
        listed = requests.get(fake.url + "/search/addresses", params={
            "municipalities": "København", "addressTypes": "villa", "per_page": 1000, "page": 11}, timeout=10).json()
        assert listed["totalHits"] > 10_000 and listed["addresses"] == []  # past the window: silently empty
        postgres = PostgresResource(url=database_url, apply_migrations=False)
        result = dg.materialize([search_results], partition_key="København", resources={
            "postgres": postgres, "io_manager": PostgresBulkIOManager(postgres=postgres),
            "property_api": PropertyApi(base_url=fake.url, rate_limit=None, per_page=1000)})
    assert result.success
    listed_ids = [r[0] for r in conn.execute(
        "SELECT address_id FROM properties.search_results WHERE municipality = 'København' ORDER BY 1")]
    assert listed_ids == world.address_ids("København")


def test_a_crawl_the_api_refuses_stops_early_in_one_line(database_url: str, conn: psycopg.Connection,
                                                          world: PropertyWorld) -> None:
    municipality = "København"
    with FakePropertyApi(world, FakeApiSettings(missing_share=1.0)) as fake:
        result = crawl(database_url, fake.url, partition=municipality, raise_on_error=False, max_workers=4)
        asked = fake.state.stats()["counts"]["requests_addresses"]
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert "stopped after" in message and "the API is refusing this crawl" in message
    assert asked < len(world.address_ids(municipality)) // 2
    # What was fetched before the stop is written (here, rejects); the few still in flight are not.
    written = conn.execute("SELECT count(*) FROM import_pipeline.rejects WHERE asset = 'properties/details'"
                           ).fetchone()
    assert written is not None and 200 <= written[0] <= asked

"""The search crawl against the fake API: pagination, the split past the window, shifted pages, shortfalls."""

import pytest

from import_pipeline.generate.properties import PropertyWorld
from import_pipeline.generate.property_api import FakeApiSettings, FakePropertyApi
from import_pipeline.sources.properties.client import PropertyApiClient, RetryPolicy
from import_pipeline.sources.properties.pacing import RequestPacer
from import_pipeline.sources.properties.search import MunicipalitySearch

WINDOW = 300  # the fake's window, made small so a split needs a few hundred villas, not 10,000


def crawl(world: PropertyWorld, municipality: str, *, per_page: int = 50, **settings: object
          ) -> tuple[list[str], MunicipalitySearch, FakePropertyApi]:
    fake = FakePropertyApi(world, FakeApiSettings(max_window=WINDOW, **settings))  # type: ignore[arg-type]
    with fake, PropertyApiClient(fake.url, pool_size=4, pacer=RequestPacer(None),
                                 policy=RetryPolicy(backoff=0.01, backoff_max=0.02)) as client:
        search = MunicipalitySearch(client, municipality, per_page=per_page, window=WINDOW)
        ids = [s["addressID"] for s in search.summaries()]
    return ids, search, fake


def test_a_municipality_within_the_window_is_paged_through() -> None:
    world = PropertyWorld(2000, seed=4)
    ids, search, _ = crawl(world, "Frederiksberg", per_page=40)
    assert len(ids) == len(set(ids))
    assert sorted(ids) == world.address_ids("Frederiksberg")
    assert 40 < len(ids) <= WINDOW
    assert not search.report.split_by_zip and search.report.shortfall == 0
    assert search.report.requests == -(-len(ids) // 40)  # one pass, its first page the probe


def test_past_the_window_the_crawl_splits_by_zip_code() -> None:
    world = PropertyWorld(1500, seed=4, big_municipality="Køge", big_count=1000)
    ids, search, fake = crawl(world, "Køge")
    assert sorted(ids) == world.address_ids("Køge") and len(ids) == len(set(ids))
    report = search.report
    assert report.split_by_zip and report.total_hits > WINDOW
    assert sorted(s.segment.zip_code for s in report.segments) == sorted({  # type: ignore[type-var]
        v.zip_code for v in world.search("Køge", None, True)})
    assert report.zip_hits == report.total_hits and report.shortfall == 0
    searched = [p for p in fake.state.stats()["paths"] if p.startswith("/search")]
    assert searched  # and every zip query used the plural filter (the fake ignores a singular one)


def test_a_zip_code_over_the_window_is_read_from_both_ends() -> None:
    world = PropertyWorld(700, seed=6, big_municipality="Dragør", big_count=450, zips_per_municipality=1)
    ids, search, _ = crawl(world, "Dragør")
    assert sorted(ids) == world.address_ids("Dragør")
    [segment] = search.report.segments
    assert segment.total_hits == 450 > WINDOW and segment.consistent and segment.duplicates == 0


def test_a_zip_code_beyond_both_ends_is_reported_short_not_silently() -> None:
    world = PropertyWorld(800, seed=6, big_municipality="Dragør", big_count=700, zips_per_municipality=1)
    ids, search, _ = crawl(world, "Dragør")
    assert len(ids) == 2 * WINDOW
    assert search.report.shortfall == 700 - 2 * WINDOW
    assert any("found 600 distinct addresses of 700 hits" in r.reason for r in search.report.rejects)


# Frederiksberg is paged through at once (10 a page): its 3rd request is its 3rd page. Køge is
# split: its 15th request is the second page of its first zip code (after the probe, 2 x 6 pages
# of zip code discovery and the zip code's first page).
@pytest.mark.parametrize(("municipality", "insert_after"), [("Frederiksberg", 2), ("Køge", 14)])
def test_pages_shifted_by_insertions_mid_crawl_are_read_again(municipality: str, insert_after: int) -> None:
    world = PropertyWorld(1500, seed=4, big_municipality="Køge", big_count=1000)
    before = set(world.address_ids(municipality))
    ids, search, _ = crawl(world, municipality, per_page=10 if municipality == "Frederiksberg" else 50,
                           insert_after=insert_after, insert_count=7)
    inserted = set(world.address_ids(municipality)) - before
    assert len(inserted) == 7
    assert sorted(ids) == world.address_ids(municipality) and len(ids) == len(set(ids))
    assert search.report.repaired_segments >= 1
    assert sum(s.duplicates for s in search.report.segments) > 0  # the shift did repeat addresses


def test_a_failing_search_page_is_retried_then_the_segment_read_again() -> None:
    world = PropertyWorld(2000, seed=4)
    path = "/search/addresses"
    ids, search, _ = crawl(world, "Frederiksberg", script={path: ["ok"] * 3 + ["503"] * 7})
    assert sorted(ids) == world.address_ids("Frederiksberg")
    assert search.report.shortfall == 0


def test_a_zip_code_the_windows_did_not_show_is_a_reported_shortfall(monkeypatch: pytest.MonkeyPatch) -> None:
    world = PropertyWorld(1500, seed=4, big_municipality="Køge", big_count=1000)
    found = MunicipalitySearch._zip_codes
    monkeypatch.setattr(MunicipalitySearch, "_zip_codes", lambda self, m: set(sorted(found(self, m))[1:]))
    ids, search, _ = crawl(world, "Køge")
    report = search.report
    assert report.zip_hits < report.total_hits and report.shortfall == report.total_hits - len(ids) > 0
    assert any("a zip code was not found" in r.reason for r in report.rejects)

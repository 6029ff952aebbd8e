"""The property API client against the fake API on 127.0.0.1: retries, Retry-After, 403, 404, pacing."""

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from import_pipeline.generate.properties import PropertyWorld
from import_pipeline.generate.property_api import FakeApiSettings, FakePropertyApi
from import_pipeline.load.properties.rate_share import SharedRate
from import_pipeline.sources.properties.client import ApiError, GaveUp, NotFound, PropertyApiClient, RetryPolicy
from import_pipeline.sources.properties.pacing import MIN_RATE, RequestPacer

FAST = RetryPolicy(attempts=6, backoff=0.01, backoff_max=0.05, blocked_pause=0.2, blocked_seconds=30)


@pytest.fixture(scope="module")
def world() -> PropertyWorld:
    return PropertyWorld(300, seed=9)


def serve(world: PropertyWorld, **settings: object) -> FakePropertyApi:
    return FakePropertyApi(world, FakeApiSettings(**settings))  # type: ignore[arg-type]


def client_for(api: FakePropertyApi, rate: float | None = None, timeouts: tuple[float, float] = (1.0, 1.0),
               policy: RetryPolicy = FAST) -> PropertyApiClient:
    return PropertyApiClient(api.url, pool_size=8, pacer=RequestPacer(rate), timeouts=timeouts, policy=policy)


@pytest.fixture
def address(world: PropertyWorld) -> str:
    return world.address_ids()[0]


def test_5xx_dropped_connections_and_timeouts_are_retried(world: PropertyWorld, address: str) -> None:
    path = f"/addresses/{address}"
    with serve(world, script={path: ["503", "drop", "slow", "500"]}, slow_seconds=1.5) as api, \
            client_for(api, timeouts=(1.0, 0.3)) as client:
        document = client.address(address)
        stats = client.stats.snapshot()
    assert document["addressID"] == address
    assert stats["requests"] == 5
    assert (stats["retries_5xx"], stats["retries_connection"], stats["retries_timeout"]) == (2, 1, 1)


@pytest.mark.parametrize(("answer", "least_wait"), [("429", 0.9), ("429-date", 1.0)])
def test_429_waits_as_its_retry_after_says_in_seconds_or_as_a_date(world: PropertyWorld, address: str,
                                                                     answer: str, least_wait: float) -> None:
    with serve(world, script={f"/addresses/{address}": [answer]}) as api, client_for(api) as client:
        started = time.monotonic()
        client.address(address)
        waited = time.monotonic() - started
        assert client.stats.snapshot()["retries_429"] == 1
    assert least_wait <= waited < 4  # the backoff alone would be at most 0.05 s


def test_a_404_is_not_found_at_once_and_asked_once(world: PropertyWorld) -> None:
    with serve(world) as api, client_for(api) as client:
        with pytest.raises(NotFound) as raised:
            client.address("no-such-address")
        assert api.state.stats()["paths"]["/addresses/no-such-address"] == 1
    assert raised.value.status == 404 and raised.value.url.endswith("/addresses/no-such-address")


def test_other_4xx_are_not_retried(world: PropertyWorld, address: str) -> None:
    with serve(world, script={f"/addresses/{address}": ["400"]}) as api, client_for(api) as client:
        with pytest.raises(ApiError) as raised:
            client.address(address)
        assert not isinstance(raised.value, GaveUp | NotFound) and raised.value.status == 400
        assert api.state.stats()["paths"][f"/addresses/{address}"] == 1


def test_giving_up_says_how_the_last_attempt_failed(world: PropertyWorld, address: str) -> None:
    policy = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.02)
    with serve(world, script={f"/addresses/{address}": ["502"] * 5}) as api, \
            client_for(api, policy=policy) as client:
        with pytest.raises(GaveUp) as raised:
            client.address(address)
        assert api.state.stats()["paths"][f"/addresses/{address}"] == 3
    assert raised.value.status == 502 and "after 3 attempts" in str(raised.value)


def test_a_403_slows_the_whole_crawl_and_waits_before_retrying(world: PropertyWorld, address: str) -> None:
    with serve(world, script={f"/addresses/{address}": ["403"]}) as api, client_for(api, rate=40.0) as client:
        started = time.monotonic()
        client.address(address)
        assert time.monotonic() - started >= FAST.blocked_pause
        assert client.pacer.rate == 20.0  # every worker now shares half the rate
        assert client.stats.snapshot()["retries_403"] == 1


def test_the_rate_limit_holds_at_the_server_across_threads(world: PropertyWorld) -> None:
    ids = world.address_ids()[:75]
    with serve(world, latency_ms=5) as api, client_for(api, rate=25.0) as client:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(client.address, ids))
        times = sorted(api.state.stats()["request_times"])
    assert len(times) == 75
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    # Sends are spaced 40 ms apart; a thread the OS schedules late lands its request in the
    # next second, hence 25 + 2 at the server.
    assert busiest <= 27, busiest
    assert times[-1] - times[0] >= (75 - 1) / 25 * 0.95


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_pacer_spaces_requests_and_slow_downs_compound_and_expire() -> None:
    clock = FakeClock()
    pacer = RequestPacer(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        pacer.acquire()
    assert clock.slept == pytest.approx([0.1, 0.1])
    assert pacer.slow_down(0.5, 5.0) == 5.0
    assert pacer.slow_down(0.5, 5.0) == 2.5
    for _ in range(200):
        pacer.slow_down(0.5, 5.0)
    assert pacer.rate == MIN_RATE
    clock.now += 6.0
    assert pacer.rate == 10.0
    pacer.set_rate(4.0)
    clock.slept.clear()
    pacer.acquire()
    pacer.acquire()
    assert clock.slept[-1] == pytest.approx(0.25)


def test_an_unlimited_pacer_slows_down_from_the_rate_it_observed() -> None:
    clock = FakeClock()
    pacer = RequestPacer(None, clock=clock, sleep=clock.sleep)
    for _ in range(40):
        pacer.acquire()
        clock.now += 0.05  # 20 requests/s
    assert pacer.slow_down(0.5, 10.0) == pytest.approx(10.0, rel=0.1)


def test_crawls_running_at_once_share_one_rate_limit(database_url: str) -> None:
    def connect() -> psycopg.Connection:
        return psycopg.connect(database_url)

    first, second = RequestPacer(100.0), RequestPacer(100.0)
    with SharedRate(connect, "run-1", 100.0, first, interval=0.1, lease_seconds=5) as one:
        assert one.crawlers == 1 and first.rate == 100.0
        with SharedRate(connect, "run-2", 100.0, second, interval=0.1, lease_seconds=5) as two:
            assert two.crawlers == 2 and second.rate == 50.0
            deadline = time.monotonic() + 5
            while first.rate != 50.0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert first.rate == 50.0
        deadline = time.monotonic() + 5
        while first.rate != 100.0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first.rate == 100.0  # the second run's lease went with it
    with connect() as conn:
        assert conn.execute("SELECT count(*) FROM properties.crawlers").fetchone() == (0,)


def test_a_dead_crawls_lease_expires(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO properties.crawlers VALUES ('dead', now() - interval '1 second')")
    pacer = RequestPacer(30.0)
    with SharedRate(lambda: psycopg.connect(database_url), "alive", 30.0, pacer) as shared:
        assert shared.crawlers == 1 and pacer.rate == 30.0

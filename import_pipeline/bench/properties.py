"""`import-pipeline bench properties`: one municipality crawled from the fake API, next to its ideal bound.

The fake API runs in a process of its own on 127.0.0.1 (`import-pipeline fake-property-api`)
with N villas in København (past 10,000 the search must split by zip code), the given
latency and injected error rate. The crawl runs as the assets run it (search results
replaced, then the details phase), against a scratch database (`import_pipeline_bench`).

Printed: properties/s of the whole crawl (search included) and of the details phase alone;
the ideal bound `min(workers / latency, rate limit)` in requests/s and the ratio to it;
requests sent, retries, failures injected by the fake and recovered by the client; missing
addresses (the fake's minus the stored) and duplicated ones (listed or stored twice), which
must both be 0; peak RSS of this process during the crawl; and a raw COPY of the same property rows into an
unindexed table, for scale. The last line is `result: key=value ...`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import requests

from import_pipeline.bench.report import peak_rss_mb, raw_copy_seconds, scratch_database
from import_pipeline.load.properties.details import PROPERTIES, DetailsPhase
from import_pipeline.load.properties.phase import PhaseSettings, run_phase
from import_pipeline.load.properties.search import search_rows
from import_pipeline.postgres.copy import replace_rows
from import_pipeline.records import RowStream
from import_pipeline.sources.properties.client import PropertyApiClient, RetryPolicy
from import_pipeline.sources.properties.documents import PROPERTY_COLUMNS
from import_pipeline.sources.properties.pacing import RequestPacer

MUNICIPALITY = "København"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def fake_api_process(addresses: int, latency_ms: float, error_rate: float, seed: int) -> Iterator[str]:
    """The fake API in a child process with `addresses` villas in København; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "import_pipeline.cli", "fake-property-api", "--port", str(port),
               "--addresses", str(addresses), "--big-municipality", MUNICIPALITY, "--big-count", str(addresses),
               "--latency-ms", str(latency_ms), "--error-rate", str(error_rate), "--seed", str(seed)]
    child = subprocess.Popen(command, env=os.environ, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url + "/_fake/stats", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the fake property API did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        child.terminate()
        child.wait(timeout=30)


def run(server_url: str, *, addresses: int, latency_ms: float, error_rate: float, rate_limit: float | None,
        workers: int | None, seed: int = 1) -> None:
    """Run the benchmark and print its table and `result:` line."""
    with scratch_database(server_url) as url, fake_api_process(addresses, latency_ms, error_rate, seed) as api:
        pacer = RequestPacer(rate_limit)
        policy = RetryPolicy()
        settings = PhaseSettings(workers=workers, progress_seconds=10.0)

        @contextmanager
        def connect() -> Iterator[psycopg.Connection]:
            with psycopg.connect(url) as conn:
                yield conn

        print(f"fake API: {addresses:,} villas in {MUNICIPALITY}, {latency_ms:g} ms latency, "
              f"{error_rate:.0%} errors; rate limit: {rate_limit or 'none'}")
        with PropertyApiClient(api, pool_size=max(settings.max_workers, workers or 0), pacer=pacer,
                               policy=policy) as client:
            started = time.monotonic()
            listed = search_rows(client, MUNICIPALITY, per_page=100, max_failure_ratio=0.0, log=print)
            counted = _CountedRows(listed)
            with connect() as conn:
                replace_rows(conn, "properties.search_results", listed.columns, counted.rows,
                             partition={"municipality": MUNICIPALITY})
            search_seconds = time.monotonic() - started
            result = run_phase(DetailsPhase(MUNICIPALITY), connect=connect, client=client,
                               municipality=MUNICIPALITY, settings=settings, asset="properties/details",
                               run_id="bench", log=print)
            crawl_seconds = time.monotonic() - started
            stats = client.stats.snapshot()
        crawl_rss = peak_rss_mb()
        served = requests.get(api + "/_fake/stats", timeout=30).json()["counts"]
        expected = set(requests.get(api + "/_fake/addresses", params={"municipality": MUNICIPALITY},
                                    timeout=30).json()["addresses"])
        with connect() as conn:
            stored = [r[0] for r in conn.execute("SELECT address_id FROM properties.properties")]
        raw_seconds = raw_copy_seconds(url, create=f"CREATE TABLE raw_properties (LIKE {PROPERTIES})",
                                       target="raw_properties",
                                       source=f"(SELECT {', '.join(PROPERTY_COLUMNS)} FROM {PROPERTIES})")
    injected = sum(v for k, v in served.items() if k.startswith("fault_"))
    missing = len(expected - set(stored))
    duplicated = (len(stored) - len(set(stored))) + counted.duplicates
    latency = latency_ms / 1000
    ideal = min(result.workers / latency if latency > 0 else float("inf"), rate_limit or float("inf"))
    rate = len(stored) / crawl_seconds
    ratio = rate / ideal if ideal != float("inf") else 0.0
    print(f"{'measurement':<38} {'properties':>10} {'seconds':>9} {'per s':>9}")
    print(f"{'crawl (search + details)':<38} {len(stored):>10,} {crawl_seconds:>9.2f} {rate:>9,.1f}")
    print(f"{'  search (' + str(counted.rows_seen) + ' listed)':<38} {'':>10} {search_seconds:>9.2f}")
    print(f"{'  details':<38} {result.fetched:>10,} {result.seconds:>9.2f} {result.documents_per_second:>9,.1f}")
    print(f"{'raw COPY of the same property rows':<38} {len(stored):>10,} {raw_seconds:>9.2f} "
          f"{len(stored) / raw_seconds if raw_seconds else 0:>9,.0f}")
    print(f"ideal bound: min({result.workers} workers / {latency_ms:g} ms, rate limit {rate_limit or 'none'}) = "
          f"{ideal:,.1f} requests/s; ratio {ratio:.2f}")
    print(f"requests {stats.get('requests', 0):,}, retries {stats.get('retries', 0):,}, failures injected "
          f"{injected:,}, recovered {injected - result.failed:,}, failed {result.failed:,}; "
          f"missing {missing}, duplicated {duplicated}; peak RSS of the crawl {crawl_rss:,.0f} MiB")
    print(f"result: properties_per_s={rate:.1f} ideal_ratio={ratio:.2f} missing={missing} duplicated={duplicated} "
          f"requests={stats.get('requests', 0)} retries={stats.get('retries', 0)} workers={result.workers} "
          f"peak_rss_mb={crawl_rss:.0f}")


class _CountedRows:
    """The listed rows passed through, counting how many and how many repeated an address."""

    def __init__(self, stream: RowStream) -> None:
        self.rows_seen = 0
        self.duplicates = 0
        self._seen: set[str] = set()
        self.rows = self._count(stream)

    def _count(self, stream: RowStream) -> Iterator[tuple]:
        for row in stream.rows:
            self.rows_seen += 1
            self.duplicates += row[0] in self._seen
            self._seen.add(row[0])
            yield tuple(row)

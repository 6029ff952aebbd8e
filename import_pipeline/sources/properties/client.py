"""The property API's HTTP client: pooled, paced, with timeouts and retries.

What is retried, and how (tenacity drives the attempts, so that every attempt, retries
included, waits for its turn at the shared `RequestPacer`):

- connection errors, timeouts, 5xx and a body that is not JSON: after an exponential
  backoff with full jitter (a random wait between 0 and `backoff * 2**attempt`, capped);
- 429: after its `Retry-After` (seconds or an HTTP date; urllib3 parses both), or the
  backoff when it has none;
- 403: the whole crawl is slowed down (`RequestPacer.slow_down`) and this request waits at
  least `blocked_pause` before it is tried again;
- 404: `NotFound` at once, never retried; any other 4xx: `ApiError` at once.

A request that still fails after `attempts` tries raises `GaveUp` with the last status
and reason.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
import requests
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader
from urllib3.util import Retry

from import_pipeline.sources.properties.pacing import RequestPacer


class ApiError(Exception):
    """A request that did not give a document: its URL, HTTP status (None: no answer) and why."""

    def __init__(self, url: str, status: int | None, reason: str) -> None:
        super().__init__(f"GET {url}: {f'HTTP {status}, ' if status else ''}{reason}")
        self.url = url
        self.status = status
        self.reason = reason


class NotFound(ApiError):
    """404: the id does not exist (for good; not retried)."""


class GaveUp(ApiError):
    """Every attempt failed with a transient error; the last one is described."""


class _Transient(ApiError):
    """An attempt that may succeed when tried again (`retry_after`: the server's wait, seconds)."""

    def __init__(self, url: str, status: int | None, reason: str, kind: str,
                 retry_after: float | None = None) -> None:
        super().__init__(url, status, reason)
        self.kind = kind
        self.retry_after = retry_after


class _Blocked(_Transient):
    """403: the server is blocking us; slow down before trying again."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per request, backoff (s) and its cap, the pause after a 403,
    and how much and how long a 403 slows the crawl."""

    attempts: int = 8
    backoff: float = 0.2
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    blocked_pause: float = 10.0
    blocked_factor: float = 0.5
    blocked_seconds: float = 60.0


class RequestStats:
    """Counters of a client, safe to update from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._latency = 0.0
        self._answered = 0

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def add_latency(self, seconds: float) -> None:
        """Time one answered request (any status)."""
        with self._lock:
            self._latency += seconds
            self._answered += 1

    def mean_latency(self) -> float | None:
        """The mean time of the answered requests so far, in seconds (None before the first)."""
        with self._lock:
            return self._latency / self._answered if self._answered else None

    def snapshot(self) -> dict[str, int]:
        """The counts so far: `requests`, `retries`, `retries_<kind>` (429, 403, 5xx, connection,
        timeout, bad_body), `not_found`, `gave_up`, `refused`."""
        with self._lock:
            return dict(self._counts)


class RequestSlots:
    """At most `limit` requests in flight at once (None: no limit); the limit may change any time.

    A request holds a slot only while it is on the wire: a thread waiting out a backoff does
    not, so retries do not lower the crawl's concurrency.
    """

    def __init__(self, limit: int | None = None) -> None:
        self._limit = limit
        self._busy = 0
        self._changed = threading.Condition()

    def set_limit(self, limit: int | None) -> None:
        with self._changed:
            self._limit = limit
            self._changed.notify_all()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Wait for a free slot and hold it for the block."""
        with self._changed:
            self._changed.wait_for(lambda: self._limit is None or self._busy < self._limit)
            self._busy += 1
        try:
            yield
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify()


@dataclass(frozen=True)
class SearchPage:
    """One page of `/search/addresses`: the query's total hits and this page's summaries."""

    url: str
    total_hits: int
    addresses: list[dict[str, Any]]


class PropertyApiClient:
    """GETs JSON documents from the property API at `base_url` (see the module for retries).

    Thread-safe: worker threads share one `requests.Session` whose connection pool holds
    `pool_size` connections (a thread waits for a free one rather than opening more), one
    `RequestPacer` and the `slots` that bound the requests in flight (`pool_size` by default).
    """

    def __init__(self, base_url: str, *, pool_size: int, pacer: RequestPacer,
                 timeouts: tuple[float, float] = (5.0, 30.0), policy: RetryPolicy | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.pacer = pacer
        self.policy = policy or RetryPolicy()
        self.stats = RequestStats()
        self.slots = RequestSlots(max(1, pool_size))
        self._timeouts = timeouts
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, pool_size), pool_block=True, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update({"Accept": "application/json", "User-Agent": "import_pipeline"})
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=tenacity.stop_after_attempt(self.policy.attempts),
            wait=self._wait,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        self._jitter = tenacity.wait_random_exponential(multiplier=self.policy.backoff, max=self.policy.backoff_max)

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> PropertyApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The decoded JSON answer of `GET base_url + path`; raises `NotFound`, `ApiError` or `GaveUp`."""
        url = self.base_url + path
        try:
            return self._retrying.copy()(self._attempt, url, params)  # a copy per call, as tenacity's decorator does
        except _Transient as exc:
            self.stats.add("gave_up")
            raise GaveUp(exc.url, exc.status, f"{exc.reason} (after {self.policy.attempts} attempts)") from None

    def search(self, municipality: str, *, page: int, per_page: int, zip_codes: tuple[int, ...] = (),
               ascending: bool = True) -> SearchPage:
        """One page of villas of `municipality` (optionally within `zip_codes`), sorted by address."""
        params: dict[str, Any] = {
            "municipalities": municipality, "addressTypes": "villa", "per_page": per_page, "page": page,
            "sortBy": "address", "sortAscending": "true" if ascending else "false",
        }
        if zip_codes:
            params["zipCodes"] = ",".join(str(z) for z in zip_codes)
        answer = self.get_json("/search/addresses", params)
        url = requests.Request("GET", self.base_url + "/search/addresses", params=params).prepare().url or ""
        if not isinstance(answer, dict) or not isinstance(answer.get("totalHits"), int) \
                or not isinstance(answer.get("addresses", []), list):
            raise ApiError(url, 200, "the answer is not a search result ({totalHits, addresses})")
        return SearchPage(url=url, total_hits=answer["totalHits"], addresses=answer.get("addresses") or [])

    def address(self, address_id: str) -> dict[str, Any]:
        """The address document of `address_id`."""
        return self._document(f"/addresses/{quote(address_id, safe='')}")

    def case(self, case_id: str) -> dict[str, Any]:
        """The case document of `case_id`."""
        return self._document(f"/cases/{quote(case_id, safe='')}")

    def _document(self, path: str) -> dict[str, Any]:
        answer = self.get_json(path)
        if not isinstance(answer, dict):
            raise ApiError(self.base_url + path, 200, f"the answer is a JSON {type(answer).__name__}, not an object")
        return answer

    def _attempt(self, url: str, params: dict[str, Any] | None) -> Any:
        with self.slots.hold():
            self.pacer.acquire()
            self.stats.add("requests")
            started = time.perf_counter()
            try:
                response = self._session.get(url, params=params, timeout=self._timeouts)
                body = response.content
            except requests.Timeout as exc:
                raise _Transient(url, None, f"timed out ({type(exc).__name__})", "timeout") from None
            except requests.RequestException as exc:
                raise _Transient(url, None, f"connection failed ({type(exc).__name__})", "connection") from None
            self.stats.add_latency(time.perf_counter() - started)
        status = response.status_code
        if status == 200:
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise _Transient(url, status, f"the body is not JSON: {exc}", "bad_body") from None
        reason = response.reason or "error"
        if status == 404:
            self.stats.add("not_found")
            raise NotFound(url, status, reason)
        if status == 429:
            raise _Transient(url, status, reason, "429", _retry_after(response.headers.get("Retry-After")))
        if status == 403:
            self.pacer.slow_down(self.policy.blocked_factor, self.policy.blocked_seconds)
            raise _Blocked(url, status, reason, "403")
        if status >= 500:
            raise _Transient(url, status, reason, "5xx")
        self.stats.add("refused")
        raise ApiError(url, status, reason)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        backoff = float(self._jitter(state))
        if isinstance(error, _Blocked):
            return max(self.policy.blocked_pause, backoff)
        if isinstance(error, _Transient) and error.retry_after is not None:
            return min(error.retry_after, self.policy.retry_after_max)
        return backoff

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        self.stats.add("retries")
        if isinstance(error, _Transient):
            self.stats.add(f"retries_{error.kind}")


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds (it may be a number of seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return float(Retry().parse_retry_after(value))
    except InvalidHeader:
        return None

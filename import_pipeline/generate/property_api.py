"""A fake of the property API: a real HTTP server on 127.0.0.1 answering from a `PropertyWorld`.

It behaves like the real one where a crawler can go wrong: at most `max_window` hits of a
query can be paged through (a page past that answers an empty list, silently); the filter is
`zipCodes` (a singular `zipCode` is ignored); answers take `latency_ms` (± `jitter_ms`).
Faults, at random (seeded) or scripted per path:

- `error_rate`: a share of requests answer 500/502/503 or drop the connection unanswered;
- `rate_429`: a share answer 429 with `Retry-After` in seconds or, every other time, as an
  HTTP date (2 s ahead);
- `blocked_every` / `blocked_burst`: after every N requests the next M answer 403;
- `missing_share`: a share of address ids answer 404, always;
- `insert_after` / `insert_count`: after that many search requests, `insert_count` villas
  are inserted at the front of the municipality (and zip codes) being searched (pages shift);
- `script`: for a path, the answers its first requests get, in order: `"ok"`, a status (`"503"`),
  `"429"` (Retry-After: 1), `"429-date"` (an HTTP date 2 s ahead), `"drop"`, `"slow"` (waits `slow_seconds`).

`/_fake/stats` answers the server's counters (requests per path kind and status, the
request times); `/_fake/addresses` every address id (`?municipality=` for one).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from import_pipeline.generate.properties import PropertyWorld

MAX_PER_PAGE = 1000


@dataclass
class FakeApiSettings:
    """How the fake API behaves (see the module); the defaults are a well-behaved, instant API."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    rate_429: float = 0.0
    blocked_every: int = 0
    blocked_burst: int = 0
    missing_share: float = 0.0
    insert_after: int = 0
    insert_count: int = 0
    max_window: int = 10_000
    slow_seconds: float = 2.0
    seed: int = 1
    script: dict[str, list[str]] = field(default_factory=dict)


class FakeApiState:
    """The counters and fault state of one fake server (shared by its handler threads)."""

    def __init__(self, world: PropertyWorld, settings: FakeApiSettings) -> None:
        self.world = world
        self.settings = settings
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.request_times: list[float] = []
        self.paths: Counter[str] = Counter()
        self.rng = random.Random(settings.seed)
        self.searches = 0
        self.inserted = False
        self.blocked_left = 0
        self.answers_429 = 0
        self.missing = {a for a in world.address_ids()
                        if random.Random(f"missing:{a}").random() < settings.missing_share}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"counts": dict(self.counts), "request_times": list(self.request_times),
                    "paths": dict(self.paths)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes: without this, a 40 ms delayed ACK each
    server: _FakeServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        state = self.server.state
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if path.startswith("/_fake/"):
            self._fake_endpoint(path, query)
            return
        kind = path.split("/")[1] if path.count("/") >= 1 else ""
        with state.lock:
            state.request_times.append(time.time())
            state.counts[f"requests_{kind}"] += 1
            state.paths[path] += 1
            seen = state.paths[path]
            fault = self._choose_fault(state, path, seen)
        settings = state.settings
        delay = settings.latency_ms + (random.uniform(-1, 1) * settings.jitter_ms if settings.jitter_ms else 0)
        if delay > 0:
            time.sleep(delay / 1000)
        if fault is not None:
            with state.lock:
                state.counts[f"fault_{fault}"] += 1
            self._fault(fault)
            return
        if path == "/search/addresses":
            self._search(state, query)
        elif kind == "addresses" and path.count("/") == 2:
            self._address(state, path.rsplit("/", 1)[1])
        elif kind == "cases" and path.count("/") == 2:
            self._case(state, path.rsplit("/", 1)[1])
        else:
            self._send(404, {"error": "not found"})

    def _choose_fault(self, state: FakeApiState, path: str, seen: int) -> str | None:
        script = state.settings.script.get(path)
        if script is not None:
            answer = script[seen - 1] if seen <= len(script) else "ok"
            return None if answer == "ok" else answer
        settings = state.settings
        if state.blocked_left > 0:
            state.blocked_left -= 1
            return "403"
        total = sum(v for k, v in state.counts.items() if k.startswith("requests_"))
        if settings.blocked_every and total % settings.blocked_every == 0:
            state.blocked_left = settings.blocked_burst - 1
            return "403"
        draw = state.rng.random()
        if draw < settings.error_rate:
            return state.rng.choice(("500", "502", "503", "drop"))
        if draw < settings.error_rate + settings.rate_429:
            state.answers_429 += 1
            return "429-date" if state.answers_429 % 2 == 0 else "429"
        return None

    def _fault(self, fault: str) -> None:
        if fault == "drop":
            self.close_connection = True
            self.connection.close()
            return
        if fault == "slow":
            time.sleep(self.server.state.settings.slow_seconds)
            self._send(200, {"slow": True})
            return
        if fault == "429":
            self._send(429, {"error": "too many requests"}, {"Retry-After": "1"})
        elif fault == "429-date":
            self._send(429, {"error": "too many requests"}, {"Retry-After": formatdate(time.time() + 2, usegmt=True)})
        else:
            self._send(int(fault), {"error": f"fault {fault}"})

    def _search(self, state: FakeApiState, query: dict[str, str]) -> None:
        settings = state.settings
        try:
            page = int(query.get("page", "1"))
            per_page = int(query.get("per_page", "20"))
        except ValueError:
            self._send(400, {"error": "page and per_page must be integers"})
            return
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            self._send(400, {"error": f"page must be >= 1 and per_page within 1..{MAX_PER_PAGE}"})
            return
        municipality = query.get("municipalities", "")
        with state.lock:
            state.searches += 1
            insert = (settings.insert_count and not state.inserted and state.searches > settings.insert_after)
            state.inserted = state.inserted or bool(insert)
        zips = {int(z) for z in query["zipCodes"].split(",") if z.strip()} if query.get("zipCodes") else None
        if insert:
            state.world.insert(municipality, settings.insert_count, zips)
        hits = state.world.search(municipality, zips, query.get("sortAscending", "true") != "false")
        start = (page - 1) * per_page
        end = min(start + per_page, settings.max_window)
        listed = hits[start:end] if start < settings.max_window else []
        self._send(200, {"totalHits": len(hits), "addresses": [state.world.summary(v) for v in listed]})

    def _address(self, state: FakeApiState, address_id: str) -> None:
        villa = state.world.villa(address_id)
        if villa is None or address_id in state.missing:
            self._send(404, {"error": "address not found"})
        else:
            self._send(200, state.world.address_document(villa))

    def _case(self, state: FakeApiState, case_id: str) -> None:
        villa = state.world.case_villa(case_id)
        if villa is None:
            self._send(404, {"error": "case not found"})
        else:
            self._send(200, state.world.case_document(villa))

    def _fake_endpoint(self, path: str, query: dict[str, str]) -> None:
        state = self.server.state
        if path == "/_fake/stats":
            self._send(200, state.stats())
        elif path == "/_fake/addresses":
            municipality = query.get("municipality")
            ids = [a for a in state.world.address_ids(municipality) if a not in state.missing]
            self._send(200, {"addresses": ids, "missing": sorted(state.missing)})
        else:
            self._send(404, {"error": "not found"})

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    state: FakeApiState


class FakePropertyApi:
    """The fake API served on a thread: `with FakePropertyApi(world, settings) as api: api.url`.

    `port` 0 picks a free port. Leaving the block stops the server.
    """

    def __init__(self, world: PropertyWorld, settings: FakeApiSettings | None = None, *, port: int = 0) -> None:
        self.state = FakeApiState(world, settings or FakeApiSettings())
        self._server = _FakeServer(("127.0.0.1", port), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-property-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def world(self) -> PropertyWorld:
        return self.state.world

    def start(self) -> FakePropertyApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> FakePropertyApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

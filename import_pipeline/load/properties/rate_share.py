"""One rate limit for all crawls running at once, whatever process or machine they run on.

Each crawl holds a lease row in `properties.crawlers`, renewed every `interval` seconds and
expiring `lease_seconds` after the last renewal (so a killed run stops counting within that
time). At each renewal a crawl counts the live leases, n, and paces itself at
`total_rate / n`. When a second run starts, the first slows down at its next renewal: for
at most `interval` seconds the two together may send up to 1.5x the limit.
"""

from __future__ import annotations

import threading
from types import TracebackType

from import_pipeline.postgres.connect import Connect
from import_pipeline.postgres.statements import statement
from import_pipeline.sources.properties.pacing import RequestPacer


class SharedRate:
    """Keeps `pacer` at this run's share of `total_rate` while the block runs (see the module).

    With `total_rate` None (no limit) nothing is shared and no lease is taken.
    """

    def __init__(self, connect: Connect, run_id: str, total_rate: float | None, pacer: RequestPacer, *,
                 interval: float = 2.0, lease_seconds: float = 10.0) -> None:
        self._connect = connect
        self._run_id = run_id
        self._total = total_rate
        self._pacer = pacer
        self._interval = interval
        self._lease = lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shared-rate", daemon=True)
        self.crawlers = 1

    def renew(self) -> int:
        """Renew this run's lease, set the pacer to its share; return how many crawls share the limit."""
        assert self._total is not None
        with self._connect() as conn:
            row = conn.execute(statement("properties", "register_crawler"),
                               {"run_id": self._run_id, "lease_seconds": self._lease}).fetchone()
        self.crawlers = max(int(row[0]) if row else 1, 1)
        self._pacer.set_rate(self._total / self.crawlers)
        return self.crawlers

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.renew()
            except Exception:  # noqa: BLE001 - a missed renewal keeps the last share; the next one retries
                continue

    def __enter__(self) -> SharedRate:
        if self._total is not None:
            self.renew()
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._total is None:
            return
        self._stop.set()
        self._thread.join()
        try:
            with self._connect() as conn:
                conn.execute(statement("properties", "release_crawler"), {"run_id": self._run_id})
        except Exception:  # noqa: BLE001 - an unreleased lease expires by itself
            pass

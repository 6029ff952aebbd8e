"""One request rate shared by every worker thread of a crawl, that a block can slow down."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

#: The slowest a crawl is slowed to after repeated blocking answers, in requests/s.
MIN_RATE = 0.5
#: How far back the observed request rate is measured, in seconds.
OBSERVED_WINDOW = 2.0


class RequestPacer:
    """Spaces requests at most `rate` per second across threads (None: no limit).

    Each `acquire` takes the next free slot, `1 / rate` after the previous one, and sleeps
    until it; there is no burst, so any one-second window at the server sees at most
    `rate + 1` requests. `slow_down` (a 403) multiplies the rate by `factor` for
    `seconds`; blocks while slowed compound, down to `MIN_RATE`. With no limit, a slow-down
    starts from the rate observed over the last `OBSERVED_WINDOW` seconds.
    """

    def __init__(self, rate: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be positive or None, got {rate}")
        self._base_rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._slowed_rate: float | None = None
        self._slowed_until = 0.0
        self._recent: deque[float] = deque()

    @property
    def rate(self) -> float | None:
        """The requests/s in force now (None: unlimited)."""
        with self._lock:
            return self._rate_now(self._clock())

    def _rate_now(self, now: float) -> float | None:
        if self._slowed_rate is not None and now < self._slowed_until:
            return self._slowed_rate
        self._slowed_rate = None
        return self._base_rate

    def set_rate(self, rate: float | None) -> None:
        """Change the limit (a run's share of a limit shared with other runs); a slow-down in
        force stays in force."""
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be positive or None, got {rate}")
        with self._lock:
            self._base_rate = rate

    def acquire(self) -> None:
        """Wait for this thread's turn to send one request."""
        with self._lock:
            now = self._clock()
            rate = self._rate_now(now)
            slot = now if rate is None else max(now, self._next_slot)
            if rate is not None:
                self._next_slot = slot + 1.0 / rate
            self._recent.append(slot)
            while self._recent and self._recent[0] < now - OBSERVED_WINDOW:
                self._recent.popleft()
        if slot > now:
            self._sleep(slot - now)

    def slow_down(self, factor: float, seconds: float) -> float:
        """Multiply the rate by `factor` (0 < factor < 1) for the next `seconds`; return the new rate."""
        with self._lock:
            now = self._clock()
            current = self._rate_now(now)
            if current is None:
                current = max(len(self._recent) / OBSERVED_WINDOW, MIN_RATE / factor)
            self._slowed_rate = max(current * factor, MIN_RATE)
            self._slowed_until = now + seconds
            self._next_slot = max(self._next_slot, now + 1.0 / self._slowed_rate)
            return self._slowed_rate

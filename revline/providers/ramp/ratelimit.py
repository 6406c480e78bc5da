"""Ramp's rate limit, 200 requests per rolling 10 seconds, from both sides of the wire.

The adapter waits for a free slot before each request so that a burst (a month-end sync, a
backlog after downtime) never earns a 429; the simulator refuses requests past the same limit,
as Ramp does. Both count with the same rolling window.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

RAMP_LIMIT = 200
RAMP_WINDOW_SECONDS = 10.0


class RollingWindow:
    """At most ``limit`` grants in any ``window`` seconds (a sliding log, thread-safe)."""

    def __init__(
        self,
        limit: int = RAMP_LIMIT,
        window: float = RAMP_WINDOW_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs a positive limit and window")
        self.limit = limit
        self.window = window
        self._monotonic = monotonic
        self._granted: deque[float] = deque()
        self._lock = threading.Lock()

    def try_acquire(self) -> float:
        """Take a slot now and return 0, or return how many seconds until one frees up."""
        with self._lock:
            now = self._monotonic()
            while self._granted and self._granted[0] <= now - self.window:
                self._granted.popleft()
            if len(self._granted) < self.limit:
                self._granted.append(now)
                return 0.0
            return self._granted[0] + self.window - now


class RateLimiter:
    """Blocks the caller until the rolling window has room.

    ``sleep`` and ``monotonic`` are injectable so that tests run a burst of hundreds of calls
    against a fake clock without waiting.
    """

    def __init__(
        self,
        limit: int = RAMP_LIMIT,
        window: float = RAMP_WINDOW_SECONDS,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = RollingWindow(limit, window, monotonic)
        self._sleep = sleep

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds spent waiting."""
        waited = 0.0
        # Sleep outside the window's lock: other threads keep counting while this one waits.
        while (wait := self._window.try_acquire()) > 0:
            self._sleep(wait)
            waited += wait
        return waited

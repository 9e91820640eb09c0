"""A rolling-window rate limit like Spotify's: at most R Web API requests in any ``window`` seconds.

A request that would be the (R+1)-th in the window is refused with 429 and a ``Retry-After`` of the seconds until
the oldest counted request leaves the window, rounded up. With ``penalty`` on, refused requests count too, as at
Spotify where calling while limited lengthens the wait: the limit then lifts ``window`` seconds after the client
stops hammering, and ``Retry-After`` is the time until enough requests have left the window to admit one more.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]


class RollingWindow:
    """Admits or refuses requests; ``limit=None`` admits everything (thread-safe)."""

    def __init__(self, limit: int | None, window: float, clock: Clock, *, penalty: bool = False) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._times: deque[float] = deque()
        self.limit: int | None = None
        self.window = 30.0
        self.penalty = False
        self.configure(limit, window, penalty=penalty)

    def configure(self, limit: int | None, window: float = 30.0, *, penalty: bool = False) -> None:
        """Change the limit (``None`` turns it off), the window length in seconds and the penalty rule."""
        if limit is not None and limit < 1:
            raise ValueError("rate limit must be at least 1 request per window (or None)")
        if window <= 0:
            raise ValueError("rate window must be positive")
        with self._lock:
            self.limit, self.window, self.penalty = limit, float(window), penalty

    def admit(self) -> int | None:
        """``None`` when the request may go ahead (and is counted), else the ``Retry-After`` seconds."""
        if self.limit is None:
            return None
        with self._lock:
            limit = self.limit
            if limit is None:
                return None
            now = self._clock()
            times = self._times
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) < limit:
                times.append(now)
                return None
            if self.penalty:
                times.append(now)
            # The window admits again once all but limit-1 of the counted requests have left it.
            leaving = times[len(times) - limit]
            return max(0, math.ceil(leaving + self.window - now))

    def reset(self) -> None:
        """Forget every counted request."""
        with self._lock:
            self._times.clear()

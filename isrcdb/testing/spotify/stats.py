"""What the replica has seen: requests per route and per ISRC, tokens, statuses, concurrency (thread-safe).

Counted are the requests to the token endpoint and the Web API (``/_replica`` control requests are not). A request
counts on arrival, whatever its outcome, so a search retried after a 429 counts twice. ``statuses`` keys are the
status codes as strings, plus ``"dropped"`` for connections closed without a response (``drop``, ``hang``, and
requests cut short by the replica stopping).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from isrcdb.testing.spotify.webapi import ROUTES


class Stats:
    """Counters, read with :meth:`snapshot`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.in_flight = 0
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.requests: Counter[str] = Counter()
        self.searches_by_isrc: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.tokens_issued = 0
        self.rate_limited = 0
        self.faults_served = 0
        self.peak_in_flight = self.in_flight
        self.first_search: float | None = None
        self.last_search: float | None = None

    def begin(self, route: str, isrc: str | None) -> None:
        """A request on ``route`` (about ``isrc``, for searches) has arrived."""
        with self._lock:
            self.requests[route] += 1
            if route == "search":
                if isrc is not None:
                    self.searches_by_isrc[isrc] += 1
                self.last_search = time.monotonic()
                if self.first_search is None:
                    self.first_search = self.last_search
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def end(self, outcome: str) -> None:
        """The request got a response with this status (``"200"``...) or was ``"dropped"``."""
        with self._lock:
            self.statuses[outcome] += 1
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.notify_all()

    def count_token(self) -> None:
        """A token was issued."""
        with self._lock:
            self.tokens_issued += 1

    def count_rate_limited(self) -> None:
        """The rolling window refused a request."""
        with self._lock:
            self.rate_limited += 1

    def count_fault(self) -> None:
        """A scripted fault was applied."""
        with self._lock:
            self.faults_served += 1

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; ``False`` if some still are after ``timeout`` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self.in_flight == 0, timeout)

    def reset(self) -> None:
        """Zero the counters (requests in flight stay in flight; the peak restarts from them)."""
        with self._lock:
            self._reset_counters()

    def snapshot(self) -> dict[str, Any]:
        """All counters as JSON-ready data."""
        with self._lock:
            return {
                "requests": {route: self.requests[route] for route in ROUTES},
                "searches_by_isrc": dict(sorted(self.searches_by_isrc.items())),
                "tokens_issued": self.tokens_issued,
                "statuses": dict(sorted(self.statuses.items())),
                "responses_429": self.statuses["429"],
                "rate_limited": self.rate_limited,
                "faults_served": self.faults_served,
                "peak_in_flight": self.peak_in_flight,
                "in_flight": self.in_flight,
                # Seconds from the first search's arrival to the last's: a client's pace as the server saw it.
                "search_span_s": None
                if self.first_search is None or self.last_search is None
                else self.last_search - self.first_search,
            }

    def search_count(self, isrc: str) -> int:
        """How many searches for this (normalised) ISRC arrived."""
        with self._lock:
            return self.searches_by_isrc[isrc]

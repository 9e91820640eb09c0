"""Access tokens: issued by the token endpoint, checked on every Web API request, revocable."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

Clock = Callable[[], float]


class TokenStore:
    """Issued bearer tokens and when each expires, on a monotonic clock (seconds)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, expires_in: float) -> str:
        """A new token valid for ``expires_in`` seconds from now."""
        token = "BQ" + secrets.token_urlsafe(84)
        with self._lock:
            now = self._clock()
            # Forget expired tokens now and then, so a long benchmark does not accumulate them.
            if len(self._expiry) > 1000:
                self._expiry = {key: until for key, until in self._expiry.items() if until > now}
            self._expiry[token] = now + expires_in
        return token

    def is_valid(self, token: str) -> bool:
        """Whether ``token`` was issued, is not revoked and has not expired."""
        with self._lock:
            until = self._expiry.get(token)
            return until is not None and self._clock() < until

    def revoke_all(self) -> int:
        """Invalidate every token issued so far; returns how many were still valid."""
        with self._lock:
            now = self._clock()
            alive = sum(1 for until in self._expiry.values() if until > now)
            self._expiry.clear()
            return alive

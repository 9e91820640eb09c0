"""HTTP transport to Spotify: pooled connections, timeouts, and the retry rules.

The rules are small pure functions (:func:`should_retry`, :func:`backoff_delay`, :func:`retry_after_seconds`) so
that they can be tested as a table. 5xx answers, dropped connections and timeouts are retried a few times with
exponential backoff and jitter. A 429 is never retried here and never slept through: it is raised as
:class:`~isrcdb.errors.RateLimited` carrying ``retry_after``, so the caller decides whether to wait (bounded) or
stop and come back later. urllib3's own retries are off, because they honour ``Retry-After`` for hours.

Nothing here logs headers: the ``Authorization`` header holds a secret.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from isrcdb import __version__
from isrcdb.errors import BadResponse, RateLimited, SpotifyError, TransientError

log = logging.getLogger("isrcdb.spotify")

RETRY_STATUSES = frozenset({500, 502, 503, 504})
DEFAULT_ATTEMPTS = 4
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 366 * 86400.0
"""The longest ``Retry-After`` believed, in seconds: an absurd one is read as this, so the time to come back stays a
date that can be computed and stored."""


def should_retry(status: int | None, attempt: int, max_attempts: int = DEFAULT_ATTEMPTS) -> bool:
    """Whether to try again after ``attempt`` (1-based) ended with ``status`` (``None``: no answer at all)."""
    if attempt >= max_attempts:
        return False
    return status is None or status in RETRY_STATUSES


def backoff_delay(attempt: int, jitter: Callable[[], float] = random.random) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential from 0.25 s, capped, with full jitter on half."""
    base: float = min(MAX_BACKOFF, 0.25 * float(2 ** max(attempt - 1, 0)))
    return base / 2 + base / 2 * jitter()


def retry_after_seconds(value: str | None, now: float | None = None, default: float = 1.0) -> float:
    """``Retry-After`` in seconds: a number, or an HTTP date; missing or unreadable means ``default``."""
    if value is None or not value.strip():
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return default
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def error_message(payload: Any) -> tuple[str | None, str | None]:
    """``(message, reason)`` from a Web API error body ``{"error": {...}}``, or a token error ``{"error": "..."}``."""
    if not isinstance(payload, dict):
        return None, None
    error = payload.get("error")
    if isinstance(error, dict):
        message, reason = error.get("message"), error.get("reason")
        return (message if isinstance(message, str) else None, reason if isinstance(reason, str) else None)
    if isinstance(error, str):
        description = payload.get("error_description")
        return (f"{error}: {description}" if isinstance(description, str) else error), error
    return None, None


@dataclass(frozen=True)
class Response:
    status: int
    payload: Any
    headers: Mapping[str, str]


class Transport:
    """A pooled HTTP session with timeouts and the retry rules above."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        pool_size: int = 4,
        max_attempts: int = DEFAULT_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.jitter = jitter
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies or .netrc credentials picked up from the environment
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(pool_size, 1), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"isrcdb/{__version__}"
        self.requests_made = 0

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        """Send a request, retrying transient failures; return any answer that is not 429, 5xx or unreadable."""
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            cut_short = False
            try:
                started = time.monotonic()
                self.requests_made += 1
                raw = self.session.request(
                    method, url, params=params, headers=headers, data=data, auth=auth, timeout=self.timeout
                )
                status = raw.status_code
                log.debug("%s %s -> %s in %.0f ms", method, raw.url, status, (time.monotonic() - started) * 1000)
            except requests.ConnectTimeout:
                failure = f"cannot connect to Spotify at {url} within {self.timeout[0]:g} s"
            except requests.Timeout:
                failure = f"Spotify did not answer within {self.timeout[1]:g} s ({url})"
            except requests.ConnectionError as exc:
                failure = f"cannot connect to Spotify at {url}: {_reason(exc)}"
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
                # The connection broke in the middle of the answer: retried like a dropped connection, but if it
                # keeps happening it is this request's problem (BadResponse, per code), not a network outage.
                cut_short = True
                failure = f"Spotify's answer was cut short ({url}): {_reason(exc)}"
            except requests.RequestException as exc:
                raise SpotifyError(f"request to {url} failed: {_reason(exc)}") from None
            else:
                if status == 429:
                    payload = _json_or_none(raw)
                    _, reason = error_message(payload)
                    raise RateLimited(
                        retry_after_seconds(raw.headers.get("Retry-After")), quota=reason == "QUOTA_EXCEEDED"
                    )
                if status not in RETRY_STATUSES:
                    try:
                        payload = raw.json()
                    except (json.JSONDecodeError, ValueError, RecursionError):  # RecursionError: absurdly nested
                        if status == 200:
                            raise BadResponse(f"Spotify sent unreadable JSON ({url})", status=status) from None
                        payload = None
                    return Response(status, payload, raw.headers)
                failure = f"Spotify answered {status} ({url})"
            if not should_retry(status, attempt, self.max_attempts):
                if cut_short:
                    raise BadResponse(f"{failure}; gave up after {attempt} attempts")
                raise TransientError(f"{failure}; gave up after {attempt} attempts", status=status)
            delay = backoff_delay(attempt, self.jitter)
            log.info("%s; retrying in %.2f s", failure, delay)
            self.sleep(delay)


def _json_or_none(raw: requests.Response) -> Any:
    try:
        return raw.json()
    except (ValueError, RecursionError):
        return None


def _reason(exc: Exception) -> str:
    """The innermost reason of a requests/urllib3 error, without the long wrapper text."""
    inner: BaseException = exc
    while True:
        nxt = getattr(inner, "reason", None) or inner.__cause__ or inner.__context__
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    text = str(inner)
    return text.split("] ", 1)[-1] if "] " in text else text

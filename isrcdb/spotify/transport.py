"""HTTP transport to Spotify: pooled connections, timeouts, and the retry rules.

The rules are small pure functions (:func:`should_retry`, :func:`backoff_delay`, :func:`retry_after_seconds`) so
that they can be tested as a table. 5xx answers, dropped connections and timeouts are retried a few times with
exponential backoff and jitter. A 429 is never retried here and never slept through: it is raised as
:class:`~isrcdb.errors.RateLimited` carrying ``retry_after``, so the caller decides whether to wait (bounded) or
stop and come back later. urllib3's own retries are off, because they honour ``Retry-After`` for hours.

Nothing a server sends is trusted to end by itself. Each request has a deadline for the whole exchange, headers and
body (the read timeout bounds only each wait for the next byte, which a server sending a byte a second never
trips); each answer has a maximum size once decoded, checked as it is decompressed (a gzip bomb is refused after
:data:`MAX_BODY_BYTES`, not expanded in memory); a redirect is never followed (the next host would get the request,
and its page would be taken for Spotify's). Each of these is a :class:`~isrcdb.errors.BadResponse`: an error for
that code, never an answer that gets stored.

Nothing here logs headers: the ``Authorization`` header holds a secret.

Proxies and certificates are taken from the environment as curl and requests take them: ``HTTPS_PROXY`` and
``HTTP_PROXY`` (or ``ALL_PROXY``), except for the hosts in ``NO_PROXY``, and the CA bundle named by
``REQUESTS_CA_BUNDLE`` or ``SSL_CERT_FILE``. requests' own reading of the environment stays off
(``trust_env=False``), because it would also read ``~/.netrc`` and put a password found there on requests to
Spotify: the variables above are read here instead, for each request, and nothing else is.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import json
import logging
import math
import os
import random
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies, select_proxy
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from isrcdb import __version__
from isrcdb.errors import BadResponse, ConfigError, RateLimited, SpotifyError, TransientError

log = logging.getLogger("isrcdb.spotify")

RETRY_STATUSES = frozenset({500, 502, 503, 504})
DEFAULT_ATTEMPTS = 4
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 366 * 86400.0
"""The longest ``Retry-After`` believed, in seconds: an absurd one is read as this, so the time to come back stays a
date that can be computed and stored."""
DEFAULT_DEADLINE = 60.0
"""Seconds one request may take from connecting to the last byte of the answer (``ISRCDB_REQUEST_DEADLINE``)."""
MAX_BODY_BYTES = 8 * 1024 * 1024
"""The largest answer read, once decoded: a page of search results is under 100 KB, so this leaves eighty times that
as headroom, and anything larger is not an answer from Spotify."""
READ_CHUNK = 16 * 1024
ACCEPT_ENCODING = "gzip, deflate"
"""The only encodings asked for, so the only ones decoded (here, with the size limit applied as they expand)."""
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
"""The variables naming a file of trusted certificates, the first one set winning (as in requests, then OpenSSL)."""


PROXY_VARIABLES = tuple(
    case(name) for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy") for case in (str.lower, str.upper)
)


def environment_proxies(url: str) -> dict[str, str]:
    """The proxies the environment asks for on a request to ``url`` (none when ``NO_PROXY`` names its host).

    Only the proxy variables are read: never ``~/.netrc``, which requests would read along with them.
    """
    parts = urlsplit(url)
    # Worked out once per host and value of the variables: requests' own reading costs a tenth of a millisecond,
    # which every request would pay, between taking its turn from the rate budget and being sent.
    return dict(_proxies_for(f"{parts.scheme}://{parts.netloc}/", tuple(map(os.environ.get, PROXY_VARIABLES))))


@functools.lru_cache(maxsize=64)
def _proxies_for(origin: str, variables: tuple[str | None, ...]) -> tuple[tuple[str, str], ...]:
    """The proxies for ``origin``; ``variables`` (the proxy variables' values) only keys the cache."""
    return tuple(sorted(get_environ_proxies(origin).items()))


def environment_ca_bundle(environ: Mapping[str, str] | None = None) -> str | bool:
    """The CA bundle the environment names (``REQUESTS_CA_BUNDLE``, then ``SSL_CERT_FILE``), or ``True``: the
    default bundle."""
    env = os.environ if environ is None else environ
    for name in CA_BUNDLE_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            if not os.path.exists(value):  # requests would raise a bare OSError deep inside the request
                raise ConfigError(f"{name} names {value}, which does not exist: name a file of CA certificates")
            return value
    return True


def _without_credentials(proxy: str) -> str:
    """A proxy URL as it may be shown: ``scheme://host:port``, without a user or password."""
    parts = urllib3.util.parse_url(proxy if "://" in proxy else f"http://{proxy}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.host}{port}"


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


def attempt_timeouts(connect: float, read: float, deadline: float) -> tuple[float, float]:
    """The socket timeouts of one attempt: the connect and read timeouts, neither longer than the whole deadline."""
    return min(connect, deadline), min(read, deadline)


class BodyDecoder:
    """Decodes an answer's body as it arrives (``gzip``, ``deflate`` or none) and refuses it past ``limit`` bytes.

    Decompression is asked for at most one byte more than the room left, so a bomb costs ``limit`` bytes of memory
    at most, whatever its ratio. The raw bytes are held to the same limit.
    """

    def __init__(self, encoding: str | None, *, limit: int = MAX_BODY_BYTES, what: str = "Spotify's answer") -> None:
        self.encoding = (encoding or "identity").strip().lower()
        if self.encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            # Shown with repr: the header is the server's text and may hold control characters.
            raise BadResponse(f"{what} is in an encoding that was not asked for ({self.encoding[:40]!r})")
        self.limit = limit
        self.what = what
        self.size = 0
        self.raw_size = 0
        self._parts: list[bytes] = []
        self._pending = b""
        self._inflater: Any = None
        if self.encoding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        """Take the next raw bytes of the body."""
        self.raw_size += len(data)
        if self.raw_size > self.limit:
            self._too_large()
        if self.encoding == "identity":
            self._accept(data)
            return
        if self._inflater is None:  # deflate: zlib-wrapped as the standard says, or raw as some servers send it
            self._pending += data
            if len(self._pending) < 2:
                return
            data, self._pending = self._pending, b""
            wrapped = data[0] & 0x0F == 8 and int.from_bytes(data[:2], "big") % 31 == 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        self._inflate(data)

    def finish(self) -> bytes:
        """The whole decoded body."""
        if self._pending:  # a deflate body of a single byte
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            self._inflate(self._pending)
        if self._inflater is not None:
            try:
                self._accept(self._inflater.flush())
            except zlib.error:
                raise BadResponse(f"{self.what} could not be decompressed ({self.encoding})") from None
        return b"".join(self._parts)

    def _inflate(self, data: bytes) -> None:
        try:
            while data:
                out = self._inflater.decompress(data, self.limit - self.size + 1)
                self._accept(out)
                rest = self._inflater.unconsumed_tail
                if self._inflater.eof:
                    rest = self._inflater.unused_data
                    if rest and self.encoding != "deflate":  # another gzip member follows
                        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    else:
                        return  # bytes after the end of a deflate stream are ignored, as urllib3 ignores them
                if not out and rest == data:
                    return
                data = rest
        except zlib.error:
            raise BadResponse(f"{self.what} could not be decompressed ({self.encoding})") from None

    def _accept(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            self._too_large()
        if data:
            self._parts.append(data)

    def _too_large(self) -> None:
        self._parts.clear()
        size = f"{self.limit // 2**20} MiB" if self.limit % 2**20 == 0 else f"{self.limit:,} bytes"
        raise BadResponse(f"{self.what} is larger than {size}; it was not read further")


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


# --- the deadline of each request ---------------------------------------------------------------------------------


class _Watch:
    """One attempt's deadline, and the connection it uses once it has one."""

    __slots__ = ("connection", "deadline", "done", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connection: Any = None
        self.done = False
        self.expired = False


class _Watchdog:
    """One thread that shuts down the socket of every attempt still running at its deadline.

    Shutting the socket down makes a blocked read return at once, in whatever layer (http.client, urllib3, TLS)
    it waits, and whether it waits for headers or body; the attempt then sees that its deadline passed.
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a forked child has no watchdog thread: it starts its own

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def start(self, seconds: float) -> _Watch:
        watch = _Watch(time.monotonic() + seconds)
        with self._cond:
            while self._heap and self._heap[0][2].done:  # the attempts that ended, dropped here, not by the thread
                heapq.heappop(self._heap)
            heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="isrcdb-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][2] is watch:
                # The thread sleeps until the earliest deadline: it need only be woken for an earlier one (not for
                # each request, which would cost a thread switch per request).
                self._cond.notify()
        return watch

    def attach(self, watch: _Watch, connection: Any) -> None:
        with self._cond:
            watch.connection = connection
            # A pooled connection serves one attempt after another: only its current attempt may shut it down.
            connection.isrcdb_watch = watch

    def sent(self, watch: _Watch) -> None:
        """The request is sent: if the deadline passed while the connection was still being made (no socket to
        shut down then), shut it down now, before the answer is waited for."""
        with self._cond:
            if watch.expired and not watch.done:
                _shut_down(watch)

    def stop(self, watch: _Watch) -> None:
        with self._cond:
            watch.done = True
            watch.connection = None

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                    _, _, watch = heapq.heappop(self._heap)
                    if not watch.done:
                        watch.expired = True
                        _shut_down(watch)
                self._cond.wait(self._heap[0][0] - now if self._heap else None)


def _shut_down(watch: _Watch) -> None:
    connection = watch.connection
    sock = getattr(connection, "sock", None)
    if sock is not None and getattr(connection, "isrcdb_watch", None) is watch:
        with contextlib.suppress(OSError):
            # The plain socket's shutdown, also under TLS: the SSL object stays whole for the thread reading it.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


_WATCHDOG = _Watchdog()
_current = threading.local()
"""The watch of the attempt this thread is making, for the connection it sends the request on; and what to call
once a request has left (:func:`when_sent`)."""


@contextlib.contextmanager
def when_sent(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` each time a request this thread makes inside has just been sent (written to its socket):
    a rate limit counts a request from when it arrives, which is later than when it was allowed to go."""
    previous = getattr(_current, "sent", None)
    _current.sent = callback
    try:
        yield
    finally:
        _current.sent = previous


def _watched(base: type[Any]) -> type[Any]:
    class Watched(base):  # type: ignore[misc]
        isrcdb_watch: _Watch | None = None

        def request(self, *args: Any, **kwargs: Any) -> None:
            watch = getattr(_current, "watch", None)
            if watch is not None:
                _WATCHDOG.attach(watch, self)
            super().request(*args, **kwargs)
            if watch is not None:
                _WATCHDOG.sent(watch)
            sent = getattr(_current, "sent", None)
            if sent is not None:
                sent()

    Watched.__name__ = Watched.__qualname__ = f"Watched{base.__name__}"
    return Watched


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _watched(urllib3.connection.HTTPConnection)


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _watched(urllib3.connection.HTTPSConnection)


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter, with connections that tell the watchdog which socket an attempt uses (direct, or through
    an HTTP proxy)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # a SOCKS manager has connection classes of its own
            manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
        return manager


def prepared_get_url(url: str, params: Mapping[str, str | int] | None) -> str:
    """The URL requests would send for a GET of ``url`` (without a query of its own) with ``params``."""
    return f"{_prepared_url(url)}?{urlencode(params)}" if params else _prepared_url(url)


@functools.lru_cache(maxsize=64)
def _prepared_url(url: str) -> str:
    prepared = requests.Request("GET", url).prepare().url
    assert prepared is not None
    return prepared


class _DeadlinePassed(Exception):
    pass


class Transport:
    """A pooled HTTP session with timeouts, a deadline and a size limit on each answer, and the retry rules above."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        deadline: float = DEFAULT_DEADLINE,
        max_body: int = MAX_BODY_BYTES,
        pool_size: int = 4,
        max_attempts: int = DEFAULT_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.deadline = deadline
        self.max_body = max_body
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.jitter = jitter
        self.session = requests.Session()
        # requests' reading of the environment would add ~/.netrc credentials; proxies and the CA bundle are read
        # by _attempt instead (see the module docstring).
        self.session.trust_env = False
        adapter = _WatchedAdapter(pool_connections=2, pool_maxsize=max(pool_size, 1), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"isrcdb/{__version__}"
        self.session.headers["Accept-Encoding"] = ACCEPT_ENCODING
        self.requests_made = 0
        self._count_lock = threading.Lock()  # the session is shared by threads; the count must not lose any

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
        """Send a request, retrying transient failures; return any answer that is not 3xx, 429, 5xx or unreadable."""
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            cut_short = False
            try:
                raw = self._attempt(method, url, params=params, headers=headers, data=data, auth=auth)
                status = raw.status_code
            except _DeadlinePassed:
                # Not retried: a server this slow would hold the run for several deadlines, not one.
                raise BadResponse(
                    f"Spotify's answer did not come whole within the {self.deadline:g} s deadline ({url})"
                ) from None
            except requests.exceptions.ProxyError as exc:
                proxy = select_proxy(url, environment_proxies(url)) or "?"
                shown = _without_credentials(proxy)
                failure = f"cannot reach Spotify at {url} through the proxy {shown}: {_reason(exc)}"
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
                if 300 <= status < 400:
                    # Never followed: the request (credentials, token) would go to whatever host the answer names,
                    # and that host's page would be taken for Spotify's.
                    raise BadResponse(
                        f"Spotify answered {status}, a redirect, which is not followed ({url})", status=status
                    )
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

    def _attempt(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        """One request and its whole answer, read within the deadline and the size limit.

        The request is prepared here and handed to the session's adapter for its URL (the connection pool, or one
        mounted in its place) directly: what requests' Session adds on the way (merging cookies, hooks and
        settings, none of which a Spotify request uses) cost as much CPU as the rest of the request, and a sync
        sends hundreds a second.
        """
        merged = {**self.session.headers, **(headers or {})}
        if method == "GET" and data is None and auth is None and "?" not in url and "#" not in url:
            # A search: requests' own preparation of the URL (parsing, IDNA, requoting) is done once per base URL,
            # and the parameters are encoded as it would encode them. The same bytes go out.
            prepared = requests.PreparedRequest()
            prepared.method = method
            prepared.url = prepared_get_url(url, params)
            prepared.headers = CaseInsensitiveDict(merged)  # type: ignore[arg-type]  # as requests merges them
        else:
            prepared = requests.Request(method, url, params=params, data=data, auth=auth, headers=merged).prepare()
        watch = _WATCHDOG.start(self.deadline)
        _current.watch = watch
        raw: requests.Response | None = None
        try:
            started = time.monotonic()
            with self._count_lock:
                self.requests_made += 1
            raw = self.session.get_adapter(prepared.url or url).send(
                prepared,
                stream=True,
                timeout=attempt_timeouts(*self.timeout, self.deadline),
                verify=environment_ca_bundle(),
                proxies=environment_proxies(url),
            )
            self._read_body(raw, url, watch)
            if watch.expired:  # cut off while the headers came: what was read looks whole and is not
                raise _DeadlinePassed
            log.debug("%s %s -> %s in %.0f ms", method, raw.url, raw.status_code, (time.monotonic() - started) * 1000)
            return raw
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
            # The watchdog shut the socket down: whatever the read saw (a reset, a short answer), the cause is this.
            if watch.expired or time.monotonic() >= watch.deadline:
                raise _DeadlinePassed from None
            raise
        finally:
            _current.watch = None
            _WATCHDOG.stop(watch)
            if raw is not None:
                raw.close()  # gives a whole answer's connection back to the pool, and drops any other

    def _read_body(self, raw: requests.Response, url: str, watch: _Watch) -> None:
        decoder = BodyDecoder(
            raw.headers.get("Content-Encoding"), limit=self.max_body, what=f"Spotify's answer ({url})"
        )
        try:
            while chunk := raw.raw.read(READ_CHUNK, decode_content=False):
                decoder.feed(chunk)
                if time.monotonic() >= watch.deadline:
                    raise _DeadlinePassed
        # As requests turns them when it reads a body itself, so that they are told apart the same way.
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.ReadTimeout(exc) from exc
        except urllib3.exceptions.ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise requests.ConnectionError(exc) from exc
        # Handed to requests as if it had read the body itself, so that .json() decodes it exactly as before.
        raw._content = decoder.finish()
        raw._content_consumed = True  # type: ignore[attr-defined]


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

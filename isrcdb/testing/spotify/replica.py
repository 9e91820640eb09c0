"""``SpotifyReplica``: Spotify's accounts service and Web API, served locally from a thread.

Every request goes through the same steps, in this order:

1. the fixed added latency (``latency`` seconds), if any;
2. the first pending scripted fault that matches the request (see :mod:`isrcdb.testing.spotify.faults`);
3. for ``/v1`` requests, the rolling-window rate limit (see :mod:`isrcdb.testing.spotify.ratelimit`);
4. the route itself: the token endpoint, or the bearer check and then search / track / several tracks.

``/_replica/...`` control requests (see :mod:`isrcdb.testing.spotify.control`) skip all of this and are not counted.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from isrcdb.testing.spotify.accounts import Accounts
from isrcdb.testing.spotify.catalogue import Catalogue
from isrcdb.testing.spotify.control import handle_control
from isrcdb.testing.spotify.faults import Fault, FaultQueue
from isrcdb.testing.spotify.ids import normalise_isrc
from isrcdb.testing.spotify.profiles import Profile, get_profile
from isrcdb.testing.spotify.ratelimit import RollingWindow
from isrcdb.testing.spotify.responses import Response, api_error, rate_limited
from isrcdb.testing.spotify.server import Action, Drop, Exchange, Hang, ReplicaHTTPServer, Truncate
from isrcdb.testing.spotify.stats import Stats
from isrcdb.testing.spotify.synthetic import DEFAULT_PREFIXES, SyntheticCatalogue
from isrcdb.testing.spotify.tokens import TokenStore
from isrcdb.testing.spotify.webapi import ROUTE_OTHER, ROUTE_TOKEN, ApiRequest, WebApi, classify

DEFAULT_CLIENT_ID = "test-client-id"
DEFAULT_CLIENT_SECRET = "test-client-secret"  # noqa: S105 - a fixed test credential, not a secret


@dataclass(frozen=True)
class _Tag:
    route: str
    isrc: str | None


class SpotifyReplica:
    """A local Spotify (token endpoint and Web API) for tests, benchmarks and trying isrcdb out.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`); it serves from a background thread
    on ``host:port`` (port 0 picks a free port).

    - ``catalogue``: the stored tracks (default :meth:`Catalogue.sample`);
    - ``client_id``/``client_secret``: the only credentials the token endpoint accepts;
    - ``profile``: ``"development"`` (2026 rules, the default) or ``"extended"`` (see :mod:`~.profiles`);
    - ``synthetic_prefixes``/``synthetic_not_found``: codes answered by :mod:`~.synthetic` (``()`` for none;
      ``True`` or a fraction from 0 to 1 for codes without releases);
    - ``token_expires_in``: token lifetime in seconds;
    - ``latency``, ``rate_limit``/``rate_window``/``rate_penalty``: see :meth:`set_latency`, :meth:`set_rate_limit`;
    - ``clock``: monotonic seconds for token expiry and the rate window, so tests can move time without sleeping;
    - ``access_log``: called with one line per request (e.g. to print on stderr), or ``None``.
    """

    def __init__(
        self,
        catalogue: Catalogue | None = None,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        profile: str = "development",
        synthetic_prefixes: Iterable[str] = DEFAULT_PREFIXES,
        synthetic_not_found: bool | float = False,
        token_expires_in: int = 3600,
        latency: float = 0.0,
        rate_limit: int | None = None,
        rate_window: float = 30.0,
        rate_penalty: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        access_log: Callable[[str], None] | None = None,
    ) -> None:
        if token_expires_in < 0:
            raise ValueError("token_expires_in cannot be negative")
        self.catalogue = Catalogue.sample() if catalogue is None else catalogue
        self.profile: Profile = get_profile(profile)
        self.client_id = client_id
        self.client_secret = client_secret
        self.synthetic = SyntheticCatalogue(synthetic_prefixes, not_found=synthetic_not_found)
        self.host = host
        self.access_log = access_log
        self.stopping = threading.Event()
        self._requested_port = port
        self._tokens = TokenStore(clock)
        self._accounts = Accounts(client_id, client_secret, self._tokens, token_expires_in)
        self._api = WebApi(self.catalogue, self.synthetic, self.profile, self._tokens)
        self._faults = FaultQueue()
        self._window = RollingWindow(rate_limit, rate_window, clock, penalty=rate_penalty)
        self._stats = Stats()
        self._latency = 0.0
        self.set_latency(latency)
        self._server: ReplicaHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bound_port: int | None = None

    # -- life cycle -------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the port and serve from a daemon thread; returns at once, ready for requests."""
        if self._server is not None:
            raise RuntimeError("the replica is already running")
        self.stopping = threading.Event()
        server = ReplicaHTTPServer((self.host, self._requested_port), self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"spotify-replica:{server.server_port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        self._bound_port = server.server_port
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: release hanging requests, close every connection, free the port."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._stats.wait_idle(timeout=2)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the replica is serving."""
        return self._server is not None

    # -- where it is ------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on (known once started; still answered after stop)."""
        if self._bound_port is None:
            raise RuntimeError("the replica has not been started: call start() or use it as a context manager")
        return self._bound_port

    @property
    def root_url(self) -> str:
        """``http://HOST:PORT`` (``127.0.0.1`` when listening on every address)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104 - compared, not bound
        return f"http://{host}:{self.port}"

    @property
    def token_url(self) -> str:
        """The token endpoint, ``<root>/api/token``."""
        return f"{self.root_url}/api/token"

    @property
    def api_url(self) -> str:
        """The Web API base, ``<root>/v1``."""
        return f"{self.root_url}/v1"

    def env(self) -> dict[str, str]:
        """Environment variables that point isrcdb at this replica, with its credentials."""
        return {
            "SPOTIFY_CLIENT_ID": self.client_id,
            "SPOTIFY_CLIENT_SECRET": self.client_secret,
            "ISRCDB_SPOTIFY_API_URL": self.api_url,
            "ISRCDB_SPOTIFY_TOKEN_URL": self.token_url,
        }

    # -- scripting --------------------------------------------------------------------------------------------

    def inject(
        self,
        kind: str,
        count: int = 1,
        *,
        route: str | None = None,
        isrc: str | None = None,
        retry_after: int | None = None,
        delay: float | None = None,
        status: int | None = None,
    ) -> Fault:
        """Answer the next ``count`` matching requests with a fault (kinds in :mod:`~.faults`)."""
        fault = Fault(str(kind), count, route, isrc, retry_after, delay, status)
        self.add_fault(fault)
        return fault

    def add_fault(self, fault: Fault) -> None:
        """Queue an already built :class:`Fault` (e.g. from :func:`~.faults.parse_fault_spec`)."""
        self._faults.add(fault)

    def pending_faults(self) -> list[Fault]:
        """Faults not yet used up."""
        return self._faults.pending()

    def clear_faults(self) -> None:
        """Forget every pending fault."""
        self._faults.clear()

    def revoke_tokens(self) -> int:
        """Invalidate every token issued so far (the next API call gets 401); returns how many were valid."""
        return self._tokens.revoke_all()

    def issue_token(self) -> str:
        """A valid access token, as the token endpoint would issue (counted in ``tokens_issued``)."""
        self._stats.count_token()
        return self._tokens.issue(self._accounts.expires_in)

    @property
    def latency(self) -> float:
        """Seconds added to every request."""
        return self._latency

    def set_latency(self, seconds: float) -> None:
        """Add this many seconds to every request from now on (0 for none)."""
        if seconds < 0 or math.isnan(seconds):
            raise ValueError("latency cannot be negative")
        self._latency = float(seconds)

    def set_rate_limit(self, limit: int | None, window: float = 30.0, *, penalty: bool = False) -> None:
        """Allow ``limit`` Web API requests per rolling ``window`` seconds (``None``: no limit)."""
        self._window.configure(limit, window, penalty=penalty)
        self._window.reset()

    def config(self) -> dict[str, Any]:
        """The current settings, as JSON-ready data."""
        return {
            "profile": self.profile.name,
            "client_id": self.client_id,
            "token_expires_in": self._accounts.expires_in,
            "synthetic_prefixes": list(self.synthetic.prefixes),
            "synthetic_not_found": self.synthetic.not_found,
            "latency": self._latency,
            "rate_limit": self._window.limit,
            "rate_window": self._window.window,
            "rate_penalty": self._window.penalty,
            "catalogue_tracks": len(self.catalogue),
        }

    # -- introspection ----------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """The counters (see :mod:`~.stats`): ``requests`` per route, ``searches_by_isrc``, ``statuses``..."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Zero every counter."""
        self._stats.reset()

    def reset(self) -> None:
        """Zero the counters, forget pending faults and empty the rate window (tokens stay valid)."""
        self._stats.reset()
        self._faults.clear()
        self._window.reset()

    def search_count(self, isrc: str) -> int:
        """How many searches for ``isrc`` (any spelling) arrived."""
        return self._stats.search_count(normalise_isrc(isrc))

    # -- serving (called by the HTTP server) ------------------------------------------------------------------

    def begin(self, exchange: Exchange) -> _Tag | None:
        """Count an arriving request (control requests are not counted)."""
        if exchange.path.startswith("/_replica"):
            return None
        route = classify(exchange.path)
        tag = _Tag(route, self._api.request_isrc(route, exchange.path, exchange.query))
        self._stats.begin(tag.route, tag.isrc)
        return tag

    def end(self, tag: _Tag | None, outcome: str) -> None:
        """Count how a request ended."""
        if tag is not None:
            self._stats.end(outcome)

    def respond(self, exchange: Exchange, tag: _Tag | None) -> Action:
        """What to answer: latency, then faults, then the rate limit, then the route."""
        if tag is None:
            return handle_control(self, exchange)
        if self._latency and self.stopping.wait(self._latency):
            return Drop()
        fault = self._faults.take(tag.route, tag.isrc)
        if fault is not None:
            self._stats.count_fault()
            if fault.kind == "drop":
                return Drop()
            if fault.kind == "hang":
                return Hang(fault.delay)
            if fault.kind == "slow":
                if self.stopping.wait(fault.delay):
                    return Drop()
            elif fault.kind == "truncated":
                return Truncate(self._answer(exchange, tag))
            elif fault.kind == "malformed":
                return fault.response(tag.route, self._answer(exchange, tag))
            else:
                return fault.response(tag.route)
        return self._answer(exchange, tag)

    def _answer(self, exchange: Exchange, tag: _Tag) -> Response:
        if tag.route == ROUTE_TOKEN:
            if exchange.method != "POST":
                return api_error(405, "Method not allowed")
            response, issued = self._accounts.token(exchange.body, exchange.headers.get("authorization"))
            if issued:
                self._stats.count_token()
            return response
        if not exchange.path.startswith("/v1/"):
            return api_error(404, "Service not found")
        retry_after = self._window.admit()
        if retry_after is not None:
            self._stats.count_rate_limited()
            return rate_limited(retry_after)
        if exchange.method != "GET" and tag.route != ROUTE_OTHER:
            return api_error(405, "Method not allowed")
        host = exchange.headers.get("host")
        api_url = f"http://{host}/v1" if host else self.api_url
        return self._api.handle(tag.route, ApiRequest(exchange.path, exchange.query, exchange.headers, api_url))

    def __repr__(self) -> str:
        where = self.root_url if self.running else "stopped"
        return f"<SpotifyReplica {self.profile.name} {where}>"

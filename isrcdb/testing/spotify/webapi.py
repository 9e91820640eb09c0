"""The Web API routes the replica serves: ``GET /v1/search``, ``GET /v1/tracks/{id}`` and ``GET /v1/tracks?ids=``.

Every ``/v1`` request first needs ``Authorization: Bearer <token>``: a missing, unknown, revoked or expired token
gets 401 with ``WWW-Authenticate``; a header that is not a single bearer token gets 400 ``Only valid bearer
authentication supported``. Error messages (Spotify's, as of 2026):

- search: ``No search query`` (no ``q``), ``Missing parameter type``, ``Bad search type field <type>``,
  ``Invalid limit``, ``Invalid offset``, ``Invalid market code`` (all 400);
- track: ``invalid id`` (400), ``non existing id`` (404);
- several tracks: ``Forbidden`` (403, development profile), ``invalid request`` (400, no ``ids``),
  ``Too many ids requested`` (400, more than 50), ``invalid id`` (400);
- anything else: ``Service not found`` (404), ``Method not allowed`` (405).

Searches understand only a lone ``isrc:CODE`` filter (see :func:`~isrcdb.testing.spotify.ids.isrc_from_query`); any
other query finds nothing. ``query=`` is accepted as a synonym of ``q=``, because the ``href``/``next`` links
Spotify (and the replica) return spell it that way.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from isrcdb.testing.spotify.catalogue import Catalogue, track_isrc
from isrcdb.testing.spotify.ids import is_valid_id, isrc_from_query
from isrcdb.testing.spotify.profiles import OFFSET_MAX, Profile, shape_track
from isrcdb.testing.spotify.responses import (
    SEARCH_CACHE_CONTROL,
    TRACK_CACHE_CONTROL,
    Response,
    api_error,
    json_response,
    unauthorised,
)
from isrcdb.testing.spotify.synthetic import SyntheticCatalogue
from isrcdb.testing.spotify.tokens import TokenStore

Json = dict[str, Any]
Query = Mapping[str, list[str]]

SEARCH_TYPES = ("album", "artist", "playlist", "track", "show", "episode", "audiobook")
MAX_IDS = 50
_MARKET = re.compile(r"[A-Za-z]{2}")

ROUTE_TOKEN = "token"  # noqa: S105 - a route name
ROUTE_SEARCH = "search"
ROUTE_TRACK = "track"
ROUTE_TRACKS = "tracks"
ROUTE_OTHER = "other"
ROUTES = (ROUTE_TOKEN, ROUTE_SEARCH, ROUTE_TRACK, ROUTE_TRACKS, ROUTE_OTHER)


@dataclass(frozen=True)
class ApiRequest:
    """What a Web API route needs from an HTTP request."""

    path: str
    query: Query
    headers: Mapping[str, str]
    """Request headers, names in lower case."""
    api_url: str
    """Base of the links the response carries, e.g. ``http://127.0.0.1:8765/v1``."""


def classify(path: str) -> str:
    """The route a request path belongs to: ``token``, ``search``, ``track``, ``tracks`` or ``other``."""
    if path == "/api/token":
        return ROUTE_TOKEN
    if path == "/v1/search":
        return ROUTE_SEARCH
    if path == "/v1/tracks":
        return ROUTE_TRACKS
    if path.startswith("/v1/tracks/") and "/" not in path[len("/v1/tracks/") :]:
        return ROUTE_TRACK
    return ROUTE_OTHER


def first(query: Query, name: str) -> str | None:
    """The first value of a query parameter, if given."""
    values = query.get(name)
    return values[0] if values else None


class WebApi:
    """Answers Web API requests from a catalogue, the synthetic catalogue and a profile."""

    def __init__(
        self, catalogue: Catalogue, synthetic: SyntheticCatalogue, profile: Profile, tokens: TokenStore
    ) -> None:
        self.catalogue = catalogue
        self.synthetic = synthetic
        self.profile = profile
        self.tokens = tokens
        self._search_results = functools.lru_cache(maxsize=1024)(self._search_results)  # type: ignore[method-assign]

    # -- lookups ----------------------------------------------------------------------------------------------

    def find(self, isrc: str) -> list[Json]:
        """Stored tracks found by a search for ``isrc``; synthetic ones when the catalogue has none."""
        return self.catalogue.search(isrc) or self.synthetic.search(isrc)

    def lookup(self, track_id: str) -> Json | None:
        """The stored or synthetic track with this id."""
        return self.catalogue.track(track_id) or self.synthetic.track(track_id)

    def request_isrc(self, route: str, path: str, query: Query) -> str | None:
        """The ISRC a request concerns: the one searched for, or the one of the track asked for."""
        if route == ROUTE_SEARCH:
            text = first(query, "q") or first(query, "query")
            return isrc_from_query(text) if text else None
        if route == ROUTE_TRACK:
            track_id = path.rsplit("/", 1)[1]
            track = self.lookup(track_id) if is_valid_id(track_id) else None
            return track_isrc(track) if track else None
        return None

    # -- routes -----------------------------------------------------------------------------------------------

    def handle(self, route: str, request: ApiRequest) -> Response:
        """Answer an authorised-or-not ``GET`` for one of the ``/v1`` routes."""
        refusal = self.authorise(request.headers.get("authorization"))
        if refusal is not None:
            return refusal
        handlers: dict[str, Callable[[ApiRequest], Response]] = {
            ROUTE_SEARCH: self.search,
            ROUTE_TRACK: self.track,
            ROUTE_TRACKS: self.tracks,
        }
        handler = handlers.get(route)
        return handler(request) if handler else api_error(404, "Service not found")

    def authorise(self, authorization: str | None) -> Response | None:
        """``None`` when the header carries a valid bearer token, else the error response."""
        if authorization is None:
            return unauthorised()
        parts = authorization.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return api_error(400, "Only valid bearer authentication supported")
        return None if self.tokens.is_valid(parts[1]) else unauthorised()

    def search(self, request: ApiRequest) -> Response:
        """``GET /v1/search``: a paging object per requested type; only tracks are ever found."""
        query = request.query
        text = first(query, "q") or first(query, "query")
        if not text:
            return api_error(400, "No search query")
        types_text = first(query, "type")
        if not types_text:
            return api_error(400, "Missing parameter type")
        types = [kind.strip() for kind in types_text.split(",")]
        for kind in types:
            if kind not in SEARCH_TYPES:
                return api_error(400, f"Bad search type field {kind}")
        limit = _integer(first(query, "limit"), self.profile.limit_default)
        if limit is None or not 1 <= limit <= self.profile.limit_max:
            return api_error(400, "Invalid limit")
        offset = _integer(first(query, "offset"), 0)
        if offset is None or not 0 <= offset <= OFFSET_MAX:
            return api_error(400, "Invalid offset")
        market, refusal = _market(query)
        if refusal is not None:
            return refusal
        return self._search_results(text, types_text, limit, offset, market, request.api_url)

    def _search_results(
        self, text: str, types_text: str, limit: int, offset: int, market: str | None, api_url: str
    ) -> Response:
        """The 200 answer to a valid search (cached: the catalogue and the profile never change)."""
        types = list(dict.fromkeys(kind.strip() for kind in types_text.split(",")))
        isrc = isrc_from_query(text)
        found = self.find(isrc) if isrc and "track" in types else []
        link = _SearchLink(api_url, text, types_text, limit, market)
        payload: Json = {}
        for kind in types:
            items = found if kind == "track" else []
            payload[f"{kind}s"] = {
                "href": link(offset),
                "items": [shape_track(track, self.profile, market) for track in items[offset : offset + limit]],
                "limit": limit,
                "next": link(offset + limit) if offset + limit < len(items) else None,
                "offset": offset,
                "previous": link(max(0, offset - limit)) if offset > 0 else None,
                "total": len(items),
            }
        return json_response(200, payload, cache_control=SEARCH_CACHE_CONTROL)

    def track(self, request: ApiRequest) -> Response:
        """``GET /v1/tracks/{id}``: one track, with an ``ETag``."""
        market, refusal = _market(request.query)
        if refusal is not None:
            return refusal
        track_id = request.path.rsplit("/", 1)[1]
        if not is_valid_id(track_id):
            return api_error(400, "invalid id")
        track = self.lookup(track_id)
        if track is None:
            return api_error(404, "non existing id")
        return _with_etag(shape_track(track, self.profile, market), request.headers)

    def tracks(self, request: ApiRequest) -> Response:
        """``GET /v1/tracks?ids=``: forbidden in development; ``null`` for unknown ids otherwise."""
        if not self.profile.batch_tracks:
            return api_error(403, "Forbidden")
        market, refusal = _market(request.query)
        if refusal is not None:
            return refusal
        ids_text = first(request.query, "ids")
        if not ids_text:
            return api_error(400, "invalid request")
        ids = ids_text.split(",")
        if len(ids) > MAX_IDS:
            return api_error(400, "Too many ids requested")
        if not all(is_valid_id(track_id) for track_id in ids):
            return api_error(400, "invalid id")
        found = [self.lookup(track_id) for track_id in ids]
        payload = {"tracks": [None if t is None else shape_track(t, self.profile, market) for t in found]}
        return _with_etag(payload, request.headers)


@dataclass(frozen=True)
class _SearchLink:
    """Builds the ``href``/``next``/``previous`` of a search page, echoing the query as ``query=``."""

    api_url: str
    text: str
    types: str
    limit: int
    market: str | None

    def __call__(self, offset: int) -> str:
        params: list[tuple[str, str | int]] = [
            ("offset", offset),
            ("limit", self.limit),
            ("query", self.text),
            ("type", self.types),
        ]
        if self.market is not None:
            params.append(("market", self.market))
        return f"{self.api_url}/search?{urlencode(params, quote_via=quote)}"


def _integer(text: str | None, default: int) -> int | None:
    if text is None:
        return default
    text = text.strip()
    return int(text) if text.isascii() and text.lstrip("-").isdigit() else None


def _market(query: Query) -> tuple[str | None, Response | None]:
    market = first(query, "market")
    if market is None:
        return None, None
    if not _MARKET.fullmatch(market):
        return None, api_error(400, "Invalid market code")
    return market.upper(), None


def _with_etag(payload: Json, headers: Mapping[str, str]) -> Response:
    response = json_response(200, payload, cache_control=TRACK_CACHE_CONTROL)
    digest = base64.urlsafe_b64encode(hashlib.sha1(response.body, usedforsecurity=False).digest()[:15])
    etag = f'"MC-{digest.decode("ascii")}"'
    if headers.get("if-none-match") == etag:
        return Response(304, b"", (("Cache-Control", TRACK_CACHE_CONTROL), ("ETag", etag)))
    return Response(200, response.body, (*response.headers, ("ETag", etag)))

"""The Spotify Web API endpoints isrcdb uses: search by ISRC (every page) and track by id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from isrcdb.errors import AuthError, SpotifyError
from isrcdb.settings import Settings
from isrcdb.spotify.auth import TokenProvider
from isrcdb.spotify.parse import SearchPage, Track, parse_search, parse_track
from isrcdb.spotify.transport import Response, Transport, error_message

PAGE_SIZE = 10
"""Development mode's maximum ``limit`` for search (extended-quota apps accept it too)."""

MAX_OFFSET = 1000


@dataclass(frozen=True)
class SearchResult:
    """Every track Spotify holds for one ISRC (exact matches only), and the requests it took to read them."""

    isrc: str
    tracks: tuple[Track, ...]
    requests: int
    discarded: int
    """Items Spotify returned for the query whose ISRC was a different one."""


class SpotifyClient:
    """Search by ISRC and get tracks, with a token from ``auth`` and requests through ``transport``."""

    def __init__(self, transport: Transport, auth: TokenProvider, api_url: str, *, market: str | None = None) -> None:
        self.transport = transport
        self.auth = auth
        self.api_url = api_url.rstrip("/")
        self.market = market

    def close(self) -> None:
        self.transport.close()

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Response:
        """GET ``path`` with a bearer token; on 401 get a new token once and try once more."""
        for attempt in (1, 2):
            token = self.auth.token()
            response = self.transport.request(
                "GET", f"{self.api_url}/{path}", params=params, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status != 401:
                return response
            self.auth.invalidate(token)
            if attempt == 2:
                raise AuthError("Spotify refused a freshly issued access token (401)", status=401)
        raise AssertionError("unreachable")  # pragma: no cover

    def search_page(self, isrc: str, offset: int) -> SearchPage:
        params: dict[str, str | int] = {"q": f"isrc:{isrc}", "type": "track", "limit": PAGE_SIZE, "offset": offset}
        if self.market:
            params["market"] = self.market
        response = self.get("search", params)
        _raise_for_status(response, f"search for {isrc}")
        return parse_search(response.payload)

    def search_isrc(self, isrc: str) -> SearchResult:
        """Every track carrying ``isrc``, reading page after page; items with another ISRC are dropped."""
        found: dict[str, Track] = {}
        discarded = requests = offset = 0
        while True:
            page = self.search_page(isrc, offset)
            requests += 1
            for track in page.items:
                if track.isrc == isrc:
                    found.setdefault(track.id, track)
                else:
                    discarded += 1
            offset += page.received
            if page.received == 0 or offset >= page.total or offset >= MAX_OFFSET:
                break
        return SearchResult(isrc=isrc, tracks=tuple(found.values()), requests=requests, discarded=discarded)

    def track(self, track_id: str) -> Track | None:
        """One track by Spotify id, or ``None`` when Spotify has no such track."""
        params = {"market": self.market} if self.market else None
        response = self.get(f"tracks/{track_id}", params)
        if response.status in (400, 404):
            return None
        _raise_for_status(response, f"track {track_id}")
        return parse_track(response.payload)


def _raise_for_status(response: Response, what: str) -> None:
    if response.status == 200:
        return
    message, _ = error_message(response.payload)
    detail = f"{response.status} {message}" if message else str(response.status)
    if response.status == 403:
        raise AuthError(f"Spotify refused the {what} ({detail})", status=403)
    raise SpotifyError(f"Spotify answered the {what} with {detail}", status=response.status)


def client_from_settings(settings: Settings, *, pool_size: int | None = None) -> SpotifyClient:
    """A client configured from :class:`~isrcdb.settings.Settings`."""
    transport = Transport(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        deadline=settings.request_deadline,
        pool_size=pool_size or settings.concurrency,
    )
    auth = TokenProvider(
        transport, settings.token_url, settings.client_id, settings.client_secret, cache_dir=settings.token_dir
    )
    return SpotifyClient(transport, auth, settings.api_url, market=settings.market)

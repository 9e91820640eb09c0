"""Fixtures for the Spotify replica's tests: a running replica, a fake clock, and small HTTP helpers.

Every test talks to the replica over real HTTP on 127.0.0.1 with ``requests``; nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from isrcdb.testing.spotify import SpotifyReplica

CLIENT = ("test-client-id", "test-client-secret")

Get = Callable[..., requests.Response]


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_replica(spotify_replica_factory: Callable[..., SpotifyReplica]) -> Callable[..., SpotifyReplica]:
    """Start replicas with any options; all are stopped after the test (isrcdb's pytest plugin)."""
    return spotify_replica_factory


@pytest.fixture
def replica(spotify_replica: SpotifyReplica) -> SpotifyReplica:
    """A replica with every default: development profile, sample catalogue, ``QZSYN`` synthetic codes (isrcdb's
    pytest plugin, which also points the environment at it)."""
    return spotify_replica


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def fetch_token(session: requests.Session, replica: SpotifyReplica) -> str:
    """A token from the replica's token endpoint, the way a client gets one."""
    response = session.post(replica.token_url, data={"grant_type": "client_credentials"}, auth=CLIENT, timeout=5)
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def token(session: requests.Session, replica: SpotifyReplica) -> str:
    return fetch_token(session, replica)


def getter(session: requests.Session, replica: SpotifyReplica, token: str) -> Get:
    """``get(path, params=None, *, token=..., headers=None, timeout=5)`` against ``replica.api_url``."""

    def get(
        path: str,
        params: dict[str, Any] | None = None,
        *,
        token: str | None = token,
        headers: dict[str, str] | None = None,
        timeout: float = 5,
    ) -> requests.Response:
        sent = {} if token is None else {"Authorization": f"Bearer {token}"}
        sent.update(headers or {})
        return session.get(f"{replica.api_url}{path}", params=params, headers=sent, timeout=timeout)

    return get


@pytest.fixture
def get(session: requests.Session, replica: SpotifyReplica, token: str) -> Get:
    """GET a Web API path of the default replica with a valid token."""
    return getter(session, replica, token)


@pytest.fixture
def search(get: Get) -> Get:
    """``search(isrc, **params)``: ``GET /v1/search?q=isrc:<isrc>&type=track`` on the default replica."""

    def run(isrc: str, **params: Any) -> requests.Response:
        return get("/search", {"q": f"isrc:{isrc}", "type": "track", **params})

    return run


@pytest.fixture
def token_of(session: requests.Session) -> Callable[[SpotifyReplica], str]:
    """``token_of(replica)``: a fresh token from that replica's token endpoint."""
    return lambda replica: fetch_token(session, replica)


@pytest.fixture
def connect(session: requests.Session) -> Callable[[SpotifyReplica], Get]:
    """``connect(replica)``: a ``get`` like the fixture's, for another replica, with a fresh token."""
    return lambda replica: getter(session, replica, fetch_token(session, replica))

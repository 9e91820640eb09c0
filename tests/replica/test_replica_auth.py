"""The bearer check in front of every ``/v1`` route: 401 for missing/unknown/expired tokens, 400 for bad headers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
import requests

from isrcdb.testing.spotify import SpotifyReplica

if TYPE_CHECKING:
    from conftest import FakeClock, Get

UNAUTHORISED = {"error": {"status": 401, "message": "Missing/invalid/expired access token"}}
BAD_HEADER = {"error": {"status": 400, "message": "Only valid bearer authentication supported"}}
ROUTES = [
    ("/search", {"q": "isrc:USRC17607839", "type": "track"}),
    ("/tracks/0toNj4nh5bw8tYkvdEFZj2", None),
    ("/tracks", {"ids": "0toNj4nh5bw8tYkvdEFZj2"}),
    ("/no-such-endpoint", None),
]


def assert_unauthorised(response: requests.Response) -> None:
    assert response.status_code == 401
    assert response.json() == UNAUTHORISED
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="spotify", error="invalid_token"'
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, max-age=0"


@pytest.mark.parametrize(("path", "params"), ROUTES)
def test_missing_token_is_401_on_every_route(get: Get, path: str, params: dict[str, str] | None) -> None:
    assert_unauthorised(get(path, params, token=None))


@pytest.mark.parametrize(("path", "params"), ROUTES)
def test_unknown_token_is_401_on_every_route(get: Get, path: str, params: dict[str, str] | None) -> None:
    assert_unauthorised(get(path, params, token="BQ-not-a-token-this-replica-issued"))


@pytest.mark.parametrize(
    "authorization",
    ["Basic dGVzdDp0ZXN0", "Bearer", "Bearer a b", "Token abc", "bearer"],
)
def test_malformed_authorization_header_is_400(get: Get, authorization: str) -> None:
    response = get("/search", {"q": "isrc:USRC17607839", "type": "track"}, headers={"Authorization": authorization})

    assert response.status_code == 400
    assert response.json() == BAD_HEADER
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"


def test_scheme_is_case_insensitive(get: Get, token: str) -> None:
    response = get("/tracks/0toNj4nh5bw8tYkvdEFZj2", headers={"Authorization": f"bearer {token}"})

    assert response.status_code == 200


def test_token_expires_after_expires_in(
    make_replica: Callable[..., SpotifyReplica], connect: Callable[[SpotifyReplica], Get], clock: FakeClock
) -> None:
    get = connect(make_replica(token_expires_in=60, clock=clock))

    clock.advance(59.9)
    still_valid = get("/tracks/0toNj4nh5bw8tYkvdEFZj2")
    clock.advance(0.1)
    expired = get("/tracks/0toNj4nh5bw8tYkvdEFZj2")

    assert still_valid.status_code == 200
    assert_unauthorised(expired)


def test_token_expires_in_real_time(
    make_replica: Callable[..., SpotifyReplica], connect: Callable[[SpotifyReplica], Get]
) -> None:
    get = connect(make_replica(token_expires_in=1))

    assert get("/tracks/0toNj4nh5bw8tYkvdEFZj2").status_code == 200
    time.sleep(1.05)
    assert_unauthorised(get("/tracks/0toNj4nh5bw8tYkvdEFZj2"))


def test_revoked_tokens_are_401_and_new_ones_work(
    session: requests.Session, replica: SpotifyReplica, get: Get, token_of: Callable[[SpotifyReplica], str]
) -> None:
    revoked = replica.revoke_tokens()

    assert revoked == 1
    assert_unauthorised(get("/tracks/0toNj4nh5bw8tYkvdEFZj2"))
    assert get("/tracks/0toNj4nh5bw8tYkvdEFZj2", token=token_of(replica)).status_code == 200


def test_issue_token_gives_a_valid_token_without_http(replica: SpotifyReplica, get: Get) -> None:
    assert get("/tracks/0toNj4nh5bw8tYkvdEFZj2", token=replica.issue_token()).status_code == 200

"""The rolling-window rate limit: R requests per window, then 429 with the right ``Retry-After``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
import requests

from isrcdb.testing.spotify import SpotifyReplica
from isrcdb.testing.spotify.ratelimit import RollingWindow

if TYPE_CHECKING:
    from conftest import FakeClock, Get

TRACK = "/tracks/0toNj4nh5bw8tYkvdEFZj2"
LIMITED = {"error": {"status": 429, "message": "API rate limit exceeded"}}


@pytest.fixture
def limited(
    make_replica: Callable[..., SpotifyReplica], connect: Callable[[SpotifyReplica], Get], clock: FakeClock
) -> tuple[SpotifyReplica, Get]:
    replica = make_replica(rate_limit=3, rate_window=30.0, clock=clock)
    return replica, connect(replica)


def test_requests_beyond_the_limit_get_429_with_retry_after(
    limited: tuple[SpotifyReplica, Get], clock: FakeClock
) -> None:
    replica, get = limited
    for _ in range(3):
        assert get(TRACK).status_code == 200
        clock.advance(2.5)

    refused = get(TRACK)

    assert refused.status_code == 429
    assert refused.json() == LIMITED
    # the first request (at 0 s) leaves the 30 s window at 30 s; it is now 7.5 s
    assert refused.headers["Retry-After"] == "23"
    assert refused.headers["Content-Type"] == "application/json; charset=utf-8"
    assert replica.stats()["rate_limited"] == 1
    assert replica.stats()["statuses"]["429"] == 1


@pytest.mark.parametrize(
    ("wait", "status", "retry_after"),
    [(10.0, 429, "13"), (22.4, 429, "1"), (22.5, 200, None), (30.0, 200, None)],
)
def test_the_window_rolls(
    limited: tuple[SpotifyReplica, Get], clock: FakeClock, wait: float, status: int, retry_after: str | None
) -> None:
    _, get = limited
    for _ in range(3):
        get(TRACK)
        clock.advance(2.5)  # requests at 0, 2.5 and 5 s; now 7.5 s
    clock.advance(wait)

    response = get(TRACK)

    assert response.status_code == status
    assert response.headers.get("Retry-After") == retry_after


def test_retry_after_is_rounded_up(limited: tuple[SpotifyReplica, Get], clock: FakeClock) -> None:
    _, get = limited
    for _ in range(3):
        get(TRACK)
    clock.advance(29.2)

    assert get(TRACK).headers["Retry-After"] == "1"


def test_without_penalty_refused_calls_do_not_count(limited: tuple[SpotifyReplica, Get], clock: FakeClock) -> None:
    _, get = limited
    for _ in range(3):
        get(TRACK)
    for _ in range(10):
        clock.advance(2)
        assert get(TRACK).status_code == 429

    clock.advance(10)  # 30 s after the first three

    assert get(TRACK).status_code == 200


@pytest.mark.parametrize(("penalty", "status_at_30s"), [(False, 200), (True, 429)])
def test_with_penalty_calling_while_limited_lengthens_the_wait(
    make_replica: Callable[..., SpotifyReplica],
    connect: Callable[[SpotifyReplica], Get],
    clock: FakeClock,
    penalty: bool,
    status_at_30s: int,
) -> None:
    get = connect(make_replica(rate_limit=3, rate_window=30.0, rate_penalty=penalty, clock=clock))
    for _ in range(3):
        get(TRACK)
    for _ in range(14):  # hammer every 2 s while limited, up to 28 s
        clock.advance(2)
        assert get(TRACK).status_code == 429
    clock.advance(2)

    at_30s = get(TRACK)

    assert at_30s.status_code == status_at_30s
    if penalty:  # refused calls counted: the wait ends when the one at 26 s leaves the window
        assert at_30s.headers["Retry-After"] == "26"
        clock.advance(26)
        assert get(TRACK).status_code == 200


def test_token_requests_are_not_rate_limited(limited: tuple[SpotifyReplica, Get], session: requests.Session) -> None:
    replica, get = limited
    for _ in range(3):
        get(TRACK)

    token = session.post(
        replica.token_url, data={"grant_type": "client_credentials"}, auth=("test-client-id", "test-client-secret")
    )

    assert token.status_code == 200
    assert get(TRACK).status_code == 429


def test_the_limit_can_be_set_and_lifted_at_run_time(replica: SpotifyReplica, get: Get) -> None:
    replica.set_rate_limit(2, window=60)
    statuses = [get(TRACK).status_code for _ in range(3)]
    replica.set_rate_limit(None)

    assert statuses == [200, 200, 429]
    assert get(TRACK).status_code == 200


def test_a_short_real_window_recovers(
    make_replica: Callable[..., SpotifyReplica], connect: Callable[[SpotifyReplica], Get]
) -> None:
    get = connect(make_replica(rate_limit=2, rate_window=1.0))

    statuses = [get(TRACK).status_code for _ in range(3)]
    time.sleep(1.05)

    assert statuses == [200, 200, 429]
    assert get(TRACK).status_code == 200


@pytest.mark.parametrize(("limit", "window"), [(0, 30.0), (-1, 30.0), (5, 0.0)])
def test_invalid_limits_are_refused(limit: int, window: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        RollingWindow(limit, window, time.monotonic)

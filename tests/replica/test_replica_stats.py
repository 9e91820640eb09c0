"""Introspection from Python and over HTTP, and the ``/_replica`` control endpoints."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests

from isrcdb.testing.spotify import SpotifyReplica
from isrcdb.testing.spotify.sample import FEW_RELEASES, MANY_RELEASES

if TYPE_CHECKING:
    from conftest import Get

TRACK = "/tracks/0toNj4nh5bw8tYkvdEFZj2"


def test_stats_count_requests_per_route_isrc_status_and_token(
    replica: SpotifyReplica, search: Get, get: Get, session: requests.Session
) -> None:
    search(FEW_RELEASES)
    search("us-rc1-76-07839")
    search(MANY_RELEASES)
    get(TRACK)
    get("/tracks", {"ids": "0toNj4nh5bw8tYkvdEFZj2"})
    get("/nothing-here")
    session.get(f"{replica.root_url}/favicon.ico")

    stats = replica.stats()

    assert stats["requests"] == {"token": 1, "search": 3, "track": 1, "tracks": 1, "other": 2}
    assert stats["searches_by_isrc"] == {MANY_RELEASES: 1, FEW_RELEASES: 2}
    assert stats["tokens_issued"] == 1
    assert stats["statuses"] == {"200": 5, "403": 1, "404": 2}
    assert stats["responses_429"] == 0
    assert stats["in_flight"] == 0
    assert stats["peak_in_flight"] == 1


def test_search_span_is_the_time_from_the_first_search_to_the_last(replica: SpotifyReplica, search: Get) -> None:
    assert replica.stats()["search_span_s"] is None
    search(FEW_RELEASES)
    assert replica.stats()["search_span_s"] == 0
    time.sleep(0.2)
    search(MANY_RELEASES)
    span = replica.stats()["search_span_s"]
    assert 0.2 <= span < 5
    replica.reset()
    assert replica.stats()["search_span_s"] is None


def test_search_count_accepts_any_spelling(replica: SpotifyReplica, search: Get) -> None:
    search(FEW_RELEASES)
    search(FEW_RELEASES)

    assert replica.search_count("US-RC1-76-07839") == 2
    assert replica.search_count(MANY_RELEASES) == 0


def test_429s_are_counted(replica: SpotifyReplica, search: Get) -> None:
    replica.inject("429", 2)
    replica.inject("quota")
    for _ in range(4):
        search(FEW_RELEASES)

    stats = replica.stats()

    assert stats["responses_429"] == 3
    assert stats["statuses"] == {"200": 2, "429": 3}
    assert stats["faults_served"] == 3
    assert replica.search_count(FEW_RELEASES) == 4


def test_peak_in_flight_counts_concurrent_requests(replica: SpotifyReplica, token: str) -> None:
    replica.set_latency(0.3)
    barrier = threading.Barrier(4)

    def call() -> None:
        with requests.Session() as own:
            barrier.wait()
            own.get(f"{replica.api_url}{TRACK}", headers={"Authorization": f"Bearer {token}"}, timeout=5)

    callers = [threading.Thread(target=call) for _ in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()

    assert replica.stats()["peak_in_flight"] == 4
    assert replica.stats()["in_flight"] == 0


def test_reset_stats_zeroes_every_counter(replica: SpotifyReplica, search: Get) -> None:
    search(FEW_RELEASES)
    replica.reset_stats()

    assert replica.stats() == {
        "requests": {"token": 0, "search": 0, "track": 0, "tracks": 0, "other": 0},
        "searches_by_isrc": {},
        "tokens_issued": 0,
        "statuses": {},
        "responses_429": 0,
        "rate_limited": 0,
        "faults_served": 0,
        "peak_in_flight": 0,
        "in_flight": 0,
        "search_span_s": None,
    }


def test_stats_over_http_match_python(replica: SpotifyReplica, search: Get, session: requests.Session) -> None:
    search(FEW_RELEASES)

    response = session.get(f"{replica.root_url}/_replica/stats")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.json() == replica.stats()
    assert response.json()["requests"]["search"] == 1


def test_control_requests_are_not_counted_and_need_no_token(replica: SpotifyReplica, session: requests.Session) -> None:
    session.get(f"{replica.root_url}/_replica/stats")
    session.get(f"{replica.root_url}/_replica/config")

    assert sum(replica.stats()["requests"].values()) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "503", "count": 2, "route": "search"},
        [{"kind": "503", "route": "search"}, {"kind": "503", "route": "search"}],
        {"faults": [{"kind": "503", "count": 2, "route": "search"}]},
    ],
)
def test_faults_can_be_scripted_over_http(
    replica: SpotifyReplica, session: requests.Session, search: Get, body: Any
) -> None:
    response = session.post(f"{replica.root_url}/_replica/faults", json=body)

    assert response.status_code == 200
    assert sum(fault["count"] for fault in response.json()["faults"]) == 2
    assert [search(FEW_RELEASES).status_code for _ in range(3)] == [503, 503, 200]


def test_faults_can_be_listed_and_cleared_over_http(replica: SpotifyReplica, session: requests.Session) -> None:
    session.post(f"{replica.root_url}/_replica/faults", json={"kind": "429", "count": 3, "retry_after": 9})

    listed = session.get(f"{replica.root_url}/_replica/faults").json()
    cleared = session.delete(f"{replica.root_url}/_replica/faults").json()

    assert listed == {"faults": [{"kind": "429", "count": 3, "retry_after": 9}]}
    assert cleared == {"faults": []}


def test_reset_over_http_clears_stats_faults_and_rate_window(
    replica: SpotifyReplica, session: requests.Session, search: Get
) -> None:
    replica.set_rate_limit(1, window=60)
    search(FEW_RELEASES)
    replica.inject("500", 5)

    response = session.post(f"{replica.root_url}/_replica/reset")

    assert response.json()["requests"]["search"] == 0
    assert replica.pending_faults() == []
    assert search(FEW_RELEASES).status_code == 200


def test_revoke_over_http(replica: SpotifyReplica, session: requests.Session, get: Get) -> None:
    response = session.post(f"{replica.root_url}/_replica/revoke")

    assert response.json() == {"revoked": 1}
    assert get(TRACK).status_code == 401


def test_config_over_http_sets_latency_and_rate_limit(replica: SpotifyReplica, session: requests.Session) -> None:
    response = session.post(
        f"{replica.root_url}/_replica/config", json={"latency": 0.01, "rate_limit": 5, "rate_window": 2}
    )

    assert response.status_code == 200
    config = response.json()
    assert (config["latency"], config["rate_limit"], config["rate_window"]) == (0.01, 5, 2.0)
    assert replica.latency == 0.01
    assert session.get(f"{replica.root_url}/_replica/config").json() == config


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/_replica/faults", {"kind": "nope"}, 400, "unknown fault kind 'nope'"),
        ("POST", "/_replica/faults", {"kind": "429", "colour": "red"}, 400, "unknown fault fields: colour"),
        ("POST", "/_replica/config", {"speed": 3}, 400, "unknown settings: speed"),
        ("POST", "/_replica/config", {"latency": -1}, 400, "latency cannot be negative"),
        ("GET", "/_replica/reset", None, 405, "Method not allowed"),
        ("GET", "/_replica/nothing", None, 404, "Service not found"),
    ],
)
def test_control_mistakes_get_clear_errors(
    replica: SpotifyReplica,
    session: requests.Session,
    method: str,
    path: str,
    body: Any,
    status: int,
    message: str,
) -> None:
    response = session.request(method, f"{replica.root_url}{path}", json=body)

    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_control_body_must_be_json(replica: SpotifyReplica, session: requests.Session) -> None:
    response = session.post(f"{replica.root_url}/_replica/faults", data=b"{nope")

    assert response.json() == {"error": {"status": 400, "message": "the request body is not JSON"}}

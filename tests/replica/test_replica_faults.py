"""Scripted faults: error statuses, broken transports, slow and hanging answers, targeting, the spec syntax."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests

from isrcdb.testing.spotify import Fault, SpotifyReplica, parse_fault_spec
from isrcdb.testing.spotify.sample import FEW_RELEASES, MANY_RELEASES

if TYPE_CHECKING:
    from conftest import Get

TRACK = "/tracks/0toNj4nh5bw8tYkvdEFZj2"


def error(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"status": status, "message": message, **extra}}


@pytest.mark.parametrize(
    ("kind", "options", "status", "body", "retry_after"),
    [
        ("429", {}, 429, error(429, "API rate limit exceeded"), "1"),
        ("429", {"retry_after": 17}, 429, error(429, "API rate limit exceeded"), "17"),
        ("quota", {}, 429, error(429, "API quota exceeded", reason="QUOTA_EXCEEDED"), "3600"),
        ("quota", {"retry_after": 86400}, 429, error(429, "API quota exceeded", reason="QUOTA_EXCEEDED"), "86400"),
        ("500", {}, 500, error(500, "Server error."), None),
        ("502", {}, 502, error(502, "Bad gateway."), None),
        ("503", {"retry_after": 5}, 503, error(503, "Service unavailable"), "5"),
        ("504", {}, 504, error(504, "Gateway timeout"), None),
        ("status", {"status": 418}, 418, error(418, "I'm a Teapot"), None),
        ("premium", {}, 403, error(403, "Active premium subscription required for the owner of the app."), None),
    ],
)
def test_status_faults_answer_with_spotify_error_bodies(
    replica: SpotifyReplica,
    search: Get,
    kind: str,
    options: dict[str, Any],
    status: int,
    body: dict[str, Any],
    retry_after: str | None,
) -> None:
    replica.inject(kind, **options)

    response = search(FEW_RELEASES)

    assert response.status_code == status
    assert response.json() == body
    assert response.headers.get("Retry-After") == retry_after
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, max-age=0"


def test_a_fault_applies_to_the_next_count_requests_only(replica: SpotifyReplica, search: Get) -> None:
    replica.inject("503", 2)

    statuses = [search(FEW_RELEASES).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert replica.pending_faults() == []


def test_faults_are_served_in_the_order_they_were_added(replica: SpotifyReplica, search: Get) -> None:
    replica.inject("500")
    replica.inject("429")

    assert [search(FEW_RELEASES).status_code for _ in range(3)] == [500, 429, 200]


def test_drop_closes_the_connection_without_a_response(replica: SpotifyReplica, search: Get) -> None:
    replica.inject("drop")

    with pytest.raises(requests.ConnectionError):
        search(FEW_RELEASES)
    assert search(FEW_RELEASES).status_code == 200
    assert replica.stats()["statuses"]["dropped"] == 1


def test_malformed_is_a_200_whose_body_is_not_json(replica: SpotifyReplica, search: Get) -> None:
    replica.inject("malformed")

    response = search(FEW_RELEASES)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.content.startswith(b'{"tracks":')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_truncated_breaks_the_connection_mid_body(replica: SpotifyReplica, search: Get) -> None:
    replica.inject("truncated")

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        search(FEW_RELEASES)
    assert search(FEW_RELEASES).status_code == 200


@pytest.mark.parametrize(
    ("route", "path", "params", "expected"),
    [
        ("search", "/search", {"q": "isrc:USRC17607839", "type": "track"}, {"tracks": "oops"}),
        ("track", TRACK, None, {"id": 42, "name": None, "external_ids": "oops"}),
    ],
)
def test_wrong_shape_is_valid_json_of_the_wrong_shape(
    replica: SpotifyReplica, get: Get, route: str, path: str, params: dict[str, str] | None, expected: Any
) -> None:
    replica.inject("wrong_shape", route=route)

    response = get(path, params)

    assert response.status_code == 200
    assert response.json() == expected


def test_wrong_shape_on_the_token_route(replica: SpotifyReplica, session: requests.Session) -> None:
    replica.inject("wrong_shape", route="token")

    response = session.post(
        replica.token_url, data={"grant_type": "client_credentials"}, auth=("test-client-id", "test-client-secret")
    )

    assert response.json() == {"token_type": "bearer", "expires_in": "soon"}


def test_slow_answers_normally_after_the_delay(replica: SpotifyReplica, search: Get) -> None:
    replica.inject("slow", delay=0.3)

    started = time.perf_counter()
    response = search(FEW_RELEASES)

    assert time.perf_counter() - started >= 0.3
    assert response.status_code == 200
    assert response.json()["tracks"]["total"] == 3


def test_hang_never_answers_so_the_client_times_out(replica: SpotifyReplica, get: Get) -> None:
    replica.inject("hang")

    with pytest.raises(requests.exceptions.ReadTimeout):
        get(TRACK, timeout=0.3)
    assert get(TRACK).status_code == 200


def test_stopping_the_replica_releases_a_hanging_request(replica: SpotifyReplica, get: Get) -> None:
    replica.inject("hang")
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            get(TRACK, timeout=30)
        except requests.RequestException as error:
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.2)
    started = time.perf_counter()
    replica.stop()
    caller.join(timeout=5)

    assert time.perf_counter() - started < 3
    assert not caller.is_alive()
    assert isinstance(outcome[0], requests.ConnectionError)


def test_hang_with_a_delay_gives_up_after_it(replica: SpotifyReplica, get: Get) -> None:
    replica.inject("hang", delay=0.2)

    with pytest.raises(requests.ConnectionError):
        get(TRACK, timeout=5)


@pytest.mark.parametrize(
    ("route", "failing"),
    [("search", "search"), ("track", "track"), ("token", "token")],
)
def test_a_fault_can_target_one_route(
    replica: SpotifyReplica, session: requests.Session, get: Get, route: str, failing: str
) -> None:
    replica.inject("500", 5, route=route)

    statuses = {
        "search": get("/search", {"q": "isrc:USRC17607839", "type": "track"}).status_code,
        "track": get(TRACK).status_code,
        "token": session.post(
            replica.token_url, data={"grant_type": "client_credentials"}, auth=("test-client-id", "test-client-secret")
        ).status_code,
    }

    assert statuses == {name: 500 if name == failing else 200 for name in statuses}


def test_a_fault_can_target_one_isrc_in_searches_and_track_lookups(replica: SpotifyReplica, get: Get) -> None:
    replica.inject("503", 3, isrc="us-rc1-76-07839")

    other = get("/search", {"q": f"isrc:{MANY_RELEASES}", "type": "track"})
    targeted = get("/search", {"q": f"isrc:{FEW_RELEASES}", "type": "track"})
    its_track = get(TRACK)
    another_track = get("/tracks/dM8DIKI7EjnNnphaCSwiQH")

    assert (other.status_code, targeted.status_code, its_track.status_code) == (200, 503, 503)
    assert another_track.status_code == 200
    assert replica.pending_faults() == [Fault("503", 1, isrc=FEW_RELEASES)]


def test_faults_come_before_the_token_check(replica: SpotifyReplica, get: Get) -> None:
    replica.inject("429")

    assert get(TRACK, token=None).status_code == 429
    assert get(TRACK, token=None).status_code == 401


def test_clear_faults(replica: SpotifyReplica, search: Get) -> None:
    replica.inject("500", 10)
    replica.clear_faults()

    assert search(FEW_RELEASES).status_code == 200


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("429", Fault("429")),
        ("429:3", Fault("429", 3)),
        ("quota:1:retry_after=7200", Fault("quota", 1, retry_after=7200)),
        ("503:2:route=search", Fault("503", 2, route="search")),
        ("slow:1:delay=2.5", Fault("slow", 1, delay=2.5)),
        ("status:1:status=418:route=token", Fault("status", 1, route="token", status=418)),
        ("drop:isrc=usrc17607839", Fault("drop", isrc="USRC17607839")),
        ("HANG:2:retry-after=1", Fault("hang", 2, retry_after=1)),
    ],
)
def test_fault_specs_parse(spec: str, expected: Fault) -> None:
    assert parse_fault_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", "unknown fault kind 'nope'"),
        ("429:0", "count of at least 1"),
        ("429:x", "invalid literal"),
        ("429:1:2", "expected key=value"),
        ("429:route=albums", "unknown route 'albums'"),
        ("429:colour=red", "unknown key 'colour'"),
        ("status:1", "status=400..599"),
        ("status:1:status=200", "status=400..599"),
        ("slow:1", "delay=SECONDS"),
    ],
)
def test_invalid_fault_specs_are_refused_with_a_reason(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault_spec(spec)


def test_inject_validates_like_the_spec_parser(replica: SpotifyReplica) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        replica.inject("418")
    assert replica.pending_faults() == []


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [
        (Fault("429_bare"), None),
        (Fault("429", retry_after_raw=""), ""),
        (Fault("429", retry_after_raw="0"), "0"),
        (Fault("429", retry_after_raw="-5"), "-5"),
        (Fault("429", retry_after_raw="soon"), "soon"),
        (Fault("429", retry_after_raw="Wed, 21 Oct 2015 07:28:00 GMT"), "Wed, 21 Oct 2015 07:28:00 GMT"),
        (Fault("503", retry_after_raw="soon"), "soon"),
    ],
    ids=["absent", "empty", "zero", "negative", "words", "past-date", "on-a-503"],
)
def test_a_429_can_carry_any_retry_after_header_or_none(
    replica: SpotifyReplica, search: Get, fault: Fault, retry_after: str | None
) -> None:
    replica.add_fault(fault)

    response = search(FEW_RELEASES)

    assert response.status_code == (int(fault.kind) if fault.kind.isdigit() else 429)
    assert response.headers.get("Retry-After") == retry_after
    assert ("Retry-After" in response.headers) is (retry_after is not None)
    assert response.json()["error"]["status"] == response.status_code


def test_a_raw_retry_after_in_a_spec_keeps_its_colons_and_travels_as_json(replica: SpotifyReplica) -> None:
    spec = "429:3:route=search:retry_after_raw=Wed, 21 Oct 2015 07:28:00 GMT"
    fault = Fault("429", 3, route="search", retry_after_raw="Wed, 21 Oct 2015 07:28:00 GMT")
    assert parse_fault_spec(spec) == fault
    assert parse_fault_spec("429_bare:2") == Fault("429_bare", 2)
    assert parse_fault_spec("429:1:retry_after_raw=") == Fault("429", retry_after_raw="")
    answer = requests.post(f"{replica.root_url}/_replica/faults", json=fault.as_dict(), timeout=5)
    assert answer.json() == {"faults": [fault.as_dict()]}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("slow:1:delay=1:retry_after_raw=soon", "sends no Retry-After"),
        ("429_bare:1:retry_after_raw=5", "sends no Retry-After"),
    ],
)
def test_a_raw_retry_after_is_refused_where_no_header_is_sent(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault_spec(spec)


def test_a_raw_retry_after_cannot_smuggle_another_header() -> None:
    with pytest.raises(ValueError, match="control characters"):
        Fault("429", retry_after_raw="1\r\nSet-Cookie: x=y")

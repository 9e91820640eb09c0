"""The replica's responses conform to the public OpenAPI definition (sonallux/spotify-web-api 2026.5.31).

The schemas come from ``isrcdb/testing/spotify/data/openapi-schemas.json`` with ``$ref``s inlined (see
``isrcdb.testing.spotify.openapi``). One deliberate relaxation: the definition still lists the album's
``available_markets`` as required, but Spotify omits it in development mode (since 2026) and whenever ``market`` is
given; responses of those two kinds are validated with that one requirement removed. Everything else is strict.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import requests
from jsonschema import Draft202012Validator

from isrcdb.testing.spotify import DEVELOPMENT, SpotifyReplica
from isrcdb.testing.spotify.openapi import query_parameter, response_schema
from isrcdb.testing.spotify.profiles import OFFSET_MAX
from isrcdb.testing.spotify.sample import RESULT_COUNTS
from isrcdb.testing.spotify.synthetic import encode_track_id

if TYPE_CHECKING:
    from conftest import Get

CODES = [*sorted(RESULT_COUNTS), "QZSYN2600013", "QZSYN2612345"]
TRACK_IDS = [
    "0toNj4nh5bw8tYkvdEFZj2",
    "DspOwOsQ0G04QKXikKiRmr",
    "dM8DIKI7EjnNnphaCSwiQH",
    encode_track_id("QZSYN2600013", 0),
]
SHAPES = [("development", None), ("development", "US"), ("extended", None), ("extended", "JP")]


def without_album_markets_requirement(schema: Any) -> Any:
    relaxed = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "album_type" in node.get("properties", {}) and "available_markets" in node.get("required", []):
                node["required"] = [name for name in node["required"] if name != "available_markets"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(relaxed)
    return relaxed


def validator(response_name: str, profile: str, market: str | None) -> Draft202012Validator:
    schema = response_schema(response_name)
    if profile == "development" or market is not None:
        schema = without_album_markets_requirement(schema)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid(check: Draft202012Validator, body: Any) -> None:
    errors = sorted(check.iter_errors(body), key=lambda error: list(error.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


@pytest.fixture(params=SHAPES, ids=[f"{p}-{m or 'no-market'}" for p, m in SHAPES])
def shaped(
    request: pytest.FixtureRequest,
    make_replica: Callable[..., SpotifyReplica],
    connect: Callable[[SpotifyReplica], Get],
) -> tuple[Get, str, str | None]:
    profile, market = request.param
    return connect(make_replica(profile=profile)), profile, market


def test_search_responses_conform(shaped: tuple[Get, str, str | None]) -> None:
    get, profile, market = shaped
    check = validator("SearchItems", profile, market)
    for code in CODES:
        params = {"q": f"isrc:{code}", "type": "track", "limit": 10, **({"market": market} if market else {})}
        assert_valid(check, get("/search", params).json())


def test_track_responses_conform(shaped: tuple[Get, str, str | None]) -> None:
    get, profile, market = shaped
    check = validator("OneTrack", profile, market)
    for track_id in TRACK_IDS:
        assert_valid(check, get(f"/tracks/{track_id}", {"market": market} if market else None).json())


def test_several_tracks_response_conforms(
    make_replica: Callable[..., SpotifyReplica], connect: Callable[[SpotifyReplica], Get]
) -> None:
    get = connect(make_replica(profile="extended"))

    body = get("/tracks", {"ids": ",".join(TRACK_IDS)}).json()

    assert_valid(validator("ManyTracks", "extended", None), body)


def error_responses(
    replica: SpotifyReplica, get: Get, session: requests.Session
) -> list[tuple[str, requests.Response]]:
    replica.inject("429", route="search")
    replica.inject("quota", route="search")
    replica.inject("503", route="search")
    search = {"q": "isrc:USRC17607839", "type": "track"}
    return [
        ("TooManyRequests", get("/search", search)),
        ("TooManyRequests", get("/search", search)),
        ("BadRequest", get("/search", search)),  # any status: the 503 body has the same schema
        ("Unauthorized", get("/search", search, token="nope")),
        ("BadRequest", get("/search", search, headers={"Authorization": "Basic x"})),
        ("BadRequest", get("/search", {"q": "isrc:USRC17607839", "type": "track", "limit": 99})),
        ("BadRequest", get("/tracks/nope")),
        ("NotFound", get("/tracks/0000000000000000000000")),
        ("Forbidden", get("/tracks", {"ids": "0toNj4nh5bw8tYkvdEFZj2"})),
        ("NotFound", session.get(f"{replica.root_url}/v2/nothing")),
    ]


def test_error_responses_conform(replica: SpotifyReplica, get: Get, session: requests.Session) -> None:
    for name, response in error_responses(replica, get, session):
        assert response.status_code >= 400
        assert response.json()["error"]["status"] == response.status_code
        assert_valid(validator(name, "extended", None), response.json())


def test_development_limits_match_the_published_definition() -> None:
    limit = query_parameter("/search", "limit")["schema"]
    offset = query_parameter("/search", "offset")["schema"]

    assert (limit["default"], limit["maximum"], limit["minimum"]) == (
        DEVELOPMENT.limit_default,
        DEVELOPMENT.limit_max,
        1,
    )
    assert (offset["default"], offset["maximum"]) == (0, OFFSET_MAX)


def test_the_strict_schema_does_reject_a_development_album() -> None:
    strict = Draft202012Validator(response_schema("OneTrack"))
    album = {
        "album_type": "album",
        "artists": [],
        "external_urls": {},
        "href": "h",
        "id": "i",
        "images": [],
        "name": "n",
        "release_date": "2020",
        "release_date_precision": "year",
        "total_tracks": 1,
        "type": "album",
        "uri": "u",
    }

    assert not strict.is_valid({"album": album})
    assert Draft202012Validator(without_album_markets_requirement(response_schema("OneTrack"))).is_valid(
        {"album": album}
    )
    assert not strict.is_valid({"album": {**album, "available_markets": [], "type": "single"}})

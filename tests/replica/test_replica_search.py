"""``GET /v1/search``: ISRC filter, validation, paging and ``market``, in both profiles."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from isrcdb.testing.spotify import SpotifyReplica
from isrcdb.testing.spotify.sample import (
    FEW_RELEASES,
    MANY_RELEASES,
    NOT_FOUND,
    RESULT_COUNTS,
    STRAY_ISRC,
    UNNORMALISED_IN_DATA,
    WITH_STRAY_RESULT,
)

if TYPE_CHECKING:
    from conftest import Get


def error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "message": message}}


def params_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize(("isrc", "total"), sorted(RESULT_COUNTS.items()))
def test_search_finds_every_sample_release_of_an_isrc(search: Get, isrc: str, total: int) -> None:
    body = search(isrc, limit=10).json()["tracks"]

    assert body["total"] == total
    assert len(body["items"]) == min(total, 10)


def test_an_isrc_without_releases_is_200_with_an_empty_page(search: Get, replica: SpotifyReplica) -> None:
    response = search(NOT_FOUND[0])

    assert response.status_code == 200
    assert response.json() == {
        "tracks": {
            "href": f"{replica.api_url}/search?offset=0&limit=5&query=isrc%3A{NOT_FOUND[0]}&type=track",
            "items": [],
            "limit": 5,
            "next": None,
            "offset": 0,
            "previous": None,
            "total": 0,
        }
    }


@pytest.mark.parametrize(
    "spelling", ["USRC17607839", "usrc17607839", "US-RC1-76-07839", "US RC1 76 07839", " us-rc1-76-07839 "]
)
def test_the_isrc_filter_is_matched_in_normal_form(get: Get, spelling: str) -> None:
    body = get("/search", {"q": f"isrc:{spelling}", "type": "track"}).json()

    assert body["tracks"]["total"] == 3


def test_items_whose_stored_isrc_is_lower_case_and_hyphenated_are_found(search: Get) -> None:
    items = search(UNNORMALISED_IN_DATA).json()["tracks"]["items"]

    assert sorted(item["external_ids"]["isrc"] for item in items) == ["DEA621100512", "de-a62-11-00512"]


def test_a_search_can_return_a_track_with_another_isrc(search: Get) -> None:
    items = search(WITH_STRAY_RESULT).json()["tracks"]["items"]

    assert [item["external_ids"]["isrc"] for item in items] == [WITH_STRAY_RESULT, WITH_STRAY_RESULT, STRAY_ISRC]


@pytest.mark.parametrize(
    "query",
    [
        f"isrc:{FEW_RELEASES} OR isrc:{MANY_RELEASES}",
        f"isrc:{FEW_RELEASES} isrc:{MANY_RELEASES}",
        f"isrc:{FEW_RELEASES} year:2017",
        "Paper Lanterns",
        f"track:{FEW_RELEASES}",
    ],
)
def test_anything_but_a_lone_isrc_filter_finds_nothing(get: Get, query: str) -> None:
    body = get("/search", {"q": query, "type": "track"}).json()

    assert body["tracks"]["total"] == 0
    assert body["tracks"]["items"] == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "track"}, error(400, "No search query")),
        ({"q": "", "type": "track"}, error(400, "No search query")),
        ({"q": "isrc:USRC17607839"}, error(400, "Missing parameter type")),
        ({"q": "isrc:USRC17607839", "type": "tracks"}, error(400, "Bad search type field tracks")),
        ({"q": "isrc:USRC17607839", "type": "track", "limit": "11"}, error(400, "Invalid limit")),
        ({"q": "isrc:USRC17607839", "type": "track", "limit": "0"}, error(400, "Invalid limit")),
        ({"q": "isrc:USRC17607839", "type": "track", "limit": "five"}, error(400, "Invalid limit")),
        ({"q": "isrc:USRC17607839", "type": "track", "offset": "-1"}, error(400, "Invalid offset")),
        ({"q": "isrc:USRC17607839", "type": "track", "offset": "1001"}, error(400, "Invalid offset")),
        ({"q": "isrc:USRC17607839", "type": "track", "market": "USA"}, error(400, "Invalid market code")),
    ],
)
def test_invalid_search_parameters_are_400(get: Get, params: dict[str, str], expected: dict[str, Any]) -> None:
    response = get("/search", params)

    assert response.status_code == 400
    assert response.json() == expected
    assert response.headers["Cache-Control"] == "private, max-age=0"


@pytest.mark.parametrize(
    ("profile", "default", "maximum"),
    [("development", 5, 10), ("extended", 20, 50)],
)
def test_limit_default_and_maximum_follow_the_profile(
    make_replica: Callable[..., SpotifyReplica],
    connect: Callable[[SpotifyReplica], Get],
    profile: str,
    default: int,
    maximum: int,
) -> None:
    get = connect(make_replica(profile=profile))
    query = {"q": f"isrc:{MANY_RELEASES}", "type": "track"}

    assert get("/search", query).json()["tracks"]["limit"] == default
    assert get("/search", {**query, "limit": maximum}).json()["tracks"]["limit"] == maximum
    assert get("/search", {**query, "limit": maximum + 1}).json() == error(400, "Invalid limit")


def test_following_next_reads_every_page_once(get: Get, replica: SpotifyReplica, session: requests.Session) -> None:
    page = get("/search", {"q": f"isrc:{MANY_RELEASES}", "type": "track", "limit": 5}).json()["tracks"]
    pages = [page]
    while page["next"]:
        page = get(page["next"].removeprefix(replica.api_url)).json()["tracks"]
        pages.append(page)

    ids = [item["id"] for page in pages for item in page["items"]]
    assert [len(page["items"]) for page in pages] == [5, 5, 3]
    assert [page["offset"] for page in pages] == [0, 5, 10]
    assert len(set(ids)) == 13
    assert all(page["total"] == 13 for page in pages)


def test_paging_links_echo_the_query_as_query_and_step_by_limit(get: Get, replica: SpotifyReplica) -> None:
    page = get("/search", {"q": f"isrc:{MANY_RELEASES}", "type": "track", "limit": 4, "offset": 4}).json()["tracks"]

    assert page["href"].startswith(f"{replica.api_url}/search?")
    assert params_of(page["href"]) == {"query": f"isrc:{MANY_RELEASES}", "type": "track", "offset": "4", "limit": "4"}
    assert params_of(page["next"])["offset"] == "8"
    assert params_of(page["previous"])["offset"] == "0"
    assert "q" not in params_of(page["href"])


def test_last_page_has_no_next_and_first_page_no_previous(search: Get) -> None:
    first = search(MANY_RELEASES, limit=10).json()["tracks"]
    last = search(MANY_RELEASES, limit=10, offset=10).json()["tracks"]
    beyond = search(MANY_RELEASES, limit=10, offset=20).json()["tracks"]

    assert first["previous"] is None and first["next"] is not None
    assert last["next"] is None and last["previous"] is not None
    assert beyond["items"] == [] and beyond["total"] == 13


def test_result_order_is_stable_relevance_not_release_date(search: Get) -> None:
    first = [item["id"] for item in search(MANY_RELEASES, limit=10).json()["tracks"]["items"]]
    again = [item["id"] for item in search(MANY_RELEASES, limit=10).json()["tracks"]["items"]]
    dates = [item["album"]["release_date"] for item in search(MANY_RELEASES, limit=10).json()["tracks"]["items"]]

    assert first == again
    assert dates != sorted(dates)


def test_same_recording_differs_in_title_and_duration_across_releases(search: Get) -> None:
    items = search(MANY_RELEASES, limit=10).json()["tracks"]["items"]

    assert "Soleil d'hiver - Radio Mix" in {item["name"] for item in items}
    durations = {item["duration_ms"] for item in items}
    assert len(durations) > 1 and max(durations) - min(durations) <= 3000
    assert {"album", "single", "compilation"} <= {item["album"]["album_type"] for item in items}
    assert "Various Artists" in {item["album"]["artists"][0]["name"] for item in items}


def test_market_adds_is_playable_and_drops_available_markets(
    make_replica: Callable[..., SpotifyReplica], connect: Callable[[SpotifyReplica], Get]
) -> None:
    get = connect(make_replica(profile="extended"))
    query = {"q": f"isrc:{MANY_RELEASES}", "type": "track", "limit": 20}

    without = get("/search", query).json()["tracks"]["items"]
    with_market = get("/search", {**query, "market": "US"}).json()["tracks"]["items"]

    assert all("available_markets" in item and "is_playable" not in item for item in without)
    assert all("available_markets" not in item and "available_markets" not in item["album"] for item in with_market)
    playable = {item["album"]["name"]: item["is_playable"] for item in with_market}
    assert playable["Lumières"] is True
    assert playable["Lumières (Japan Edition)"] is False
    japan = next(item for item in with_market if item["album"]["name"] == "Lumières (Japan Edition)")
    assert japan["restrictions"] == {"reason": "market"}


def test_market_is_echoed_in_the_paging_links(search: Get) -> None:
    page = search(MANY_RELEASES, market="se").json()["tracks"]

    assert params_of(page["href"])["market"] == "SE"
    assert params_of(page["next"])["market"] == "SE"


def test_query_parameter_is_accepted_as_a_synonym_of_q(get: Get) -> None:
    body = get("/search", {"query": f"isrc:{FEW_RELEASES}", "type": "track"}).json()

    assert body["tracks"]["total"] == 3


def test_other_types_get_empty_pages(get: Get) -> None:
    body = get("/search", {"q": f"isrc:{FEW_RELEASES}", "type": "album,track,artist"}).json()

    assert list(body) == ["albums", "tracks", "artists"]
    assert body["albums"]["total"] == 0 and body["artists"]["total"] == 0
    assert body["tracks"]["total"] == 3


def test_search_only_finds_tracks_with_type_track(get: Get) -> None:
    body = get("/search", {"q": f"isrc:{FEW_RELEASES}", "type": "album"}).json()

    assert body == {"albums": {**body["albums"], "items": [], "total": 0}}


def test_search_response_headers(search: Get) -> None:
    response = search(FEW_RELEASES)

    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=7200"

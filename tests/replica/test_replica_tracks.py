"""``GET /v1/tracks/{id}`` and ``GET /v1/tracks?ids=``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from isrcdb.testing.spotify import SpotifyReplica
from isrcdb.testing.spotify.sample import NO_ISRC_TRACK_ID
from isrcdb.testing.spotify.synthetic import encode_track_id

if TYPE_CHECKING:
    from conftest import Get

PAPER_LANTERNS_ALBUM = "0toNj4nh5bw8tYkvdEFZj2"
PAPER_LANTERNS_SINGLE = "f0nLqh13v1c8GJE4AQcMFC"
UNKNOWN_ID = "0000000000000000000000"


def error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "message": message}}


def test_a_known_id_gives_the_track(get: Get) -> None:
    response = get(f"/tracks/{PAPER_LANTERNS_ALBUM}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == PAPER_LANTERNS_ALBUM
    assert body["name"] == "Paper Lanterns"
    assert body["external_ids"] == {"isrc": "USRC17607839"}
    assert response.headers["Cache-Control"] == "public, max-age=0"
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["ETag"].startswith('"MC-')


@pytest.mark.parametrize(
    ("track_id", "status", "expected"),
    [
        (UNKNOWN_ID, 404, error(404, "non existing id")),
        ("tooshort", 400, error(400, "invalid id")),
        ("0toNj4nh5bw8tYkvdEFZj2x", 400, error(400, "invalid id")),
        ("0toNj4nh5bw8tYkvdEFZj-", 400, error(400, "invalid id")),
    ],
)
def test_unknown_or_invalid_ids(get: Get, track_id: str, status: int, expected: dict[str, Any]) -> None:
    response = get(f"/tracks/{track_id}")

    assert response.status_code == status
    assert response.json() == expected
    assert response.headers["Cache-Control"] == "private, max-age=0"


def test_a_track_without_isrc_is_reachable_by_id(get: Get) -> None:
    body = get(f"/tracks/{NO_ISRC_TRACK_ID}").json()

    assert body["external_ids"] == {}
    assert body["name"] == "Interlude (Tape Hiss)"


def test_etag_is_stable_and_if_none_match_gives_304(get: Get) -> None:
    first = get(f"/tracks/{PAPER_LANTERNS_ALBUM}")
    etag = first.headers["ETag"]

    again = get(f"/tracks/{PAPER_LANTERNS_ALBUM}")
    revalidated = get(f"/tracks/{PAPER_LANTERNS_ALBUM}", headers={"If-None-Match": etag})
    other = get(f"/tracks/{PAPER_LANTERNS_SINGLE}")

    assert again.headers["ETag"] == etag
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    assert revalidated.headers["ETag"] == etag
    assert other.headers["ETag"] != etag


def test_market_makes_a_track_playable_or_not(get: Get) -> None:
    playable = get(f"/tracks/{PAPER_LANTERNS_ALBUM}", {"market": "GB"}).json()
    nowhere = get("/tracks/mjIVtVsP8A2ygNjTrmhJzq", {"market": "GB"}).json()

    assert playable["is_playable"] is True
    assert nowhere["is_playable"] is False
    assert nowhere["restrictions"] == {"reason": "market"}


def test_synthetic_ids_are_looked_up(get: Get) -> None:
    track_id = encode_track_id("QZSYN2600013", 0)

    body = get(f"/tracks/{track_id}").json()

    assert body["id"] == track_id
    assert body["external_ids"] == {"isrc": "QZSYN2600013"}


def test_several_tracks_is_forbidden_in_development(get: Get) -> None:
    response = get("/tracks", {"ids": f"{PAPER_LANTERNS_ALBUM},{PAPER_LANTERNS_SINGLE}"})

    assert response.status_code == 403
    assert response.json() == error(403, "Forbidden")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"


@pytest.fixture
def extended(make_replica: Callable[..., SpotifyReplica], connect: Callable[[SpotifyReplica], Get]) -> Get:
    return connect(make_replica(profile="extended"))


def test_several_tracks_works_in_extended_with_null_for_unknown_ids(extended: Get) -> None:
    response = extended("/tracks", {"ids": f"{PAPER_LANTERNS_ALBUM},{UNKNOWN_ID},{PAPER_LANTERNS_SINGLE}"})

    assert response.status_code == 200
    tracks = response.json()["tracks"]
    assert [track and track["id"] for track in tracks] == [PAPER_LANTERNS_ALBUM, None, PAPER_LANTERNS_SINGLE]
    assert tracks[0]["popularity"] == 61
    assert response.headers["Cache-Control"] == "public, max-age=0"
    assert "ETag" in response.headers


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (None, error(400, "invalid request")),
        ("", error(400, "invalid request")),
        (f"{PAPER_LANTERNS_ALBUM},nope", error(400, "invalid id")),
        (",".join([PAPER_LANTERNS_ALBUM] * 51), error(400, "Too many ids requested")),
    ],
)
def test_several_tracks_errors_in_extended(extended: Get, ids: str | None, expected: dict[str, Any]) -> None:
    response = extended("/tracks", None if ids is None else {"ids": ids})

    assert response.status_code == 400
    assert response.json() == expected


def test_fifty_ids_are_allowed(extended: Get) -> None:
    response = extended("/tracks", {"ids": ",".join([PAPER_LANTERNS_ALBUM] * 50)})

    assert response.status_code == 200
    assert len(response.json()["tracks"]) == 50


@pytest.mark.parametrize(("method", "status"), [("POST", 405), ("DELETE", 405)])
def test_web_api_routes_only_take_get(
    replica: SpotifyReplica, token: str, session: Any, method: str, status: int
) -> None:
    response = session.request(
        method, f"{replica.api_url}/tracks/{PAPER_LANTERNS_ALBUM}", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == status
    assert response.json() == error(405, "Method not allowed")


@pytest.mark.parametrize("path", ["/v1/albums/0toNj4nh5bw8tYkvdEFZj2", "/v1/tracks/a/b"])
def test_unknown_web_api_paths_are_404_after_the_token_check(get: Get, path: str) -> None:
    response = get(path.removeprefix("/v1"))

    assert response.status_code == 404
    assert response.json() == error(404, "Service not found")

"""Real recorded Spotify responses as a catalogue, served in the 2026 development shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from isrcdb.testing.spotify import Catalogue, SpotifyReplica
from isrcdb.testing.spotify.catalogue import REAL_DIR

if TYPE_CHECKING:
    from conftest import Get

REMOVED_FROM_TRACK = {"popularity", "available_markets", "linked_from"}
REMOVED_FROM_ALBUM = {"available_markets", "album_group", "label", "popularity"}
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "spotify-real-responses"
UNLICENSED = [
    ("01_credits_spot_isrc_JPPO02100907_total6.json", "JPPO02100907", 6),
    ("02_credits_spot_isrc_JPB609520101_total5.json", "JPB609520101", 5),
    ("03_credits_spot_isrc_JPE302200934_total3.json", "JPE302200934", 3),
]


@pytest.fixture
def real(make_replica: Callable[..., SpotifyReplica], connect: Callable[[SpotifyReplica], Get]) -> Get:
    return connect(make_replica(catalogue=Catalogue.real()))


def search_all(get: Get, isrc: str, limit: int) -> list[dict[str, Any]]:
    """Every item of an ISRC search, following ``offset`` page by page."""
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = get("/search", {"q": f"isrc:{isrc}", "type": "track", "limit": limit, "offset": offset}).json()
        items.extend(page["tracks"]["items"])
        if page["tracks"]["next"] is None:
            return items
        offset += limit


def assert_development_shape(item: dict[str, Any]) -> None:
    assert not REMOVED_FROM_TRACK & set(item), item["id"]
    assert not REMOVED_FROM_ALBUM & set(item["album"]), item["id"]
    assert item.get("preview_url") is None


def test_only_licensed_recordings_are_bundled() -> None:
    bundled = sorted(path.name for path in REAL_DIR.glob("*.json"))
    sources = (REAL_DIR / "SOURCES.md").read_text(encoding="utf-8")

    assert len(bundled) == 9
    assert not [name for name in bundled if "credits_spot" in name]
    assert all(f"`{name}`" in sources for name in bundled)
    assert (REAL_DIR / "LICENSE-Apache-2.0.txt").is_file()


@pytest.mark.parametrize(
    ("isrc", "name"),
    [
        ("USQ4E1300686", "Happy"),
        ("GB2LD2110301", "Ropes"),
        ("USUM72409273", "Die With A Smile"),
        ("USRC11301695", "Timber"),
        ("USIR20400274", "Mr. Brightside"),
        ("GBARL1401524", "Uptown Funk"),
        ("US3M51001211", "Test Drive - From How To Train Your Dragon Music From The Motion Picture"),
    ],
)
def test_real_isrc_search_answers_in_development_shape(real: Get, isrc: str, name: str) -> None:
    page = real("/search", {"q": f"isrc:{isrc}", "type": "track"}).json()["tracks"]

    assert page["total"] == 1
    item = page["items"][0]
    assert item["name"].startswith(name)
    assert item["external_ids"]["isrc"] == isrc
    assert_development_shape(item)


def test_every_real_isrc_is_found(real: Get) -> None:
    catalogue = Catalogue.real()

    assert len(catalogue.isrcs()) == 17
    for isrc in catalogue.isrcs():
        items = real("/search", {"q": f"isrc:{isrc}", "type": "track"}).json()["tracks"]["items"]
        assert [item["external_ids"]["isrc"] for item in items] == [isrc]


def test_the_fuller_recording_of_a_track_wins(real: Get) -> None:
    item = real("/tracks/6NPVjNh8Jhru9xOmyQigds").json()

    assert item["album"]["release_date"] == "2013-06-18"  # from the 2021 track object, not the 2016 search item


def test_real_tracks_keep_their_fields_in_extended(
    make_replica: Callable[..., SpotifyReplica], connect: Callable[[SpotifyReplica], Get]
) -> None:
    get = connect(make_replica(catalogue=Catalogue.real(), profile="extended"))

    item = get("/tracks/1zHlj4dQ8ZAtrayhuDDmkY").json()
    recorded = json.loads((REAL_DIR / "13_zmb3_get_track_timber.json").read_text(encoding="utf-8"))

    assert item == recorded


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/spotify-real-responses is not beside the repository")
@pytest.mark.parametrize(("name", "isrc", "total"), UNLICENSED)
def test_recorded_multi_release_searches_are_served_across_pages(
    make_replica: Callable[..., SpotifyReplica],
    connect: Callable[[SpotifyReplica], Get],
    name: str,
    isrc: str,
    total: int,
) -> None:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{name} is not in {SHARED}")
    recorded = [item["id"] for item in json.loads(path.read_text(encoding="utf-8"))["tracks"]["items"]]
    get = connect(make_replica(catalogue=Catalogue.from_files([path])))

    items = search_all(get, isrc, limit=2)

    assert [item["id"] for item in items] == recorded
    assert len(items) == total
    for item in items:
        assert_development_shape(item)

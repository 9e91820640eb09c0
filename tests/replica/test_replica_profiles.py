"""The development and extended profiles: which fields a track keeps."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from isrcdb.testing.spotify import DEVELOPMENT, EXTENDED, SpotifyReplica
from isrcdb.testing.spotify.profiles import get_profile, shape_track
from isrcdb.testing.spotify.sample import FEW_RELEASES

if TYPE_CHECKING:
    from conftest import Get

REMOVED_FROM_TRACK = {"popularity", "available_markets", "linked_from"}
REMOVED_FROM_ALBUM = {"available_markets", "album_group", "label", "popularity"}


def paper_lanterns(get: Get) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get("/search", {"q": f"isrc:{FEW_RELEASES}", "type": "track"}).json()["tracks"][
        "items"
    ]
    return items


def test_development_strips_the_fields_spotify_removed_in_2026(get: Get) -> None:
    items = paper_lanterns(get)

    assert len(items) == 3
    for item in items:
        assert not REMOVED_FROM_TRACK & set(item)
        assert not REMOVED_FROM_ALBUM & set(item["album"])
        assert item["preview_url"] is None
        assert item["external_ids"] == {"isrc": FEW_RELEASES}


def test_extended_keeps_every_stored_field(
    make_replica: Callable[..., SpotifyReplica], connect: Callable[[SpotifyReplica], Get]
) -> None:
    items = paper_lanterns(connect(make_replica(profile="extended")))

    assert all({"popularity", "available_markets"} <= set(item) for item in items)
    assert all({"available_markets", "label", "popularity"} <= set(item["album"]) for item in items)
    assert "linked_from" in items[2] and "album_group" in items[2]["album"]
    assert items[0]["preview_url"] is not None


def test_development_is_the_default(replica: SpotifyReplica) -> None:
    assert replica.profile is DEVELOPMENT


@pytest.mark.parametrize(
    ("profile", "limit_default", "limit_max", "batch"),
    [(DEVELOPMENT, 5, 10, False), (EXTENDED, 20, 50, True)],
)
def test_profile_limits(profile: Any, limit_default: int, limit_max: int, batch: bool) -> None:
    assert (profile.limit_default, profile.limit_max, profile.batch_tracks) == (limit_default, limit_max, batch)


def test_unknown_profile_names_the_choices() -> None:
    with pytest.raises(ValueError, match="development, extended"):
        get_profile("premium")


def test_shaping_never_changes_the_stored_track() -> None:
    stored = {
        "id": "x",
        "popularity": 3,
        "available_markets": ["US"],
        "preview_url": "https://p.scdn.co/mp3-preview/abc",
        "album": {"name": "A", "label": "L", "available_markets": ["US"]},
    }
    snapshot = repr(stored)

    shaped = shape_track(stored, DEVELOPMENT, market="FR")

    assert repr(stored) == snapshot
    assert shaped == {
        "id": "x",
        "preview_url": None,
        "album": {"name": "A"},
        "is_playable": False,
        "restrictions": {"reason": "market"},
    }

"""Parsing Spotify's JSON: every field optional, only a wrong overall shape is an error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isrcdb.errors import BadResponse
from isrcdb.spotify.parse import parse_search, parse_track

TRACK_2015: dict[str, Any] = {  # the 2015-2016 shape: no is_local, album without artists or release_date
    "album": {"album_type": "album", "id": "al1", "name": "Album", "images": [{"url": "https://i/640"}]},
    "artists": [{"id": "ar1", "name": "Artist", "external_urls": {"spotify": "https://open.spotify.com/artist/ar1"}}],
    "duration_ms": 231000,
    "explicit": False,
    "external_ids": {"isrc": "us-rc1-76-07839"},
    "id": "t1",
    "name": "Song",
    "external_urls": {"spotify": "https://open.spotify.com/track/t1"},
    "popularity": 50,
}


def test_old_shape_parses_with_missing_fields_as_none() -> None:
    track = parse_track(TRACK_2015)
    assert track is not None
    assert (track.id, track.name, track.isrc, track.duration_ms, track.explicit) == (
        "t1",
        "Song",
        "USRC17607839",
        231000,
        False,
    )
    assert track.album is not None and track.album.release_date is None and track.album.artists == ()
    assert track.album.image_url == "https://i/640"
    assert [a.name for a in track.artists] == ["Artist"]
    assert json.loads(track.raw_json) == TRACK_2015
    assert track.data == TRACK_2015  # kept parsed, for storing without decoding raw_json again


@pytest.mark.parametrize("item", [None, 3, "x", {}, {"id": None}, {"id": ""}])
def test_items_without_an_id_are_skipped(item: Any) -> None:
    assert parse_track(item) is None


def test_wrongly_typed_fields_are_treated_as_missing() -> None:
    track = parse_track(
        {
            "id": "t",
            "name": 5,
            "duration_ms": "long",
            "explicit": "yes",
            "artists": "nobody",
            "album": [],
            "external_ids": None,
        }
    )
    assert track is not None
    assert (track.name, track.duration_ms, track.explicit, track.artists, track.album, track.isrc) == (
        "",
        None,
        None,
        (),
        None,
        None,
    )


def test_search_page_counts_every_item_received() -> None:
    page = parse_search({"tracks": {"items": [TRACK_2015, None], "total": 12, "offset": 10, "limit": 10, "next": None}})
    assert (len(page.items), page.received, page.total, page.offset) == (1, 2, 12, 10)


@pytest.mark.parametrize("payload", [None, [], {}, {"tracks": "oops"}, {"tracks": {"items": "none"}}, {"error": {}}])
def test_a_wrong_shape_is_a_bad_response(payload: Any) -> None:
    with pytest.raises(BadResponse, match="unexpected shape"):
        parse_search(payload)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@given(JSON)
def test_the_parser_never_crashes_on_arbitrary_json(payload: Any) -> None:
    try:
        parse_search(payload)
    except BadResponse:
        pass
    parse_track(payload)


@given(st.dictionaries(st.sampled_from(["id", "name", "album", "artists", "external_ids", "duration_ms"]), JSON))
def test_the_track_parser_never_crashes_on_track_like_objects(obj: dict[str, Any]) -> None:
    parse_track(obj)
    parse_search({"tracks": {"items": [obj], "total": 1}})

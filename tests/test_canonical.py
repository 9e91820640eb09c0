"""The canonical pick among an ISRC's releases."""

from __future__ import annotations

import pytest

from isrcdb.canonical import canonical_order, release_day
from isrcdb.spotify.parse import Album, Artist, Track

ME = Artist("artist-me", "Me")
VARIOUS = Artist("0LyfQWJT6nXafLPZqxe9Of", "Various Artists")


def track(track_id: str, album_type: str, date: str | None, album_artists: tuple[Artist, ...] = (ME,)) -> Track:
    album = Album(
        id=f"album-{track_id}", name=track_id, album_type=album_type, release_date=date, artists=album_artists
    )
    return Track(id=track_id, name="Song", isrc="USRC17607839", album=album, artists=(ME,))


@pytest.mark.parametrize(
    ("date", "day"),
    [("2021", "2021-01-01"), ("2021-05", "2021-05-01"), ("2021-05-14", "2021-05-14"), (None, "9999-12-31")],
)
def test_release_dates_of_any_precision_sort_as_their_first_day(date: str | None, day: str) -> None:
    assert release_day(date) == day


@pytest.mark.parametrize(
    ("tracks", "first"),
    [
        # 1. the artist's own release beats an earlier various-artists compilation typed "album"
        ([track("va", "album", "1990", (VARIOUS,)), track("own", "album", "2000")], "own"),
        # 2. album or single before compilation, even when the compilation is the artist's own and earlier
        ([track("best-of", "compilation", "1999"), track("single", "single", "2005")], "single"),
        # 3. earliest release date; a year-only date counts as 1 January
        ([track("album", "album", "2021-03-01"), track("single", "single", "2021")], "single"),
        ([track("later", "single", "2021-02"), track("earlier", "album", "2021-01-31")], "earlier"),
        # 4. the Spotify id breaks ties
        ([track("b", "album", "2020-01-01"), track("a", "single", "2020-01-01")], "a"),
        # no date sorts after any date
        ([track("undated", "album", None), track("dated", "album", "2030-01-01")], "dated"),
    ],
)
def test_canonical_order_follows_the_documented_rule(tracks: list[Track], first: str) -> None:
    assert canonical_order(tracks)[0].id == first
    assert canonical_order(reversed(tracks))[0].id == first

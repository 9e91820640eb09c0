"""Which of an ISRC's Spotify tracks is the canonical one.

One recording usually sits on several releases: the single, the album, deluxe editions, compilations. The
canonical match is the first after sorting by:

1. releases whose album artists include one of the track's artists, before the others (various-artists
   compilations come last);
2. ``album_type`` album or single before compilation (and anything else);
3. earliest ``release_date`` (a year or month precision date counts as its first day; no date sorts last);
4. Spotify id, so that the order is total and stable.
"""

from __future__ import annotations

from collections.abc import Iterable

from isrcdb.spotify.parse import Track

_TYPE_RANK = {"album": 0, "single": 0, "compilation": 1}


def release_day(date: str | None) -> str:
    """A release date as a sortable full day: ``2021`` becomes ``2021-01-01``; missing sorts after any date."""
    if not date:
        return "9999-12-31"
    parts = date.split("-")
    while len(parts) < 3:
        parts.append("01")
    return "-".join(part.zfill(2) for part in parts[:3])


def sort_key(track: Track) -> tuple[int, int, str, str]:
    album = track.album
    track_artists = {artist.id or artist.name for artist in track.artists}
    album_artists = {artist.id or artist.name for artist in album.artists} if album else set()
    own_release = 0 if track_artists & album_artists else 1
    type_rank = _TYPE_RANK.get((album.album_type or "").lower(), 2) if album else 2
    return (own_release, type_rank, release_day(album.release_date if album else None), track.id)


def canonical_order(tracks: Iterable[Track]) -> list[Track]:
    """The tracks sorted so that the canonical match comes first."""
    return sorted(tracks, key=sort_key)

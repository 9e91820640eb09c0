"""Spotify JSON to frozen dataclasses.

Every field is parsed as optional: responses from 2015 lack ``is_local`` and the album's artists and release date,
development-mode responses since 2026 lack ``popularity`` and ``available_markets``. A value of the wrong type is
treated as missing. Only a response whose overall shape is wrong (no paging object, ``items`` not a list) is an
error, :class:`~isrcdb.errors.BadResponse`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from isrcdb.errors import BadResponse
from isrcdb.isrc import normalise


@dataclass(frozen=True)
class Artist:
    id: str | None
    name: str
    spotify_url: str | None = None


@dataclass(frozen=True)
class Album:
    id: str | None
    name: str
    album_type: str | None = None
    release_date: str | None = None
    release_date_precision: str | None = None
    total_tracks: int | None = None
    spotify_url: str | None = None
    image_url: str | None = None
    artists: tuple[Artist, ...] = ()


@dataclass(frozen=True)
class Track:
    id: str
    name: str
    isrc: str | None
    album: Album | None
    artists: tuple[Artist, ...]
    disc_number: int | None = None
    track_number: int | None = None
    duration_ms: int | None = None
    explicit: bool | None = None
    spotify_url: str | None = None
    raw_json: str = "{}"
    data: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """Spotify's object as parsed (``raw_json`` decoded), kept so that storing the track does not parse it again;
    never modified."""


@dataclass(frozen=True)
class SearchPage:
    items: tuple[Track, ...]
    received: int
    """How many items the page held, null and unusable ones included (what the next offset advances by)."""
    total: int
    offset: int
    limit: int
    next: str | None


def _storable(text: str) -> str:
    """``text`` with lone surrogates (JSON's ``"\\ud800"`` decodes to one; SQLite text cannot hold it) as U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text


def _str(value: Any) -> str | None:
    return _storable(value) if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    """An integer SQLite can store (64-bit); anything else is treated as missing."""
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None


def json_text(obj: Any) -> str:
    """Spotify's JSON value as compact text, exactly; lone surrogates, if any, written as ``\\u`` escapes."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text if _storable(text) is text else json.dumps(obj, separators=(",", ":"))


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _url(obj: dict[str, Any]) -> str | None:
    return _str(_dict(obj.get("external_urls")).get("spotify"))


def parse_artist(obj: Any) -> Artist | None:
    if not isinstance(obj, dict):
        return None
    name = _str(obj.get("name"))
    if name is None:
        return None
    return Artist(id=_str(obj.get("id")), name=name, spotify_url=_url(obj))


def _artists(value: Any) -> tuple[Artist, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(artist for artist in map(parse_artist, value) if artist is not None)


def parse_album(obj: Any) -> Album | None:
    if not isinstance(obj, dict):
        return None
    images = obj.get("images")
    image_url = None
    if isinstance(images, list) and images:
        # Spotify lists the largest image first.
        image_url = _str(_dict(images[0]).get("url"))
    return Album(
        id=_str(obj.get("id")),
        name=_str(obj.get("name")) or "",
        album_type=_str(obj.get("album_type")),
        release_date=_str(obj.get("release_date")),
        release_date_precision=_str(obj.get("release_date_precision")),
        total_tracks=_int(obj.get("total_tracks")),
        spotify_url=_url(obj),
        image_url=image_url,
        artists=_artists(obj.get("artists")),
    )


def parse_track(obj: Any) -> Track | None:
    """A track object, or ``None`` when it is null or has no id (nothing could be stored for it)."""
    if not isinstance(obj, dict):
        return None
    track_id = _str(obj.get("id"))
    if not track_id:
        return None
    isrc = _str(_dict(obj.get("external_ids")).get("isrc"))
    return Track(
        id=track_id,
        name=_str(obj.get("name")) or "",
        isrc=normalise(isrc) if isrc else None,
        album=parse_album(obj.get("album")),
        artists=_artists(obj.get("artists")),
        disc_number=_int(obj.get("disc_number")),
        track_number=_int(obj.get("track_number")),
        duration_ms=_int(obj.get("duration_ms")),
        explicit=_bool(obj.get("explicit")),
        spotify_url=_url(obj),
        raw_json=json_text(obj),
        data=obj,
    )


def parse_search(payload: Any) -> SearchPage:
    """The ``tracks`` paging object of a search response."""
    paging = payload.get("tracks") if isinstance(payload, dict) else None
    if not isinstance(paging, dict) or not isinstance(paging.get("items"), list):
        raise BadResponse("Spotify's search answer has no list of tracks (unexpected shape)")
    items = tuple(track for track in map(parse_track, paging["items"]) if track is not None)
    total = _int(paging.get("total"))
    offset = _int(paging.get("offset")) or 0
    limit = _int(paging.get("limit")) or len(paging["items"])
    return SearchPage(
        items=items,
        received=len(paging["items"]),
        total=total if total is not None else offset + len(paging["items"]),
        offset=offset,
        limit=limit,
        next=_str(paging.get("next")),
    )

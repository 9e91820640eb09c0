"""What of Spotify's track and album objects the columns already hold, so that only the rest is stored as JSON.

Most of a track object is its columns again: its id three times over in URLs, its artists (ids in
``track_artists``, names in ``tracks.artist_names``), its numbers. :func:`track_template` and
:func:`album_template` build, from the values stored in the columns, exactly the keys that the view ``track_json``
rebuilds in SQL (migration ``0007_json_from_columns``, which mirrors these functions rule for rule). :func:`compact`
then keeps only Spotify's other keys, and only when every rebuilt key equals what Spotify sent: any difference
(``explicit`` sent as ``1``, an artist without an id, an ``href`` missing) and the row stores the whole object, as
before. Nothing Spotify sent is lost either way; a rule changes here only together with a migration that changes
the view the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from isrcdb.spotify.parse import json_text

if TYPE_CHECKING:
    from isrcdb.spotify.parse import Album, Track

OPEN = "https://open.spotify.com/"
API = "https://api.spotify.com/v1/"
COVER = "ab67616d0000b273"
"""Marks the 640x640 cover in an image URL; the 300 and 64 pixel ones differ only by this part (``COVERS``)."""
COVERS = ((640, COVER), (300, "ab67616d00001e02"), (64, "ab67616d00004851"))


def artists(ids: Sequence[str], names: Sequence[str]) -> list[dict[str, Any]]:
    """Spotify's artist objects, from the artists' ids (``track_artists``/``album_artists``) and stored names."""
    return [
        {
            "external_urls": {"spotify": f"{OPEN}artist/{artist_id}"},
            "href": f"{API}artists/{artist_id}",
            "id": artist_id,
            "name": name,
            "type": "artist",
            "uri": f"spotify:artist:{artist_id}",
        }
        for artist_id, name in zip(ids, names, strict=True)
    ]


def images(image_url: str) -> list[dict[str, Any]]:
    """An album's three covers as Spotify lists them, from the URL of the largest (``albums.image_url``)."""
    return [{"height": size, "url": image_url.replace(COVER, code), "width": size} for size, code in COVERS]


def track_template(track: Track, artist_ids: Sequence[str]) -> dict[str, Any]:
    """The keys of ``track``'s object that ``track_json`` rebuilds from its row in ``tracks``."""
    return {
        "artists": artists(artist_ids, [artist.name for artist in track.artists]),
        "disc_number": track.disc_number,
        "duration_ms": track.duration_ms,
        "explicit": track.explicit,
        "external_ids": {"isrc": track.isrc},
        "external_urls": {"spotify": f"{OPEN}track/{track.id}"},
        "href": f"{API}tracks/{track.id}",
        "id": track.id,
        "name": track.name,
        "track_number": track.track_number,
        "type": "track",
        "uri": f"spotify:track:{track.id}",
    }


def album_template(album: Album, artist_ids: Sequence[str], sent_images: Any) -> dict[str, Any]:
    """The keys of ``album``'s object that ``track_json`` rebuilds from its row in ``albums``.

    ``images`` is among them only when Spotify sent (``sent_images``) the three covers of its usual layout, which
    ``albums.image_url`` then rebuilds; other images stay in the stored rest, which the view reads first.
    """
    assert album.id is not None
    template: dict[str, Any] = {
        "album_type": album.album_type,
        "artists": artists(artist_ids, [artist.name for artist in album.artists]),
        "external_urls": {"spotify": f"{OPEN}album/{album.id}"},
        "href": f"{API}albums/{album.id}",
        "id": album.id,
        "name": album.name,
        "release_date": album.release_date,
        "release_date_precision": album.release_date_precision,
        "total_tracks": album.total_tracks,
        "type": "album",
        "uri": f"spotify:album:{album.id}",
    }
    if album.image_url is not None and COVER in album.image_url:
        covers = images(album.image_url)
        if _same(covers, sent_images):
            template["images"] = covers
    return template


def compact(obj: dict[str, Any], template: dict[str, Any]) -> tuple[str, bool]:
    """``(raw_json, json_from_columns)`` to store for Spotify's ``obj``: ``obj`` without the keys of ``template``,
    as compact JSON, when ``template`` rebuilds each of them exactly; otherwise the whole object, and ``False``."""
    for key, value in template.items():
        if key not in obj or not _same(obj[key], value):
            return json_text(obj), False
    return json_text({key: value for key, value in obj.items() if key not in template}), True


def _same(sent: Any, rebuilt: Any) -> bool:
    """Equal as JSON values, strictly: ``true`` is not ``1`` and ``1.0`` is not ``1``, as Python's ``==`` would
    have them. (Comparing ``json.dumps(..., sort_keys=True)`` texts is as strict, and twice as slow.)"""
    kind = type(sent)
    if kind is not type(rebuilt):
        return False
    if kind is dict:
        return bool(sent.keys() == rebuilt.keys() and all(_same(value, rebuilt[key]) for key, value in sent.items()))
    if kind is list:
        return len(sent) == len(rebuilt) and all(map(_same, sent, rebuilt))
    return bool(sent == rebuilt)

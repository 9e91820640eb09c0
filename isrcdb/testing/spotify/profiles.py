"""The two kinds of Spotify app the replica can pretend to be, and how each shapes a track.

``development`` follows the rules in force for individual developers since February/March 2026: search ``limit``
defaults to 5 and may not exceed 10, the batch ``GET /v1/tracks?ids=`` endpoint answers 403, and the fields Spotify
removed are stripped from every track (``popularity``, ``available_markets``, ``linked_from``) and its album
(``available_markets``, ``album_group``, ``label``, ``popularity``); ``preview_url`` is null, as for every app made
after November 2024. ``extended`` is the older extended-quota behaviour: limit 20 by default and at most 50, the
batch endpoint, and every field as stored in the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

OFFSET_MAX = 1000
"""Largest ``offset`` a search accepts, in both profiles."""


@dataclass(frozen=True)
class Profile:
    """Limits and field rules of one kind of Spotify app."""

    name: str
    limit_default: int
    limit_max: int
    batch_tracks: bool
    removed_track_fields: frozenset[str]
    removed_album_fields: frozenset[str]
    null_preview_url: bool


DEVELOPMENT = Profile(
    name="development",
    limit_default=5,
    limit_max=10,
    batch_tracks=False,
    removed_track_fields=frozenset({"popularity", "available_markets", "linked_from"}),
    removed_album_fields=frozenset({"available_markets", "album_group", "label", "popularity"}),
    null_preview_url=True,
)
EXTENDED = Profile(
    name="extended",
    limit_default=20,
    limit_max=50,
    batch_tracks=True,
    removed_track_fields=frozenset(),
    removed_album_fields=frozenset(),
    null_preview_url=False,
)
PROFILES: dict[str, Profile] = {profile.name: profile for profile in (DEVELOPMENT, EXTENDED)}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; ``ValueError`` naming the choices otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        choices = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown profile {name!r} (choose from {choices})") from None


def shape_track(track: Json, profile: Profile, market: str | None = None) -> Json:
    """A copy of a stored track object as ``profile`` serves it, for a request with or without ``market``.

    With a market, Spotify drops ``available_markets`` (track and album) and adds ``is_playable``; a track whose
    stored market list does not contain the market is unplayable and gains ``restrictions: {"reason": "market"}``.
    The stored object is never modified.
    """
    shaped = dict(track)
    album = shaped.get("album")
    album_copy: Json | None = dict(album) if isinstance(album, dict) else None
    if market is not None:
        markets = shaped.pop("available_markets", None)
        playable = not isinstance(markets, list) or market in markets
        shaped["is_playable"] = playable
        if not playable and "restrictions" not in shaped:
            shaped["restrictions"] = {"reason": "market"}
        if album_copy is not None:
            album_copy.pop("available_markets", None)
    for field in profile.removed_track_fields:
        shaped.pop(field, None)
    if album_copy is not None:
        for field in profile.removed_album_fields:
            album_copy.pop(field, None)
        shaped["album"] = album_copy
    if profile.null_preview_url and "preview_url" in shaped:
        shaped["preview_url"] = None
    return shaped

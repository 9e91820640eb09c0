"""Spotify's JSON stored as the part its columns do not rebuild, and given back whole by the view ``track_json``.

Every object comes back equal to what Spotify sent (``json.loads`` equal), whether its row holds only the rest
(the usual case) or, for an object the columns cannot rebuild exactly, the whole object; and rows stored before
this form existed read the same. On both databases.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isrcdb import IsrcDB, Settings, migrate, store
from isrcdb.database import open_database
from isrcdb.spotify.parse import parse_track
from isrcdb.testing.spotify import Catalogue, SpotifyReplica
from tests.conftest import Cli
from tests.dbtools import rows

pytestmark = pytest.mark.databases

Json = dict[str, Any]

SAMPLE = ["USRC17607839", "FRZ039800212", "JPK651500123", "QZJ842400387", "GBUM71029604", "QZSYN2400001"]
TRACK_REST = '{"is_local":false,"preview_url":null}'  # what a development-mode track stores beside its columns


def served(replica: SpotifyReplica, isrc: str, market: str | None = None) -> dict[str, Json]:
    """The track objects the replica answers a search for ``isrc`` with, by id, every page read."""
    headers = {"Authorization": f"Bearer {replica.issue_token()}"}
    found: dict[str, Json] = {}
    offset = 0
    while True:
        params: dict[str, Any] = {"q": f"isrc:{isrc}", "type": "track", "limit": 10, "offset": offset}
        if market:
            params["market"] = market
        page = requests.get(f"{replica.api_url}/search", params=params, headers=headers, timeout=10).json()["tracks"]
        found.update({item["id"]: item for item in page["items"] if item})
        if page["next"] is None:
            return found
        offset += 10


def track_json(location: Any) -> dict[str, Json]:
    """Every object of the view ``track_json``, by track id (PostgreSQL's driver decodes its ``json`` itself)."""
    found = rows(location, "SELECT spotify_id, json FROM track_json")
    return {spotify_id: json.loads(value) if isinstance(value, str) else value for spotify_id, value in found}


def flags(location: Any, table: str) -> dict[str, bool | None]:
    """``json_from_columns`` of every row of ``table`` (``tracks`` or ``albums``), by id."""
    found = rows(location, f"SELECT id, json_from_columns FROM {table}")
    return {key: None if flag is None else bool(flag) for key, flag in found}


def lookup(replica: SpotifyReplica, location: Any, codes: list[str], **settings: str) -> None:
    with IsrcDB(settings=Settings.load(replica.env() | {"ISRCDB_DATABASE": str(location), **settings})) as cache:
        cache.lookup(codes, refresh=True)


@pytest.mark.parametrize("profile", ["development", "extended"])
def test_the_view_gives_back_what_the_replica_sent(workdir: Path, db_path: Any, profile: str) -> None:
    with SpotifyReplica(profile=profile) as replica:
        lookup(replica, db_path, SAMPLE)
        sent = {key: obj for code in SAMPLE for key, obj in served(replica, code).items()}
    stored = track_json(db_path)
    assert len(stored) > 20
    assert stored == {key: sent[key] for key in stored}
    assert set(flags(db_path, "tracks").values()) == set(flags(db_path, "albums").values()) == {True}


def test_a_development_mode_track_stores_only_what_its_columns_do_not_hold(workdir: Path, db_path: Any) -> None:
    with SpotifyReplica() as replica:
        lookup(replica, db_path, SAMPLE)
    tracks = rows(db_path, "SELECT DISTINCT raw_json, length(raw_json) FROM tracks")
    albums = rows(db_path, "SELECT DISTINCT raw_json, length(raw_json) FROM albums")
    assert (tracks, albums) == ([(TRACK_REST, 37)], [("{}", 2)])


@pytest.mark.parametrize(("profile", "market"), [("development", None), ("extended", None), ("extended", "SE")])
def test_real_recorded_responses_come_back_equal(workdir: Path, db_path: Any, profile: str, market: str | None) -> None:
    """Recorded from Spotify in 2015-2025: old shapes (albums without artists or dates, other image URLs) and, in
    the extended profile, every field Spotify sent then (``available_markets``, ``popularity``, ``is_playable``
    with a market)."""
    catalogue = Catalogue.real()
    codes = catalogue.isrcs()
    with SpotifyReplica(catalogue=catalogue, profile=profile) as replica:
        lookup(replica, db_path, codes, **({"ISRCDB_MARKET": market} if market else {}))
        sent = {key: obj for code in codes for key, obj in served(replica, code, market).items()}
    stored = track_json(db_path)
    assert len(stored) == len(catalogue)
    assert stored == {key: sent[key] for key in stored}
    tracks, albums = flags(db_path, "tracks"), flags(db_path, "albums")
    assert set(tracks.values()) == {True}
    assert set(albums.values()) == {True, False}  # albums of 2015 lack keys the columns would add: stored whole
    assert not any(flag for key, flag in albums.items() if "release_date" not in sent_album(sent, key))


def sent_album(sent: dict[str, Json], album_id: str) -> Json:
    return next(obj["album"] for obj in sent.values() if obj["album"]["id"] == album_id)


# --- objects the columns cannot rebuild exactly --------------------------------------------------------------


def track_object(n: int, **changes: Any) -> Json:
    """A track object of Spotify's usual shape (every field of the extended profile), ISRC ``QZTST26000nn``."""
    track_id, album_id = f"0Tst{n:02d}Track".ljust(22, "0"), f"0Tst{n:02d}Album".ljust(22, "0")
    artist_id = "0TstArtist".ljust(22, "0")
    artist = {
        "external_urls": {"spotify": f"https://open.spotify.com/artist/{artist_id}"},
        "href": f"https://api.spotify.com/v1/artists/{artist_id}",
        "id": artist_id,
        "name": "Mara Lindqvist",
        "type": "artist",
        "uri": f"spotify:artist:{artist_id}",
    }
    cover = "https://i.scdn.co/image/ab67616d0000b273" + f"{n:040d}"
    obj = {
        "album": {
            "album_type": "album",
            "artists": [copy.deepcopy(artist)],
            "available_markets": ["SE", "US"],
            "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
            "href": f"https://api.spotify.com/v1/albums/{album_id}",
            "id": album_id,
            "images": [
                {"height": 640, "url": cover, "width": 640},
                {"height": 300, "url": cover.replace("ab67616d0000b273", "ab67616d00001e02"), "width": 300},
                {"height": 64, "url": cover.replace("ab67616d0000b273", "ab67616d00004851"), "width": 64},
            ],
            "name": "Harbour Lights",
            "release_date": "2019-03-08",
            "release_date_precision": "day",
            "total_tracks": 11,
            "type": "album",
            "uri": f"spotify:album:{album_id}",
        },
        "artists": [artist],
        "available_markets": ["SE", "US"],
        "disc_number": 1,
        "duration_ms": 201000,
        "explicit": False,
        "external_ids": {"isrc": f"QZTST26000{n:02d}"},
        "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
        "href": f"https://api.spotify.com/v1/tracks/{track_id}",
        "id": track_id,
        "is_local": False,
        "name": "Paper Lanterns",
        "popularity": 41,
        "preview_url": None,
        "track_number": 3,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
    }
    obj.update(changes)
    return obj


def changed(change: Callable[[Json], None]) -> Callable[[Json], Json]:
    def apply(obj: Json) -> Json:
        change(obj)
        return obj

    return apply


ODD: dict[str, tuple[Callable[[Json], Json], bool, bool]] = {
    # name: (how the object differs, whether the track's row, and the album's, hold only the rest)
    "as usual": (changed(lambda o: None), True, True),
    "no href": (changed(lambda o: o.pop("href")), False, True),
    "another uri": (changed(lambda o: o.update(uri="spotify:track:somewhere-else")), False, True),
    "explicit as 1": (changed(lambda o: o.update(explicit=1)), False, True),
    "a null disc number": (changed(lambda o: o.update(disc_number=None)), True, True),
    "a float track number": (changed(lambda o: o.update(track_number=3.0)), False, True),
    "an artist without an id": (changed(lambda o: o["artists"][0].pop("id")), False, True),
    "an artist without a name": (changed(lambda o: o["artists"].append({"id": "x", "type": "artist"})), False, True),
    "the ISRC hyphenated": (changed(lambda o: o["external_ids"].update(isrc="qz-tst-26-00009")), False, True),
    "a UPC beside the ISRC": (changed(lambda o: o["external_ids"].update(upc="00602445790098")), False, True),
    "extra keys": (
        changed(lambda o: o.update(is_playable=True, linked_from={"id": "x"}, restrictions={"reason": "market"})),
        True,
        True,
    ),
    "unicode names": (
        changed(lambda o: (o.update(name="Ærøskøbing — 東京 🎵"), o["artists"][0].update(name="Sigur Rós"))),
        True,
        True,
    ),
    "the album's artist without an id": (changed(lambda o: o["album"]["artists"][0].pop("id")), True, False),
    "the album's total as a float": (changed(lambda o: o["album"].update(total_tracks=11.0)), True, False),
    "an album of 2015 (no artists, no date)": (
        changed(lambda o: [o["album"].pop(key) for key in ("artists", "release_date", "release_date_precision")]),
        True,
        False,
    ),
    "an album without artists": (changed(lambda o: o["album"].update(artists=[])), True, True),
    "images of another size": (changed(lambda o: o["album"]["images"][1].update(width=299)), True, True),
    "images of an older URL form": (
        changed(
            lambda o: o["album"].update(images=[{"height": 640, "url": "https://i.scdn.co/image/cb79", "width": 640}])
        ),
        True,
        True,
    ),
    "one image only": (changed(lambda o: o["album"].update(images=o["album"]["images"][:1])), True, True),
    "no images": (changed(lambda o: o["album"].pop("images")), True, True),
    "an empty list of images": (changed(lambda o: o["album"].update(images=[])), True, True),
}


@pytest.mark.parametrize("case", sorted(ODD))
def test_an_object_the_columns_cannot_rebuild_is_stored_whole_and_comes_back_equal(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Any, case: str
) -> None:
    change, track_compact, album_compact = ODD[case]
    obj = change(track_object(9))
    replica(catalogue=Catalogue.from_tracks([copy.deepcopy(obj)]), profile="extended")
    cli.json("lookup", "QZTST2600009")
    assert track_json(db_path) == {obj["id"]: obj}
    assert (flags(db_path, "tracks"), flags(db_path, "albums")) == (
        {obj["id"]: track_compact},
        {obj["album"]["id"]: album_compact},
    )
    # Images of the usual layout are rebuilt from albums.image_url; any others are kept in the stored JSON.
    [(album_json,)] = rows(db_path, "SELECT raw_json FROM albums")
    usual = obj["album"].get("images") == track_object(9)["album"]["images"]
    assert ("images" in json.loads(album_json)) == ("images" in obj["album"] and not (usual and album_compact))


ANY_TEXT = st.text(st.one_of(st.characters(blacklist_categories=()), st.characters(categories=["Cs"])), max_size=20)
"""Every code point, control characters and lone surrogates (which SQLite text cannot hold) included."""


@pytest.mark.sqlite_only
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=ANY_TEXT, artist=ANY_TEXT, album=ANY_TEXT, artist_id=ANY_TEXT, album_id=ANY_TEXT.filter(bool))
def test_any_text_in_names_and_ids_comes_back_equal(
    workdir: Path, name: str, artist: str, album: str, artist_id: str, album_id: str
) -> None:
    obj = track_object(1, name=name)
    for each in (*obj["artists"], *obj["album"]["artists"]):
        each.update(
            id=artist_id,
            name=artist,
            href=f"https://api.spotify.com/v1/artists/{artist_id}",
            uri=f"spotify:artist:{artist_id}",
            external_urls={"spotify": f"https://open.spotify.com/artist/{artist_id}"},
        )
    obj["album"].update(
        id=album_id,
        name=album,
        href=f"https://api.spotify.com/v1/albums/{album_id}",
        uri=f"spotify:album:{album_id}",
        external_urls={"spotify": f"https://open.spotify.com/album/{album_id}"},
    )
    obj = json.loads(json.dumps(obj))  # as it arrives: decoded from JSON text
    track = parse_track(obj)
    assert track is not None
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with open_database(workdir / "any.sqlite3") as database:
        store.save_found(database, "QZTST2600001", [track], now, now + timedelta(days=30))
        row = database.one("SELECT json FROM track_json WHERE spotify_id = :id", {"id": track.id})
    assert row is not None and json.loads(row[0]) == obj


def test_a_track_keeps_its_artists_names_when_a_later_fetch_renames_an_artist(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Any
) -> None:
    first = track_object(1)
    later = track_object(2)
    for artist in (*later["artists"], *later["album"]["artists"]):
        artist["name"] = "Mara Lindqvist-Hart"
    replica(catalogue=Catalogue.from_tracks([first, later]), profile="extended")
    cli.json("lookup", "QZTST2600001")
    cli.json("lookup", "QZTST2600002")
    assert rows(db_path, "SELECT name FROM artists") == [("Mara Lindqvist-Hart",)]  # one row, the latest name
    assert track_json(db_path) == {first["id"]: first, later["id"]: later}


def test_an_album_whose_artists_spotify_no_longer_lists_shows_none(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Any
) -> None:
    """An album's object as Spotify last sent it, in any of its tracks: its artists come from ``album_artists``,
    rewritten even when the list is empty."""
    first = track_object(1)
    later = track_object(2, album=copy.deepcopy(first["album"]) | {"artists": []})
    replica(catalogue=Catalogue.from_tracks([first, later]), profile="extended")
    cli.json("lookup", "QZTST2600001")
    assert rows(db_path, "SELECT count(*) FROM album_artists") == [(1,)]
    cli.json("lookup", "QZTST2600002")
    assert rows(db_path, "SELECT count(*) FROM album_artists") == [(0,)]
    assert track_json(db_path) == {first["id"]: first | {"album": later["album"]}, later["id"]: later}


# --- rows stored before, and the migration both ways ----------------------------------------------------------


def test_rows_stored_before_read_the_same_and_the_migration_keeps_every_object_both_ways(
    workdir: Path, db_path: Any
) -> None:
    with SpotifyReplica() as replica:
        lookup(replica, db_path, SAMPLE)
        sent = {key: obj for code in SAMPLE for key, obj in served(replica, code).items()}
        expected = {key: sent[key] for key in track_json(db_path)}

        migrate.downgrade(db_path, "0006")  # every row back to the whole objects 0006 stores
        assert track_json(db_path) == expected
        for track_id, raw in rows(db_path, "SELECT id, raw_json FROM tracks"):
            assert json.loads(raw) == {key: value for key, value in sent[track_id].items() if key != "album"}
        for album_id, raw in rows(db_path, "SELECT id, raw_json FROM albums"):
            assert json.loads(raw) == sent_album(sent, album_id)

        migrate.upgrade(db_path)  # rows stored by 0006 are read as they are
        assert set(flags(db_path, "tracks").values()) == set(flags(db_path, "albums").values()) == {None}
        assert rows(db_path, "SELECT count(*) FROM albums WHERE artist_names IS NOT NULL") == [(0,)]
        assert track_json(db_path) == expected

        lookup(replica, db_path, SAMPLE[:2])  # written again: compact, beside rows still whole
        assert set(flags(db_path, "tracks").values()) == {True, None}
        assert track_json(db_path) == expected

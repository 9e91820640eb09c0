"""The built-in sample catalogue: invented but realistic tracks, written for isrcdb.

Names, ids and image hashes are made up (the one real id is Spotify's well-known "Various Artists" artist,
``0LyfQWJT6nXafLPZqxe9Of``). Tracks are stored in their full extended-quota shape (``popularity``,
``available_markets``, album ``label`` ...); the development profile strips those fields when serving.

Which sample ISRC has which shape (search results are listed in this relevance order, which is not release order):

============== =========== ==================================================================================
ISRC           results     shape
============== =========== ==================================================================================
USRC17607839   3           "Paper Lanterns" by The Velvet Harbour and Mara Lindqvist: the album, the single
                           and the deluxe edition (deluxe is 27 ms longer and carries ``linked_from``).
GBUM71029604   1           "Static in the Rain" by Lumen Drive; album date precision ``month``;
                           ``available_markets`` is ``[]``, so with ``market`` it is ``is_playable: false``.
FRZ039800212   13          "Soleil d'hiver" by Élodie Marchand: album, single titled "Soleil d'hiver - Radio Mix"
                           (1.5 s shorter, date precision ``year``), deluxe, Japan-only reissue, remaster single,
                           artist best-of, a karaoke-branded collection and six various-artists compilations (one
                           of them with ``album_type`` "album"); durations differ by up to 2.1 s. More than 10
                           results: with the development maximum ``limit`` of 10 a client reads two pages.
DEA621100512   2           "Kaltes Licht" by Anton Weiss: the album item stores its ISRC as ``de-a62-11-00512``
                           (lower case, hyphenated); the single stores ``DEA621100512``.
JPK651500123   2           "星空チケット" by 春野ひかり: non-ASCII names; precisions ``year`` and ``month``.
QZJ842400387   1           "Midnight Arcade" by Kofi Mensah-Hart and DJ Corvo: a distributor ``QZ`` prefix (not a
                           synthetic prefix), explicit.
AUUM71900817   3           "Coastline" by Harriet Vale: album and single, plus a stray third result carrying a
                           *different* ISRC, ``AUUM71900818`` (as Spotify rarely does); keep exact matches only.
AUUM71900818   1           That stray track, "Coastline - Acoustic", found under its own ISRC.
GBAAA0000001   0           No releases (``total: 0``), as for every ISRC not listed here (and not synthetic).
USXYZ9912345   0           No releases.
QMAAA2500001   0           No releases.
============== =========== ==================================================================================

One more track has empty ``external_ids`` (``{}``), so no search finds it: "Interlude (Tape Hiss)" by Lumen Drive,
id ``DspOwOsQ0G04QKXikKiRmr``, reachable only through ``GET /v1/tracks/{id}``.
"""

from __future__ import annotations

from typing import Any

from isrcdb.testing.spotify.responses import API_BASE, artist_object

Json = dict[str, Any]

FEW_RELEASES = "USRC17607839"
ONE_RELEASE = "GBUM71029604"
MANY_RELEASES = "FRZ039800212"
UNNORMALISED_IN_DATA = "DEA621100512"
NON_ASCII = "JPK651500123"
DISTRIBUTOR_PREFIX = "QZJ842400387"
WITH_STRAY_RESULT = "AUUM71900817"
STRAY_ISRC = "AUUM71900818"
NOT_FOUND = ("GBAAA0000001", "USXYZ9912345", "QMAAA2500001")
NO_ISRC_TRACK_ID = "DspOwOsQ0G04QKXikKiRmr"

RESULT_COUNTS: dict[str, int] = {
    FEW_RELEASES: 3,
    ONE_RELEASE: 1,
    MANY_RELEASES: 13,
    UNNORMALISED_IN_DATA: 2,
    NON_ASCII: 2,
    DISTRIBUTOR_PREFIX: 1,
    WITH_STRAY_RESULT: 3,
    STRAY_ISRC: 1,
    **dict.fromkeys(NOT_FOUND, 0),
}
"""How many results a search finds for each documented sample ISRC."""


_MARKETS = [
    "AR", "AT", "AU", "BE", "BR", "CA", "CH", "DE", "DK", "ES", "FI", "FR",
    "GB", "IE", "IT", "JP", "MX", "NL", "NO", "NZ", "PL", "SE", "US",
]  # fmt: skip


VELVET = artist_object("cqQbskycADzis0SgHoYRzc", "The Velvet Harbour")
MARA = artist_object("9Tv47ZrwcUhXNPBrlAI6V0", "Mara Lindqvist")
LUMEN = artist_object("8P0nFU0cm9zN7A5QoOzXcc", "Lumen Drive")
ELODIE = artist_object("LzhSohP1JZxBRrbF683uRL", "Élodie Marchand")
ANTON = artist_object("FyGz6q3YgMc9FpY4t7dT4L", "Anton Weiss")
HIKARI = artist_object("xxWEca9KqkJ2uZcnQYM2HF", "春野ひかり")
KOFI = artist_object("x2nyfebIyewAuKpB5rI1e2", "Kofi Mensah-Hart")
HARRIET = artist_object("7sVVaDN1nmKjtmaJMlVy3F", "Harriet Vale")
CORVO = artist_object("pBNF6Z6Ll3C9Z0nuXDGiI2", "DJ Corvo")
KARAOKE = artist_object("ZpYi3eKAN1KtD3WB4Lg2t0", "Karaoké Party Orchestra")
VARIOUS = artist_object("0LyfQWJT6nXafLPZqxe9Of", "Various Artists")


def _images(image: str) -> list[Json]:
    return [
        {"height": size, "url": f"https://i.scdn.co/image/{prefix}{image}", "width": size}
        for size, prefix in ((640, "ab67616d0000b273"), (300, "ab67616d00001e02"), (64, "ab67616d00004851"))
    ]


def _album(
    album_id: str,
    name: str,
    album_type: str,
    release_date: str,
    total_tracks: int,
    artists: list[Json],
    image: str,
    *,
    markets: list[str] | None = None,
    **extra: Any,
) -> Json:
    precision = {4: "year", 7: "month", 10: "day"}[len(release_date)]
    return {
        "album_type": album_type,
        "artists": artists,
        "available_markets": list(_MARKETS if markets is None else markets),
        "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
        "href": f"{API_BASE}/albums/{album_id}",
        "id": album_id,
        "images": _images(image),
        "name": name,
        "release_date": release_date,
        "release_date_precision": precision,
        "total_tracks": total_tracks,
        "type": "album",
        "uri": f"spotify:album:{album_id}",
        **extra,
    }


def _track(
    track_id: str,
    name: str,
    isrc: str | None,
    album: Json,
    artists: list[Json],
    duration_ms: int,
    track_number: int,
    *,
    disc_number: int = 1,
    explicit: bool = False,
    popularity: int = 30,
    preview: str | None = None,
    **extra: Any,
) -> Json:
    return {
        "album": album,
        "artists": artists,
        "available_markets": list(album["available_markets"]),
        "disc_number": disc_number,
        "duration_ms": duration_ms,
        "explicit": explicit,
        "external_ids": {} if isrc is None else {"isrc": isrc},
        "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
        "href": f"{API_BASE}/tracks/{track_id}",
        "id": track_id,
        "is_local": False,
        "name": name,
        "popularity": popularity,
        "preview_url": None if preview is None else f"https://p.scdn.co/mp3-preview/{preview}",
        "track_number": track_number,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
        **extra,
    }


def _paper_lanterns() -> list[Json]:
    artists = [VELVET, MARA]
    album = _album(
        "8W62dzajPFbUAXcT0WsPdw",
        "Harbour Lights",
        "album",
        "2017-05-19",
        12,
        [VELVET],
        "01ae0f317e48dad45619998e",
        label="Northbound Records",
        popularity=58,
    )
    single = _album(
        "D2eHDcGHRH9h8OEMPaKkum",
        "Paper Lanterns",
        "single",
        "2017-02-24",
        1,
        artists,
        "b5f89696a65284a776bed3ab",
        label="Northbound Records",
        popularity=41,
    )
    deluxe = _album(
        "36BMwLtuuFFeWREq4UVTQd",
        "Harbour Lights (Deluxe Edition)",
        "album",
        "2018-11-09",
        17,
        [VELVET],
        "7d48166302a9c87a93936406",
        label="Northbound Records",
        popularity=37,
        album_group="album",
    )
    album_track = _track(
        "0toNj4nh5bw8tYkvdEFZj2",
        "Paper Lanterns",
        FEW_RELEASES,
        album,
        artists,
        214306,
        4,
        popularity=61,
        preview="80c88ffed88050e207f2e79c20de5b3f8ef8cef1",
    )
    return [
        album_track,
        _track(
            "f0nLqh13v1c8GJE4AQcMFC",
            "Paper Lanterns",
            FEW_RELEASES,
            single,
            artists,
            214306,
            1,
            popularity=44,
            preview="bb913cedfd8f0efd7d143e85ea6b8f0988839558",
        ),
        _track(
            "F8ZlCI27GipOffOIea2xEf",
            "Paper Lanterns",
            FEW_RELEASES,
            deluxe,
            artists,
            214333,
            4,
            popularity=39,
            linked_from={key: album_track[key] for key in ("external_urls", "href", "id", "type", "uri")},
        ),
    ]


def _night_transit() -> list[Json]:
    album = _album(
        "UtKUeMuvfJY2QNZ1w1Oe61",
        "Night Transit",
        "album",
        "2010-09",
        11,
        [LUMEN],
        "0c8a80f0b975adb00cf341e1",
        markets=[],
    )
    return [
        _track("mjIVtVsP8A2ygNjTrmhJzq", "Static in the Rain", ONE_RELEASE, album, [LUMEN], 252640, 3, popularity=0),
        _track(NO_ISRC_TRACK_ID, "Interlude (Tape Hiss)", None, album, [LUMEN], 61213, 7, popularity=0),
    ]


def _soleil_dhiver() -> list[Json]:
    name, me = "Soleil d'hiver", [ELODIE]
    # fmt: off
    rows: list[tuple[str, str, str, str, str, int, list[Json], str, int, int, int, dict[str, Any]]] = [
        # track id, title, album id, album name, album type, album tracks, album artists, image,
        # duration, disc, track number, extra album fields
        ("dM8DIKI7EjnNnphaCSwiQH", name, "kDfxxdZLGWW4OddXKEzrtD", "Lumières", "album|1998-04-20", 14, me,
         "344465af3272da201d110036", 243106, 1, 2, {}),
        ("rjmS4ozAThyEgzuGEi0yhy", f"{name} - Radio Mix", "4wi2ahZyzY1Av7zbqKWenb", name, "single|1998", 2, me,
         "5781bd2e846e395caca28175", 241573, 1, 1, {}),
        ("ZfFFrUPPYKWAQw8scRFwjs", name, "6DbJwveBml81jz2zJOKP4c", "Hits de l'hiver 1999",
         "compilation|1999-01-15", 40, [VARIOUS], "ffb1ab0c3044a15073c7abcd", 243106, 1, 17, {}),
        ("ECqUe1Dq4fOKfm1tEh6vp4", name, "UDCXvV3ILdIO75hBwvDqRh", "Lumières (Édition Deluxe)",
         "album|2008-11-03", 21, me, "7f89c1f4a74916622dfa06e8", 243133, 1, 2, {}),
        ("chYXOuOQMeseBlaxaAB0iQ", name, "y9A9tj8sWLXsH79WYaD4ND", "Les plus belles chansons françaises",
         "album|2004-03-08", 50, [VARIOUS], "5a3ee858c3be97cd829c5bdc", 243106, 2, 8, {}),
        ("sSlAIymZxBvx9dRBljDRmk", name, "RfCELRB5PgQjHSLHhYvw9h", "Élodie Marchand : Best Of",
         "compilation|2012-06-01", 18, me, "623e08c3426b4ea714aa65a8", 243106, 1, 3, {}),
        ("cJZCPi3Wpbr9xjpK3Wm5g5", name, "oLRbndZZjFPnlxpzDrM1EU", "Chansons d'hiver", "compilation|2015-12",
         30, [VARIOUS], "99e2292f2850a8e84e10f2de", 244020, 1, 5, {}),
        ("zjeY7jO6knyFuGCveKbaPM", name, "e9THw97wnM6PaUFKRLaxuS", "Karaoké : tubes des années 90, Vol. 3",
         "compilation|2016-07-01", 25, [KARAOKE], "204cff3a8ccecb0055271576", 243106, 1, 11, {}),
        ("5QDe1BIy2XGJfPaT3kjYef", name, "0qvTrryhSZdIulA6pkDOQs", "French Pop Classics", "compilation|2019",
         60, [VARIOUS], "a5e4e159a1387b6e72cc1e7b", 243106, 3, 4, {}),
        ("0a6vbNFkf5cylAFanewPLL", name, "xDNf1TNYzscQLRVybWTlbj", "Lumières (Japan Edition)",
         "album|2001-02-21", 16, me, "d0017d93b61a85a7a2232231", 243106, 1, 2, {"markets": ["JP"]}),
        ("d145NDKhDHxBY0fVW7JlTC", name, "vlZYYA79snIfxLW2mYvbfS", "Café de Paris Lounge",
         "compilation|2021-05-14", 24, [VARIOUS], "a0e0a19a5681e7c101dec1c8", 245213, 1, 9, {}),
        ("F75LxMyJpX1vPBWY7ht3SR", f"{name} - Remastered 2018", "wiUKAec7Fa9hF6FMQwFxQP",
         f"{name} (Remastered 2018)", "single|2018-10-26", 1, me, "8ecab18858248c3480edda22", 243080, 1, 1, {}),
        ("QuS3tUdRi6GtAjCdLjVd6q", name, "gQBxyi1bl0jeqlIgufMkHS", "100 Hits Années 90",
         "compilation|2022-09-02", 100, [VARIOUS], "7a86579d2b03241fc05a9d92", 243106, 4, 12, {}),
    ]
    # fmt: on
    tracks: list[Json] = []
    for track_id, title, album_id, album_name, kind, total, album_artists, image, duration, disc, number, extra in rows:
        album_type, release_date = kind.split("|")
        album = _album(album_id, album_name, album_type, release_date, total, album_artists, image, **extra)
        tracks.append(
            _track(
                track_id,
                title,
                MANY_RELEASES,
                album,
                me,
                duration,
                number,
                disc_number=disc,
                popularity=max(0, 48 - 3 * len(tracks)),
            )
        )
    return tracks


def _kaltes_licht() -> list[Json]:
    album = _album("U9xddzKE73o90xgna3ojVF", "Nordwand", "album", "2011-03-18", 10, [ANTON], "6d12edf9ec93230240b28a53")
    single = _album(
        "gplqupPex2aAJhsoRTSJyd", "Kaltes Licht", "single", "2011-01-28", 2, [ANTON], "56aa7259d53a6d4c8bf76910"
    )
    return [
        _track("DGlhNaIDJJQCDVjtk7fI3F", "Kaltes Licht", "de-a62-11-00512", album, [ANTON], 198400, 6, popularity=22),
        _track(
            "u3GUiJEKoj04Z9B4NJnczg", "Kaltes Licht", UNNORMALISED_IN_DATA, single, [ANTON], 198400, 1, popularity=17
        ),
    ]


def _hoshizora() -> list[Json]:
    single = _album("ZHGzNX0w7ueJjRRhrjChtd", "星空チケット", "single", "2015", 3, [HIKARI], "87beb4a3699e4a8379109b14")
    album = _album(
        "kpHc6wFKphV5dUrdWPePoL", "夜明けのメロディ", "album", "2016-03", 13, [HIKARI], "660272674373370dcc98cd6f"
    )
    return [
        _track("UPY9mfZc4TOgVFKDYBOr0d", "星空チケット", NON_ASCII, single, [HIKARI], 226533, 1, popularity=35),
        _track("f7TNkuNe0dule9pbB2Fc9a", "星空チケット", NON_ASCII, album, [HIKARI], 226533, 5, popularity=29),
    ]


def _midnight_arcade() -> list[Json]:
    single = _album(
        "9BzB91tljHyr1wZMtYr1eG", "Midnight Arcade", "single", "2024-06-07", 1, [KOFI], "f39be5becad4dbff9660945c"
    )
    return [
        _track(
            "GIUIbuxIfdQogc02TJP6MO",
            "Midnight Arcade",
            DISTRIBUTOR_PREFIX,
            single,
            [KOFI, CORVO],
            187250,
            1,
            explicit=True,
            popularity=12,
        ),
    ]


def _coastline() -> tuple[list[Json], Json]:
    album = _album(
        "r58gzaPyx183PAv8s2NJfp", "Salt & Static", "album", "2019-08-30", 11, [HARRIET], "676ac9c9acbb7cd3d293a27a"
    )
    single = _album(
        "nYlCowJMSgR1LXiWF0I4sf", "Coastline", "single", "2019-06-21", 1, [HARRIET], "7b47f088a7fb0c9dd8d1d277"
    )
    acoustic = _album(
        "utpTeXpsgtkHiPuZINb39I",
        "Coastline (Acoustic)",
        "single",
        "2020-02-14",
        1,
        [HARRIET],
        "0095264655d6c73ecfc01d28",
    )
    tracks = [
        _track("qciuSS300u0E0ki0I2cRIB", "Coastline", WITH_STRAY_RESULT, album, [HARRIET], 201866, 1, popularity=33),
        _track("1CxvQOhTzdX8q3impgZXN8", "Coastline", WITH_STRAY_RESULT, single, [HARRIET], 201866, 1, popularity=27),
    ]
    stray = _track(
        "KxEsnVS9d2hb14JUqma83F", "Coastline - Acoustic", STRAY_ISRC, acoustic, [HARRIET], 195000, 1, popularity=15
    )
    return tracks, stray


def sample_entries() -> list[tuple[Json, str | None]]:
    """Every sample track, each with the extra ISRC a search also finds it under (``None`` for most)."""
    coastline, stray = _coastline()
    tracks = [
        *_paper_lanterns(),
        *_night_transit(),
        *_soleil_dhiver(),
        *_kaltes_licht(),
        *_hoshizora(),
        *_midnight_arcade(),
        *coastline,
    ]
    return [*((track, None) for track in tracks), (stray, WITH_STRAY_RESULT)]

"""The synthetic catalogue: tracks computed on demand from the ISRC itself, for benchmarks of any size.

A code is *synthetic* when, normalised, it is a well-formed ISRC (2 letters, 3 letters or digits, 7 digits) that
starts with one of the configured prefixes (``QZSYN`` by default, so ``QZSYN2600001`` to ``QZSYN9999999``). Nothing
is stored: every answer is computed from a SHA-256 of the code, so a million codes cost no memory and the same
code always gives the same answer, in every process.

- Releases: 1 (60 % of codes), 2 (30 %) or 3 (10 %). Release 0 is the artist's album or single, release 1 a
  various-artists compilation (duration up to 2.5 s different), release 2 the other of album and single
  (a single is titled ``<title> - Radio Edit``). Names, artists, dates and durations come from the hash; the
  release year comes from the code's year digits.
- Not found rule: with ``not_found=True``, a synthetic code whose **last digit is 0** has no releases (exactly
  one code in ten). Another fraction can be given as a number from 0 to 1: read the code's last two digits in
  reverse order as a number from 00 to 99 (``...47`` gives 74); the code is not found when that number is below
  100 x fraction (so ``0.1`` is again "last digit 0", and ``0.25`` adds the codes ending in 1 and those ending
  in 02, 12, 22, 32 and 42).
  With ``not_found=False`` (the default) every synthetic code has releases.
- Track ids: 22 base62 characters encoding the code, the release number and a 64-bit check derived from both, so
  ``GET /v1/tracks/{id}`` can decode the id back into its ISRC without a lookup table. A random 22-character id
  fails the check (one chance in 2**64 of passing).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from typing import Any

from isrcdb.testing.spotify.ids import base62_decode, base62_encode, derived_id, is_isrc_shaped, normalise_isrc
from isrcdb.testing.spotify.responses import API_BASE, artist_object

Json = dict[str, Any]

DEFAULT_PREFIXES: tuple[str, ...] = ("QZSYN",)


_CODE_BITS = 63  # 36**12 < 2**63: a 12-character base36 code
_RELEASE_BITS = 2
_CHECK_BITS = 64  # 63 + 2 + 64 = 129 bits < 62**22
_MARKETS = ["AU", "BR", "CA", "DE", "ES", "FR", "GB", "IT", "JP", "MX", "NL", "SE", "US"]
_ADJECTIVES = [
    "Golden", "Silent", "Electric", "Broken", "Hidden", "Velvet", "Neon", "Paper", "Northern", "Crimson",
    "Quiet", "Wild", "Hollow", "Amber", "Midnight", "Distant", "Silver", "Restless", "Fading", "Open",
]  # fmt: skip
_NOUNS = [
    "Harbour", "Signal", "Garden", "River", "Satellite", "Mirror", "Highway", "Lantern", "Echo", "Summer",
    "Window", "Parade", "Horizon", "Canyon", "Letter", "Machine", "Orchard", "Station", "Tide", "Weather",
]  # fmt: skip
_FIRST = ["Ada", "Luca", "Maya", "Noah", "Ines", "Theo", "Yara", "Omar", "Lena", "Kai", "Rosa", "Milo"]
_LAST = ["Hart", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Byrne", "Costa", "Weiss"]


class SyntheticCatalogue:
    """Answers searches and id lookups for codes starting with the configured prefixes."""

    __slots__ = ("_not_found_below", "not_found", "prefixes")

    def __init__(self, prefixes: Iterable[str] = DEFAULT_PREFIXES, *, not_found: bool | float = False) -> None:
        normalised = tuple(normalise_isrc(prefix) for prefix in prefixes)
        for prefix in normalised:
            if not prefix.isalnum() or len(prefix) > 12:
                raise ValueError(f"invalid synthetic ISRC prefix {prefix!r}")
        fraction = (0.1 if not_found else 0.0) if isinstance(not_found, bool) else float(not_found)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("the not-found fraction of synthetic codes must be between 0 and 1")
        self.prefixes = normalised
        self.not_found = fraction
        """Fraction of synthetic codes that have no releases (0.1 for ``not_found=True``)."""
        self._not_found_below = round(fraction * 100)

    def covers(self, isrc: str) -> bool:
        """Whether the (normalised) code is well formed and starts with a synthetic prefix."""
        code = normalise_isrc(isrc)
        return is_isrc_shaped(code) and code.startswith(self.prefixes)

    def release_count(self, isrc: str) -> int:
        """How many tracks a search for this code finds (0 when not covered or not found by the rule)."""
        code = normalise_isrc(isrc)
        if not self.covers(code) or int(code[-1] + code[-2]) < self._not_found_below:
            return 0
        weight = _digest(code)[0] % 10
        return 1 if weight < 6 else 2 if weight < 9 else 3

    def search(self, isrc: str) -> list[Json]:
        """The tracks found by a search for this code, in relevance order (release 0 first)."""
        code = normalise_isrc(isrc)
        return [synthetic_track(code, release) for release in range(self.release_count(code))]

    def track(self, track_id: str) -> Json | None:
        """The synthetic track with this id, or ``None`` when the id is not one this catalogue would serve."""
        decoded = decode_track_id(track_id)
        if decoded is None:
            return None
        code, release = decoded
        if release >= self.release_count(code):
            return None
        return synthetic_track(code, release)


def encode_track_id(isrc: str, release: int) -> str:
    """The id of release number ``release`` (0, 1 or 2) of a synthetic code."""
    code = normalise_isrc(isrc)
    if not 0 <= release < 2**_RELEASE_BITS:
        raise ValueError(f"release number out of range: {release}")
    value = (_check(code, release) << (_CODE_BITS + _RELEASE_BITS)) | (release << _CODE_BITS) | int(code, 36)
    return base62_encode(value)


def decode_track_id(track_id: str) -> tuple[str, int] | None:
    """The (code, release number) a synthetic id encodes, or ``None`` when it is not a synthetic id."""
    try:
        value = base62_decode(track_id)
    except ValueError:
        return None
    number = value & (2**_CODE_BITS - 1)
    release = (value >> _CODE_BITS) & (2**_RELEASE_BITS - 1)
    check = value >> (_CODE_BITS + _RELEASE_BITS)
    code = _base36(number).rjust(12, "0")
    if len(code) != 12 or not is_isrc_shaped(code) or check != _check(code, release):
        return None
    return code, release


def synthetic_track(isrc: str, release: int) -> Json:
    """The full (extended-shape) track object of release ``release`` of a synthetic code."""
    code = normalise_isrc(isrc)
    rng = random.Random(int.from_bytes(_digest(code)[1:9], "big"))
    title = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    if rng.random() < 0.5:
        main_artist = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    else:
        main_artist = f"The {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}s"
    artists = [_artist(main_artist)]
    if rng.random() < 0.2:
        artists.append(_artist(f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"))
    duration = rng.randrange(120_000, 330_000)
    starts_as_single = rng.random() < 0.4
    album_title = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    year_digits = int(code[5:7])
    year = 2000 + year_digits if year_digits <= 26 else 1900 + year_digits
    popularity = rng.randrange(0, 80)
    release_rng = random.Random(int.from_bytes(_digest(f"{code}/{release}")[:8], "big"))

    track_name, track_number, disc_number = title, 1, 1
    if release == 1:
        album_type, album_name, album_artists = "compilation", f"{rng.choice(_NOUNS)} Hits {year}", [_various()]
        total_tracks = release_rng.randrange(20, 60)
        track_number = release_rng.randrange(1, total_tracks + 1)
        duration += release_rng.randrange(-2500, 2501)
        year = min(year + release_rng.randrange(1, 6), 2026)
    elif starts_as_single == (release == 0):
        album_type, album_name, album_artists = "single", title, artists[:1]
        total_tracks = release_rng.randrange(1, 4)
        if release == 2:
            track_name = f"{title} - Radio Edit"
            duration -= release_rng.randrange(1000, 3001)
    else:
        album_type, album_name, album_artists = "album", album_title, artists[:1]
        total_tracks = release_rng.randrange(8, 17)
        track_number = release_rng.randrange(1, total_tracks + 1)

    precision = release_rng.choice(["day", "day", "day", "month", "year"])
    release_date = {
        "day": f"{year}-{release_rng.randrange(1, 13):02d}-{release_rng.randrange(1, 29):02d}",
        "month": f"{year}-{release_rng.randrange(1, 13):02d}",
        "year": str(year),
    }[precision]
    album_id = derived_id(f"synthetic-album:{code}:{release}")
    image = hashlib.sha1(album_id.encode("ascii"), usedforsecurity=False).hexdigest()[:24]
    track_id = encode_track_id(code, release)
    album = {
        "album_type": album_type,
        "artists": album_artists,
        "available_markets": list(_MARKETS),
        "external_urls": {"spotify": f"https://open.spotify.com/album/{album_id}"},
        "href": f"{API_BASE}/albums/{album_id}",
        "id": album_id,
        "images": [
            {"height": size, "url": f"https://i.scdn.co/image/{prefix}{image}", "width": size}
            for size, prefix in ((640, "ab67616d0000b273"), (300, "ab67616d00001e02"), (64, "ab67616d00004851"))
        ],
        "name": album_name,
        "release_date": release_date,
        "release_date_precision": precision,
        "total_tracks": total_tracks,
        "type": "album",
        "uri": f"spotify:album:{album_id}",
    }
    return {
        "album": album,
        "artists": artists,
        "available_markets": list(_MARKETS),
        "disc_number": disc_number,
        "duration_ms": duration,
        "explicit": release_rng.random() < 0.1,
        "external_ids": {"isrc": code},
        "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
        "href": f"{API_BASE}/tracks/{track_id}",
        "id": track_id,
        "is_local": False,
        "name": track_name,
        "popularity": max(0, popularity - 7 * release),
        "preview_url": None,
        "track_number": track_number,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
    }


def _artist(name: str, artist_id: str | None = None) -> Json:
    return artist_object(artist_id or derived_id(f"synthetic-artist:{name}"), name)


def _various() -> Json:
    return _artist("Various Artists", "0LyfQWJT6nXafLPZqxe9Of")  # Spotify's own "Various Artists" id


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("ascii")).digest()


def _check(code: str, release: int) -> int:
    return int.from_bytes(_digest(f"synthetic-id:{code}:{release}")[: _CHECK_BITS // 8], "big")


def _base36(number: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = ""
    while number:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
    return text

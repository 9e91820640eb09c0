"""Identifiers the replica deals in: Spotify base62 ids and ISRCs.

Spotify ids are 22 characters of base62 (``0-9``, ``a-z``, ``A-Z``). ISRCs are compared in their normal form:
hyphens and whitespace removed, upper case (``us-rc1-76-07839`` and ``USRC17607839`` are the same code).
"""

from __future__ import annotations

import hashlib
import re

BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""The base62 alphabet in Spotify's digit order."""

ID_LENGTH = 22
"""Length of every Spotify id."""

_ID_RE = re.compile(r"[0-9A-Za-z]{22}")
_ISRC_RE = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}")
_ISRC_JUNK = re.compile(r"[\s\-]+")


def is_valid_id(value: str) -> bool:
    """Whether ``value`` has the shape of a Spotify id (22 base62 characters)."""
    return _ID_RE.fullmatch(value) is not None


def base62_encode(number: int, width: int = ID_LENGTH) -> str:
    """Write a non-negative integer as base62, left-padded with ``0`` to ``width`` characters."""
    if number < 0:
        raise ValueError("base62_encode takes a non-negative integer")
    digits: list[str] = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    text = "".join(reversed(digits))
    if len(text) > width:
        raise ValueError(f"{number} does not fit in {width} base62 digits")
    return text.rjust(width, BASE62[0])


def base62_decode(text: str) -> int:
    """Read a base62 string back into the integer it encodes."""
    number = 0
    for char in text:
        number = number * 62 + BASE62.index(char)
    return number


def derived_id(seed: str) -> str:
    """A stable, realistic-looking Spotify id derived from ``seed`` (the same seed always gives the same id)."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return base62_encode(int.from_bytes(digest[:16], "big") % 62**ID_LENGTH)


def normalise_isrc(value: str) -> str:
    """Strip hyphens and whitespace and upper-case: the form in which ISRCs are compared."""
    return _ISRC_JUNK.sub("", value).upper()


def is_isrc_shaped(value: str) -> bool:
    """Whether a normalised code has the ISRC layout ``CC XXX YY NNNNN`` (2 letters, 3 alphanumerics, 7 digits)."""
    return _ISRC_RE.fullmatch(value) is not None


_ISRC_FILTER = re.compile(r"\s*isrc:(?P<code>.*)", re.IGNORECASE | re.DOTALL)
_OR = re.compile(r"\sOR\s")


def isrc_from_query(query: str) -> str | None:
    """The normalised ISRC a search query ``isrc:CODE`` asks for, or ``None`` when it asks for no ISRC.

    Like Spotify, a query combining codes with ``OR`` finds nothing, so it gives ``None``. Only a lone ``isrc:``
    filter is understood; anything else after the code makes it a code that matches nothing.
    """
    match = _ISRC_FILTER.fullmatch(query)
    if match is None or _OR.search(query):
        return None
    return normalise_isrc(match.group("code"))

"""Time: the clock seam, durations and timestamps.

Timestamps are UTC everywhere. In SQLite they are stored as ISO 8601 text with second precision and a ``Z``
suffix, always in the same fixed-width form (``2026-11-27T19:02:42Z``), so that text comparison orders them and
``strftime('%Y-%m-%dT%H:%M:%SZ', 'now')`` compares against them in SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""A function returning the current time as an aware UTC datetime; tests pass their own."""

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utcnow() -> datetime:
    """The system clock, in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``15m``, ``12h``, ``30d``, ``2w`` (a bare number is seconds) into a timedelta.

    Raises ``ValueError`` with a message naming the accepted forms.
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: write a number and a unit, e.g. 90s, 15m, 12h, 30d")
    try:
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None


def format_duration(delta: timedelta) -> str:
    """The shortest exact form of a duration, in the syntax :func:`parse_duration` reads."""
    seconds = int(delta.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def to_text(moment: datetime) -> str:
    """An aware datetime as stored in the database (UTC, second precision, ``Z``)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat is several times faster than strftime, which matters when streaming 100,000 cached answers.
    return moment.isoformat(timespec="seconds")[:19] + "Z"


def from_text(text: str) -> datetime:
    """A stored timestamp back to an aware UTC datetime."""
    return datetime.fromisoformat(text)

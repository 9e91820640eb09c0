"""What the cache holds and what it saved: codes by status, freshness, Spotify requests, rate limits, size.

"Fresh" and "stale" count answered codes (found or not found) the way the ``lookups`` view does: an answer is
stale once its ``expires_at`` is at or before now. Pending codes (imported, never answered) are counted apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isrcdb.clock import Clock, from_text, to_text, utcnow
from isrcdb.store import get_pause

if TYPE_CHECKING:
    from isrcdb.database.base import Database

DESCRIPTIONS = {
    "database": "the database file",
    "database_bytes": "its size on disk, with the write-ahead log",
    "schema": "schema revision",
    "codes": "ISRCs stored",
    "found": "found on Spotify",
    "not_found": "not on Spotify, as last asked",
    "pending": "known but never answered (e.g. imported)",
    "fresh": "answers still fresh",
    "stale": "answers expired: a lookup or sync asks Spotify again",
    "ambiguous": "codes matching more than one Spotify track",
    "errors": "codes whose last fetch failed",
    "oldest_fetch": "the oldest answer still stored (UTC)",
    "newest_fetch": "the newest answer (UTC)",
    "cache_hits": "lookups answered from the cache: Spotify requests saved",
    "spotify_requests": "requests made to Spotify",
    "rate_limited": "times Spotify answered 429 (rate limited)",
    "rate_limited_until": "the end of the last rate-limit pause (UTC)",
    "rate_limit_in_force": "whether that pause is still in force",
}
"""Each statistic and what it means, in output order."""

_COUNTS = """SELECT
    count(*),
    count(*) FILTER (WHERE status = 'found'),
    count(*) FILTER (WHERE status = 'not_found'),
    count(*) FILTER (WHERE status = 'pending'),
    count(*) FILTER (WHERE status != 'pending' AND expires_at > :now),
    count(*) FILTER (WHERE status != 'pending' AND (expires_at IS NULL OR expires_at <= :now)),
    count(*) FILTER (WHERE match_count > 1),
    count(*) FILTER (WHERE last_error IS NOT NULL),
    min(fetched_at),
    max(fetched_at)
FROM isrcs"""


@dataclass(frozen=True)
class Stats:
    """A snapshot of the cache's statistics; timestamps are stored-form UTC text."""

    database: str
    database_bytes: int
    schema: str | None
    codes: int
    found: int
    not_found: int
    pending: int
    fresh: int
    stale: int
    ambiguous: int
    errors: int
    oldest_fetch: str | None
    newest_fetch: str | None
    cache_hits: int
    spotify_requests: int
    rate_limited: int
    rate_limited_until: str | None
    rate_limit_in_force: bool

    def to_dict(self) -> dict[str, Any]:
        """Every statistic by name (the JSON shape of ``isrcdb stats``)."""
        return asdict(self)

    def rows(self) -> list[dict[str, Any]]:
        """One row per statistic: ``statistic``, ``value``, ``description``."""
        values = self.to_dict()
        return [{"statistic": key, "value": values[key], "description": text} for key, text in DESCRIPTIONS.items()]


def collect(db: Database, *, app: str | None = None, clock: Clock = utcnow) -> Stats:
    """The statistics of the cache ``db`` (read-only is enough), as of ``clock()``; the rate-limit pause is the
    Spotify app ``app``'s (:func:`isrcdb.settings.app_key`), or the latest of any app's when ``app`` is None."""
    now = clock()
    counts = db.one(_COUNTS, {"now": to_text(now)})
    assert counts is not None
    counters = dict(db.all("SELECT name, value FROM counters"))
    pause = get_pause(db, app)
    until = pause[0] if pause is not None else None
    return Stats(
        database=db.location,
        database_bytes=db.size_on_disk(),
        schema=db.revision(),
        codes=counts[0],
        found=counts[1],
        not_found=counts[2],
        pending=counts[3],
        fresh=counts[4],
        stale=counts[5],
        ambiguous=counts[6],
        errors=counts[7],
        oldest_fetch=counts[8],
        newest_fetch=counts[9],
        cache_hits=int(counters.get("cache_hits", 0)),
        spotify_requests=int(counters.get("spotify_requests", 0)),
        rate_limited=int(counters.get("rate_limited", 0)),
        rate_limited_until=until,
        rate_limit_in_force=until is not None and from_text(until) > now,
    )


def stats(database: Path | str, *, app: str | None = None, clock: Clock = utcnow) -> Stats:
    """Open ``database`` (a file path or a ``postgresql://`` URL) read-only and collect its statistics."""
    from isrcdb.database import open_readonly

    with open_readonly(database) as db, db.guard():
        return collect(db, app=app, clock=clock)


def pause_message(result: Stats) -> str | None:
    """A sentence about the stored rate-limit pause when one is in force (``None`` otherwise), saying what it
    means and how to clear it."""
    if not result.rate_limit_in_force:
        return None
    return (
        f"Spotify's rate limit: this Spotify app may not call Spotify again before {result.rate_limited_until} "
        "(UTC); until then syncs stop at once and lookups answer from the cache. If you know better, or the "
        "credentials changed, clear it with 'isrcdb db clear-pause' (or 'isrcdb sync --ignore-pause')."
    )


def human_bytes(size: int) -> str:
    """A size for people: ``912 B``, ``48.0 KiB``, ``1.2 GiB``."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def display_rows(result: Stats) -> list[dict[str, Any]]:
    """Rows for a person (table): the size made readable, ``-`` for what is unknown."""
    rows = result.rows()
    for row in rows:
        if row["statistic"] == "database_bytes":
            row["value"] = f"{human_bytes(result.database_bytes)} ({result.database_bytes} bytes)"
        elif row["value"] is None:
            row["value"] = "-"
    return rows

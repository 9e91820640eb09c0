"""The queries and writes on the cache database (``sqlite3``, no HTTP).

Reads go through the public views ``lookups`` and ``matches`` (migration 0002), so that the CLI, the Python API
and people using SQL see the same columns. Every write of one ISRC's result is one transaction.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from isrcdb.clock import to_text
from isrcdb.db import transaction

if TYPE_CHECKING:
    from isrcdb.spotify.parse import Album, Artist, Track

CHUNK = 500  # bound parameters per IN (...) query; SQLite allows 32766, smaller keeps each query cheap

TRACK_FIELDS = (
    "spotify_id",
    "name",
    "artists",
    "album",
    "album_type",
    "release_date",
    "duration_ms",
    "explicit",
    "spotify_url",
)


class Match(NamedTuple):
    """One Spotify track an ISRC matched.

    Named tuples rather than dataclasses: streaming 100,000 cached answers builds one of these per code, and a
    tuple is several times cheaper to build than a frozen dataclass.
    """

    spotify_id: str
    name: str
    artists: tuple[str, ...]
    album: str | None
    album_type: str | None
    release_date: str | None
    duration_ms: int | None
    explicit: bool | None
    spotify_url: str | None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(zip(TRACK_FIELDS, self, strict=True))
        data["artists"] = list(self.artists)
        return data


class Entry(NamedTuple):
    """What the cache holds for one ISRC."""

    isrc: str
    status: str  # pending | found | not_found
    fetched_at: str | None
    """As stored: ISO 8601 UTC text (see :mod:`isrcdb.clock`); compared as text, which orders it."""
    expires_at: str | None
    match_count: int
    canonical: Match | None
    last_error: str | None
    json: str | None = None
    """With ``get_entries(..., as_json=True)``: the answer a fresh cache hit gives, as JSON built by SQLite (the
    same object as ``LookupResult.to_dict()``; a test keeps the two equal)."""


@functools.lru_cache(maxsize=65536)
def _artists(text: str) -> tuple[str, ...]:
    """A JSON array of names, decoded once per distinct value (a catalogue repeats its artists a lot)."""
    return tuple(json.loads(text))


def _match(row: Sequence[Any], start: int) -> Match | None:
    spotify_id = row[start]
    if spotify_id is None:
        return None
    explicit = row[start + 7]
    return Match(
        spotify_id=spotify_id,
        name=row[start + 1],
        artists=_artists(row[start + 2]) if row[start + 2] else (),
        album=row[start + 3],
        album_type=row[start + 4],
        release_date=row[start + 5],
        duration_ms=row[start + 6],
        explicit=None if explicit is None else bool(explicit),
        spotify_url=row[start + 8],
    )


_TRACK_SELECT = ", ".join(TRACK_FIELDS)


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# A fresh cache hit as LookupResult.to_dict() gives it, built by SQLite: streaming a large lookup as JSON then
# costs no Python object per code. Keys in the same order; booleans as JSON booleans.
_ANSWER_JSON = """json_object('isrc', isrc, 'status', status, 'source', 'cache', 'stale', json('false'),
    'fetched_at', fetched_at, 'expires_at', expires_at, 'match_count', match_count, 'spotify_id', spotify_id,
    'name', name, 'artists', json(artists), 'album', album, 'album_type', album_type, 'release_date', release_date,
    'duration_ms', duration_ms, 'explicit', CASE explicit WHEN 1 THEN json('true') WHEN 0 THEN json('false') END,
    'spotify_url', spotify_url, 'error', NULL)"""


def get_entries(conn: sqlite3.Connection, codes: Sequence[str], *, as_json: bool = False) -> dict[str, Entry]:
    """The stored entries among ``codes`` (codes not stored are absent); ``as_json`` also fills ``Entry.json``."""
    found: dict[str, Entry] = {}
    columns = f"isrc, status, fetched_at, expires_at, match_count, last_error, {_TRACK_SELECT}"
    for chunk in _chunks(codes):
        marks = ",".join("?" * len(chunk))
        if as_json:
            # Materialised first, so that the view's artists subquery runs once per row, not once per use.
            sql = (
                f"WITH l AS MATERIALIZED (SELECT {columns} FROM lookups WHERE isrc IN ({marks})) "
                f"SELECT {columns}, {_ANSWER_JSON} FROM l"
            )
        else:
            sql = f"SELECT {columns}, NULL FROM lookups WHERE isrc IN ({marks})"
        rows = conn.execute(sql, tuple(chunk))
        # Positional construction and tuple unpacking: this loop runs once per code of a 100,000-code lookup.
        for row in rows:
            canonical = None
            if row[6] is not None:
                sid, name, artists, album, kind, date, ms, explicit, url = row[6:15]
                flag = None if explicit is None else explicit == 1
                canonical = Match(sid, name, _artists(artists) if artists else (), album, kind, date, ms, flag, url)
            found[row[0]] = Entry(row[0], row[1], row[2], row[3], row[4], canonical, row[5], row[15])
    return found


def get_matches(conn: sqlite3.Connection, codes: Sequence[str]) -> dict[str, list[Match]]:
    """Every stored match of each code, canonical first."""
    result: dict[str, list[Match]] = {}
    for chunk in _chunks(codes):
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT isrc, {_TRACK_SELECT} FROM matches WHERE isrc IN ({marks}) ORDER BY isrc, rank", tuple(chunk)
        )
        for row in rows:
            match = _match(row, 1)
            assert match is not None
            result.setdefault(row[0], []).append(match)
    return result


# --- writes -----------------------------------------------------------------------------------------------------


def _upsert_artists(conn: sqlite3.Connection, artists: Iterable[Artist]) -> list[str]:
    ids = []
    for artist in artists:
        artist_id = artist.id or f"name:{artist.name}"
        conn.execute(
            "INSERT INTO artists (id, name, spotify_url) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, spotify_url = excluded.spotify_url",
            (artist_id, artist.name, artist.spotify_url),
        )
        ids.append(artist_id)
    return ids


def _upsert_album(conn: sqlite3.Connection, album: Album) -> str | None:
    if album.id is None:
        return None
    conn.execute(
        "INSERT INTO albums (id, name, album_type, release_date, release_date_precision, total_tracks, spotify_url, "
        "image_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
        "album_type = excluded.album_type, release_date = excluded.release_date, "
        "release_date_precision = excluded.release_date_precision, total_tracks = excluded.total_tracks, "
        "spotify_url = excluded.spotify_url, image_url = excluded.image_url",
        (
            album.id,
            album.name,
            album.album_type,
            album.release_date,
            album.release_date_precision,
            album.total_tracks,
            album.spotify_url,
            album.image_url,
        ),
    )
    if album.artists:
        conn.execute("DELETE FROM album_artists WHERE album_id = ?", (album.id,))
        conn.executemany(
            "INSERT INTO album_artists (album_id, position, artist_id) VALUES (?, ?, ?)",
            [(album.id, pos, artist_id) for pos, artist_id in enumerate(_upsert_artists(conn, album.artists))],
        )
    return album.id


def _upsert_track(conn: sqlite3.Connection, track: Track, fetched_at: str) -> None:
    album_id = _upsert_album(conn, track.album) if track.album else None
    conn.execute(
        "INSERT INTO tracks (id, isrc, name, album_id, disc_number, track_number, duration_ms, explicit, spotify_url, "
        "raw_json, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "isrc = excluded.isrc, name = excluded.name, album_id = excluded.album_id, "
        "disc_number = excluded.disc_number, track_number = excluded.track_number, "
        "duration_ms = excluded.duration_ms, explicit = excluded.explicit, spotify_url = excluded.spotify_url, "
        "raw_json = excluded.raw_json, fetched_at = excluded.fetched_at",
        (
            track.id,
            track.isrc,
            track.name,
            album_id,
            track.disc_number,
            track.track_number,
            track.duration_ms,
            track.explicit,
            track.spotify_url,
            track.raw_json,
            fetched_at,
        ),
    )
    conn.execute("DELETE FROM track_artists WHERE track_id = ?", (track.id,))
    conn.executemany(
        "INSERT INTO track_artists (track_id, position, artist_id) VALUES (?, ?, ?)",
        [(track.id, pos, artist_id) for pos, artist_id in enumerate(_upsert_artists(conn, track.artists))],
    )


def _ensure_row(conn: sqlite3.Connection, isrc: str, now: str) -> tuple[str, str | None, list[str]]:
    """Make sure ``isrc`` has a row; return its previous status, canonical track and match ids."""
    conn.execute(
        "INSERT INTO isrcs (isrc, status, first_seen_at) VALUES (?, 'pending', ?) ON CONFLICT DO NOTHING", (isrc, now)
    )
    status, canonical = conn.execute("SELECT status, canonical_track_id FROM isrcs WHERE isrc = ?", (isrc,)).fetchone()
    previous = [row[0] for row in conn.execute("SELECT track_id FROM isrc_matches WHERE isrc = ?", (isrc,))]
    return status, canonical, previous


def _record(conn: sqlite3.Connection, isrc: str, at: str, kind: str, old: str | None, new: str | None) -> None:
    conn.execute(
        "INSERT INTO isrc_changes (isrc, changed_at, kind, old_track_id, new_track_id) VALUES (?, ?, ?, ?, ?)",
        (isrc, at, kind, old, new),
    )


def save_found(
    conn: sqlite3.Connection, isrc: str, tracks: Sequence[Track], fetched_at: datetime, expires_at: datetime
) -> bool:
    """Store every match of ``isrc`` (``tracks`` canonical first), in one transaction.

    Returns whether the canonical match changed (or the code was found for the first time).
    """
    now, expires = to_text(fetched_at), to_text(expires_at)
    new_ids = [track.id for track in tracks]
    with transaction(conn):
        status, old_canonical, previous = _ensure_row(conn, isrc, now)
        for track in tracks:
            _upsert_track(conn, track, now)
        conn.execute("DELETE FROM isrc_matches WHERE isrc = ?", (isrc,))
        conn.executemany(
            "INSERT INTO isrc_matches (isrc, track_id, rank) VALUES (?, ?, ?)",
            [(isrc, track_id, rank) for rank, track_id in enumerate(new_ids)],
        )
        changed = status != "found" or old_canonical != new_ids[0]
        if status != "found":
            _record(conn, isrc, now, "found", old_canonical, new_ids[0])
        else:
            if old_canonical != new_ids[0]:
                _record(conn, isrc, now, "canonical_changed", old_canonical, new_ids[0])
            for gone in sorted(set(previous) - set(new_ids)):
                _record(conn, isrc, now, "track_removed", gone, None)
            for added in sorted(set(new_ids) - set(previous)):
                _record(conn, isrc, now, "track_added", None, added)
        conn.execute(
            "UPDATE isrcs SET status = 'found', fetched_at = ?, expires_at = ?, match_count = ?, "
            "canonical_track_id = ?, changed_at = CASE WHEN ? THEN ? ELSE changed_at END, last_error = NULL, "
            "last_error_at = NULL, claimed_by = NULL, claimed_until = NULL WHERE isrc = ?",
            (now, expires, len(new_ids), new_ids[0], changed, now, isrc),
        )
    return changed


def save_not_found(conn: sqlite3.Connection, isrc: str, fetched_at: datetime, expires_at: datetime) -> bool:
    """Remember that Spotify has no track for ``isrc``. Returns whether it was found before."""
    now, expires = to_text(fetched_at), to_text(expires_at)
    with transaction(conn):
        status, old_canonical, _ = _ensure_row(conn, isrc, now)
        was_found = status == "found"
        if was_found:
            _record(conn, isrc, now, "not_found", old_canonical, None)
        conn.execute("DELETE FROM isrc_matches WHERE isrc = ?", (isrc,))
        conn.execute(
            "UPDATE isrcs SET status = 'not_found', fetched_at = ?, expires_at = ?, match_count = 0, "
            "canonical_track_id = NULL, changed_at = CASE WHEN ? THEN ? ELSE changed_at END, last_error = NULL, "
            "last_error_at = NULL, claimed_by = NULL, claimed_until = NULL WHERE isrc = ?",
            (now, expires, was_found, now, isrc),
        )
    return was_found


def save_error(conn: sqlite3.Connection, isrc: str, message: str, at: datetime) -> None:
    """Note a failed fetch of ``isrc``; whatever was stored before is kept as it was."""
    now = to_text(at)
    with transaction(conn):
        _ensure_row(conn, isrc, now)
        conn.execute(
            "UPDATE isrcs SET last_error = ?, last_error_at = ?, claimed_by = NULL, claimed_until = NULL "
            "WHERE isrc = ?",
            (message[:1000], now, isrc),
        )


def add_counts(conn: sqlite3.Connection, counts: dict[str, int]) -> None:
    """Add to the running totals in ``counters`` (e.g. ``cache_hits``, ``spotify_requests``)."""
    items = [(name, value) for name, value in counts.items() if value]
    if not items:
        return
    with transaction(conn):
        conn.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            items,
        )


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: sqlite3.Connection, key: str, value: str, at: datetime) -> None:
    with transaction(conn):
        conn.execute(
            "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value, to_text(at)),
        )


# --- import and sync --------------------------------------------------------------------------------------------


def ensure_pending(conn: sqlite3.Connection, codes: Sequence[str], at: datetime) -> int:
    """Add valid, normalised ``codes`` as pending, in one transaction; codes already stored are left as they are.

    Returns how many were added (a code repeated in ``codes`` is added once).
    """
    now = to_text(at)
    with transaction(conn):
        before = conn.total_changes
        conn.executemany(
            "INSERT INTO isrcs (isrc, status, first_seen_at) VALUES (?, 'pending', ?) ON CONFLICT DO NOTHING",
            [(code, now) for code in codes],
        )
        return conn.total_changes - before


@dataclass(frozen=True)
class DueRule:
    """Which stored codes a sync fetches, and in which order.

    Pending codes always; then not-found and found codes whose entry expired before ``started`` (in order of
    expiry), or, when ``fetched_before`` is given, those fetched before it (stalest first). Both bounds are
    strict, so that a code the run itself stores (fetched at or after ``started``, expiring no earlier) is never
    due again in that run. (A code whose fetch failed stays due; the run holds its claim so as not to retry it.)
    """

    started: datetime
    fetched_before: datetime | None = None


DUE_TIERS = ("pending", "not_found", "found")


def _due_where(tier: str, rule: DueRule) -> tuple[str, list[str], str]:
    """(condition, parameters, ORDER BY) selecting the due codes of one tier along an index of ``isrcs``."""
    if tier == "pending":
        return "status = 'pending'", [], ""
    if rule.fetched_before is None:
        return "status = ? AND expires_at < ?", [tier, to_text(rule.started)], "ORDER BY expires_at"
    return "status = ? AND fetched_at < ?", [tier, to_text(rule.fetched_before)], "ORDER BY fetched_at"


def count_due(conn: sqlite3.Connection, rule: DueRule, *, requests: bool = False) -> dict[str, tuple[int, int]]:
    """For each tier, ``(codes, requests)`` due under ``rule``.

    The requests are estimated (one search page per 10 stored matches, at least one) only when ``requests`` is
    true, since that reads every due row; otherwise they are 0 and the count reads the index alone.
    """
    pages = "coalesce(sum(max(1, (match_count + 9) / 10)), 0)" if requests else "0"
    counts: dict[str, tuple[int, int]] = {}
    for tier in DUE_TIERS:
        where, params, _ = _due_where(tier, rule)
        row = conn.execute(f"SELECT count(*), {pages} FROM isrcs WHERE {where}", params).fetchall()[0]
        counts[tier] = (int(row[0]), int(row[1]))
    return counts


def claim_due(
    conn: sqlite3.Connection, rule: DueRule, owner: str, now: datetime, until: datetime, limit: int
) -> list[tuple[str, str]]:
    """Claim up to ``limit`` due codes for ``owner`` until ``until``, in due order, in one write transaction.

    Returns ``(code, status before)`` pairs. A code claimed by another owner is skipped until its claim expires;
    ``BEGIN IMMEDIATE`` makes claiming atomic between processes, so two syncs never hold the same code.
    """
    claimed: list[tuple[str, str]] = []
    with transaction(conn):
        for tier in DUE_TIERS:
            where, params, order = _due_where(tier, rule)
            rows = conn.execute(
                f"SELECT isrc FROM isrcs WHERE {where} AND (claimed_until IS NULL OR claimed_until < ?) {order} "
                "LIMIT ?",
                [*params, to_text(now), limit - len(claimed)],
            ).fetchall()
            claimed.extend((row[0], tier) for row in rows)
            if len(claimed) >= limit:
                break
        conn.executemany(
            "UPDATE isrcs SET claimed_by = ?, claimed_until = ? WHERE isrc = ?",
            [(owner, to_text(until), code) for code, _ in claimed],
        )
    return claimed


HELD = ":held"
"""Suffix of the owner of a claim kept on a code whose search failed (not searched again in that run): a lookup
does not wait for such a code, as nobody is searching it."""


def hold_claims(conn: sqlite3.Connection, owner: str, codes: Iterable[str], until: datetime) -> None:
    """Claim ``codes`` for ``owner`` until ``until``, whoever held them, to keep failed codes out of a run.

    The claim's owner is marked :data:`HELD`; :func:`release_claims` of ``owner`` releases these claims too.
    """
    with transaction(conn):
        conn.executemany(
            "UPDATE isrcs SET claimed_by = ?, claimed_until = ? WHERE isrc = ?",
            [(owner + HELD, to_text(until), code) for code in codes],
        )


def renew_claims(conn: sqlite3.Connection, owner: str, codes: Iterable[str], until: datetime) -> None:
    """Extend ``owner``'s claims on ``codes`` (those it still holds) to ``until``."""
    with transaction(conn):
        conn.executemany(
            "UPDATE isrcs SET claimed_until = ? WHERE isrc = ? AND claimed_by = ?",
            [(to_text(until), code, owner) for code in codes],
        )


def release_claims(conn: sqlite3.Connection, owner: str, codes: Iterable[str] | None = None) -> None:
    """Drop ``owner``'s claims, held ones too: on ``codes``, or on every code it holds (a full scan) when ``None``."""
    with transaction(conn):
        if codes is None:
            conn.execute(
                "UPDATE isrcs SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IN (?, ?)",
                (owner, owner + HELD),
            )
        else:
            conn.executemany(
                "UPDATE isrcs SET claimed_by = NULL, claimed_until = NULL WHERE isrc = ? AND claimed_by IN (?, ?)",
                [(code, owner, owner + HELD) for code in codes],
            )


def get_claim(conn: sqlite3.Connection, isrc: str) -> tuple[str | None, str | None, str | None] | None:
    """``(claimed_by, claimed_until, fetched_at)`` of a stored code (timestamps as stored), ``None`` if not stored."""
    row = conn.execute("SELECT claimed_by, claimed_until, fetched_at FROM isrcs WHERE isrc = ?", (isrc,)).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def claim_owners(conn: sqlite3.Connection, now: datetime) -> list[str]:
    """The owners of claims that have not expired (a full scan: call it once per run)."""
    rows = conn.execute(
        "SELECT DISTINCT claimed_by FROM isrcs WHERE claimed_by IS NOT NULL AND claimed_until >= ?", (to_text(now),)
    ).fetchall()
    return [row[0] for row in rows]

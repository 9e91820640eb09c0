"""The queries and writes on the cache database, written once for SQLite and PostgreSQL (no HTTP).

Every function takes a :class:`~isrcdb.database.base.Database`; statements use named ``:param`` placeholders and
the SQL both databases accept. On SQLite, reads go through the public views ``lookups`` and ``matches``
(migration 0002), so that the CLI, the Python API and people using SQL see the same columns; on PostgreSQL, whose
views give timestamps as ``timestamptz``, the same columns are read from the tables as stored text. Every write
of one ISRC's result is one transaction.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from isrcdb.clock import to_text

if TYPE_CHECKING:
    from isrcdb.database.base import Database
    from isrcdb.spotify.parse import Album, Artist, Track

T = TypeVar("T")

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


@functools.lru_cache(maxsize=64)
def _marks(count: int) -> str:
    """``:c0, :c1, ...``: named placeholders for an ``IN (...)`` list of ``count`` values."""
    return ", ".join(f":c{n}" for n in range(count))


def _in_params(chunk: Sequence[str]) -> dict[str, str]:
    return {f"c{n}": code for n, code in enumerate(chunk)}


# A fresh cache hit as LookupResult.to_dict() gives it, built by SQLite: streaming a large lookup as JSON then
# costs no Python object per code. Keys in the same order; booleans as JSON booleans. (SQLite only: PostgreSQL's
# JSON functions write other bytes, so there the answer is encoded in Python.)
_ANSWER_JSON = (
    "json_object('isrc', isrc, 'status', status, 'source', 'cache', 'stale', json('false'), 'fetched_at', fetched_at, "
    "'expires_at', expires_at, 'match_count', match_count, "
    + ", ".join(
        {
            "artists": "'artists', json(artists)",
            "explicit": "'explicit', CASE explicit WHEN 1 THEN json('true') WHEN 0 THEN json('false') END",
        }.get(field, f"'{field}', {field}")
        for field in TRACK_FIELDS
    )
    + ", 'error', NULL)"
)

_ENTRY_COLUMNS = f"isrc, status, fetched_at, expires_at, match_count, last_error, {_TRACK_SELECT}"

# Where each track field comes from in the tables (``t`` a track, ``al`` its album), for the statements that read
# the tables rather than the views (on PostgreSQL, whose views give timestamps as timestamptz).
_PG_ARTISTS = "coalesce(t.artist_names, '[]')"
_TRACK_SOURCES = {
    "spotify_id": "t.id",
    "name": "t.name",
    "artists": _PG_ARTISTS,
    "album": "al.name",
    "album_type": "al.album_type",
    "release_date": "al.release_date",
    "duration_ms": "t.duration_ms",
    "explicit": "t.explicit",
    "spotify_url": "t.spotify_url",
}
assert tuple(_TRACK_SOURCES) == TRACK_FIELDS == Match._fields


def _track_columns(**overrides: str) -> str:
    return ", ".join(f"{overrides.get(field, source)} AS {field}" for field, source in _TRACK_SOURCES.items())


# PostgreSQL: the columns of ``lookups`` and ``matches`` with timestamps as stored text and artists as JSON text.
_PG_ENTRIES = f"""SELECT {_ENTRY_COLUMNS}, NULL FROM (SELECT i.isrc, i.status, i.fetched_at, i.expires_at,
    i.match_count, i.last_error, {_track_columns(artists=f"CASE WHEN t.id IS NULL THEN NULL ELSE {_PG_ARTISTS} END")}
    FROM isrcs i LEFT JOIN tracks t ON t.id = i.canonical_track_id LEFT JOIN albums al ON al.id = t.album_id
    WHERE i.isrc IN ({{marks}})) l"""

_PG_MATCHES = f"""SELECT isrc, {_TRACK_SELECT} FROM (SELECT m.isrc, m.rank, {_track_columns()}
    FROM isrc_matches m JOIN tracks t ON t.id = m.track_id LEFT JOIN albums al ON al.id = t.album_id
    WHERE m.isrc IN ({{marks}})) x ORDER BY isrc, rank"""


def _entries_sql(db: Database, count: int, as_json: bool) -> str:
    marks = _marks(count)
    if db.dialect == "postgresql":
        return _PG_ENTRIES.format(marks=marks)
    if as_json:
        # Materialised first, so that the view's artists subquery runs once per row, not once per use.
        return (
            f"WITH l AS MATERIALIZED (SELECT {_ENTRY_COLUMNS} FROM lookups WHERE isrc IN ({marks})) "
            f"SELECT {_ENTRY_COLUMNS}, {_ANSWER_JSON} FROM l"
        )
    return f"SELECT {_ENTRY_COLUMNS}, NULL FROM lookups WHERE isrc IN ({marks})"


def get_entries(db: Database, codes: Sequence[str], *, as_json: bool = False) -> dict[str, Entry]:
    """The stored entries among ``codes`` (codes not stored are absent); ``as_json`` also fills ``Entry.json``
    where the database can build it (SQLite)."""
    found: dict[str, Entry] = {}
    for chunk in _chunks(codes):
        rows = db.execute(_entries_sql(db, len(chunk), as_json), _in_params(chunk))
        # Positional construction and tuple unpacking: this loop runs once per code of a 100,000-code lookup.
        for row in rows:
            canonical = None
            if row[6] is not None:
                sid, name, artists, album, kind, date, ms, explicit, url = row[6:15]
                flag = None if explicit is None else explicit == 1
                canonical = Match(sid, name, _artists(artists) if artists else (), album, kind, date, ms, flag, url)
            found[row[0]] = Entry(row[0], row[1], row[2], row[3], row[4], canonical, row[5], row[15])
    return found


def get_matches(db: Database, codes: Sequence[str]) -> dict[str, list[Match]]:
    """Every stored match of each code, canonical first."""
    result: dict[str, list[Match]] = {}
    for chunk in _chunks(codes):
        marks = _marks(len(chunk))
        if db.dialect == "postgresql":
            sql = _PG_MATCHES.format(marks=marks)
        else:
            sql = f"SELECT isrc, {_TRACK_SELECT} FROM matches WHERE isrc IN ({marks}) ORDER BY isrc, rank"
        for row in db.execute(sql, _in_params(chunk)):
            match = _match(row, 1)
            assert match is not None
            result.setdefault(row[0], []).append(match)
    return result


# --- writes -----------------------------------------------------------------------------------------------------


def _upsert_artists(db: Database, artists: Iterable[Artist]) -> list[str]:
    ids = []
    for artist in artists:
        artist_id = artist.id or f"name:{artist.name}"
        db.execute(
            "INSERT INTO artists (id, name, spotify_url) VALUES (:id, :name, :url) "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, spotify_url = excluded.spotify_url",
            {"id": artist_id, "name": artist.name, "url": artist.spotify_url},
        )
        ids.append(artist_id)
    return ids


def _upsert_album(db: Database, album: Album, raw_json: str | None = None) -> str | None:
    if album.id is None:
        return None
    db.execute(
        "INSERT INTO albums (id, name, album_type, release_date, release_date_precision, total_tracks, spotify_url, "
        "image_url, raw_json) VALUES (:id, :name, :album_type, :release_date, :precision, :total_tracks, "
        ":spotify_url, :image_url, :raw_json) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
        "album_type = excluded.album_type, release_date = excluded.release_date, "
        "release_date_precision = excluded.release_date_precision, total_tracks = excluded.total_tracks, "
        "spotify_url = excluded.spotify_url, image_url = excluded.image_url, "
        "raw_json = coalesce(excluded.raw_json, albums.raw_json)",
        {
            "raw_json": raw_json,
            "id": album.id,
            "name": album.name,
            "album_type": album.album_type,
            "release_date": album.release_date,
            "precision": album.release_date_precision,
            "total_tracks": album.total_tracks,
            "spotify_url": album.spotify_url,
            "image_url": album.image_url,
        },
    )
    if album.artists:
        db.execute("DELETE FROM album_artists WHERE album_id = :id", {"id": album.id})
        db.executemany(
            "INSERT INTO album_artists (album_id, position, artist_id) VALUES (:album, :position, :artist)",
            [
                {"album": album.id, "position": pos, "artist": artist_id}
                for pos, artist_id in enumerate(_upsert_artists(db, album.artists))
            ],
        )
    return album.id


def _upsert_track(db: Database, track: Track, fetched_at: str) -> None:
    from isrcdb.spotify.parse import split_album

    # The album's JSON is stored once, in its row; the track keeps the rest (the view track_json joins them).
    track_json, album_json = split_album(track.raw_json) if track.album and track.album.id else (track.raw_json, None)
    album_id = _upsert_album(db, track.album, album_json) if track.album else None
    if album_id is None:
        track_json = track.raw_json
    db.execute(
        "INSERT INTO tracks (id, isrc, name, album_id, disc_number, track_number, duration_ms, explicit, spotify_url, "
        "raw_json, artist_names, fetched_at) VALUES (:id, :isrc, :name, :album_id, :disc_number, :track_number, "
        ":duration_ms, :explicit, :spotify_url, :raw_json, :artist_names, :fetched_at) ON CONFLICT (id) DO UPDATE SET "
        "isrc = excluded.isrc, name = excluded.name, album_id = excluded.album_id, "
        "disc_number = excluded.disc_number, track_number = excluded.track_number, "
        "duration_ms = excluded.duration_ms, explicit = excluded.explicit, spotify_url = excluded.spotify_url, "
        "raw_json = excluded.raw_json, artist_names = excluded.artist_names, fetched_at = excluded.fetched_at",
        {
            "artist_names": json.dumps(
                [artist.name for artist in track.artists], ensure_ascii=False, separators=(",", ":")
            ),
            "id": track.id,
            "isrc": track.isrc,
            "name": track.name,
            "album_id": album_id,
            "disc_number": track.disc_number,
            "track_number": track.track_number,
            "duration_ms": track.duration_ms,
            "explicit": track.explicit,
            "spotify_url": track.spotify_url,
            "raw_json": track_json,
            "fetched_at": fetched_at,
        },
    )
    db.execute("DELETE FROM track_artists WHERE track_id = :id", {"id": track.id})
    db.executemany(
        "INSERT INTO track_artists (track_id, position, artist_id) VALUES (:track, :position, :artist)",
        [
            {"track": track.id, "position": pos, "artist": artist_id}
            for pos, artist_id in enumerate(_upsert_artists(db, track.artists))
        ],
    )


def _ensure_row(db: Database, isrc: str, now: str) -> tuple[str, str | None, list[str]]:
    """Make sure ``isrc`` has a row, and lock it; return its previous status, canonical track and match ids.

    The row lock (``FOR UPDATE`` on PostgreSQL; SQLite's write transaction locks the whole file) makes two
    writers of one code take turns: each reads the status the other committed, so the history is written once.
    """
    db.execute(
        "INSERT INTO isrcs (isrc, status, first_seen_at) VALUES (:isrc, 'pending', :now) ON CONFLICT DO NOTHING",
        {"isrc": isrc, "now": now},
    )
    lock = " FOR UPDATE" if db.dialect == "postgresql" else ""
    row = db.one(f"SELECT status, canonical_track_id FROM isrcs WHERE isrc = :isrc{lock}", {"isrc": isrc})
    assert row is not None
    previous = [r[0] for r in db.all("SELECT track_id FROM isrc_matches WHERE isrc = :isrc", {"isrc": isrc})]
    return row[0], row[1], previous


def _record(db: Database, isrc: str, at: str, kind: str, old: str | None, new: str | None) -> None:
    db.execute(
        "INSERT INTO isrc_changes (isrc, changed_at, kind, old_track_id, new_track_id) "
        "VALUES (:isrc, :at, :kind, :old, :new)",
        {"isrc": isrc, "at": at, "kind": kind, "old": old, "new": new},
    )


def _with_retries(db: Database, work: Callable[[], T]) -> T:
    """Run ``work`` (one transaction), again if the database chose it as the loser of a conflict (a deadlock
    between writers on a server): a few times, after a short pause that grows."""
    for attempt in range(5):
        try:
            return work()
        except Exception as exc:
            if attempt == 4 or not db.is_conflict(exc):
                raise
            time.sleep(0.02 * 2**attempt)
    raise AssertionError("unreachable")


def _lock_shared_rows(db: Database, tracks: Sequence[Track]) -> None:
    """Write the artists and albums of ``tracks`` first, in the order of their ids, so that writers storing codes
    that share an artist or an album lock those rows in one order and never wait for each other in a circle."""
    artists: dict[str, Artist] = {}
    for track in tracks:
        for artist in (*track.artists, *(track.album.artists if track.album else ())):
            artists.setdefault(artist.id or f"name:{artist.name}", artist)
    _upsert_artists(db, [artists[key] for key in sorted(artists)])
    albums = {track.album.id: track.album for track in tracks if track.album and track.album.id}
    for key in sorted(albums):
        db.execute("SELECT id FROM albums WHERE id = :id FOR UPDATE", {"id": key})


def save_found(db: Database, isrc: str, tracks: Sequence[Track], fetched_at: datetime, expires_at: datetime) -> bool:
    """Store every match of ``isrc`` (``tracks`` canonical first), in one transaction.

    Returns whether the canonical match changed (or the code was found for the first time).
    """
    return _with_retries(db, lambda: _save_found(db, isrc, tracks, to_text(fetched_at), to_text(expires_at)))


def _save_found(db: Database, isrc: str, tracks: Sequence[Track], now: str, expires: str) -> bool:
    new_ids = [track.id for track in tracks]
    with db.transaction():
        status, old_canonical, previous = _ensure_row(db, isrc, now)
        if db.dialect == "postgresql":
            _lock_shared_rows(db, tracks)
        for track in tracks:
            _upsert_track(db, track, now)
        db.execute("DELETE FROM isrc_matches WHERE isrc = :isrc", {"isrc": isrc})
        db.executemany(
            "INSERT INTO isrc_matches (isrc, track_id, rank) VALUES (:isrc, :track, :rank)",
            [{"isrc": isrc, "track": track_id, "rank": rank} for rank, track_id in enumerate(new_ids)],
        )
        changed = status != "found" or old_canonical != new_ids[0]
        if status != "found":
            _record(db, isrc, now, "found", old_canonical, new_ids[0])
        else:
            if old_canonical != new_ids[0]:
                _record(db, isrc, now, "canonical_changed", old_canonical, new_ids[0])
            for gone in sorted(set(previous) - set(new_ids)):
                _record(db, isrc, now, "track_removed", gone, None)
            for added in sorted(set(new_ids) - set(previous)):
                _record(db, isrc, now, "track_added", None, added)
        db.execute(
            "UPDATE isrcs SET status = 'found', fetched_at = :now, expires_at = :expires, match_count = :count, "
            "canonical_track_id = :canonical, changed_at = CASE WHEN :changed THEN :now ELSE changed_at END, "
            "last_error = NULL, last_error_at = NULL, claimed_by = NULL, claimed_until = NULL WHERE isrc = :isrc",
            {
                "now": now,
                "expires": expires,
                "count": len(new_ids),
                "canonical": new_ids[0],
                "changed": changed,
                "isrc": isrc,
            },
        )
    return changed


def save_not_found(db: Database, isrc: str, fetched_at: datetime, expires_at: datetime) -> bool:
    """Remember that Spotify has no track for ``isrc``. Returns whether it was found before."""
    return _with_retries(db, lambda: _save_not_found(db, isrc, to_text(fetched_at), to_text(expires_at)))


def _save_not_found(db: Database, isrc: str, now: str, expires: str) -> bool:
    with db.transaction():
        status, old_canonical, _ = _ensure_row(db, isrc, now)
        was_found = status == "found"
        if was_found:
            _record(db, isrc, now, "not_found", old_canonical, None)
        db.execute("DELETE FROM isrc_matches WHERE isrc = :isrc", {"isrc": isrc})
        db.execute(
            "UPDATE isrcs SET status = 'not_found', fetched_at = :now, expires_at = :expires, match_count = 0, "
            "canonical_track_id = NULL, changed_at = CASE WHEN :changed THEN :now ELSE changed_at END, "
            "last_error = NULL, last_error_at = NULL, claimed_by = NULL, claimed_until = NULL WHERE isrc = :isrc",
            {"now": now, "expires": expires, "changed": was_found, "isrc": isrc},
        )
    return was_found


def save_error(db: Database, isrc: str, message: str, at: datetime) -> None:
    """Note a failed fetch of ``isrc``; whatever was stored before is kept as it was."""
    _with_retries(db, lambda: _save_error(db, isrc, message, to_text(at)))


def _save_error(db: Database, isrc: str, message: str, now: str) -> None:
    with db.transaction():
        _ensure_row(db, isrc, now)
        db.execute(
            "UPDATE isrcs SET last_error = :message, last_error_at = :now, claimed_by = NULL, claimed_until = NULL "
            "WHERE isrc = :isrc",
            {"message": message[:1000], "now": now, "isrc": isrc},
        )


def add_counts(db: Database, counts: dict[str, int]) -> None:
    """Add to the running totals in ``counters`` (e.g. ``cache_hits``, ``spotify_requests``)."""
    items = [{"name": name, "value": value} for name, value in sorted(counts.items()) if value]
    if not items:
        return
    with db.transaction():
        db.executemany(
            "INSERT INTO counters (name, value) VALUES (:name, :value) "
            "ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
            items,
        )


def get_meta(db: Database, key: str) -> str | None:
    row = db.one("SELECT value FROM meta WHERE key = :key", {"key": key})
    return None if row is None else str(row[0])


def set_meta(db: Database, key: str, value: str, at: datetime) -> None:
    with db.transaction():
        db.execute(
            "INSERT INTO meta (key, value, updated_at) VALUES (:key, :value, :at) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            {"key": key, "value": value, "at": to_text(at)},
        )


# --- the rate limit's pause, per Spotify app -----------------------------------------------------------------------


def get_pause(db: Database, app: str | None) -> tuple[str, str | None] | None:
    """``(paused_until, reason)`` of ``app``'s pause as stored (``None`` for ``app``: the latest of any app)."""
    if app is None:
        row = db.one(
            "SELECT paused_until, pause_reason FROM rate_budgets WHERE paused_until IS NOT NULL "
            "ORDER BY paused_until DESC LIMIT 1"
        )
    else:
        row = db.one("SELECT paused_until, pause_reason FROM rate_budgets WHERE app = :app", {"app": app})
    if row is None or row[0] is None:
        return None
    return str(row[0]), row[1]


def set_pause(db: Database, app: str, until: datetime, reason: str | None, at: datetime) -> None:
    """Store that ``app`` may call Spotify again only after ``until`` (a later pause already stored stays)."""
    with db.transaction():
        db.execute(
            "INSERT INTO rate_budgets (app, paused_until, pause_reason, updated_at) "
            "VALUES (:app, :until, :reason, :at) ON CONFLICT (app) DO UPDATE SET "
            "paused_until = CASE WHEN rate_budgets.paused_until IS NULL OR rate_budgets.paused_until < :until "
            "THEN :until ELSE rate_budgets.paused_until END, pause_reason = :reason, updated_at = :at",
            {"app": app, "until": to_text(until), "reason": reason, "at": to_text(at)},
        )


def clear_pause(db: Database, app: str | None) -> int:
    """Forget the pause of ``app`` (``None``: of every app); returns how many pauses were cleared."""
    with db.transaction():
        cursor = db.execute(
            "UPDATE rate_budgets SET paused_until = NULL, pause_reason = NULL "
            "WHERE paused_until IS NOT NULL AND (:app IS NULL OR app = :app)",
            {"app": app},
        )
        return max(int(cursor.rowcount), 0)


# --- import and sync --------------------------------------------------------------------------------------------


def ensure_pending(db: Database, codes: Sequence[str], at: datetime) -> int:
    """Add valid, normalised ``codes`` as pending, in one transaction; codes already stored are left as they are.

    Returns how many were added (a code repeated in ``codes`` is added once).
    """
    return db.add_pending(codes, to_text(at))


def note_seen(db: Database, codes: Sequence[str]) -> int:
    """Remember ``codes`` as read by this import, in a temporary table of this connection (on disk, not in
    Python's memory, however large the file); returns how many had not been read before (once each)."""
    with db.transaction():
        # WITHOUT ROWID on SQLite: one B-tree, not a table and its index (half the work per code).
        without_rowid = " WITHOUT ROWID" if db.dialect == "sqlite" else ""
        db.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS isrcdb_import_seen (isrc text PRIMARY KEY){without_rowid}")
        if db.dialect == "postgresql":  # in bulk (COPY): one INSERT per code is a round trip each
            return db.insert_new(codes, "INSERT INTO isrcdb_import_seen (isrc) SELECT DISTINCT isrc FROM {}")
        return db.executemany(
            "INSERT INTO isrcdb_import_seen (isrc) VALUES (:isrc) ON CONFLICT DO NOTHING",
            [{"isrc": code} for code in codes],
        )


def forget_seen(db: Database) -> None:
    """Drop what :func:`note_seen` remembered, at the end of an import."""
    db.execute("DROP TABLE IF EXISTS isrcdb_import_seen")


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


def _due_where(tier: str, rule: DueRule) -> tuple[str, dict[str, Any], str]:
    """(condition, parameters, ORDER BY) selecting the due codes of one tier along an index of ``isrcs``."""
    if tier == "pending":
        return "status = 'pending'", {}, ""
    if rule.fetched_before is None:
        return (
            "status = :tier AND expires_at < :bound",
            {"tier": tier, "bound": to_text(rule.started)},
            ("ORDER BY expires_at"),
        )
    return (
        "status = :tier AND fetched_at < :bound",
        {"tier": tier, "bound": to_text(rule.fetched_before)},
        ("ORDER BY fetched_at"),
    )


def count_due(db: Database, rule: DueRule, *, requests: bool = False) -> dict[str, tuple[int, int]]:
    """For each tier, ``(codes, requests)`` due under ``rule``.

    The requests are estimated (one search page per 10 stored matches, at least one) only when ``requests`` is
    true, since that reads every due row; otherwise they are 0 and the count reads the index alone.
    """
    pages = "coalesce(sum(CASE WHEN match_count <= 10 THEN 1 ELSE (match_count + 9) / 10 END), 0)" if requests else "0"
    counts: dict[str, tuple[int, int]] = {}
    for tier in DUE_TIERS:
        where, params, _ = _due_where(tier, rule)
        row = db.one(f"SELECT count(*), {pages} FROM isrcs WHERE {where}", params)
        assert row is not None
        counts[tier] = (int(row[0]), int(row[1]))
    return counts


def claim_due(
    db: Database, rule: DueRule, owner: str, now: datetime, until: datetime, limit: int
) -> list[tuple[str, str]]:
    """Claim up to ``limit`` due codes for ``owner`` until ``until``, in due order, in one write transaction.

    Returns ``(code, status before)`` pairs. A code claimed by another owner is skipped until its claim expires,
    so two syncs never hold the same code (see each database's ``claim_due`` for how).
    """
    tiers = []
    for tier in DUE_TIERS:
        where, params, order = _due_where(tier, rule)
        tiers.append((tier, where, order, params))
    return db.claim_due(tiers, owner, now, until, limit)


HELD = ":held"
"""Suffix of the owner of a claim kept on a code whose search failed (not searched again in that run): a lookup
does not wait for such a code, as nobody is searching it."""


def hold_claims(db: Database, owner: str, codes: Iterable[str], until: datetime) -> None:
    """Claim ``codes`` for ``owner`` until ``until``, whoever held them, to keep failed codes out of a run.

    The claim's owner is marked :data:`HELD`; :func:`release_claims` of ``owner`` releases these claims too.
    """
    with db.transaction():
        db.executemany(
            "UPDATE isrcs SET claimed_by = :owner, claimed_until = :until WHERE isrc = :isrc",
            [{"owner": owner + HELD, "until": to_text(until), "isrc": code} for code in codes],
        )


def renew_claims(db: Database, owner: str, codes: Iterable[str], until: datetime) -> None:
    """Extend ``owner``'s claims on ``codes`` (those it still holds) to ``until``."""
    with db.transaction():
        db.executemany(
            "UPDATE isrcs SET claimed_until = :until WHERE isrc = :isrc AND claimed_by = :owner",
            [{"until": to_text(until), "isrc": code, "owner": owner} for code in codes],
        )


def release_claims(db: Database, owner: str, codes: Iterable[str] | None = None) -> None:
    """Drop ``owner``'s claims, held ones too: on ``codes``, or on every code it holds (a full scan) when ``None``."""
    with db.transaction():
        if codes is None:
            db.execute(
                "UPDATE isrcs SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IN (:owner, :held)",
                {"owner": owner, "held": owner + HELD},
            )
        else:
            db.executemany(
                "UPDATE isrcs SET claimed_by = NULL, claimed_until = NULL "
                "WHERE isrc = :isrc AND claimed_by IN (:owner, :held)",
                [{"isrc": code, "owner": owner, "held": owner + HELD} for code in codes],
            )


def claim_code(db: Database, isrc: str, owner: str, now: datetime, until: datetime) -> bool:
    """Claim one code for a lookup that is about to search it: whether it is now ``owner``'s.

    The code gets a pending row if it has none. A code another owner holds (a sync, or another lookup) is not
    taken until that claim expires: the caller waits for the holder's answer instead of searching it twice.
    """
    with db.transaction():
        db.execute(
            "INSERT INTO isrcs (isrc, status, first_seen_at) VALUES (:isrc, 'pending', :now) ON CONFLICT DO NOTHING",
            {"isrc": isrc, "now": to_text(now)},
        )
        row = db.one(
            f"UPDATE isrcs SET claimed_by = :owner, claimed_until = {db.lease_end_sql} WHERE isrc = :isrc "
            f"AND (claimed_by IS NULL OR claimed_by = :owner OR claimed_until IS NULL OR claimed_until < {db.now_sql}) "
            "RETURNING isrc",
            {
                "isrc": isrc,
                "owner": owner,
                "now": to_text(now),
                "until": to_text(until),
                "lease": (until - now).total_seconds(),
            },
        )
    return row is not None


def held_by_others(db: Database, rule: DueRule, owner: str, now: datetime, horizon: datetime) -> int:
    """How many due codes other runs hold with a claim that ends by ``horizon``: codes another sync is searching,
    or that a dead one held, whose claims will run out (a claim ending later is someone's long-term hold)."""
    total = 0
    for tier in DUE_TIERS:
        where, params, _ = _due_where(tier, rule)
        row = db.one(
            f"SELECT count(*) FROM isrcs WHERE {where} AND claimed_by IS NOT NULL "
            f"AND claimed_by NOT IN (:owner, :held) AND claimed_until >= {db.now_sql} "
            f"AND claimed_until <= {db.lease_end_sql}",
            {
                **params,
                "owner": owner,
                "held": owner + HELD,
                "now": to_text(now),
                "until": to_text(horizon),
                "lease": (horizon - now).total_seconds(),
            },
        )
        total += int(row[0]) if row else 0
    return total


def get_claim(db: Database, isrc: str) -> tuple[str | None, str | None, str | None] | None:
    """``(claimed_by, claimed_until, fetched_at)`` of a stored code (timestamps as stored), ``None`` if not stored."""
    row = db.one("SELECT claimed_by, claimed_until, fetched_at FROM isrcs WHERE isrc = :isrc", {"isrc": isrc})
    return None if row is None else (row[0], row[1], row[2])


def claim_owners(db: Database, now: datetime) -> list[str]:
    """The owners of claims that have not expired (a full scan: call it once per run)."""
    rows = db.all(
        "SELECT DISTINCT claimed_by FROM isrcs WHERE claimed_by IS NOT NULL AND claimed_until >= :now",
        {"now": to_text(now)},
    )
    return [row[0] for row in rows]

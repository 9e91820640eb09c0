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


def _artist_id(artist: Artist) -> str:
    """The key of ``artist`` in ``artists``: Spotify's id, or its name for an artist Spotify gave no id."""
    return artist.id or f"name:{artist.name}"


def _names(artists: Iterable[Artist]) -> str:
    """The artists' names as a JSON array (``tracks.artist_names``, ``albums.artist_names``)."""
    return json.dumps([artist.name for artist in artists], ensure_ascii=False, separators=(",", ":"))


_UPSERT_ALBUM = (
    "INSERT INTO albums (id, name, album_type, release_date, release_date_precision, total_tracks, spotify_url, "
    "image_url, raw_json, artist_names, json_from_columns) VALUES (:id, :name, :album_type, :release_date, "
    ":precision, :total_tracks, :spotify_url, :image_url, :raw_json, :artist_names, :json_from_columns) "
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
    "album_type = excluded.album_type, release_date = excluded.release_date, "
    "release_date_precision = excluded.release_date_precision, total_tracks = excluded.total_tracks, "
    "spotify_url = excluded.spotify_url, image_url = excluded.image_url, artist_names = excluded.artist_names, "
    "raw_json = coalesce(excluded.raw_json, albums.raw_json), json_from_columns = CASE WHEN excluded.raw_json "
    "IS NULL THEN albums.json_from_columns ELSE excluded.json_from_columns END"
)
"""Write an album's row (parameters: :func:`_album_row`); without JSON, the JSON stored before stays."""

_UPSERT_TRACK = (
    "INSERT INTO tracks (id, isrc, name, album_id, disc_number, track_number, duration_ms, explicit, spotify_url, "
    "raw_json, artist_names, json_from_columns, fetched_at) VALUES (:id, :isrc, :name, :album_id, :disc_number, "
    ":track_number, :duration_ms, :explicit, :spotify_url, :raw_json, :artist_names, :json_from_columns, "
    ":fetched_at) ON CONFLICT (id) DO UPDATE SET isrc = excluded.isrc, name = excluded.name, "
    "album_id = excluded.album_id, disc_number = excluded.disc_number, track_number = excluded.track_number, "
    "duration_ms = excluded.duration_ms, explicit = excluded.explicit, spotify_url = excluded.spotify_url, "
    "raw_json = excluded.raw_json, artist_names = excluded.artist_names, "
    "json_from_columns = excluded.json_from_columns, fetched_at = excluded.fetched_at"
)
"""Write a track's row (parameters: :func:`_track_row`)."""


def _sent(track: Track) -> dict[str, Any] | None:
    """Spotify's object for ``track`` (``None``: a track made by hand whose JSON is not an object)."""
    if track.data is not None:
        return track.data
    try:
        obj = json.loads(track.raw_json)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _sent_album(sent: dict[str, Any] | None) -> dict[str, Any] | None:
    """The album object inside a track's object, if it has one."""
    album = sent.get("album") if sent is not None else None
    return album if isinstance(album, dict) else None


def _album_row(album: Album, sent: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters of :data:`_UPSERT_ALBUM` for ``album`` (which has an id), Spotify's object ``sent``.

    Its JSON is what the columns do not rebuild, or the whole object (see :mod:`isrcdb.spotify.compact`), in the
    same row as the columns, so that the view ``track_json`` always rebuilds the object of one fetch. When
    ``json_from_columns`` is true, the album's artists must be written to ``album_artists`` even if there are none.
    """
    from isrcdb.spotify.compact import album_template, compact

    raw_json, from_columns = None, None
    if sent is not None:
        template = album_template(album, [_artist_id(artist) for artist in album.artists], sent.get("images"))
        raw_json, from_columns = compact(sent, template)
    return {
        "id": album.id,
        "name": album.name,
        "album_type": album.album_type,
        "release_date": album.release_date,
        "precision": album.release_date_precision,
        "total_tracks": album.total_tracks,
        "spotify_url": album.spotify_url,
        "image_url": album.image_url,
        "raw_json": raw_json,
        "artist_names": _names(album.artists),
        "json_from_columns": from_columns,
    }


def _track_row(track: Track, sent: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters of :data:`_UPSERT_TRACK` for ``track``, Spotify's object ``sent``: without its album's object
    when that is stored in the album's row, and then only what the columns do not rebuild, or the whole rest."""
    from isrcdb.spotify.compact import compact, track_template

    album_id = track.album.id if track.album is not None else None
    raw_json, from_columns = track.raw_json, None
    if sent is not None:
        if album_id is not None and _sent_album(sent) is not None:
            sent = {key: value for key, value in sent.items() if key != "album"}
        template = track_template(track, [_artist_id(artist) for artist in track.artists])
        raw_json, from_columns = compact(sent, template)
    return {
        "id": track.id,
        "isrc": track.isrc,
        "name": track.name,
        "album_id": album_id,
        "disc_number": track.disc_number,
        "track_number": track.track_number,
        "duration_ms": track.duration_ms,
        "explicit": track.explicit,
        "spotify_url": track.spotify_url,
        "raw_json": raw_json,
        "artist_names": _names(track.artists),
        "json_from_columns": from_columns,
    }


def _record(db: Database, isrc: str, at: str, kind: str, old: str | None, new: str | None) -> None:
    db.execute(
        "INSERT INTO isrc_changes (isrc, changed_at, kind, old_track_id, new_track_id) "
        "VALUES (:isrc, :at, :kind, :old, :new)",
        {"isrc": isrc, "at": at, "kind": kind, "old": old, "new": new},
    )


def _with_retries(db: Database, work: Callable[[], T]) -> T:
    """Run ``work`` (one transaction, or part of the caller's), again if the database chose it as the loser of a
    conflict (a deadlock between writers on a server): a few times, after a short pause that grows."""
    for attempt in range(5):
        try:
            with db.retryable():
                return work()
        except Exception as exc:
            if attempt == 4 or not db.is_conflict(exc):
                raise
            time.sleep(0.02 * 2**attempt)
    raise AssertionError("unreachable")


def save_found(db: Database, isrc: str, tracks: Sequence[Track], fetched_at: datetime, expires_at: datetime) -> bool:
    """Store every match of ``isrc`` (``tracks`` canonical first), in one transaction.

    Returns whether the canonical match changed (or the code was found for the first time).
    """
    return save_answers(db, [Answer(isrc, tracks, fetched_at, expires_at)])[0]


def save_error(db: Database, isrc: str, message: str, at: datetime) -> None:
    """Note a failed fetch of ``isrc``; whatever was stored before is kept as it was."""
    _with_retries(db, lambda: _save_error(db, isrc, message, to_text(at)))


def _save_error(db: Database, isrc: str, message: str, now: str) -> None:
    with db.transaction():
        db.execute(
            "INSERT INTO isrcs (isrc, status, first_seen_at) VALUES (:isrc, 'pending', :now) ON CONFLICT DO NOTHING",
            {"isrc": isrc, "now": now},
        )
        db.execute(
            "UPDATE isrcs SET last_error = :message, last_error_at = :now, claimed_by = NULL, claimed_until = NULL "
            "WHERE isrc = :isrc",
            {"message": message[:1000], "now": now, "isrc": isrc},
        )


# --- many answers at once ------------------------------------------------------------------------------------


_State = tuple[str, str | None, list[str]]
"""A code's status, canonical track and match ids, before an answer is stored."""


class Answer(NamedTuple):
    """Spotify's answer for one code, to be stored: its tracks (canonical first), none when not found."""

    isrc: str
    tracks: Sequence[Track]
    fetched_at: datetime
    expires_at: datetime
    rows: Rows | None = None
    """The tracks' rows (:func:`rows_of`), if built already."""


def save_answers(db: Database, answers: Sequence[Answer]) -> list[bool]:
    """Store Spotify's answers for several codes in one transaction, a fixed number of statements for them all
    (each run once per row: ``executemany``), so that a sync's cost per code is its rows, not its statements.

    Returns, for each answer: whether its canonical match changed (or it was found for the first time) for a
    found code, and whether it was found before for a code not found. A code given twice is stored as if the
    answers came one after the other.
    """
    results: list[bool] = []
    for part in _distinct_runs(answers):
        results.extend(_with_retries(db, lambda part=part: _save_answers(db, part)))  # type: ignore[misc]
    return results


def _distinct_runs(answers: Sequence[Answer]) -> Iterator[Sequence[Answer]]:
    """``answers`` cut into runs in which no code comes twice, in order."""
    start, seen = 0, set[str]()
    for index, answer in enumerate(answers):
        if answer.isrc in seen:
            yield answers[start:index]
            start, seen = index, set[str]()
        seen.add(answer.isrc)
    if start < len(answers):
        yield answers[start:]


def _previous(db: Database, codes: Sequence[str], now: str) -> dict[str, _State]:
    """Make sure each of ``codes`` has a row, lock them (in ISRC order on PostgreSQL, so that two writers never
    wait for each other in a circle), and return each one's status, canonical track and match ids before."""
    postgresql = db.dialect == "postgresql"
    state: dict[str, _State] = {}
    if postgresql:
        db.executemany(
            "INSERT INTO isrcs (isrc, status, first_seen_at) VALUES (:isrc, 'pending', :now) ON CONFLICT DO NOTHING",
            [{"isrc": code, "now": now} for code in sorted(codes)],
        )
    lock = " ORDER BY isrc FOR UPDATE" if postgresql else ""
    for chunk in _chunks(codes):
        sql = f"SELECT isrc, status, canonical_track_id FROM isrcs WHERE isrc IN ({_marks(len(chunk))}){lock}"
        for isrc, status, canonical in db.execute(sql, _in_params(chunk)):
            state[isrc] = (status, canonical, [])
    missing = [code for code in codes if code not in state]
    if missing:  # SQLite: the write transaction already keeps others out
        db.executemany(
            "INSERT INTO isrcs (isrc, status, first_seen_at) VALUES (:isrc, 'pending', :now)",
            [{"isrc": code, "now": now} for code in missing],
        )
        state.update((code, ("pending", None, [])) for code in missing)
    known = [code for code in codes if state[code][0] != "pending"]
    for chunk in _chunks(known):
        sql = f"SELECT isrc, track_id FROM isrc_matches WHERE isrc IN ({_marks(len(chunk))}) ORDER BY isrc, rank"
        for isrc, track_id in db.execute(sql, _in_params(chunk)):
            state[isrc][2].append(track_id)
    return state


class Rows(NamedTuple):
    """The rows one answer's tracks are stored as, keyed by id: built apart from the writing (see :func:`rows_of`)."""

    artists: dict[str, dict[str, Any]]
    albums: dict[str, tuple[dict[str, Any], list[dict[str, Any]] | None]]
    """Each album's row, and its ``album_artists`` rows (``None``: the album's artists are left as they are)."""
    tracks: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]
    """Each track's row (without ``fetched_at``, set when it is written), and its ``track_artists`` rows."""


def rows_of(tracks: Iterable[Track]) -> Rows:
    """The rows that store ``tracks``, their albums and their artists. Pure work on the tracks, no database: a sync
    builds them in the thread that searched, so that the one thread writing to the database only writes."""
    rows = Rows({}, {}, {})

    def links(artists: Iterable[Artist], key: str, owner: str) -> list[dict[str, Any]]:
        found = []
        for position, artist in enumerate(artists):
            artist_id = _artist_id(artist)
            rows.artists[artist_id] = {"id": artist_id, "name": artist.name, "url": artist.spotify_url}
            found.append({key: owner, "position": position, "artist": artist_id})
        return found

    for track in tracks:
        sent = _sent(track)
        album = track.album
        if album is not None and album.id is not None:
            album_row = _album_row(album, _sent_album(sent))
            album_links = links(album.artists, "album", album.id)
            # Rebuilt from its columns, the album's artists come from album_artists: rewritten even when Spotify
            # lists none. Otherwise an album without artists keeps those stored before.
            rows.albums[album.id] = (album_row, album_links if album_links or album_row["json_from_columns"] else None)
        rows.tracks[track.id] = (_track_row(track, sent), links(track.artists, "track", track.id))
    return rows


def _write_rows(db: Database, parts: Iterable[Rows], fetched_at: str) -> None:
    """Write the rows of several answers: each table once, its rows in key order (the order every writer locks
    them in on PostgreSQL); a row two answers share is written once, as the later one has it."""
    rows = Rows({}, {}, {})
    for part in parts:
        rows.artists.update(part.artists)
        rows.albums.update(part.albums)
        rows.tracks.update(part.tracks)
    unchanged = "IS DISTINCT FROM" if db.dialect == "postgresql" else "IS NOT"
    db.executemany(
        "INSERT INTO artists (id, name, spotify_url) VALUES (:id, :name, :url) ON CONFLICT (id) DO UPDATE SET "
        "name = excluded.name, spotify_url = excluded.spotify_url "
        f"WHERE (artists.name, artists.spotify_url) {unchanged} (excluded.name, excluded.spotify_url)",
        [rows.artists[key] for key in sorted(rows.artists)],
    )
    albums = [rows.albums[key] for key in sorted(rows.albums)]
    if albums:
        db.executemany(_UPSERT_ALBUM, [row for row, _ in albums])
        relinked = [(row["id"], links) for row, links in albums if links is not None]
        if relinked:
            db.executemany("DELETE FROM album_artists WHERE album_id = :id", [{"id": key} for key, _ in relinked])
            db.executemany(
                "INSERT INTO album_artists (album_id, position, artist_id) VALUES (:album, :position, :artist)",
                [link for _, links in relinked for link in links],
            )
    tracks = [rows.tracks[key] for key in sorted(rows.tracks)]
    if not tracks:
        return
    db.executemany(_UPSERT_TRACK, [{**row, "fetched_at": fetched_at} for row, _ in tracks])
    db.executemany("DELETE FROM track_artists WHERE track_id = :id", [{"id": row["id"]} for row, _ in tracks])
    db.executemany(
        "INSERT INTO track_artists (track_id, position, artist_id) VALUES (:track, :position, :artist)",
        [link for _, links in tracks for link in links],
    )


def _save_answers(db: Database, answers: Sequence[Answer]) -> list[bool]:
    if not answers:
        return []
    now = to_text(answers[0].fetched_at)
    with db.transaction():
        state = _previous(db, [answer.isrc for answer in answers], now)
        with db.pipelined():  # nothing below reads a result
            _write_rows(db, (answer.rows or rows_of(answer.tracks) for answer in answers), now)
            return _write_answers(db, answers, state)


def _write_answers(db: Database, answers: Sequence[Answer], state: dict[str, _State]) -> list[bool]:
    """Write each answer's matches, history and status, given each code's ``state`` before; return what
    :func:`save_answers` returns."""
    results: list[bool] = []
    changes: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    not_found: list[dict[str, Any]] = []
    replaced = [{"isrc": isrc} for isrc, (_, _, previous) in state.items() if previous]
    if replaced:
        db.executemany("DELETE FROM isrc_matches WHERE isrc = :isrc", replaced)
    matches: list[dict[str, Any]] = []
    for answer in answers:
        isrc, at = answer.isrc, to_text(answer.fetched_at)
        status, old, previous = state[isrc]

        def record(kind: str, old_id: str | None, new_id: str | None, isrc: str = isrc, at: str = at) -> None:
            changes.append({"isrc": isrc, "at": at, "kind": kind, "old": old_id, "new": new_id})

        row = {"isrc": isrc, "now": at, "expires": to_text(answer.expires_at)}
        if not answer.tracks:
            was_found = status == "found"
            if was_found:
                record("not_found", old, None)
            not_found.append({**row, "changed": was_found})
            results.append(was_found)
            continue
        new_ids = [track.id for track in answer.tracks]
        matches.extend({"isrc": isrc, "track": track_id, "rank": rank} for rank, track_id in enumerate(new_ids))
        changed = status != "found" or old != new_ids[0]
        if status != "found":
            record("found", old, new_ids[0])
        else:
            if old != new_ids[0]:
                record("canonical_changed", old, new_ids[0])
            for gone in sorted(set(previous) - set(new_ids)):
                record("track_removed", gone, None)
            for added in sorted(set(new_ids) - set(previous)):
                record("track_added", None, added)
        found.append({**row, "count": len(new_ids), "canonical": new_ids[0], "changed": changed})
        results.append(changed)
    if matches:
        db.executemany("INSERT INTO isrc_matches (isrc, track_id, rank) VALUES (:isrc, :track, :rank)", matches)
    if changes:
        db.executemany(
            "INSERT INTO isrc_changes (isrc, changed_at, kind, old_track_id, new_track_id) "
            "VALUES (:isrc, :at, :kind, :old, :new)",
            changes,
        )
    if found:
        db.executemany(
            "UPDATE isrcs SET status = 'found', fetched_at = :now, expires_at = :expires, match_count = :count, "
            "canonical_track_id = :canonical, changed_at = CASE WHEN :changed THEN :now ELSE changed_at END, "
            "last_error = NULL, last_error_at = NULL, claimed_by = NULL, claimed_until = NULL WHERE isrc = :isrc",
            found,
        )
    if not_found:
        db.executemany(
            "UPDATE isrcs SET status = 'not_found', fetched_at = :now, expires_at = :expires, match_count = 0, "
            "canonical_track_id = NULL, changed_at = CASE WHEN :changed THEN :now ELSE changed_at END, "
            "last_error = NULL, last_error_at = NULL, claimed_by = NULL, claimed_until = NULL WHERE isrc = :isrc",
            not_found,
        )
    return results


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

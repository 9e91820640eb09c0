"""Read-only SQL against the cache: one statement, named parameters, a time limit, and saved queries.

Each database enforces the read-only rule itself: on SQLite, a read-only connection with an authorizer
(:mod:`isrcdb.database.sqlite_query`); on PostgreSQL, a ``READ ONLY`` transaction, a server-side cursor and
``statement_timeout`` (:func:`isrcdb.database.postgresql.run_readonly_query`). On SQLite:

A query runs the way Datasette runs one, never by filtering keywords:

* the connection is read-only (``mode=ro`` URI plus ``PRAGMA query_only``, see
  :func:`isrcdb.database.sqlite.connect_readonly`);
* an authorizer (``sqlite3`` ``set_authorizer``) allows only reading: ``SELECT``, reads of tables and views,
  functions, recursive CTEs and a list of read-only pragmas. Everything else is denied while the statement is
  prepared, so nothing runs. The authorizer matters even on a read-only connection: ``ATTACH`` and
  ``VACUUM INTO`` create *other* files, which neither ``mode=ro`` nor ``query_only`` prevent;
* one statement only (``sqlite3`` refuses a second one before running the first);
* a time limit enforced by a watchdog thread, which calls ``Connection.interrupt()`` once the statement has run
  for ``timeout`` seconds, whatever SQLite is doing (a progress handler alone is consulted only every few thousand
  virtual machine steps, and a few expensive function calls fit between two of them). Only time spent inside SQLite
  counts, not time spent writing the output;
* a limit on the size of any single value (``SQLITE_LIMIT_LENGTH``, :data:`MAX_VALUE_BYTES`), so that one
  ``printf('%.*c', 3e8, 'x')`` or ``zeroblob(1e9)`` is refused at once instead of filling memory, which also bounds
  how long one call of a string function can run.

Values come back as SQLite stores them: integers and reals stay numbers, text stays text, ``NULL`` is ``None``.
SQLite has no boolean type, so the 0/1 columns (``stale``, ``explicit``, ``canonical``) stay integers here; an
arbitrary query cannot know that a column is a boolean (``isrcdb export``, which knows its columns, writes
``true``/``false``). A column named ``artists`` holding a JSON array (as in the views) is decoded to a list.
A BLOB becomes ``{"$base64": true, "encoded": "..."}``, as in Datasette's JSON.

Parameters bind by name (``:name``). A value written as a canonical integer (``42``, ``-7``, ``0``; no ``+``, no
leading zeros, within 64 bits) binds as an INTEGER, anything else as TEXT, always as data, never as SQL. Columns
with TEXT affinity (``isrc``, ``release_date``, timestamps...) compare correctly either way, because SQLite
converts the value to the column's affinity; computed columns (``stale``, ``canonical``) need the integer.
Write ``CAST(:value AS TEXT)`` to force text.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from isrcdb.clock import Clock, parse_duration, to_text, utcnow
from isrcdb.errors import QueryError, QueryTimeout, ValueTooLarge, WriteRefused, timeout_error

if TYPE_CHECKING:
    from isrcdb.database.base import Database

__all__ = [
    "DEFAULT_TIMEOUT",
    "SAVED_QUERIES",
    "QueryError",
    "QueryResult",
    "QueryTimeout",
    "ValueTooLarge",
    "WriteRefused",
    "run",
    "run_saved",
    "saved_query",
    "timeout_error",
]

DEFAULT_TIMEOUT = 5.0
"""Seconds a statement may run inside SQLite before it is stopped (``0`` or ``None``: no limit)."""

MAX_VALUE_BYTES = 16 * 1024 * 1024
"""The largest string or BLOB a query may produce (SQLite's ``SQLITE_LIMIT_LENGTH`` on its connection). A track's
stored JSON is a few kilobytes, and ``group_concat(isrc)`` over a million codes is 13 MB."""

# Rows fetched per call: with values of at most MAX_VALUE_BYTES, what a batch holds stays bounded.
FETCH = 64
PROGRESS_STEPS = 10_000  # SQLite virtual machine instructions between two checks of the clock

JSON_ARRAY_COLUMNS = frozenset({"artists"})
"""Columns decoded from JSON-array text to lists (the views' ``artists``)."""


_LEADING = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))*([A-Za-z]+(?:\s+[A-Za-z]+){0,3})", re.DOTALL)
_OBJECTS = ("TABLE", "VIEW", "INDEX", "TRIGGER")


def leading_keyword(sql: str) -> str:
    """The first keyword of ``sql`` after white space and comments, upper-cased (for messages, never decisions)."""
    return statement_kind(sql).split(" ", 1)[0]


def statement_kind(sql: str) -> str:
    """What ``sql`` starts with, for messages only: ``DELETE``, ``DROP TABLE``, ``CREATE TEMP VIEW``..."""
    match = _LEADING.match(sql)
    words = match.group(1).upper().split() if match else []
    if words[:1] in (["CREATE"], ["DROP"]):
        for end, word in enumerate(words):
            if word in _OBJECTS:
                return " ".join(words[: end + 1])
    return words[0] if words else ""


# --- values and parameters ---------------------------------------------------------------------------------------

_INTEGER = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def bind_value(text: str) -> int | str:
    """A parameter value as bound: a canonical integer within 64 bits as INTEGER, anything else as TEXT."""
    if _INTEGER.match(text):
        number = int(text)
        if -(2**63) <= number < 2**63:
            return number
    return text


def parse_params(pairs: Iterable[tuple[str, str]]) -> dict[str, int | str]:
    """``(name, value)`` pairs (from ``-p NAME VALUE``) as named parameters; ``:name`` is accepted for ``name``."""
    params: dict[str, int | str] = {}
    for raw_name, value in pairs:
        name = raw_name[1:] if raw_name[:1] in (":", "@", "$") else raw_name
        if not _PARAM_NAME.match(name):
            raise QueryError(f"{raw_name!r} is not a parameter name: use letters, digits and _ (e.g. -p since 7d)")
        if name in params:
            raise QueryError(f"the parameter :{name} is given twice")
        params[name] = bind_value(value)
    return params


def decode_array(value: Any) -> Any:
    """JSON-array text as a list; anything else (``NULL``, other text, invalid JSON) unchanged."""
    if isinstance(value, str) and value.startswith("["):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if isinstance(decoded, list):
            return decoded
    return value


def blob_value(value: bytes) -> dict[str, Any]:
    """A BLOB as JSON can carry it (Datasette's form)."""
    return {"$base64": True, "encoded": base64.b64encode(value).decode("ascii")}


def row_converter(
    columns: Sequence[str], *, booleans: Collection[str] = (), blobs: bool = True
) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A function making a dict of a row: ``artists`` columns decoded (:func:`decode_array`), the ``booleans``
    columns' 0/1 as ``False``/``True``, and (with ``blobs``) BLOBs as :func:`blob_value`.

    Built once per statement, so that a row costs one ``dict`` and a look at the few columns that need it.
    """
    names = list(columns)
    arrays = [name for name in names if name in JSON_ARRAY_COLUMNS]
    flags = [name for name in names if name in booleans]

    def convert(row: Sequence[Any]) -> dict[str, Any]:
        record = dict(zip(names, row, strict=True))
        if blobs and bytes in map(type, row):
            for name, value in record.items():
                if isinstance(value, bytes):
                    record[name] = blob_value(value)
        for name in flags:
            if record[name] is not None:
                record[name] = bool(record[name])
        for name in arrays:
            record[name] = decode_array(record[name])
        return record

    return convert


def unique_columns(names: Sequence[str]) -> list[str]:
    """Column names made unique (``a``, ``a_2``), so that no value is lost when a row becomes a dict."""
    seen: set[str] = set()
    result = []
    for name in names:
        candidate, number = name, 1
        while candidate in seen:
            number += 1
            candidate = f"{name}_{number}"
        seen.add(candidate)
        result.append(candidate)
    return result


# --- running a query ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryResult:
    """The columns of a statement and its rows (dicts), streamed: iterate ``rows`` once."""

    columns: list[str]
    rows: Iterator[dict[str, Any]]


def run(
    database: Database,
    sql: str,
    params: Mapping[str, object] | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    monotonic: Callable[[], float] = time.monotonic,
    overdue: Callable[[], None] | None = None,
) -> QueryResult:
    """Run one read-only statement on ``database`` (opened with :func:`isrcdb.database.open_readonly`) with named
    ``params``; use a database object of its own, since the limits stay installed on its connection.

    Raises :class:`WriteRefused`, :class:`QueryTimeout`, :class:`ValueTooLarge` or :class:`QueryError`, and a
    :class:`~isrcdb.errors.DatabaseError` when the database cannot be read, also while the rows are iterated.
    ``overdue`` is called when a single call into SQLite goes on after it was interrupted at the time limit.
    """
    if not sql.strip():
        raise QueryError('the SQL is empty: give one statement, e.g. "SELECT * FROM lookups LIMIT 5"')
    columns, rows = database.readonly_query(
        sql, dict(params or {}), timeout=timeout, monotonic=monotonic, overdue=overdue
    )
    names = unique_columns(columns)
    return QueryResult(names, _converted(row_converter(names), rows))


def _converted(convert: Callable[[Any], Any], rows: Iterator[Any]) -> Iterator[Any]:
    """``convert`` applied to each row; closing this closes ``rows`` too, so that a reader that stops early (a full
    disk, a closed pipe) releases the cursor at once, while its database is still open."""
    try:
        for row in rows:
            yield convert(row)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


# --- saved queries -----------------------------------------------------------------------------------------------


def since_value(text: object, now: datetime) -> str:
    """A ``since`` parameter as a stored timestamp: a duration back from now (``7d``, ``12h``) or a date/time."""
    value = str(text).strip()
    with contextlib.suppress(ValueError):
        return to_text(now - parse_duration(value))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(
            f"since: {value!r} is neither a duration (7d, 12h) nor a date or time (2026-11-01, 2026-11-01T08:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_text(moment)


@dataclass(frozen=True)
class Parameter:
    """A parameter of a saved query."""

    name: str
    description: str
    default: str
    convert: Callable[[object, datetime], object] = field(default=lambda value, now: value, repr=False)


@dataclass(frozen=True)
class SavedQuery:
    """A named, documented query shipped with isrcdb (``isrcdb query --saved NAME``)."""

    name: str
    description: str
    sql: str
    parameters: tuple[Parameter, ...] = ()

    def bind(self, given: Mapping[str, object], now: datetime) -> dict[str, object]:
        """The parameters to run with: ``given`` (checked against the declared ones) over the defaults."""
        known = {parameter.name for parameter in self.parameters}
        unknown = sorted(set(given) - known)
        if unknown:
            takes = ", ".join(f":{name}" for name in sorted(known)) or "no parameters"
            raise QueryError(f"the saved query {self.name!r} takes {takes}, not :{unknown[0]}")
        return {
            parameter.name: parameter.convert(given.get(parameter.name, parameter.default), now)
            for parameter in self.parameters
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": ", ".join(f"{p.name} (default {p.default}): {p.description}" for p in self.parameters),
            "sql": self.sql,
        }


SAVED_QUERIES: tuple[SavedQuery, ...] = (
    SavedQuery(
        "stale",
        "Answered codes whose answer has expired (found or not found), oldest expiry first: what a sync would refresh.",
        "SELECT isrc, status, fetched_at, expires_at, name, artists FROM lookups\n"
        "WHERE status IN ('found', 'not_found') AND stale\nORDER BY expires_at, isrc",
    ),
    SavedQuery(
        "not_found",
        "Codes Spotify has no track for, as last asked.",
        "SELECT isrc, fetched_at, expires_at, stale FROM lookups\nWHERE status = 'not_found'\nORDER BY isrc",
    ),
    SavedQuery(
        "ambiguous",
        "Codes that matched more than one Spotify track (several releases), most matches first.",
        "SELECT isrc, match_count, spotify_id, name, artists, album, release_date FROM lookups\n"
        "WHERE match_count > 1\nORDER BY match_count DESC, isrc",
    ),
    SavedQuery(
        "changed",
        "What refreshes changed since a moment (found, not found, canonical match changed, track added or removed), "
        "newest first.",
        "SELECT c.changed_at, c.isrc, c.kind, c.old_track_id, c.new_track_id, l.name, l.artists\n"
        "FROM isrc_changes c JOIN lookups l ON l.isrc = c.isrc\n"
        "WHERE c.changed_at >= :since\nORDER BY c.changed_at DESC, c.id DESC",
        (
            Parameter(
                "since",
                "a duration back from now (7d, 12h) or a UTC date or time (2026-11-01, 2026-11-01T08:00:00Z)",
                "7d",
                since_value,
            ),
        ),
    ),
    SavedQuery(
        "pending",
        "Codes known (e.g. imported) but never answered yet, oldest first.",
        "SELECT isrc, first_seen_at, last_error FROM lookups\nWHERE status = 'pending'\nORDER BY first_seen_at, isrc",
    ),
    SavedQuery(
        "errors",
        "Codes whose last fetch failed, with the error, latest first (what was stored before is kept).",
        "SELECT isrc, status, last_error_at, last_error FROM isrcs\n"
        "WHERE last_error IS NOT NULL\nORDER BY last_error_at DESC, isrc",
    ),
)


def saved_query(name: str) -> SavedQuery:
    """The saved query called ``name``, or a :class:`QueryError` listing the names."""
    for query in SAVED_QUERIES:
        if query.name == name.strip().lower().replace("-", "_"):
            return query
    names = ", ".join(query.name for query in SAVED_QUERIES)
    raise QueryError(f"there is no saved query {name!r}; the saved queries are: {names}")


def run_saved(
    database: Database,
    name: str,
    params: Mapping[str, object] | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    clock: Clock = utcnow,
    overdue: Callable[[], None] | None = None,
) -> QueryResult:
    """Run the saved query ``name`` with ``params`` over its defaults, read-only, like :func:`run`."""
    query = saved_query(name)
    bound = query.bind(params or {}, clock())
    return run(database, query.sql, bound, timeout=timeout, overdue=overdue)

"""Read-only SQL against the cache: one statement, named parameters, a time limit, and saved queries.

A query runs the way Datasette runs one, never by filtering keywords:

* the connection is read-only (``mode=ro`` URI plus ``PRAGMA query_only``, see :func:`isrcdb.db.connect_readonly`);
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
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from isrcdb.clock import Clock, parse_duration, to_text, utcnow
from isrcdb.errors import DatabaseError, UsageError

DEFAULT_TIMEOUT = 5.0
"""Seconds a statement may run inside SQLite before it is stopped (``0`` or ``None``: no limit)."""

MAX_VALUE_BYTES = 16 * 1024 * 1024
"""The largest string or BLOB a query may produce (SQLite's ``SQLITE_LIMIT_LENGTH`` on its connection). A track's
stored JSON is a few kilobytes, and ``group_concat(isrc)`` over a million codes is 13 MB."""

# Rows fetched per call: with values of at most MAX_VALUE_BYTES, what a batch holds stays bounded.
FETCH = 64
PROGRESS_STEPS = 10_000  # SQLite virtual machine instructions between two checks of the clock

# SQLite's primary result codes that say the file itself cannot be read, not that the SQL is wrong.
_FILE_ERRORS = frozenset(
    {
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_PROTOCOL,
    }
)

JSON_ARRAY_COLUMNS = frozenset({"artists"})
"""Columns decoded from JSON-array text to lists (the views' ``artists``)."""


class QueryError(UsageError):
    """The SQL is wrong, or asks for something a read-only query cannot do (exit 2)."""


class WriteRefused(QueryError):
    """The statement would write (to the database or to any other file); it was refused before running."""


class QueryTimeout(QueryError):
    """The statement ran longer than its time limit and was stopped."""


def timeout_error(limit: float) -> QueryTimeout:
    """The error of a statement stopped at its time limit of ``limit`` seconds."""
    return QueryTimeout(
        f"the query ran for more than {limit:g} s and was stopped; give it longer with --timeout SECONDS (0: no limit)"
    )


class ValueTooLarge(QueryError):
    """The statement would produce a value larger than :data:`MAX_VALUE_BYTES`; it was stopped."""


# --- the guard: what a read-only statement may do ----------------------------------------------------------------

READ_PRAGMAS = frozenset(
    {
        "application_id",
        "collation_list",
        "compile_options",
        "data_version",
        "database_list",
        "encoding",
        "foreign_key_check",
        "foreign_key_list",
        "foreign_keys",
        "freelist_count",
        "function_list",
        "index_info",
        "index_list",
        "index_xinfo",
        "integrity_check",
        "journal_mode",
        "module_list",
        "page_count",
        "page_size",
        "pragma_list",
        "query_only",
        "quick_check",
        "schema_version",
        "table_info",
        "table_list",
        "table_xinfo",
        "user_version",
    }
)
"""Pragmas a query may read. Only those in :data:`ARGUMENT_PRAGMAS` may take an argument: for the others an
argument sets a value (``PRAGMA user_version = 3``, ``PRAGMA writable_schema = 1``), which is refused."""

ARGUMENT_PRAGMAS = frozenset(
    {
        "foreign_key_check",
        "foreign_key_list",
        "index_info",
        "index_list",
        "index_xinfo",
        "integrity_check",
        "quick_check",
        "table_info",
        "table_list",
        "table_xinfo",
    }
)
"""Pragmas whose argument names what to describe (a table, an index), not a value to set."""

_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)

_DML = frozenset({sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE})

_ACTION_NAMES = {
    sqlite3.SQLITE_INSERT: "INSERT",
    sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE",
    sqlite3.SQLITE_ATTACH: "ATTACH",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_TRANSACTION: "BEGIN, COMMIT and ROLLBACK",
    sqlite3.SQLITE_SAVEPOINT: "SAVEPOINT",
    sqlite3.SQLITE_ANALYZE: "ANALYZE",
    sqlite3.SQLITE_REINDEX: "REINDEX",
    sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE",
    sqlite3.SQLITE_CREATE_VTABLE: "CREATE VIRTUAL TABLE",
    sqlite3.SQLITE_DROP_VTABLE: "DROP VIRTUAL TABLE",
}
for _name in dir(sqlite3):
    if _name.startswith(("SQLITE_CREATE_", "SQLITE_DROP_")):
        _ACTION_NAMES.setdefault(getattr(sqlite3, _name), _name.removeprefix("SQLITE_").replace("_", " "))

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


@dataclass
class Guard:
    """The authorizer of a read-only query; remembers why it denied, to say so."""

    denied: str | None = None
    internal: bool = False
    """Whether the denied action was SQLite's own bookkeeping (e.g. DROP TABLE deleting from sqlite_master)."""

    def __call__(self, action: int, arg1: str | None, arg2: str | None, schema: str | None, source: str | None) -> int:
        if action in _READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and arg1 is not None:
            name = arg1.lower()
            if name in READ_PRAGMAS and (arg2 is None or name in ARGUMENT_PRAGMAS):
                return sqlite3.SQLITE_OK
            self._deny(f"PRAGMA {name}" + (" with a value" if arg2 is not None else ""))
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_UPDATE and arg1 in ("sqlite_master", "sqlite_schema"):
            # SQLite registers a pragma table-valued function (SELECT * FROM pragma_table_info('t')) with an
            # internal schema update the first time it is used. A user's UPDATE of sqlite_master is refused by
            # SQLite itself (writable_schema is off and cannot be turned on here), and the connection is read-only.
            return sqlite3.SQLITE_OK
        internal = action in _DML and (arg1 or "").startswith("sqlite_")
        self._deny(_ACTION_NAMES.get(action, f"SQLite action {action}"), internal=internal)
        return sqlite3.SQLITE_DENY

    def _deny(self, what: str, *, internal: bool = False) -> None:
        if self.denied is None:
            self.denied, self.internal = what, internal


class Watchdog:
    """A thread that calls ``expire`` once a deadline passes, unless disarmed first; then, if the call it watches
    still has not returned ``grace`` seconds later, ``overdue``.

    Armed when a call into SQLite starts and disarmed when it returns, so ``expire`` (which interrupts the
    connection) only ever lands on a running statement. SQLite looks at an interrupt between the steps of its
    virtual machine only, and one step can be one call of a function that runs for seconds (``printf('%.*c',
    2e9, 'x')`` loops two billion times even when its result is refused as too long): ``overdue`` is for a caller
    that can end it otherwise (the CLI ends its process). Both run with the lock held: :meth:`disarm` cannot return
    while they are under way. The thread stays while calls follow each other and ends after ``idle`` seconds
    without one, so an abandoned result leaves no thread behind.
    """

    def __init__(
        self,
        expire: Callable[[], None],
        *,
        overdue: Callable[[], None] | None = None,
        grace: float = 0.25,
        idle: float = 1.0,
    ) -> None:
        self._expire = expire
        self._overdue = overdue
        self._grace = grace
        self._idle = idle
        self._condition = threading.Condition()
        self._deadline: float | None = None
        self._expired = False
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> None:
        """Call ``expire`` in ``seconds`` (real time) unless :meth:`disarm` comes first."""
        with self._condition:
            self._deadline = time.monotonic() + seconds
            self._expired = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="isrcdb-query-watchdog", daemon=True)
                self._thread.start()
            self._condition.notify()

    def disarm(self) -> None:
        with self._condition:
            self._deadline = None
            self._condition.notify()

    @property
    def watching(self) -> bool:
        """Whether the thread is alive (for tests)."""
        with self._condition:
            return self._thread is not None

    def _watch(self) -> None:
        with self._condition:
            while True:
                if self._deadline is None:
                    if not self._condition.wait_for(lambda: self._deadline is not None, timeout=self._idle):
                        self._thread = None
                        return
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._condition.wait(left)
                    continue
                if self._expired:
                    self._deadline = None
                    if self._overdue is not None:
                        self._overdue()
                    continue
                self._expired = True
                self._deadline = time.monotonic() + self._grace if self._overdue is not None else None
                self._expire()


@dataclass
class Budget:
    """The time limit: counts only the time spent inside SQLite calls (see :meth:`running`).

    Enforced twice: by a :class:`Watchdog` thread that calls ``interrupt`` (``Connection.interrupt()``) when the
    time left runs out, whatever SQLite is doing, and as a progress handler (this object, called between virtual
    machine steps), which also honours an injected ``monotonic`` clock.
    """

    limit: float | None
    monotonic: Callable[[], float] = time.monotonic
    used: float = 0.0
    expired: bool = False
    interrupt: Callable[[], None] | None = field(default=None, repr=False)
    overdue: Callable[[], None] | None = field(default=None, repr=False)
    _started: float | None = field(default=None, repr=False)
    _watchdog: Watchdog | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.limit is not None and self.interrupt is not None:
            self._watchdog = Watchdog(self._expire, overdue=self.overdue)

    def __call__(self) -> int:
        if self.limit is None or self._started is None:
            return 0
        if self.used + (self.monotonic() - self._started) > self.limit:
            self.expired = True
            return 1  # non-zero: SQLite stops the statement with SQLITE_INTERRUPT
        return 0

    def _expire(self) -> None:
        self.expired = True
        if self.interrupt is not None:
            # A connection closed meanwhile has nothing left to stop.
            with contextlib.suppress(sqlite3.ProgrammingError):
                self.interrupt()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Count the time of the enclosed SQLite call, with the watchdog armed for the time left."""
        self._started = self.monotonic()
        if self._watchdog is not None and self.limit is not None:
            self._watchdog.arm(max(self.limit - self.used, 0.0))
        try:
            yield
        finally:
            if self._watchdog is not None:
                self._watchdog.disarm()
            self.used += self.monotonic() - self._started
            self._started = None


def _file_error(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says that the database file cannot be read (corrupt, locked...), not that the SQL is wrong."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _FILE_ERRORS


@contextlib.contextmanager
def _translated(sql: str, guard: Guard, budget: Budget, database: Path | None = None) -> Iterator[None]:
    """Turn ``sqlite3`` errors raised while preparing or stepping the statement into :class:`QueryError`, or into
    a :class:`~isrcdb.errors.DatabaseError` (exit 4) when the file itself cannot be read."""
    try:
        yield
    except UnicodeEncodeError as exc:
        # Text that is not Unicode (bytes that were not UTF-8, kept as lone surrogates) cannot be given to SQLite.
        bad = exc.object[exc.start : exc.end].encode("utf-8", "surrogateescape").hex(" ")
        raise QueryError(
            f"the SQL or a parameter is not valid UTF-8 text (bytes {bad} at character {exc.start + 1})"
        ) from None
    except sqlite3.Error as exc:
        text = str(exc)
        if _file_error(exc):
            from isrcdb.db import database_error

            raise (database_error(exc, database) if database is not None else DatabaseError(text)) from None
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_TOOBIG:
            raise ValueTooLarge(
                f"a value of the result would be larger than {MAX_VALUE_BYTES // (1024 * 1024)} MiB, the most a "
                f"query may produce; select less, e.g. with substr() (SQLite: {text})"
            ) from None
        if budget.expired:
            raise timeout_error(budget.limit or 0) from None
        if guard.denied is not None or "not authorized" in text:
            keyword = leading_keyword(sql)
            if keyword == "VACUUM" or guard.denied is None or guard.internal:
                # VACUUM (INTO) shows up as the ATTACH of its target; DROP TABLE as a DELETE from sqlite_master.
                what = statement_kind(sql) or "this statement"
            else:
                what = guard.denied
            raise WriteRefused(
                f"{what} is not allowed: isrcdb query only reads, the database was not changed (SQLite: {text})"
            ) from None
        if "readonly" in text or "may not be modified" in text:
            raise WriteRefused(
                f"{leading_keyword(sql) or 'this statement'} would write, and isrcdb query only reads; "
                f"the database was not changed (SQLite: {text})"
            ) from None
        if "one statement at a time" in text:
            raise QueryError(
                "only one SQL statement can run at a time: remove everything after the first ';' (nothing was run)"
            ) from None
        if "binding" in text.lower():
            raise QueryError(f"query parameters: {text} (give named parameters with -p NAME VALUE)") from None
        raise QueryError(f"SQL error: {text}") from None


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


@contextlib.contextmanager
def open_readonly(database: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to ``database`` for :func:`run`, closed on exit."""
    from isrcdb.db import connect_readonly

    conn = connect_readonly(database)
    try:
        yield conn
    finally:
        conn.close()


def run(
    conn: sqlite3.Connection,
    sql: str,
    params: Mapping[str, object] | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    monotonic: Callable[[], float] = time.monotonic,
    database: Path | None = None,
    overdue: Callable[[], None] | None = None,
) -> QueryResult:
    """Run one read-only statement on ``conn`` (from :func:`open_readonly`) with named ``params``.

    Installs the guard, the time limit and the value size limit on ``conn`` for good: use a connection of its own.
    Raises :class:`WriteRefused`, :class:`QueryTimeout`, :class:`ValueTooLarge` or :class:`QueryError`, and a
    :class:`~isrcdb.errors.DatabaseError` naming ``database`` when the file cannot be read, also while the rows are
    iterated. ``overdue`` is called from the watchdog thread when a single call into SQLite goes on after it was
    interrupted at the time limit (see :class:`Watchdog`).
    """
    if not sql.strip():
        raise QueryError('the SQL is empty: give one statement, e.g. "SELECT * FROM lookups LIMIT 5"')
    guard = Guard()
    budget = Budget(timeout if timeout else None, monotonic, interrupt=conn.interrupt, overdue=overdue)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.set_authorizer(guard)
    conn.set_progress_handler(budget, PROGRESS_STEPS)
    with _translated(sql, guard, budget, database), budget.running():
        cursor = conn.execute(sql, dict(params or {}))
    if cursor.description is None:
        cursor.close()
        raise QueryError("the SQL has no statement that returns rows (only comments, or nothing to read)")
    columns = unique_columns([column[0] for column in cursor.description])
    return QueryResult(columns, _rows(cursor, columns, sql, guard, budget, database))


def _rows(
    cursor: sqlite3.Cursor,
    columns: list[str],
    sql: str,
    guard: Guard,
    budget: Budget,
    database: Path | None,
) -> Iterator[dict[str, Any]]:
    convert = row_converter(columns)
    try:
        while True:
            with _translated(sql, guard, budget, database), budget.running():
                batch = cursor.fetchmany(FETCH)
            if not batch:
                return
            yield from map(convert, batch)
    finally:
        cursor.close()


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
        "WHERE status IN ('found', 'not_found') AND stale = 1\nORDER BY expires_at, isrc",
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
    conn: sqlite3.Connection,
    name: str,
    params: Mapping[str, object] | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    clock: Clock = utcnow,
    database: Path | None = None,
    overdue: Callable[[], None] | None = None,
) -> QueryResult:
    """Run the saved query ``name`` with ``params`` over its defaults, read-only, like :func:`run`."""
    query = saved_query(name)
    bound = query.bind(params or {}, clock())
    return run(conn, query.sql, bound, timeout=timeout, database=database, overdue=overdue)

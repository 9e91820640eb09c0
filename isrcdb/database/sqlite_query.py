"""Read-only SQL on an SQLite cache, the way Datasette runs one, never by filtering keywords.

* the connection is read-only (``mode=ro`` URI plus ``PRAGMA query_only``, see
  :func:`isrcdb.database.sqlite.connect_readonly`);
* an authorizer (``sqlite3`` ``set_authorizer``) allows only reading: ``SELECT``, reads of tables and views,
  functions, recursive CTEs and a list of read-only pragmas. Everything else is denied while the statement is
  prepared, so nothing runs. The authorizer matters even on a read-only connection: ``ATTACH`` and
  ``VACUUM INTO`` create *other* files, which neither ``mode=ro`` nor ``query_only`` prevent;
* one statement only (``sqlite3`` refuses a second one before running the first);
* a time limit, enforced by a watchdog thread that interrupts the connection and by a progress handler; only time
  spent inside SQLite counts, not time spent writing the output;
* no value larger than :data:`~isrcdb.query.MAX_VALUE_BYTES` (``SQLITE_LIMIT_LENGTH``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isrcdb.database.sqlite import database_error
from isrcdb.errors import DatabaseError, QueryError, ValueTooLarge, WriteRefused, timeout_error
from isrcdb.query import FETCH, MAX_VALUE_BYTES, PROGRESS_STEPS, leading_keyword, statement_kind

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


def run_readonly(
    conn: sqlite3.Connection,
    sql: str,
    params: Mapping[str, object] | None,
    *,
    timeout: float | None,
    monotonic: Callable[[], float] = time.monotonic,
    database: Path | None = None,
    overdue: Callable[[], None] | None = None,
) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Run one read-only statement on ``conn`` (a connection of its own: the guard, the time limit and the value
    size limit are installed on it for good); returns the column names and the rows, fetched a batch at a time.

    Raises :class:`~isrcdb.errors.WriteRefused`, :class:`~isrcdb.errors.QueryTimeout`,
    :class:`~isrcdb.errors.ValueTooLarge` or :class:`~isrcdb.errors.QueryError`, and a
    :class:`~isrcdb.errors.DatabaseError` naming ``database`` when the file cannot be read, also while the rows
    are iterated. ``overdue`` is called from the watchdog thread when a single call into SQLite goes on after it
    was interrupted at the time limit (see :class:`Watchdog`).
    """
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
    columns = [column[0] for column in cursor.description]

    def rows() -> Iterator[tuple[Any, ...]]:
        try:
            while True:
                with _translated(sql, guard, budget, database), budget.running():
                    batch = cursor.fetchmany(FETCH)
                if not batch:
                    return
                yield from batch
        finally:
            cursor.close()

    return columns, rows()

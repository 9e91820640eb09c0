"""Opening the cache database: SQLite through the standard library, in WAL mode, migrated to the current schema.

Connections run in autocommit mode; writers open their transactions with ``BEGIN IMMEDIATE`` (see
:func:`transaction`), so that concurrent processes queue on SQLite's busy timeout instead of failing with
"database is locked" when a read transaction tries to become a write transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from isrcdb import migrate
from isrcdb.errors import DatabaseError

BUSY_TIMEOUT_MS = 60_000


def _describe(exc: BaseException, database: Path) -> str:
    text = str(exc)
    if "file is not a database" in text or "malformed" in text:
        return (
            f"{database} is not an isrcdb database (or is corrupt): {text}. Move it aside or choose another with --db."
        )
    if "readonly" in text or "unable to open" in text:
        return f"cannot write the database {database}: {text}. Check the directory's permissions or choose --db."
    if "locked" in text or "busy" in text:
        return f"the database {database} stayed locked by another isrcdb for {BUSY_TIMEOUT_MS // 1000} s: {text}"
    return f"database error in {database}: {text}"


def database_error(exc: BaseException, database: Path) -> DatabaseError:
    """A :class:`DatabaseError` describing an ``sqlite3`` failure in words a person can act on."""
    return DatabaseError(_describe(exc, database))


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")


def connect(database: Path, *, create: bool = True) -> sqlite3.Connection:
    """Open ``database`` read-write, creating and migrating it if needed; refuse one made by a newer isrcdb."""
    if not create and not database.exists():
        raise DatabaseError(f"there is no database at {database}; run a lookup or 'isrcdb db upgrade' to create one")
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create the directory {database.parent}: {exc.strerror}") from None
    if database.is_dir():
        raise DatabaseError(f"{database} is a directory, not a database file")
    try:
        conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        _configure(conn)
        if migrate.check_revision(migrate.current_revision(conn), database):
            migrate.upgrade(database)
        elif conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        raise database_error(exc, database) from None
    return conn


def connect_readonly(database: Path) -> sqlite3.Connection:
    """Open an existing ``database`` read-only (``mode=ro`` plus ``PRAGMA query_only``), without migrating it."""
    if not database.is_file():
        raise DatabaseError(f"there is no database at {database}")
    try:
        conn = sqlite3.connect(
            f"{database.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        _configure(conn)
        conn.execute("PRAGMA query_only=ON")
        migrate.check_revision(migrate.current_revision(conn), database)
    except sqlite3.Error as exc:
        raise database_error(exc, database) from None
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that commits on success and rolls back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")

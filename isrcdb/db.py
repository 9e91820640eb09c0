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
        blocker = next((parent for parent in database.parents if parent.exists() and not parent.is_dir()), None)
        reason = f"{blocker} is a file, not a directory" if blocker is not None else exc.strerror
        raise DatabaseError(f"cannot create the directory {database.parent}: {reason}") from None
    if database.is_dir():
        raise DatabaseError(f"{database} is a directory, not a database file")
    try:
        conn = _open(database)
        revision = migrate.current_revision(conn)
        if migrate.check_revision(revision, database):
            if revision is None:
                _refuse_foreign(conn, database)
                conn.close()
                _create(database)
                conn = _open(database)
            else:
                _upgrade(database)
        elif conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        raise database_error(exc, database) from None
    except OSError as exc:
        raise DatabaseError(f"cannot create or upgrade the database {database}: {exc.strerror or exc}") from None
    return conn


def _open(database: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        migrate.sqlite_filename(database),
        isolation_level=None,
        check_same_thread=False,
        timeout=BUSY_TIMEOUT_MS / 1000,
    )
    _configure(conn)
    return conn


def _foreign_tables(conn: sqlite3.Connection) -> list[str]:
    """The tables of a database without a schema revision (none: a new, zero-length or never-migrated file)."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'alembic_version' "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )
    return [row[0] for row in rows]


def _is_empty(conn: sqlite3.Connection) -> bool:
    return not _foreign_tables(conn)


def _refuse_foreign(conn: sqlite3.Connection, database: Path) -> None:
    """Refuse an SQLite database that has tables but no isrcdb schema revision: it is someone else's (or was
    left half-made by an older isrcdb), and isrcdb must neither add its tables to it nor guess."""
    tables = _foreign_tables(conn)
    if tables:
        listed = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise DatabaseError(
            f"{database} is not an isrcdb database: it has tables ({listed}) but no isrcdb schema revision. "
            "Move it aside or choose another with --db."
        )


def _upgrade(database: Path) -> None:
    try:
        migrate.upgrade(database)
    except Exception as exc:
        # SQLAlchemy and Alembic errors (imported lazily, so named by module): a schema isrcdb cannot upgrade.
        if not type(exc).__module__.startswith(("sqlalchemy", "alembic")):
            raise
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise DatabaseError(
            f"cannot upgrade the database {database}: {detail}. Move it aside or choose another with --db."
        ) from None


def _create(database: Path) -> None:
    """Create a new database atomically: migrate a temporary file beside it, then copy it in, in one transaction.

    Python's sqlite3 driver commits each ``CREATE TABLE`` of a migration on its own, so a process killed while
    migrating a new file in place would leave a half-made schema that no later run can upgrade. Built aside, a
    killed creation leaves the database empty (the copy is one SQLite transaction, rolled back if cut short) and,
    at most, the temporary file, which the next attempt replaces.
    """
    temporary = database.with_name(f".{database.name}.creating")
    leftovers = [Path(f"{temporary}{suffix}") for suffix in ("", "-wal", "-shm", "-journal", ".migrate-lock")]
    with migrate._migration_lock(database), contextlib.closing(_open(database)) as target:
        if not _is_empty(target):  # another process created it while this one waited
            return
        try:
            for path in leftovers:
                path.unlink(missing_ok=True)
            _upgrade(temporary)
            with contextlib.closing(sqlite3.connect(migrate.sqlite_filename(temporary))) as source:
                source.backup(target)
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            for path in leftovers:
                with contextlib.suppress(OSError):
                    path.unlink()


def connect_readonly(database: Path) -> sqlite3.Connection:
    """Open an existing ``database`` read-only (``mode=ro`` plus ``PRAGMA query_only``), without migrating it.

    The path reaches SQLite as a ``file:`` URI that ``as_uri`` percent-escapes: a ``?``, ``#`` or ``%`` in a name
    stays part of the name.
    """
    if not database.is_file():
        raise DatabaseError(f"there is no database at {database}")
    try:
        conn = sqlite3.connect(
            f"{database.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        _configure(conn)
        conn.execute("PRAGMA query_only=ON")
        revision = migrate.current_revision(conn)
        migrate.check_revision(revision, database)
        if revision is None:
            _refuse_foreign(conn, database)
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

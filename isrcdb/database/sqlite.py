"""The cache in an SQLite file, through the standard library: the default, nothing to set up.

Connections run in autocommit mode; write transactions begin with ``BEGIN IMMEDIATE``, so that concurrent
processes queue on SQLite's busy timeout instead of failing with "database is locked" when a read transaction
tries to become a write transaction. The file is in WAL mode and migrated to the current schema when opened; a
new one is built aside and copied in, so that a process killed while creating it leaves no half-made schema.

Timestamps are stored as ISO 8601 UTC text (see :mod:`isrcdb.clock`), which orders correctly as text.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isrcdb import migrate
from isrcdb.clock import to_text
from isrcdb.database.base import Database
from isrcdb.errors import DatabaseError, named

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

BUSY_TIMEOUT_MS = 60_000
BULK_CHECKPOINT = 16_384
"""Pages of write-ahead log (64 MiB with 4 KiB pages) between two checkpoints during bulk writes."""


def _describe(exc: BaseException, database: Path) -> str:
    text = str(exc)
    choose = named("choose database")
    if "file is not a database" in text or "malformed" in text:
        return f"{database} is not an isrcdb database (or is corrupt): {text}. Move it aside or {choose}."
    if "readonly" in text or "unable to open" in text:
        if database.is_file() and not os.access(database, os.W_OK):
            # The file itself is the problem (mode 0444, a read-only mount), not the directory around it.
            return f"cannot write the database file {database}: the file is read-only ({text}). Make it writable."
        return f"cannot write the database {database}: {text}. Check the directory's permissions or {choose}."
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
        revision = current_revision(conn)
        if migrate.check_revision(revision, database):
            if revision is None:
                _refuse_foreign(conn, database)
                conn.close()
                _create(database)
                conn = _open(database)
            else:
                _upgrade(database)
        elif conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal" and not on_readonly_mount(database):
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        raise database_error(exc, database) from None
    except OSError as exc:
        raise DatabaseError(f"cannot create or upgrade the database {database}: {exc.strerror or exc}") from None
    return conn


def on_readonly_mount(database: Path) -> bool:
    """Whether ``database`` is an existing file on a file system mounted read-only (nothing can change it)."""
    try:
        return database.is_file() and bool(os.statvfs(database).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _open(database: Path) -> sqlite3.Connection:
    if on_readonly_mount(database):
        # A WAL database needs its -shm file, which cannot be made on a read-only mount; nothing can write there
        # either, so the file is read as immutable: answers from the cache work, a write fails naming the file.
        conn = sqlite3.connect(
            f"{database.resolve().as_uri()}?mode=ro&immutable=1",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
    else:
        conn = sqlite3.connect(
            sqlite_filename(database),
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
            f"Move it aside or {named('choose database')}."
        )


def _upgrade(database: Path) -> None:
    try:
        run_migrations(database, "upgrade", "head")
    except Exception as exc:
        # SQLAlchemy and Alembic errors (imported lazily, so named by module): a schema isrcdb cannot upgrade.
        if not type(exc).__module__.startswith(("sqlalchemy", "alembic")):
            raise
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise DatabaseError(
            f"cannot upgrade the database {database}: {detail}. Move it aside or {named('choose database')}."
        ) from None


def _create(database: Path) -> None:
    """Create a new database atomically: migrate a temporary file beside it, then copy it in, in one transaction.

    Python's sqlite3 driver commits each ``CREATE TABLE`` of a migration on its own, so a process killed while
    migrating a new file in place would leave a half-made schema that no later run can upgrade. Built aside, a
    killed creation leaves the database empty (the copy is one SQLite transaction, rolled back if cut short) and,
    at most, the temporary file, which the next attempt replaces.
    """
    temporary = database.with_name(f".{database.name}.creating")
    leftovers = [Path(f"{temporary}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]
    with _migration_lock(database), contextlib.closing(_open(database)) as target:
        if not _is_empty(target):  # another process created it while this one waited
            return
        try:
            for path in leftovers:
                path.unlink(missing_ok=True)
            _upgrade(temporary)
            with contextlib.closing(sqlite3.connect(sqlite_filename(temporary))) as source:
                source.backup(target)
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            for path in leftovers:
                with contextlib.suppress(OSError):
                    path.unlink()


def read_revision(database: Path) -> str | None:
    """The schema revision of an existing ``database`` file, opened read-only and not checked."""
    if not database.is_file():
        raise DatabaseError(f"there is no database at {database} yet; a lookup or 'isrcdb db upgrade' creates it")
    try:
        with contextlib.closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            return current_revision(conn)
    except sqlite3.Error as exc:
        raise database_error(exc, database) from None


def connect_readonly(database: Path) -> sqlite3.Connection:
    """Open an existing ``database`` read-only (``mode=ro`` plus ``PRAGMA query_only``), without migrating it.

    The path reaches SQLite as a ``file:`` URI that ``as_uri`` percent-escapes: a ``?``, ``#`` or ``%`` in a name
    stays part of the name.
    """
    if not database.is_file():
        raise DatabaseError(f"there is no database at {database}")
    try:
        immutable = "&immutable=1" if on_readonly_mount(database) else ""  # see _open
        conn = sqlite3.connect(
            f"{database.resolve().as_uri()}?mode=ro{immutable}", uri=True, isolation_level=None, check_same_thread=False
        )
        _configure(conn)
        conn.execute("PRAGMA query_only=ON")
        revision = current_revision(conn)
        migrate.check_revision(revision, database)
        if revision is None:
            _refuse_foreign(conn, database)
    except sqlite3.Error as exc:
        raise database_error(exc, database) from None
    return conn


# --- migrations ---------------------------------------------------------------------------------------------------


def sqlite_url(database: Path) -> URL:
    """The SQLAlchemy URL of ``database``, built from its parts so that the path stays a path.

    Written as text (``f"sqlite:///{path}"``) a ``?`` would start the URL's query and ``%41`` would be decoded:
    ``notes?.sqlite3`` would open ``notes``. ``URL.create`` keeps the path whole and escapes it when rendered.
    """
    from sqlalchemy.engine import URL

    return URL.create("sqlite", database=sqlite_filename(database))


def sqlite_filename(database: Path) -> str:
    """``database`` as a file name SQLite takes literally, for ``sqlite3.connect`` without ``uri=True``.

    SQLite built with ``SQLITE_USE_URI`` (Debian's is) reads any name starting with ``file:`` as a URI, even when
    not asked to: ``file:notes?x=1`` would open ``notes``. Such a name (relative: an absolute one starts with
    ``/``) is given as ``./file:...``, the same file.
    """
    text = str(database)
    return f"./{text}" if text.startswith("file:") else text


def current_revision(conn: sqlite3.Connection) -> str | None:
    """The revision a database is at, or ``None`` for a database isrcdb has not initialised."""
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return None if row is None else str(row[0])


_DIRECTORY_LOCKS: dict[str, threading.RLock] = {}
_DIRECTORY_LOCKS_GUARD = threading.Lock()
_HELD = threading.local()


@contextlib.contextmanager
def _migration_lock(database: Path) -> Iterator[None]:
    """Serialise migrations between processes (and threads) opening the same new database at once.

    The lock is taken on the database's directory (``flock``), so that no lock file is left beside the database;
    it is never taken on the database file itself, whose POSIX locks SQLite owns (closing another descriptor of
    that file would drop them). It is re-entrant in a thread: creating a database migrates a temporary file in
    the same directory while holding it.
    """
    directory = os.path.realpath(database.parent if str(database.parent) else ".")
    with _DIRECTORY_LOCKS_GUARD:
        lock = _DIRECTORY_LOCKS.setdefault(directory, threading.RLock())
    held: set[str] = _HELD.__dict__.setdefault("directories", set())
    with lock:
        if directory in held:
            yield
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: SQLite's own locking is the only guard
            yield
            return
        descriptor = os.open(directory, os.O_RDONLY)
        held.add(directory)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            held.discard(directory)
            os.close(descriptor)  # closing the descriptor releases the flock


def run_migrations(database: Path, direction: str, revision: str) -> None:
    """Run Alembic's ``upgrade`` or ``downgrade`` to ``revision`` on ``database``, in one transaction, with foreign
    keys off while tables are rebuilt, then checked."""
    from alembic import command
    from sqlalchemy import create_engine, event, text

    config = migrate.alembic_config(sqlite_url(database).render_as_string())
    engine = create_engine(sqlite_url(database))

    # Transactional DDL: by default the pysqlite driver commits each CREATE/DROP/ALTER on its own, so a process
    # killed mid-migration would leave a schema between two revisions. With the driver's own transaction handling
    # off and BEGIN emitted explicitly, a whole upgrade commits at once or not at all (SQLAlchemy's recipe).
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        # Batch migrations copy tables; with foreign keys enforced that would cascade or fail. Both pragmas are
        # no-ops inside a transaction, so they are set here, before any BEGIN.
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with _migration_lock(database):
            if direction == "upgrade":
                with contextlib.closing(sqlite3.connect(sqlite_filename(database))) as probe:
                    migrate.check_revision(current_revision(probe), database)
            with engine.connect() as conn:
                config.attributes["connection"] = conn
                getattr(command, direction)(config, revision)
                conn.commit()
                problems = conn.execute(text("PRAGMA foreign_key_check")).fetchall()
                conn.rollback()
                if problems:
                    raise DatabaseError(f"foreign key check failed after migrating {database}: {problems[:5]}")
    finally:
        engine.dispose()


class SQLiteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        super().__init__(str(path))
        self.path = path
        self.readonly = readonly

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> SQLiteDatabase:
        database = cls(path)
        database.adopt(connect(path, create=create))
        return database

    @classmethod
    def open_readonly(cls, path: Path) -> SQLiteDatabase:
        database = cls(path, readonly=True)
        database.adopt(connect_readonly(path))
        return database

    def _connect(self) -> sqlite3.Connection:
        if self.readonly:
            return connect_readonly(self.path)
        return _open(self.path)

    @contextlib.contextmanager
    def bulk_writes(self) -> Iterator[None]:
        """Copy the write-ahead log into the database file every :data:`BULK_CHECKPOINT` pages, not every 1,000
        (SQLite's default): the pages a sync writes again and again (its codes' rows, the indexes) are copied once
        per checkpoint, so fewer checkpoints mean less copying. The log grows to that size meanwhile, and is
        checkpointed as usual once the writes are over."""
        conn = self.connection()
        with self.guard():
            before = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
            conn.execute(f"PRAGMA wal_autocheckpoint={BULK_CHECKPOINT}")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # a closed database: nothing to restore
                conn.execute(f"PRAGMA wal_autocheckpoint={int(before)}")

    def _begin(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error)

    def describe(self, exc: BaseException) -> DatabaseError:
        return database_error(exc, self.path)

    def revision(self) -> str | None:
        with self.guard():
            return current_revision(self.connection())

    def size_on_disk(self) -> int:
        total = 0
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                pass
        return total

    def readonly_query(
        self,
        sql: str,
        params: dict[str, object],
        *,
        timeout: float | None,
        monotonic: Callable[[], float] = time.monotonic,
        overdue: Callable[[], None] | None = None,
    ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        from isrcdb.database.sqlite_query import run_readonly

        return run_readonly(
            self.connection(), sql, params, timeout=timeout, monotonic=monotonic, database=self.path, overdue=overdue
        )

    def add_pending(self, codes: Sequence[str], now: str) -> int:
        conn = self.connection()
        with self.transaction():
            before = conn.total_changes
            conn.executemany(
                "INSERT INTO isrcs (isrc, status, first_seen_at) VALUES (?, 'pending', ?) ON CONFLICT DO NOTHING",
                [(code, now) for code in codes],
            )
            return int(conn.total_changes - before)

    def claim_due(
        self,
        tiers: Sequence[tuple[str, str, str, dict[str, Any]]],
        owner: str,
        now: datetime,
        until: datetime,
        limit: int,
    ) -> list[tuple[str, str]]:
        # BEGIN IMMEDIATE makes the select-then-update atomic between processes: one writer at a time.
        claimed: list[tuple[str, str]] = []
        with self.transaction():
            for tier, condition, order, params in tiers:
                rows = self.all(
                    f"SELECT isrc FROM isrcs WHERE {condition} AND (claimed_until IS NULL OR claimed_until < :now) "
                    f"{order} LIMIT :want",
                    {**params, "now": to_text(now), "want": limit - len(claimed)},
                )
                claimed.extend((row[0], tier) for row in rows)
                if len(claimed) >= limit:
                    break
            self.executemany(
                "UPDATE isrcs SET claimed_by = :owner, claimed_until = :until WHERE isrc = :isrc",
                [{"owner": owner, "until": to_text(until), "isrc": code} for code, _ in claimed],
            )
        return claimed

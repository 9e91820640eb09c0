"""Schema migrations: Alembic configured in code, run automatically when a database is opened.

Checking whether a database is current costs one ``SELECT`` through ``sqlite3``; Alembic (slow to import) is
loaded only when a database actually needs upgrading.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from isrcdb.errors import DatabaseError, SchemaTooNew

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import URL

REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004")
"""Every migration revision, oldest first; the last is the head. A test keeps this equal to ``migrations/``."""

HEAD = REVISIONS[-1]


def migrations_dir() -> Path:
    """Where the migration scripts are: inside the installed package, or at the top of a checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise DatabaseError(
        f"isrcdb's migration scripts are missing (looked in {package / '_migrations'}); reinstall isrcdb"
    )


def alembic_config(database: Path) -> Config:
    """An Alembic ``Config`` for ``database``, built in code (no ``alembic.ini`` needed)."""
    from alembic.config import Config

    # Alembic otherwise binds the sys.stdout of the moment it was first imported, which may since have closed.
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser interpolation: a literal % must be doubled (after the URL's own escaping, which adds some).
    config.set_main_option("sqlalchemy.url", sqlite_url(database).render_as_string().replace("%", "%%"))
    return config


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


def check_revision(revision: str | None, database: Path | str) -> bool:
    """Whether the database needs upgrading; refuses one made by a newer isrcdb."""
    if revision == HEAD:
        return False
    if revision is not None and revision not in REVISIONS:
        raise SchemaTooNew(
            f"{database} was made by a newer version of isrcdb (schema revision {revision!r}, this isrcdb knows up to "
            f"{HEAD!r}); upgrade isrcdb to use it. The database was not changed."
        )
    return True


@contextlib.contextmanager
def _migration_lock(database: Path) -> Iterator[None]:
    """Serialise migrations between processes opening the same new database at once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: SQLite's own locking is the only guard
        yield
        return
    lock_path = database.with_name(database.name + ".migrate-lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(database: Path, revision: str = "head") -> None:
    """Upgrade ``database`` to ``revision``, with foreign keys off while tables are rebuilt, then checked."""
    _run(database, "upgrade", revision)


def downgrade(database: Path, revision: str) -> None:
    """Downgrade ``database`` to ``revision`` (for developers and tests; isrcdb never downgrades on its own)."""
    _run(database, "downgrade", revision)


def _run(database: Path, direction: str, revision: str) -> None:
    from alembic import command
    from sqlalchemy import create_engine, event, text

    config = alembic_config(database)
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
                    check_revision(current_revision(probe), database)
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

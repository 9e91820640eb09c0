"""The storage seam: one object, chosen from the database's location, that owns connections and transactions.

isrcdb keeps its cache in SQLite (a file: the default, nothing to set up) or in PostgreSQL (a server a team
shares). Everything above this package talks to a :class:`~isrcdb.database.base.Database`: it runs statements
written once with named ``:param`` placeholders, opens write transactions, and turns the driver's errors into
:class:`~isrcdb.errors.DatabaseError` in one place (:meth:`Database.guard`). Only the modules of this package
import ``sqlite3`` or ``psycopg``; the PostgreSQL one is imported only for a ``postgresql://`` URL, so a cached
lookup on SQLite pays for neither SQLAlchemy nor a PostgreSQL driver.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from isrcdb.database.base import Database

POSTGRESQL_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def is_postgresql_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a PostgreSQL database (``postgresql://...``) rather than an SQLite file."""
    if not isinstance(location, str):
        return False
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.lower() in POSTGRESQL_SCHEMES


def open_database(location: str | Path, *, create: bool = True) -> Database:
    """Open the cache at ``location`` (a file path or a ``postgresql://`` URL), migrated to the current schema.

    ``create`` false refuses a location where no cache exists yet instead of creating one.
    """
    if is_postgresql_url(location):
        from isrcdb.database.postgresql import PostgresDatabase

        return PostgresDatabase.open(str(location), create=create)
    from isrcdb.database.sqlite import SQLiteDatabase

    return SQLiteDatabase.open(Path(location), create=create)


def open_readonly(location: str | Path) -> Database:
    """Open an existing cache for reading only, without migrating it (``query``, ``stats``, ``export``)."""
    if is_postgresql_url(location):
        from isrcdb.database.postgresql import PostgresDatabase

        return PostgresDatabase.open_readonly(str(location))
    from isrcdb.database.sqlite import SQLiteDatabase

    return SQLiteDatabase.open_readonly(Path(location))


def read_revision(location: str | Path) -> str | None:
    """The schema revision of the database at ``location``, read-only, whatever it is (``None``: no isrcdb schema
    yet); raises :class:`~isrcdb.errors.DatabaseError` when there is no database there or it cannot be read."""
    if is_postgresql_url(location):
        from isrcdb.database.postgresql import PostgresDatabase, _require_driver

        _require_driver()
        with PostgresDatabase(str(location), readonly=True) as database:
            return database.revision()
    from isrcdb.database.sqlite import read_revision as read_file_revision

    return read_file_revision(Path(location))


def display(location: str | Path) -> str:
    """``location`` for people: a path, or a URL without its password."""
    if is_postgresql_url(location):
        from isrcdb.database.postgresql import redact

        return redact(str(location))
    return str(location)

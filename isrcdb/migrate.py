"""Schema migrations: Alembic configured in code, run automatically when a database is opened.

Checking whether a database is current costs one ``SELECT``; Alembic (slow to import) is loaded only when a
database actually needs upgrading. How each database runs the migrations (SQLite: in one ``BEGIN IMMEDIATE``
transaction, foreign keys off, built aside when new; PostgreSQL: in one transaction under an advisory lock) is in
:mod:`isrcdb.database.sqlite` and :mod:`isrcdb.database.postgresql`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from isrcdb.errors import DatabaseError, SchemaTooNew

if TYPE_CHECKING:
    from alembic.config import Config

REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005", "0006", "0007")
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


def alembic_config(url: str) -> Config:
    """An Alembic ``Config`` for the database at the SQLAlchemy ``url``, built in code (no ``alembic.ini``)."""
    from alembic.config import Config

    # Alembic otherwise binds the sys.stdout of the moment it was first imported, which may since have closed.
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser interpolation: a literal % must be doubled (after the URL's own escaping, which adds some).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


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


def upgrade(location: str | Path, revision: str = "head") -> None:
    """Upgrade the database at ``location`` (a file path or a ``postgresql://`` URL) to ``revision``."""
    _run(location, "upgrade", revision)


def downgrade(location: str | Path, revision: str) -> None:
    """Downgrade ``location`` to ``revision`` (for developers and tests; isrcdb never downgrades on its own)."""
    _run(location, "downgrade", revision)


def _run(location: str | Path, direction: str, revision: str) -> None:
    from isrcdb.database import is_postgresql_url

    if is_postgresql_url(location):
        from isrcdb.database import postgresql

        postgresql.run_migrations(str(location), direction, revision)
    else:
        from isrcdb.database import sqlite

        sqlite.run_migrations(Path(location), direction, revision)

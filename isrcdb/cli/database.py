"""``isrcdb db path|current|upgrade``: where the cache is and which schema it has."""

from __future__ import annotations

import typer

from isrcdb.cli.common import DbOption, cli_errors, db_app, settings
from isrcdb.errors import UsageError


@db_app.command("path")
@cli_errors
def db_path(db: DbOption = None) -> None:
    """Print where the cache database is.

    Example: isrcdb db path
    """
    typer.echo(str(settings(db).database))


@db_app.command("current")
@cli_errors
def db_current(db: DbOption = None) -> None:
    """Print the database's schema revision and whether it is up to date.

    Example: isrcdb db current --db catalogue.sqlite3
    """
    import sqlite3

    from isrcdb import migrate

    path = settings(db).database
    if not path.exists():
        raise UsageError(f"there is no database at {path} yet; a lookup or 'isrcdb db upgrade' creates it")
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
        try:
            revision = migrate.current_revision(conn)
        except sqlite3.DatabaseError as exc:
            from isrcdb.db import database_error

            raise database_error(exc, path) from None
    state = "up to date" if revision == migrate.HEAD else f"behind {migrate.HEAD}; run 'isrcdb db upgrade'"
    if revision is not None and revision not in migrate.REVISIONS:
        state = "made by a newer isrcdb"
    typer.echo(f"{revision or 'none'} ({state})")


@db_app.command("upgrade")
@cli_errors
def db_upgrade(db: DbOption = None) -> None:
    """Create the database or upgrade its schema to this version of isrcdb.

    Example: isrcdb db upgrade --db catalogue.sqlite3
    """
    from isrcdb import db as database
    from isrcdb import migrate

    path = settings(db).database
    database.connect(path).close()
    typer.echo(f"{path}: schema at {migrate.HEAD} (up to date)")

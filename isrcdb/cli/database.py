"""``isrcdb db path|current|upgrade|grant-reader``: where the cache is, which schema it has, who may read it."""

from __future__ import annotations

from typing import Annotated

import typer

from isrcdb.cli.common import DbOption, cli_errors, db_app, err, settings
from isrcdb.errors import UsageError


@db_app.command("path")
@cli_errors
def db_path(db: DbOption = None) -> None:
    """Print where the cache database is.

    Example: isrcdb db path
    """
    from isrcdb.database import display

    typer.echo(display(settings(db).database))


@db_app.command("current")
@cli_errors
def db_current(db: DbOption = None) -> None:
    """Print the database's schema revision and whether it is up to date.

    Example: isrcdb db current --db catalogue.sqlite3
    """
    from isrcdb import migrate
    from isrcdb.database import read_revision

    revision = read_revision(settings(db).database)
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
    from isrcdb import migrate
    from isrcdb.database import display, open_database

    location = settings(db).database
    open_database(location).close()
    typer.echo(f"{display(location)}: schema at {migrate.HEAD} (up to date)")


@db_app.command("grant-reader")
@cli_errors
def db_grant_reader(
    role: Annotated[str, typer.Argument(help="The PostgreSQL role that may only read the cache.", show_default=False)],
    *,
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Run the statements now (creating the role if it does not exist); without it they are only printed.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Make a PostgreSQL role that can read the shared cache and nothing else, for isrcdb query and SQL tools.

    The role may select the views lookups and matches (and the tables the saved queries read); its transactions
    are read-only and its statements time out after 60 s. Give its URL to teammates as ISRCDB_QUERY_DATABASE.

    Example: isrcdb db grant-reader analysts --create
    """
    from urllib.parse import unquote, urlsplit

    from isrcdb.database import is_postgresql_url, open_database

    location = settings(db).database
    if not is_postgresql_url(location):
        raise UsageError(
            "grant-reader is for a cache on PostgreSQL; an SQLite cache is shared as a file, and isrcdb query "
            "already opens it read-only"
        )
    from isrcdb.database.postgresql import grant_reader, reader_statements

    if not create:
        name = unquote(urlsplit(str(location)).path.lstrip("/")) or "DATABASE"
        for statement in reader_statements(role, name, create=True):
            typer.echo(f"{statement};")
        return
    with open_database(location) as database:
        grant_reader(database, role, create=True)  # type: ignore[arg-type]
    err(f"{role} may now read the cache (views lookups and matches), read-only, nothing else")

"""``isrcdb db path|current|upgrade|grant-reader``: where the cache is, which schema it has, who may read it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from isrcdb.cli.common import DbOption, cli_errors, db_app, err, settings
from isrcdb.errors import DatabaseError, UsageError


def require_database(location: str | Path) -> None:
    """Refuse a location where no cache exists (exit 4, naming it), for the commands that only make sense on an
    existing one: a mistyped ``--db`` in a cron job must fail loudly, not create an empty cache and succeed."""
    from isrcdb.database import display, is_postgresql_url, open_database

    if is_postgresql_url(location):
        open_database(location, create=False).close()
    elif not Path(location).is_file():
        raise DatabaseError(
            f"there is no database at {display(location)}; check the path (--db or ISRCDB_DATABASE), or create "
            "one with 'isrcdb import', 'isrcdb lookup' or 'isrcdb db upgrade'"
        )


def note_created(location: str | Path, existed: bool) -> None:
    """Say on stderr that a command created the cache, so that a mistyped path is noticed."""
    from isrcdb.database import display, is_postgresql_url

    if not existed and not is_postgresql_url(location) and Path(location).is_file():
        err(f"Created a new database at {display(location)}.")


def database_exists(location: str | Path) -> bool:
    """Whether an SQLite cache file exists at ``location`` (always true for a PostgreSQL URL)."""
    from isrcdb.database import is_postgresql_url

    return is_postgresql_url(location) or Path(location).is_file()


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
    existed = database_exists(location)
    open_database(location).close()
    note_created(location, existed)
    typer.echo(f"{display(location)}: schema at {migrate.HEAD} (up to date)")


@db_app.command("clear-pause")
@cli_errors
def db_clear_pause(db: DbOption = None) -> None:
    """Forget the rate-limit pause stored for this Spotify app, so that syncs and lookups ask Spotify at once.

    After a long 429 or an exceeded quota, isrcdb stores when Spotify may be asked again, and every run using the
    same app (client id) keeps to it. Clear it when you know better, or when the credentials changed (a pause
    belongs to the app that earned it, so other credentials are never held by it). Without credentials, every
    app's pause is cleared. 'isrcdb stats' shows the pause.

    Example: isrcdb db clear-pause --db catalogue.sqlite3
    """
    from isrcdb.cache import IsrcDB

    config = settings(db)
    require_database(config.database)
    with IsrcDB(settings=config) as cache:
        until = cache.rate_limited_until()
        cleared = cache.clear_rate_limit()
    if cleared and until is not None:
        err(f"Cleared the rate-limit pause (it ran until {until:%Y-%m-%dT%H:%M:%SZ}); Spotify is asked again now.")
    elif cleared:
        err("Cleared a rate-limit pause that had already ended.")
    else:
        err("No rate-limit pause was stored for this Spotify app; nothing to clear.")


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

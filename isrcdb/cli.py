"""The ``isrcdb`` command: a thin shell over the library.

Each command parses its arguments, calls one library function and renders the result: data on stdout,
diagnostics on stderr. Library errors become ``Error: ...`` and the exit code documented in the README:
0 all found, 1 some not found, 2 invalid input or usage, 3 Spotify could not be reached or refused,
4 database or environment problem, 130 interrupted.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer

from isrcdb import __version__
from isrcdb.errors import IsrcdbError, UsageError
from isrcdb.output import Format, write_rows

app = typer.Typer(
    name="isrcdb",
    help="Turn ISRCs into Spotify track metadata, through a local SQLite cache.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="The cache database: where it is, its schema version, upgrades.", no_args_is_help=True)
app.add_typer(db_app, name="db")

EXIT_FOUND, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_SPOTIFY, EXIT_DATABASE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="The cache database (a path or sqlite:/// URL); overrides ISRCDB_DATABASE.", show_default=False
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", "-F", help="Output format.", case_sensitive=False)]

F = TypeVar("F", bound=Callable[..., Any])


def err(message: str) -> None:
    """A line on stderr."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def cli_errors(func: F) -> F:
    """Turn library errors into ``Error: ...`` on stderr and the documented exit code, once, at the edge."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except IsrcdbError as exc:
            err(f"Error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err("Interrupted.")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            sys.stderr.close()  # the reader went away (e.g. `| head`): nothing more to say
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def settings(db: str | None = None, **options: Any) -> Any:
    """The resolved settings with command-line overrides."""
    from isrcdb.settings import Settings

    return Settings.load().with_options(database=db, **options)


def parse_ttl(value: str | None) -> timedelta | None:
    if value is None:
        return None
    from isrcdb.clock import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"--ttl: {exc}") from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"isrcdb {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More detail on stderr: -v progress, -vv every request.")
    ] = 0,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Turn ISRCs into Spotify track metadata, through a local SQLite cache.

    Example: isrcdb lookup USRC17607839 --format json
    """
    if verbose:
        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            stream=sys.stderr,
            format="%(levelname)s %(name)s: %(message)s",
        )


def read_codes(codes: list[str] | None, file: str | None) -> Iterator[str]:
    """Codes from the arguments, then from ``file`` (``-`` is stdin), one per line."""
    yield from codes or ()
    if file is None:
        return
    if file == "-":
        stream = sys.stdin
        for line in stream:
            yield line.lstrip("\ufeff")
        return
    try:
        handle = open(file, encoding="utf-8-sig", errors="replace", newline="")
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    with handle:
        for line in handle:
            yield line


LOOKUP_COLUMNS = [
    "isrc",
    "status",
    "source",
    "stale",
    "fetched_at",
    "expires_at",
    "match_count",
    "spotify_id",
    "name",
    "artists",
    "album",
    "album_type",
    "release_date",
    "duration_ms",
    "explicit",
    "spotify_url",
    "error",
]
TABLE_COLUMNS = ["isrc", "status", "source", "name", "artists", "album", "release_date", "spotify_id", "error"]
MATCH_COLUMNS = [
    "match_rank",
    "match_spotify_id",
    "match_name",
    "match_artists",
    "match_album",
    "match_album_type",
    "match_release_date",
    "match_duration_ms",
    "match_explicit",
    "match_spotify_url",
]


def flatten_matches(row: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One row per match (for csv/tsv/table with --all-matches); a code without matches keeps one row."""
    matches = row.pop("matches", None) or [None]
    for rank, match in enumerate(matches):
        extra = {"match_rank": rank if match else None}
        for key, value in (match or {}).items():
            extra[f"match_{key}"] = value
        yield {**row, **extra}


@app.command()
@cli_errors
def lookup(
    codes: Annotated[
        list[str] | None, typer.Argument(help="ISRCs to look up (hyphens and spaces allowed).", show_default=False)
    ] = None,
    *,
    file: Annotated[
        str | None,
        typer.Option("--file", "-f", help="Read codes from FILE, one per line; - for stdin.", show_default=False),
    ] = None,
    fmt: FormatOption = Format.table,
    all_matches: Annotated[bool, typer.Option("--all-matches", help="List every release of each code.")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask Spotify even when the cache is fresh.")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Never call Spotify; answer from the cache.")] = False,
    ttl: Annotated[
        str | None, typer.Option("--ttl", help="How long found results stay fresh, e.g. 12h, 30d.", show_default=False)
    ] = None,
    db: DbOption = None,
) -> None:
    """Look ISRCs up: from the cache when fresh, otherwise from Spotify, storing what it says.

    Example: isrcdb lookup USRC17607839 GB-AYE-03-00047 --format json
    """
    from isrcdb.cache import IsrcDB, RunState

    if refresh and offline:
        raise UsageError("--refresh and --offline cannot be used together")
    ttl_value = parse_ttl(ttl)
    if not codes and file is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("give ISRCs as arguments, or --file PATH, or --file - to read standard input")
        file = "-"
    run = RunState()
    statuses: dict[str, int] = {}
    notes: list[str] = []
    flat = all_matches and fmt in (Format.csv, Format.tsv, Format.table)

    def on_wait(seconds: float, code: str) -> None:
        err(f"Spotify's rate limit: waiting {seconds:g} s before asking for {code}...")

    def rows(results: Iterable[Any]) -> Iterator[dict[str, Any]]:
        for result in results:
            statuses[result.status] = statuses.get(result.status, 0) + 1
            if result.error and result.status not in ("invalid", "error") and result.error != run.halted:
                notes.append(f"{result.isrc}: answered from the cache (stale): {result.error}")
            elif result.status == "error" and result.error != run.halted:
                notes.append(f"{result.isrc}: {result.error}")
            row = result.to_dict(all_matches=all_matches)
            if flat:
                yield from flatten_matches(row)
            else:
                yield row

    columns = TABLE_COLUMNS if fmt is Format.table else LOOKUP_COLUMNS
    if flat:
        columns = [*columns, *MATCH_COLUMNS]
    with IsrcDB(settings=settings(db), on_wait=on_wait) as cache:
        results = cache.iter_lookup(
            read_codes(codes, file), refresh=refresh, offline=offline, ttl=ttl_value, all_matches=all_matches, state=run
        )
        write_rows(rows(results), fmt, sys.stdout, columns)
    for note in notes:
        err(f"Warning: {note}")
    invalid = statuses.get("invalid", 0)
    if invalid:
        err(f"Error: {invalid} invalid code{'s' if invalid > 1 else ''} (see the error field); nothing stored for them")
    if run.halted:
        stale = sum(1 for note in notes if "stale" in note)
        err(f"Error: {run.halted}" + (f" ({stale} answered from the cache, stale)" if stale else ""))
    if not statuses:
        raise UsageError("no codes given: the input was empty")
    raise typer.Exit(exit_code(statuses))


def exit_code(statuses: dict[str, int]) -> int:
    """3 if Spotify left codes unresolved, else 2 for invalid codes, else 1 if any not found, else 0."""
    if statuses.get("error"):
        return EXIT_SPOTIFY
    if statuses.get("invalid"):
        return EXIT_USAGE
    if statuses.get("not_found"):
        return EXIT_NOT_FOUND
    return EXIT_FOUND


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


def main() -> None:
    """Entry point of the ``isrcdb`` console script."""
    app()

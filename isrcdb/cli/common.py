"""What every ``isrcdb`` command shares: the Typer app, common options, and errors turned into exit codes.

Each command parses its arguments, calls one library function and renders the result: data on stdout,
diagnostics on stderr. Library errors become ``Error: ...`` and the exit code documented in the README:
0 all found, 1 some not found, 2 invalid input or usage, 3 Spotify could not be reached or refused,
4 database or environment problem, 130 interrupted.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer

from isrcdb import __version__
from isrcdb.errors import IsrcdbError, UsageError
from isrcdb.output import Format

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

    return Settings.load(database=db, **options)


def parse_duration_option(option: str, value: str | None) -> timedelta | None:
    """A duration option (``90s``, ``15m``, ``12h``, ``30d``), or a usage error naming the option."""
    if value is None:
        return None
    from isrcdb.clock import parse_duration
    from isrcdb.settings import MAX_DURATION

    try:
        duration = parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if duration > MAX_DURATION:
        raise UsageError(f"{option}: {value!r} is too long (at most {MAX_DURATION.days} days)")
    return duration


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
        import logging

        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            stream=sys.stderr,
            format="%(levelname)s %(name)s: %(message)s",
        )

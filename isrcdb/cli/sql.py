"""``isrcdb query``, ``isrcdb export`` and ``isrcdb stats``: the database as a product surface.

The SQL lives in :mod:`isrcdb.query`, :mod:`isrcdb.export` and :mod:`isrcdb.stats`; these commands parse their
arguments, call one of them and render the rows.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from isrcdb.cli.common import (
    EXIT_USAGE,
    DbOption,
    ExportFormatOption,
    FormatOption,
    app,
    cli_errors,
    err,
    hard_exit,
    parse_duration_option,
    settings,
)
from isrcdb.errors import UsageError
from isrcdb.output import Format, default_format, plural, write_rows


class PairOptionCommand(TyperCommand):
    """A command whose ``--param`` option takes two values each time (``-p NAME VALUE``).

    Typer cannot declare a repeated option of pairs (``list[tuple[str, str]]``), so the option is declared as a
    repeated string and given its second value here, on the underlying Click option.
    """

    PAIR_OPTIONS = frozenset({"params"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.name in self.PAIR_OPTIONS:
                param.nargs = 2


def name_value_pairs(values: Sequence[Any] | None) -> list[tuple[str, str]]:
    """The ``-p NAME VALUE`` pairs as collected by :class:`PairOptionCommand` (one 2-tuple per ``-p``)."""
    return [(str(name), str(value)) for name, value in values or ()]


@app.command(cls=PairOptionCommand)
@cli_errors
def query(
    sql: Annotated[
        str | None,
        typer.Argument(
            metavar="SQL|-",
            help="One SQL statement, or - to read it from standard input; with --saved, a saved query's name.",
            show_default=False,
        ),
    ] = None,
    *,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="NAME VALUE",
            help="Bind the parameter :NAME to VALUE, as data (repeat for more). A whole number such as 42 binds "
            "as an INTEGER, anything else as TEXT.",
            show_default=False,
        ),
    ] = None,
    saved: Annotated[
        bool, typer.Option("--saved", help="Run the saved query named by the argument; alone, list saved queries.")
    ] = False,
    list_saved: Annotated[bool, typer.Option("--list", help="List the saved queries and their parameters.")] = False,
    timeout: Annotated[
        str | None,
        typer.Option(
            "--timeout",
            metavar="DURATION",
            help="Stop the query after this long inside the database, e.g. 10s or 2m; a bare number is seconds "
            "(default 5); 0: no limit.",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOption = None,
    db: DbOption = None,
) -> None:
    """Run one read-only SQL statement against the cache (the views lookups and matches, or any table).

    Writes of every kind (INSERT, UPDATE, DELETE, DROP, ATTACH, VACUUM, setting a PRAGMA) are refused.

    Saved queries (--saved NAME): stale, not_found, ambiguous, changed (-p since 7d), pending, errors.

    Example: isrcdb query "SELECT isrc, name FROM lookups WHERE status = :status" -p status not_found
    """
    from isrcdb import query as queries

    pairs = queries.parse_params(name_value_pairs(params))
    duration = parse_duration_option("--timeout", timeout)
    limit = queries.DEFAULT_TIMEOUT if duration is None else duration.total_seconds()
    fmt = fmt or default_format(sys.stdout)
    if list_saved or (saved and sql is None):
        rows = [saved_query.to_dict() for saved_query in queries.SAVED_QUERIES]
        columns = ["name", "parameters", "description"] if fmt in (Format.table, Format.lines) else None
        write_rows(rows, fmt, sys.stdout, columns)
        return
    if sql is None:
        raise UsageError("give one SQL statement (or - to read it from standard input), or --saved NAME, or --list")
    from isrcdb.database import open_readonly

    resolved = settings(db)
    # On PostgreSQL, a team may give query a role of its own that can only read (ISRCDB_QUERY_DATABASE).
    location = resolved.query_database if resolved.query_database and db is None else resolved.database
    text = read_statement() if sql == "-" and not saved else sql
    # SQLite sees an interrupt only between steps; one step stuck in a long function call still ends on time.
    overdue = hard_exit(str(queries.timeout_error(limit)), EXIT_USAGE)
    with open_readonly(location) as database:
        if saved:
            result = queries.run_saved(database, sql, pairs, timeout=limit, overdue=overdue)
        else:
            result = queries.run(database, text, pairs, timeout=limit, overdue=overdue)
        write_rows(result.rows, fmt, sys.stdout, result.columns)


def read_statement() -> str:
    """The SQL on standard input, decoded as UTF-8 here (not by the locale); anything else is a usage error."""
    if sys.stdin is None:
        raise UsageError("standard input is closed: give the SQL as an argument instead of -")
    raw = getattr(sys.stdin, "buffer", None)
    data: bytes = raw.read() if raw is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"the SQL on standard input is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            "cannot be read"
        ) from None


@app.command()
@cli_errors
def export(
    *,
    fmt: ExportFormatOption = Format.csv,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write to FILE, atomically (it appears only once complete; a symlink is followed, a FIFO or device "
            "written in place); default: standard output.",
            show_default=False,
        ),
    ] = None,
    all_matches: Annotated[
        bool, typer.Option("--all-matches", help="Include every Spotify track each code matched, not only the first.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Export the whole cache (one row per ISRC, the lookups view), streamed in bounded memory.

    Example: isrcdb export --format jsonl --all-matches --output cache.jsonl
    """
    from isrcdb.export import export as run_export

    target = None if output in (None, "-") else Path(str(output))
    summary = run_export(settings(db).database, target, fmt, all_matches=all_matches)
    if summary.path is not None:
        err(f"Exported {plural(summary.rows, 'row')} to {summary.path}")


@app.command()
@cli_errors
def stats(*, fmt: FormatOption = None, db: DbOption = None) -> None:
    """Show what the cache holds and what it saved: codes by status, fresh and stale, requests, rate limits, size.

    Example: isrcdb stats --format json
    """
    import json

    from isrcdb.stats import display_rows, pause_message
    from isrcdb.stats import stats as collect

    fmt = fmt or default_format(sys.stdout)
    resolved = settings(db)
    result = collect(resolved.database, app=resolved.app)
    if (message := pause_message(result)) is not None:
        err(f"Note: {message}")
    if fmt is Format.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    elif fmt is Format.jsonl:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    elif fmt is Format.table:
        write_rows(display_rows(result), fmt, sys.stdout)
    else:
        write_rows(result.rows(), fmt, sys.stdout)

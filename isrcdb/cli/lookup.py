"""``isrcdb lookup``: codes in, one result per distinct code out."""

# No ``from __future__ import annotations`` in command modules: Typer would evaluate every string annotation when
# it builds the command line, which costs more at each start than defining the annotations once at import.
import itertools
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from isrcdb.cli.common import (
    EXIT_FOUND,
    EXIT_NOT_FOUND,
    EXIT_SPOTIFY,
    EXIT_USAGE,
    DbOption,
    FormatOption,
    app,
    cli_errors,
    err,
    parse_duration_option,
    settings,
)
from isrcdb.cli.database import database_exists, note_created
from isrcdb.errors import UsageError
from isrcdb.output import (
    GAP,
    MIN_CUT_WIDTH,
    Format,
    RawJSON,
    cell_width,
    cut,
    default_format,
    ellipsis_for,
    number,
    plural,
    table_lines,
    terminal_width,
    visible,
    write_rows,
)
from isrcdb.store import TRACK_FIELDS

if TYPE_CHECKING:
    from isrcdb.importer import ImportReport

ProgressIntervalOption = Annotated[
    float,
    typer.Option(
        "--progress-interval", min=0, hidden=True, help="Seconds between progress lines when stderr is not a terminal."
    ),
]

ColumnOption = Annotated[
    str | None,
    typer.Option(
        "--column",
        "-c",
        help="The CSV column holding the ISRCs (default: the one whose header looks like an ISRC column).",
        show_default=False,
    ),
]

DelimiterOption = Annotated[
    str | None,
    typer.Option(
        "--delimiter",
        "-d",
        help="The CSV file's separator: one character, or tab, comma, semicolon, pipe (default: recognised from "
        "the file's first lines).",
        show_default=False,
    ),
]


def read_codes(
    codes: list[str] | None,
    file: str | None,
    report: "ImportReport",
    *,
    column: str | None = None,
    delimiter: str | None = None,
) -> Iterator[str]:
    """Codes from the arguments, then from ``file`` (``-`` is stdin), read exactly as ``isrcdb import`` reads it.

    One reader for both commands: text or CSV, header detection, UTF-8 or UTF-16 with a byte-order mark, binary
    files refused from their first bytes and overlong lines skipped unread, so memory stays bounded even for
    ``/dev/zero``. Lines that hold no code are noted in ``report``.
    """
    yield from codes or ()
    if file is not None:
        from isrcdb.importer import read_values

        yield from (value for _, value in read_values(file, report, column=column, delimiter=delimiter))


LOOKUP_COLUMNS = [
    "isrc",
    "status",
    "source",
    "stale",
    "fetched_at",
    "expires_at",
    "match_count",
    *TRACK_FIELDS,
    "error",
]
TABLE_COLUMNS = ["isrc", "status", "source", "name", "artists", "album", "release_date", "spotify_id", "error"]
OPTIONAL_COLUMNS = ["source", "album", "artists"]
"""The table's columns left out first on a narrow terminal, so that names keep room to be read."""
BLOCK_COLUMNS = ["rank", "release_date", "spotify_id", "album_type", "album", "name"]
"""The columns of each match in ``--all-matches`` on a terminal (one block per code)."""


def match_blocks(rows: Iterable[dict[str, Any]], *, width: int | None, ellipsis: str = "\u2026") -> Iterator[str]:
    """``--all-matches`` for people: one block per code, a heading line (code, status, canonical name and artists,
    or the error), then one line per match (rank, release date, Spotify id, album type, album, name), canonical
    first. Codes, ids and dates stay whole at any width from 80 columns; names are cut with an ellipsis."""
    for index, row in enumerate(rows):
        if index:
            yield "\n"
        head = [visible(str(row.get(key) or "")) for key in ("isrc", "status")]
        if row.get("stale"):
            head.append("stale")
        title = " \u00b7 ".join(
            visible("; ".join(value) if isinstance(value, list) else str(value))
            for value in (row.get("name"), row.get("artists"), row.get("error"))
            if value
        )
        heading = GAP.join(head)
        if title:
            room = None if width is None else max(width - cell_width(heading) - len(GAP), MIN_CUT_WIDTH)
            heading += GAP + (title if room is None else cut(title, room, ellipsis))
        yield heading + "\n"
        matches = [{"rank": f"{rank}.", **match} for rank, match in enumerate(row.get("matches") or (), 1)]
        if matches:
            yield from table_lines(
                matches,
                BLOCK_COLUMNS,
                width=width,
                optional=["name", "album_type"],
                header=False,
                indent="  ",
                ellipsis=ellipsis,
            )


def write_blocks(rows: Iterable[dict[str, Any]], stream: Any) -> None:
    """Write :func:`match_blocks` to ``stream``, fitted to its terminal's width when it is one."""
    for line in match_blocks(rows, width=terminal_width(stream), ellipsis=ellipsis_for(stream)):
        stream.write(line)
    stream.flush()


MATCH_COLUMNS = ["match_rank", *(f"match_{field}" for field in TRACK_FIELDS)]


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
        typer.Option(
            "--file",
            "-f",
            help="Read codes from FILE (one per line, or a CSV file, as import reads it); - for stdin.",
            show_default=False,
        ),
    ] = None,
    column: ColumnOption = None,
    delimiter: DelimiterOption = None,
    fmt: FormatOption = None,
    all_matches: Annotated[bool, typer.Option("--all-matches", help="List every release of each code.")] = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask Spotify even when the cache is fresh.")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Never call Spotify; answer from the cache.")] = False,
    ttl: Annotated[
        str | None, typer.Option("--ttl", help="How long found results stay fresh, e.g. 12h, 30d.", show_default=False)
    ] = None,
    db: DbOption = None,
    progress_interval: ProgressIntervalOption = 60.0,
) -> None:
    """Look ISRCs up: from the cache when fresh, otherwise from Spotify, storing what it says.

    --file reads a text or CSV file exactly as 'isrcdb import' does (--column, --delimiter). Many codes to fetch
    show a progress bar on stderr when it is a terminal (elsewhere, a progress line once a minute).

    Exit status: 0 every code found; 1 some not found on Spotify; 2 an invalid code, a bad option or an
    unreadable file; 3 Spotify could not be reached or refused and some codes are unresolved (or --offline and
    codes not in the cache); 4 the database cannot be used; 130 after Ctrl-C.

    Example: isrcdb lookup USRC17607839 GB-AYE-03-00047 --format json
    """
    from isrcdb.cache import IsrcDB, RunState

    if refresh and offline:
        raise UsageError("--refresh and --offline cannot be used together")
    ttl_value = parse_duration_option("--ttl", ttl)
    if not codes and file is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("give ISRCs as arguments, or --file PATH, or --file - to read standard input")
        file = "-"
    if column is not None and file is None:
        raise UsageError("--column names a column of the --file; give --file too")
    from isrcdb.importer import delimiter_option

    separator = delimiter_option(delimiter)
    if separator is not None and file is None:
        raise UsageError("--delimiter separates the columns of the --file; give --file too")
    fmt = fmt or default_format(sys.stdout)
    run = RunState()
    statuses: dict[str, int] = {}
    notes: list[str] = []
    flat = all_matches and fmt in (Format.csv, Format.tsv, Format.lines)  # one row per match
    blocks = all_matches and fmt is Format.table  # one block per code

    def on_wait(seconds: float, code: str) -> None:
        err(f"Spotify's rate limit: waiting {seconds:g} s before asking for {code}...")

    from isrcdb.cli.progress import Feedback

    # A bar only while the rows go elsewhere than the terminal: rows written to it show the progress themselves.
    feedback = Feedback(
        "lookup",
        terminal=sys.stderr.isatty(),
        interval=progress_interval,
        enabled=not (sys.stderr.isatty() and sys.stdout.isatty()),
    )
    total = len(set(codes)) if codes and file is None else None

    def rows(results: Iterable[Any]) -> Iterator[dict[str, Any]]:
        for done, result in enumerate(results, 1):
            feedback.update(done, total, show=run.requests > 0)
            statuses[result.status] = statuses.get(result.status, 0) + 1
            if result.error and result.status not in ("invalid", "error") and result.error != run.halted:
                notes.append(f"{result.isrc}: answered from the cache (stale): {result.error}")
            elif result.status == "error" and result.error != run.halted:
                notes.append(f"{result.isrc}: {result.error}")
            if result.json is not None:
                yield RawJSON(result.json)  # type: ignore[misc]  # a fresh hit, already encoded by SQLite
                continue
            row = result.to_dict(all_matches=all_matches)
            if flat:
                yield from flatten_matches(row)
            else:
                yield row

    columns = TABLE_COLUMNS if fmt is Format.table else LOOKUP_COLUMNS
    if flat:
        columns = [*columns, *MATCH_COLUMNS]
    from isrcdb.importer import ImportReport

    unread = ImportReport(source=file or "-")  # lines of the file that held no code (too long, no such column)
    source = read_codes(codes, file, unread, column=column, delimiter=separator)
    first = next((line for line in source if line.strip()), None)
    where = "standard input" if file == "-" else file
    if first is None and unread.invalid_lines:
        item = unread.invalid_lines[0]
        raise UsageError(f"no codes given: {where}, line {item.line}: {item.reason}")
    if first is None:
        raise UsageError("no codes given: the input was empty")
    config = settings(db)
    existed = database_exists(config.database)
    with IsrcDB(settings=config, on_wait=on_wait) as cache, feedback:
        results = cache._iter_lookup(
            itertools.chain([first], source),
            refresh=refresh,
            offline=offline,
            ttl=ttl_value,
            all_matches=all_matches,
            state=run,
            as_json=fmt in (Format.json, Format.jsonl),
        )
        if blocks:
            write_blocks(rows(results), sys.stdout)
        else:
            write_rows(rows(results), fmt, sys.stdout, columns, optional=OPTIONAL_COLUMNS)
    note_created(config.database, existed)
    for note in notes:
        err(f"Warning: {note}")
    for item in unread.invalid_lines:
        err(f"Error: {where}, line {item.line}: {item.reason}; no code read from it")
    if unread.invalid > len(unread.invalid_lines):
        err(f"Error: {plural(unread.invalid - len(unread.invalid_lines), 'more line')} of {where} held no code")
    invalid = statuses.get("invalid", 0)
    statuses["invalid"] = invalid + unread.invalid
    if invalid:
        err(f"Error: {plural(invalid, 'invalid code')} (see the error field); nothing stored for them")
    if run.halted:
        stale = sum(1 for note in notes if "stale" in note)
        err(f"Error: {run.halted}" + (f" ({number(stale)} answered from the cache, stale)" if stale else ""))
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

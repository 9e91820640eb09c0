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
from isrcdb.errors import UsageError
from isrcdb.output import Format, RawJSON, write_rows
from isrcdb.store import TRACK_FIELDS

if TYPE_CHECKING:
    from isrcdb.importer import ImportReport


def read_codes(
    codes: list[str] | None, file: str | None, report: "ImportReport", *, column: str | None = None
) -> Iterator[str]:
    """Codes from the arguments, then from ``file`` (``-`` is stdin), read exactly as ``isrcdb import`` reads it.

    One reader for both commands: text or CSV, header detection, UTF-8 or UTF-16 with a byte-order mark, binary
    files refused from their first bytes and overlong lines skipped unread, so memory stays bounded even for
    ``/dev/zero``. Lines that hold no code are noted in ``report``.
    """
    yield from codes or ()
    if file is not None:
        from isrcdb.importer import read_values

        yield from (value for _, value in read_values(file, report, column=column))


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
    column: Annotated[
        str | None,
        typer.Option(
            "--column",
            "-c",
            help="With --file: the CSV column holding the ISRCs (default: the one whose header looks like one).",
            show_default=False,
        ),
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
    ttl_value = parse_duration_option("--ttl", ttl)
    if not codes and file is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("give ISRCs as arguments, or --file PATH, or --file - to read standard input")
        file = "-"
    if column is not None and file is None:
        raise UsageError("--column names a column of the --file; give --file too")
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
    source = read_codes(codes, file, unread, column=column)
    first = next((line for line in source if line.strip()), None)
    where = "standard input" if file == "-" else file
    if first is None and unread.invalid_lines:
        item = unread.invalid_lines[0]
        raise UsageError(f"no codes given: {where}, line {item.line}: {item.reason}")
    if first is None:
        raise UsageError("no codes given: the input was empty")
    with IsrcDB(settings=settings(db), on_wait=on_wait) as cache:
        results = cache.iter_lookup(
            itertools.chain([first], source),
            refresh=refresh,
            offline=offline,
            ttl=ttl_value,
            all_matches=all_matches,
            state=run,
            as_json=fmt in (Format.json, Format.jsonl),
        )
        write_rows(rows(results), fmt, sys.stdout, columns)
    for note in notes:
        err(f"Warning: {note}")
    for item in unread.invalid_lines:
        err(f"Error: {where}, line {item.line}: {item.reason}; no code read from it")
    if unread.invalid > len(unread.invalid_lines):
        err(f"Error: {unread.invalid - len(unread.invalid_lines)} more lines of {where} held no code")
    invalid = statuses.get("invalid", 0)
    statuses["invalid"] = invalid + unread.invalid
    if invalid:
        err(f"Error: {invalid} invalid code{'s' if invalid > 1 else ''} (see the error field); nothing stored for them")
    if run.halted:
        stale = sum(1 for note in notes if "stale" in note)
        err(f"Error: {run.halted}" + (f" ({stale} answered from the cache, stale)" if stale else ""))
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

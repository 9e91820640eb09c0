"""``isrcdb import`` (codes from a file, stored as pending) and ``isrcdb sync`` (resolve and refresh them)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from isrcdb.cli.common import (
    EXIT_FOUND,
    EXIT_INTERRUPTED,
    EXIT_SPOTIFY,
    EXIT_USAGE,
    DbOption,
    ReportFormatOption,
    app,
    cli_errors,
    err,
    parse_duration_option,
    settings,
)
from isrcdb.cli.database import database_exists, note_created, require_database
from isrcdb.cli.lookup import ColumnOption, DelimiterOption, ProgressIntervalOption
from isrcdb.errors import UsageError
from isrcdb.output import Format, number, plural

if TYPE_CHECKING:
    from isrcdb.importer import ImportReport
    from isrcdb.sync import SyncSummary

EXIT_TERMINATED = 143


# The format names and the way numbers are written are the ones of every command (isrcdb.output).
ReportFormat = Format
_n = number
_plural = plural


# --- import -----------------------------------------------------------------------------------------------------


@app.command("import")
@cli_errors
def import_codes(
    file: Annotated[
        str | None,
        typer.Argument(
            metavar="[FILE|-]",
            help="A text file (one ISRC a line) or a CSV file; - or nothing reads standard input.",
            show_default=False,
        ),
    ] = None,
    *,
    column: ColumnOption = None,
    delimiter: DelimiterOption = None,
    fmt: ReportFormatOption = ReportFormat.text,
    db: DbOption = None,
) -> None:
    """Store the ISRCs of a file as pending, without asking Spotify; 'isrcdb sync' resolves them.

    Codes are normalised (hyphens and spaces removed, upper-cased) and validated; invalid lines are reported.
    An invalid code is never stored. Codes already stored are left as they are: importing again is harmless.
    Codes are committed in chunks: an interrupted import keeps what it stored, and running it again completes it.

    Exit status: 0 every code was valid; 2 some lines were invalid (the valid codes are still stored).
    Also 2 when the file cannot be read, is binary, or has no such --column; 4 for a database problem.

    Example: isrcdb import catalogue.csv --column ISRC
    """
    from isrcdb.cache import IsrcDB
    from isrcdb.importer import delimiter_option, import_file

    separator = delimiter_option(delimiter)
    if file is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("give a FILE of ISRCs, or - to read standard input")
        file = "-"
    config = settings(db)
    existed = database_exists(config.database)
    with IsrcDB(settings=config) as cache:
        report = import_file(cache.db, file, column=column, delimiter=separator, clock=cache.clock)
    if fmt in (Format.json, Format.jsonl):
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        _print_import(report)
    note_created(config.database, existed)
    raise typer.Exit(EXIT_USAGE if report.invalid else EXIT_FOUND)


def _print_import(report: ImportReport) -> None:
    source = "standard input" if report.source == "-" else report.source
    where = f"{source}, column {report.column}" if report.column else source
    if not report.read and not report.invalid:
        err(f"Warning: {where} holds no codes; nothing imported")
        return
    for item in report.invalid_lines:
        shown = f" {item.text!r}" if item.text else ""
        err(f"Invalid: line {item.line}:{shown}: {item.reason}")
    omitted = report.invalid - len(report.invalid_lines)
    if omitted:
        err(f"Invalid: {_plural(omitted, 'more line')} not listed (see --format json for the first ones)")
    parts = [f"{_n(report.added)} added", f"{_n(report.already_known)} already known"]
    if report.duplicates:
        parts.append(f"{_n(report.duplicates)} duplicate{'' if report.duplicates == 1 else 's'} in the file")
    parts.append(f"{_n(report.invalid)} invalid")
    if report.empty:
        parts.append(_plural(report.empty, "empty cell"))
    err(f"Imported {where}: {', '.join(parts)}.")


# --- sync -------------------------------------------------------------------------------------------------------


def _print_sync(summary: SyncSummary, *, dry_run: bool) -> None:
    if dry_run:
        plan = summary.plan
        what = (
            f"{_n(plan.get('pending', 0))} pending, {_n(plan.get('not_found', 0))} not found and due again, "
            f"{_n(plan.get('found', 0))} found and due for a refresh"
        )
        err(
            f"Dry run: would fetch {_plural(summary.due, 'code')} ({what}), about "
            f"{_plural(plan.get('requests', 0), 'request')} to Spotify. Nothing was fetched."
        )
        if summary.message:
            err(f"Note: {summary.message}.")
        return
    if summary.status == "complete" and summary.due == 0:
        err("Nothing to sync: every stored code is fresh.")
        return
    if summary.handled or summary.requests:
        rate = f" ({summary.resolved / summary.elapsed:.1f} codes/s)" if summary.elapsed > 0 else ""
        err(
            f"Synced {_plural(summary.resolved, 'code')} in {summary.elapsed:.1f} s{rate}: {_n(summary.found)} found, "
            f"{_n(summary.not_found)} not found; {_n(summary.first_found)} first found, {_n(summary.changed)} changed, "
            f"{_n(summary.newly_not_found)} newly not found; {_plural(summary.errors, 'error')}. "
            f"{_plural(summary.requests, 'request')}, {_n(summary.rate_limited)} answered 429."
        )
    for sample in summary.error_samples:
        err(f"Error: {sample}")
    left = f"{_plural(summary.remaining, 'code')} still due"
    if summary.status == "rate_limited":
        err(f"Stopped: {summary.message}; {left}. Run 'isrcdb sync' again then: it continues where this one stopped.")
    elif summary.status == "failed":
        err(f"Stopped: {summary.message}; {left}.")
    elif summary.status == "interrupted":
        err(f"Interrupted: {left}; run 'isrcdb sync' again to continue.")
    elif summary.status == "limit":
        err(f"Stopped at --limit: {left}.")


def _exit_code(summary: SyncSummary, signum: int | None) -> int:
    import signal

    if summary.status == "interrupted":
        return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED
    if summary.status == "dry_run":
        return EXIT_FOUND
    if summary.status in ("rate_limited", "failed") or summary.errors:
        return EXIT_SPOTIFY
    return EXIT_FOUND


@app.command("sync")
@cli_errors
def sync_codes(
    *,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", min=1, help="Handle at most this many codes in this run.", show_default=False),
    ] = None,
    all_codes: Annotated[
        bool, typer.Option("--all", help="Refresh every stored code, fresh or not (same as --older-than 0s).")
    ] = False,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Refresh codes fetched at least this long ago (e.g. 7d), instead of those past their expiry.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-j",
            min=1,
            max=32,
            help="Requests in flight at once (default: ISRCDB_CONCURRENCY, or 8).",
            show_default=False,
        ),
    ] = None,
    max_wait: Annotated[
        str | None,
        typer.Option(
            "--max-wait",
            help="The longest Retry-After to wait for; a longer one ends the run (default: ISRCDB_MAX_WAIT, or 60s).",
            show_default=False,
        ),
    ] = None,
    rate: Annotated[
        int | None,
        typer.Option(
            "--rate",
            min=1,
            help="Never send more than this many requests per --rate-window, if you know your app's limit "
            "(default: ISRCDB_RATE_LIMIT, or learnt from Spotify's first 429).",
            show_default=False,
        ),
    ] = None,
    rate_window: Annotated[
        str | None,
        typer.Option(
            "--rate-window",
            help="The length of Spotify's rolling window (default: ISRCDB_RATE_WINDOW, or 30s).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be fetched, and how many requests, without fetching.")
    ] = False,
    ignore_pause: Annotated[
        bool,
        typer.Option(
            "--ignore-pause",
            help="Forget the stored rate-limit pause of this Spotify app first, and ask Spotify at once.",
        ),
    ] = False,
    fmt: ReportFormatOption = ReportFormat.text,
    db: DbOption = None,
    progress_interval: ProgressIntervalOption = 60.0,
) -> None:
    """Resolve pending codes and refresh stale ones, as fast as Spotify's rate limit allows, resumably.

    Order: pending codes, then not-found codes past their expiry, then found codes, stalest first.
    Several requests run at once, under one shared pace that learns Spotify's limit from its 429 answers.
    Each result is committed as it arrives: an interrupted run keeps what it did, and the next one continues.
    Two syncs on one database share the work; lookups keep working meanwhile.
    A progress bar shows on stderr when it is a terminal (elsewhere, a progress line once a minute); a summary
    is printed at the end: what was found for the first time, and what changed (as 'query --saved changed').
    A stored rate-limit pause is kept to; --ignore-pause (or 'isrcdb db clear-pause') forgets it.

    A Retry-After longer than --max-wait, or an exceeded quota, ends the run at once, keeping what was done.
    The time to come back is then printed and stored; a sync before that time does not call Spotify.

    Exit status: 0 done, or --limit reached; 3 stopped by Spotify's rate limit, or Spotify failed for some codes.
    Also 4 for a database problem, 130 after Ctrl-C, 143 after SIGTERM.

    Example: isrcdb sync --limit 5000 --max-wait 2m
    """
    from isrcdb.cache import IsrcDB
    from isrcdb.sync import SyncOptions, stop_signals, sync

    if all_codes and older_than is not None:
        raise UsageError("--all and --older-than cannot be used together (--all is --older-than 0s)")
    older = parse_duration_option("--older-than", "0s" if all_codes else older_than)
    wait = parse_duration_option("--max-wait", max_wait)
    window = parse_duration_option("--rate-window", rate_window)
    if window is not None and window.total_seconds() <= 0:
        raise UsageError("--rate-window must be more than 0 seconds")
    config = settings(
        db,
        concurrency=concurrency,
        max_wait=wait.total_seconds() if wait is not None else None,
        rate_limit=rate,
        rate_window=window.total_seconds() if window is not None else None,
    )
    options = SyncOptions(
        limit=limit,
        older_than=older,
        concurrency=config.concurrency,
        max_wait=config.max_wait,
        rate_limit=config.rate_limit,
        rate_window=config.rate_window,
        dry_run=dry_run,
    )
    from isrcdb.cli.progress import Feedback

    feedback = Feedback("sync", terminal=sys.stderr.isatty(), interval=progress_interval, enabled=not dry_run)
    with IsrcDB(settings=config) as cache, stop_signals() as stop:
        require_database(cache.path)
        if ignore_pause and not dry_run and cache.clear_rate_limit():
            err("Note: the stored rate-limit pause was cleared (--ignore-pause); asking Spotify again now.")

        def on_progress(state: SyncSummary) -> None:
            feedback.update(state.handled, state.due)

        with feedback:
            summary = sync(cache, options, stop=stop.event, on_progress=on_progress)
    if fmt in (Format.json, Format.jsonl):
        typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
    _print_sync(summary, dry_run=dry_run)
    raise typer.Exit(_exit_code(summary, stop.signal))

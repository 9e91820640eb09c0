"""What every ``isrcdb`` command shares: the Typer app, common options, and errors turned into exit codes.

Each command parses its arguments, calls one library function and renders the result: data on stdout,
diagnostics on stderr. Library errors become ``Error: ...`` and the exit code documented in the README:
0 all found, 1 some not found, 2 invalid input or usage, 3 Spotify could not be reached or refused,
4 database or environment problem, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import logging
import os
import select
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer

from isrcdb import __version__
from isrcdb.errors import DatabaseError, IsrcdbError, SpotifyError, UsageError, wording
from isrcdb.errors import OutputError as FileOutputError
from isrcdb.output import DATA_FORMATS, EXPORT_FORMATS, REPORT_FORMATS, Format, visible


def _usage_error_type() -> type[Exception]:
    """Click's ``ClickException`` (Typer's own copy of Click, or Click itself, depending on Typer's version)."""
    return next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "ClickException")


class CommandLine(typer.core.TyperGroup):
    """The ``isrcdb`` command group, whose usage errors read like every other error.

    On a terminal, a mistake on the command line is shown as Typer shows it (the usage, a hint and a box); anywhere
    else (a script, a cron log, a test) it is one line, ``Error: ...``, and exit status 2, as the README promises.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except _usage_error_type() as exc:
            sys.exit(_show_usage_error(exc))
        except typer.Abort:
            err("Aborted.")
            sys.exit(1)
        # Without standalone mode, Typer returns the code of a typer.Exit, and a command's return value otherwise.
        sys.exit(result if isinstance(result, int) else 0)


def _show_usage_error(exc: Any) -> int:
    """Show a command-line mistake (boxed on a terminal, one ``Error:`` line elsewhere); its exit code."""
    code = int(getattr(exc, "exit_code", EXIT_USAGE))
    if type(exc).__name__ == "NoArgsIsHelpError":
        return code  # a group run without a command: Typer has printed its help already
    boxed = False
    with contextlib.suppress(OSError, ValueError):
        boxed = sys.stderr is not None and sys.stderr.isatty()
    if boxed:
        from typer import rich_utils

        rich_utils.rich_format_error(exc)
        return code
    message = " ".join(str(exc.format_message()).split())
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None and ctx.command_path else ""
    err(f"Error: {message}{hint}")
    return code


app = typer.Typer(
    cls=CommandLine,
    name="isrcdb",
    help="Turn ISRCs into Spotify track metadata, through a local SQLite cache.",
    no_args_is_help=True,
    add_completion=True,
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


def format_option(formats: tuple[Format, ...], help: str, *, default: str | None = None) -> Any:
    """The ``--format``/``-F`` option offering ``formats``: every command takes its formats from one definition
    (:class:`~isrcdb.output.Format`), under one spelling, case-insensitive."""
    names = [fmt.value for fmt in formats]

    def parse(value: Any) -> Format:
        if isinstance(value, Format):
            return value
        text = str(value).lower()
        if text not in names:
            raise typer.BadParameter(f"{str(value)!r} is not one of {', '.join(names)}")
        return Format(text)

    return typer.Option(
        "--format",
        "-F",
        parser=parse,
        metavar="FORMAT",
        help=f"{', '.join(names)}. {help}",
        show_default=default or False,
        autocompletion=lambda: names,
    )


FormatOption = Annotated[
    Format | None,
    format_option(
        DATA_FORMATS,
        "By default, on a terminal, an aligned table; otherwise tab-separated lines with a header, control "
        "characters escaped as in the table (tsv and csv keep values exact).",
        default="table on a terminal, else tab-separated lines",
    ),
]
ExportFormatOption = Annotated[Format, format_option(EXPORT_FORMATS, "The output format.", default="csv")]
ReportFormatOption = Annotated[
    Format,
    format_option(
        REPORT_FORMATS,
        "text: a summary on stderr; json or jsonl: the summary as one JSON line on stdout.",
        default="text",
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def err(message: str) -> None:
    """A line on stderr, made :func:`~isrcdb.output.visible`: messages quote data (Spotify's error messages, lines of
    an input file, names), and no control sequence hidden in them may reach the terminal or break the line in two."""
    if QUIET and not message.startswith(LOUD):
        return
    # A stderr that cannot be written (closed, a full disk) leaves nowhere to say anything: the exit code remains.
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(_wrapped(visible(message)) + "\n")
        sys.stderr.flush()


def _wrapped(text: str) -> str:
    """On a terminal, ``text`` folded between words to its width (a continuation indented), so that a summary wraps
    cleanly at 80 columns; a word longer than the line (a path, a URL) is never split. Elsewhere one line, for grep."""
    from isrcdb.output import terminal_width

    width = terminal_width(sys.stderr)
    if width is None or len(text) < width:
        return text
    import textwrap

    return "\n".join(
        textwrap.wrap(text, width - 1, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)
    )


QUIET = False
"""``-q``: stderr carries only errors (the lines that start with one of :data:`LOUD`)."""
LOUD = ("Error", "Stopped", "Interrupted")

OWN_PROCESS = False
"""Whether isrcdb runs as its own process (set by the console script's ``main``), not inside another program such
as a test runner: only then may a command end the process itself (:func:`hard_exit`)."""


def hard_exit(message: str, code: int) -> Callable[[], None] | None:
    """A function that prints ``Error: message`` and ends the process at once with ``code``, for a watchdog thread
    whose command is stuck in a long call into C; ``None`` when isrcdb is not running as its own process."""
    if not OWN_PROCESS:
        return None

    def stop() -> None:
        err(f"Error: {message}")
        with contextlib.suppress(Exception):  # whole lines already written still reach their reader
            sys.stdout.flush()
        os._exit(code)

    return stop


class OutputError(IsrcdbError):
    """Standard output cannot take what isrcdb writes: a full disk, a closed pipe (exit 4, the environment)."""


EXIT_CODES: tuple[tuple[type[IsrcdbError], int], ...] = (
    (UsageError, EXIT_USAGE),
    (SpotifyError, EXIT_SPOTIFY),
    (DatabaseError, EXIT_DATABASE),
    (FileOutputError, EXIT_DATABASE),
    (OutputError, EXIT_DATABASE),
)
"""The exit code of each kind of library error (the first class that matches); any other error exits 4."""

CLI_WORDING = {
    "choose database": "choose another with --db",
    "offline": "--offline",
    "max_wait": "the --max-wait",
    "timeout": "--timeout SECONDS",
    "output": " with --output",
    "column": "--column",
    "credentials": "in the environment or in a .env file in the working directory",
}
"""How library messages name settings on the command line (see :func:`isrcdb.errors.named`)."""


def exit_code_for(exc: IsrcdbError) -> int:
    """The documented exit code of a library error."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), EXIT_DATABASE)


def output_error(exc: OSError) -> OutputError:
    """The :class:`OutputError` for a failed write to standard output, in words a person can act on."""
    if exc.errno == errno.EPIPE:
        return OutputError("the output was closed before everything was written (its reader stopped early)")
    return OutputError(f"cannot write the output: {exc.strerror or exc}")


class GuardedOutput(io.RawIOBase):
    """Standard output's file descriptor, where every failed write becomes an :class:`OutputError`.

    Every way isrcdb writes (``sys.stdout.write``, ``typer.echo``, rich, Click's help) ends in this ``write``, so a
    full disk or a closed pipe gives one ``Error:`` line however the bytes got there. After the first failure the
    rest is dropped, so that the buffer's remainder cannot fail again when Python flushes it at exit.
    """

    def __init__(self, fd: int | None) -> None:
        super().__init__()
        self.fd = fd
        self.failed = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        if self.fd is None:
            raise io.UnsupportedOperation("standard output is closed")
        return self.fd

    def isatty(self) -> bool:
        return self.fd is not None and os.isatty(self.fd)

    def write(self, data: Any) -> int:
        size = len(memoryview(data))
        if self.failed:
            return size
        if self.fd is None:
            self.failed = True
            raise OutputError("standard output is closed, so the output has nowhere to go")
        while True:
            try:
                return os.write(self.fd, data)
            except BlockingIOError:  # a non-blocking stdout (left so by another program): wait until it can take more
                select.select([], [self.fd], [])
            except OSError as exc:
                self.failed = True
                raise output_error(exc) from None


def guard_stdout() -> None:
    """Put :class:`GuardedOutput` under ``sys.stdout``, keeping its encoding and buffering.

    Text that the encoding cannot carry (a lone surrogate, any non-Latin name under a Latin-1 locale) is written
    as a backslash escape instead of failing: in JSON that escape reads back as the very same string.
    """
    current = sys.stdout
    fd: int | None = None
    if current is not None:
        try:
            fd = current.fileno()
        except (OSError, ValueError):
            return  # not a file (a program's own capture, e.g. a StringIO): it reports its own failures
        with contextlib.suppress(OSError, ValueError):
            current.flush()
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(GuardedOutput(fd)),
        encoding=getattr(current, "encoding", None) or "utf-8",
        errors="backslashreplace",
        line_buffering=bool(getattr(current, "line_buffering", False)),
    )


class DiagnosticHandler(logging.Handler):
    """Log records on stderr through :func:`err`, line by line: they quote answers, addresses and paths."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        for line in text.split("\n"):
            err(line)


def cli_errors(func: F) -> F:
    """Turn library errors into ``Error: ...`` on stderr and the documented exit code, once, at the edge."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with wording(CLI_WORDING):
                return func(*args, **kwargs)
        except IsrcdbError as exc:
            err(f"Error: {exc}")
            raise typer.Exit(exit_code_for(exc)) from None
        except KeyboardInterrupt:
            err("Interrupted.")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError as exc:  # a stream other than a guarded stdout: the same words
            error = output_error(exc)
            err(f"Error: {error}")
            raise typer.Exit(exit_code_for(error)) from None

    return wrapper  # type: ignore[return-value]


def settings(db: str | None = None, **options: Any) -> Any:
    """The resolved settings with command-line overrides."""
    from isrcdb.settings import Settings

    return Settings.load(overrides={"database": db, **options})


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
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            metavar="",
            show_default=False,
            help="More detail on stderr: -v progress, -vv every request (before or after the command).",
        ),
    ] = 0,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Nothing on stderr but errors: no progress, no summary, no warnings."),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Turn ISRCs into Spotify track metadata, through a local SQLite cache.

    Example: isrcdb lookup USRC17607839 --format json
    """
    global QUIET
    QUIET = quiet and not verbose
    if verbose:
        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            format="%(levelname)s %(name)s: %(message)s",
            handlers=[DiagnosticHandler()],
        )

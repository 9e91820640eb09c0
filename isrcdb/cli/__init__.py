"""The ``isrcdb`` command: a thin shell over the library.

Each command parses its arguments, calls one library function and renders the result: data on stdout,
diagnostics on stderr. Library errors become ``Error: ...`` and the exit code documented in the README:
0 all found, 1 some not found, 2 invalid input or usage, 3 Spotify could not be reached or refused,
4 database or environment problem, 130 interrupted.

Command modules only define functions here; whatever is slow to import (SQLAlchemy, Alembic, requests, rich)
is imported inside the command that needs it, so ``isrcdb lookup`` on a warm cache starts fast.
"""

from __future__ import annotations

import logging
import re
import sys

from isrcdb.cli import common, database, datasette, lookup, sql, sync  # noqa: F401  (each registers its commands)
from isrcdb.cli.common import DiagnosticHandler, OutputError, app, err, exit_code_for, guard_stdout

__all__ = ["app", "hoist_verbosity", "main"]

_VERBOSITY = re.compile(r"-v+|-q|--verbose|--quiet")


def hoist_verbosity(args: list[str]) -> list[str]:
    """``args`` with ``-v``, ``-vv``, ``-q`` (and their long forms) moved before the command, where the main
    callback reads them: ``isrcdb sync -q`` and ``isrcdb -q sync`` mean the same. Nothing after ``--`` moves."""
    end = args.index("--") if "--" in args else len(args)
    flags = [arg for arg in args[:end] if _VERBOSITY.fullmatch(arg)]
    rest = [arg for arg in args[:end] if not _VERBOSITY.fullmatch(arg)]
    return [*flags, *rest, *args[end:]]


def main() -> None:
    """Entry point of the ``isrcdb`` console script.

    Standard output is guarded first, so that a full disk or a closed pipe ends every command (``--help`` and
    ``--version`` included, which Click prints outside the commands) in one ``Error:`` line. What is still buffered
    when the command returns is flushed here, where such a failure can still be reported.
    """
    common.OWN_PROCESS = True
    guard_stdout()
    # Warnings logged without -v go through err() too: they quote paths and answers.
    logging.lastResort = DiagnosticHandler(logging.WARNING)
    code: int | str | None = 0
    try:
        try:
            app(args=hoist_verbosity(sys.argv[1:]), prog_name="isrcdb")
        except SystemExit as exc:
            code = exc.code
        sys.stdout.flush()
    except OutputError as exc:
        err(f"Error: {exc}")
        code = exit_code_for(exc)
    sys.exit(code)

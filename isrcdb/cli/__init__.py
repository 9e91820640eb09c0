"""The ``isrcdb`` command: a thin shell over the library.

Each command parses its arguments, calls one library function and renders the result: data on stdout,
diagnostics on stderr. Library errors become ``Error: ...`` and the exit code documented in the README:
0 all found, 1 some not found, 2 invalid input or usage, 3 Spotify could not be reached or refused,
4 database or environment problem, 130 interrupted.

Command modules only define functions here; whatever is slow to import (SQLAlchemy, Alembic, requests, rich)
is imported inside the command that needs it, so ``isrcdb lookup`` on a warm cache starts fast.
"""

from __future__ import annotations

from isrcdb.cli import database, lookup, sql, sync  # noqa: F401  (each registers its commands)
from isrcdb.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``isrcdb`` console script."""
    app()

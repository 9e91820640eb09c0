"""``isrcdb datasette``: browse the cache in Datasette, read-only, with isrcdb's Datasette plugin.

The command checks the cache and Datasette, then replaces itself with ``datasette serve``, so that Ctrl-C, signals
and the exit status are Datasette's own.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from isrcdb.cli.common import DbOption, app, cli_errors, err, settings
from isrcdb.errors import IsrcdbError, UsageError


def datasette_installed() -> bool:
    """Whether Datasette can be imported by this interpreter (the plugin registers itself in the same one)."""
    try:
        return importlib.util.find_spec("datasette") is not None
    except (ImportError, ValueError):  # ValueError: a module entry without a spec, i.e. blocked
        return False


def serve_arguments(database: Path, *, host: str, port: int, open_browser: bool, immutable: bool) -> list[str]:
    """The command line that serves ``database`` with Datasette."""
    # Read-only by default, not immutable: SQLite's immutable mode ignores the write-ahead log, so answers that a
    # running sync has committed but not yet checkpointed would be missing, and pages could change underneath.
    # Absolute, so that a name starting with "-" is not taken for an option; not resolved, because Datasette names
    # the database after the file, and a symbolic link's name is the one the user chose.
    path = str(database.absolute())
    mode = ["-i", path] if immutable else [path]
    argv = [sys.executable, "-m", "datasette", "serve", *mode, "--host", host, "--port", str(port)]
    return [*argv, "--open"] if open_browser else argv


@app.command()
@cli_errors
def datasette(
    *,
    host: Annotated[
        str, typer.Option("--host", help="The address to listen on; 0.0.0.0 shares the cache with your network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="The port to listen on (0: any).")] = 8001,
    open_browser: Annotated[bool, typer.Option("--open", "-o", help="Open the cache in a web browser.")] = False,
    immutable: Annotated[
        bool,
        typer.Option(
            "--immutable",
            help="Open the file as immutable (faster counts); only for a copy that no isrcdb is writing to.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Browse the cache in Datasette, read-only: the views lookups and matches, every column described, and the
    saved queries. Needs Datasette: pip install 'isrcdb\\[datasette]'.

    Example: isrcdb datasette --open
    """
    from isrcdb.database import open_readonly

    if not datasette_installed():
        raise IsrcdbError("Datasette is not installed: install it with pip install 'isrcdb[datasette]'")
    path = settings(db).database
    if not isinstance(path, Path):
        raise UsageError(
            "Datasette reads SQLite files, and this cache is on PostgreSQL: query it with isrcdb query, psql, or a "
            "PostgreSQL tool (export a copy with isrcdb export to browse it elsewhere)"
        )
    open_readonly(path).close()  # a clear error for a missing, foreign or newer database, before Datasette
    argv = serve_arguments(path, host=host, port=port, open_browser=open_browser, immutable=immutable)
    err(f"Serving {path} read-only{' (immutable)' if immutable else ''} with Datasette; Ctrl-C stops it.")
    os.execv(argv[0], argv)  # noqa: S606 - this interpreter, with arguments built above; no shell involved

"""The terminal: data shown to people is never markup nor control sequences, and output that cannot be written is
an error, never a traceback.

Names from Spotify, values from ``query`` and paths are data. In the table format, Rich markup in them is printed
as it is, and control characters (the ESC of ANSI CSI and OSC sequences among them) are written as escapes; the
same holds for Spotify's messages and input echoed on stderr. The machine formats keep the data exact. Standard
output on a full disk or a closed pipe ends every command with one ``Error:`` line and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import sqlite3
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from isrcdb.cli.common import err
from isrcdb.output import visible
from isrcdb.testing.spotify import SpotifyReplica
from tests.conftest import Cli
from tests.reliability.helpers import FEW

OSC = "\x1b]0;pwned\x07"  # sets the terminal's title
CSI = "\x1b[2J\x1b[31m"  # clears the screen, turns the text red
C1 = "\x9b1m"  # a CSI of its own on 8-bit terminals
HOSTILE = f"Intro [feat. MC Lyte] {OSC}{CSI}red{C1}\u202eevil\nnext"
SHOWN = "Intro [feat. MC Lyte] \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred\\x9b1m\\u202eevil\\nnext"
RAW = (OSC, CSI, "\x1b", "\x9b", "\u202e", "\x07")


@pytest.fixture
def hostile_cache(cli: Cli, spotify: SpotifyReplica, db_path: Path) -> Path:
    """A cache made by a real lookup, whose track, album and artist names were then made hostile."""
    assert cli("lookup", FEW, "--format", "json").exit_code == 0
    with contextlib.closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("UPDATE tracks SET name = ?", (HOSTILE,))
        conn.execute("UPDATE albums SET name = ?", ("[/bold]",))
        conn.execute("UPDATE artists SET name = ?", ("[bold red]MC Lyte[/] :fire:",))
        # The views show the names kept on each track.
        conn.execute("UPDATE tracks SET artist_names = json_array(?)", ("[bold red]MC Lyte[/] :fire:",))
    return db_path


def test_markup_and_control_sequences_in_names_are_shown_literally_and_escaped_in_the_table(
    cli: Cli, hostile_cache: Path
) -> None:
    result = cli("lookup", FEW, "--offline", "--format", "table")
    assert (result.exit_code, result.stderr) == (0, "")
    assert SHOWN in result.stdout
    assert "[/bold]" in result.stdout and "[bold red]MC Lyte[/] :fire:" in result.stdout
    assert not any(raw in result.stdout for raw in RAW)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "tsv"])
def test_machine_formats_keep_hostile_names_exact(cli: Cli, hostile_cache: Path, fmt: str) -> None:
    result = cli("query", "SELECT name, album FROM lookups", "--format", fmt)
    assert (result.exit_code, result.stderr) == (0, "")
    if fmt in ("json", "jsonl"):
        rows = (
            [json.loads(line) for line in result.stdout.splitlines()] if fmt == "jsonl" else json.loads(result.stdout)
        )
        assert rows == [{"name": HOSTILE, "album": "[/bold]"}]
    else:
        assert HOSTILE in result.stdout and "[/bold]" in result.stdout


@pytest.mark.parametrize(
    ("sql", "shown"),
    [
        ("SELECT 'Intro [feat. MC Lyte]' AS name", "Intro [feat. MC Lyte]"),
        ("SELECT '[/bold]' AS name", "[/bold]"),
        ("SELECT '[link=https://example.com]x[/link] :fire:' AS name", "[link=https://example.com]x[/link] :fire:"),
        (
            "SELECT char(27) || ']8;;https://evil.example' || char(7) || 'x' AS name",
            "\\x1b]8;;https://evil.example\\x07x",
        ),
        ('SELECT 1 AS "[/b]"', "[/b]"),
        ('SELECT 1 AS "a\x1b[31mb"', "a\\x1b[31mb"),
    ],
)
def test_query_values_and_column_names_are_data_in_the_table(cli: Cli, db_path: Path, sql: str, shown: str) -> None:
    assert cli("db", "upgrade").exit_code == 0
    result = cli("query", sql)
    assert (result.exit_code, result.stderr) == (0, "")
    assert shown in result.stdout and "\x1b" not in result.stdout


@pytest.mark.parametrize("directory", ["[/b]", "[bold]x", "a\x1b[31mb"])
def test_a_database_path_holding_markup_or_escapes_is_shown_literally_by_stats(
    cli: Cli, workdir: Path, directory: str
) -> None:
    path = workdir / directory / "cache.sqlite3"
    assert cli("db", "upgrade", "--db", str(path)).exit_code == 0
    result = cli("stats", "--db", str(path))
    assert (result.exit_code, result.stderr) == (0, "")
    assert visible(str(path)) in result.stdout and "\x1b" not in result.stdout


# --- stderr ---------------------------------------------------------------------------------------------------------


def test_an_sql_error_echoing_the_statement_is_escaped_on_stderr(cli: Cli, db_path: Path) -> None:
    assert cli("db", "upgrade").exit_code == 0
    result = cli("query", f'SELECT * FROM "{OSC}{CSI}\nx"')
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "Error: SQL error: no such table: \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31m\\nx\n"


def test_input_lines_echoed_in_warnings_are_escaped(cli: Cli, db_path: Path, workdir: Path) -> None:
    (workdir / "codes.txt").write_text(f"{FEW}\nX{OSC}{CSI}\n", encoding="utf-8")
    result = cli("import", "codes.txt")
    assert result.exit_code == 2
    assert result.stderr.startswith("Invalid: line 2: ") and "\\x1b]0;pwned\\x07" in result.stderr
    assert not any(raw in result.stderr for raw in RAW)


def test_every_diagnostic_line_is_escaped_and_stays_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    err(f"Error: Spotify said {OSC}{CSI}\r\nbye\ud800")
    assert capsys.readouterr().err == "Error: Spotify said \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31m\\r\\nbye\\ud800\n"


class _Hostile(BaseHTTPRequestHandler):
    """A Web API that refuses every search with a message holding escape sequences."""

    def do_GET(self) -> None:
        body = json.dumps({"error": {"status": 400, "message": f"bad {OSC}{CSI}request\nforged line"}}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hostile_api(spotify: SpotifyReplica, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tokens from the replica, searches answered by :class:`_Hostile`."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ISRCDB_SPOTIFY_API_URL", f"http://127.0.0.1:{httpd.server_port}/v1")
    yield
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("command", [["lookup", FEW], ["sync"]])
def test_spotifys_error_messages_are_escaped_on_stderr(
    cli: Cli, hostile_api: None, workdir: Path, command: list[str]
) -> None:
    if command == ["sync"]:
        (workdir / "codes.txt").write_text(FEW + "\n")
        assert cli("import", "codes.txt").exit_code == 0
    result = cli(*command)
    assert result.exit_code == 3
    assert "bad \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mrequest\\nforged line" in result.stderr
    assert not any(raw in result.stderr for raw in RAW)
    assert not any(line.startswith("forged line") for line in result.stderr.splitlines())
    assert not any(raw in result.stdout for raw in RAW)


# --- a real terminal ------------------------------------------------------------------------------------------------


def run_on_a_terminal(*args: str, timeout: float = 30) -> tuple[int, str, str]:
    """Run ``python -m isrcdb`` with a pseudo-terminal (250 columns) as stdout; its exit code, screen and stderr."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "250", "LINES": "50"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "isrcdb", *args], stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env
    )
    os.close(slave)
    screen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal's other side was closed, the program is done
                    break
                if not chunk:
                    break
                screen += chunk
            elif process.poll() is not None:
                break
        _, stderr = process.communicate(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return process.returncode, screen.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")


@pytest.mark.parametrize(
    "args",
    [["lookup", FEW, "--offline"], ["query", "SELECT name, artists, album FROM lookups"]],
    ids=["lookup", "query"],
)
def test_on_a_real_terminal_no_escape_sequence_from_the_data_reaches_it(hostile_cache: Path, args: list[str]) -> None:
    code, screen, stderr = run_on_a_terminal(*args)
    assert (code, stderr) == (0, "")
    assert "\x1b[1m" in screen  # the table's own styling (a bold header): the output did take the terminal's path
    assert SHOWN in screen, screen
    for raw in (OSC, CSI, "\x1b]", "\x1b[2J", "\x9b", "\u202e", "\x07"):
        assert raw not in screen


# --- output that cannot be written ----------------------------------------------------------------------------------

# Every command, with what makes it write to standard output.
WRITERS: dict[str, list[str]] = {
    "lookup": ["lookup", FEW, "--offline"],
    "import": ["import", "codes.txt", "--format", "json"],
    "sync": ["sync", "--dry-run", "--format", "json"],
    "query": ["query", "SELECT isrc FROM lookups"],
    "export": ["export"],
    "stats": ["stats"],
    "db-path": ["db", "path"],
    "db-current": ["db", "current"],
    "db-upgrade": ["db", "upgrade"],
    "version": ["--version"],
    "help": ["--help"],
}


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding a few hundred answers, so that an export or a query writes more than a pipe holds."""
    path = tmp_path_factory.mktemp("filled") / "cache.sqlite3"
    from isrcdb.database import open_database

    with contextlib.closing(open_database(path)) as database:
        conn = database.connection()
        conn.executemany(
            "INSERT INTO isrcs (isrc, status, first_seen_at) VALUES (?, 'pending', '2026-01-01T00:00:00Z')",
            [(f"QZSYN26{number:05d}",) for number in range(1, 5001)],
        )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def run_with_stdout(args: list[str], stdout: int, workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "isrcdb", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=60,
        cwd=workdir,
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: {message}"], result.stderr


@pytest.mark.parametrize("command", WRITERS, ids=list(WRITERS))
def test_a_full_disk_on_standard_output_ends_every_command_with_one_error_line(
    workdir: Path, filled: Path, command: str
) -> None:
    if not stat.S_ISCHR(os.stat("/dev/full").st_mode):
        pytest.skip("/dev/full is not the full device on this system")
    shutil.copy(filled, workdir / "isrcdb.sqlite3")
    (workdir / "codes.txt").write_text(FEW + "\n")
    with open("/dev/full", "w") as full:
        result = run_with_stdout(WRITERS[command], full.fileno(), workdir)
    assert_one_error_line(result, "cannot write the output: No space left on device")


@pytest.mark.parametrize("command", WRITERS, ids=list(WRITERS))
def test_a_reader_that_stops_early_ends_every_command_with_one_error_line(
    workdir: Path, filled: Path, command: str
) -> None:
    shutil.copy(filled, workdir / "isrcdb.sqlite3")
    (workdir / "codes.txt").write_text(FEW + "\n")
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first byte is written: every write meets a closed pipe
    try:
        result = run_with_stdout(WRITERS[command], writer, workdir)
    finally:
        os.close(writer)
    assert_one_error_line(result, "the output was closed before everything was written (its reader stopped early)")

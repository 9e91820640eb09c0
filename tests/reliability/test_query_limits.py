"""Limits that really limit: ``query --timeout`` whatever SQLite is doing, a bound on the size of any single value,
and a database that fails in the middle of a read ending every command with exit 4.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from isrcdb import IsrcDB, query
from isrcdb.database.sqlite_query import Watchdog, run_readonly
from isrcdb.query import MAX_VALUE_BYTES
from isrcdb.settings import Settings
from isrcdb.testing.spotify import SpotifyReplica
from tests.conftest import Cli
from tests.reliability.crashkit import synthetic_codes
from tests.reliability.helpers import SEED
from tests.reliability.measure import measured_command, peak_environment, read_peak_mib

MiB = 1024 * 1024


def rows_of(count: int, expression: str) -> str:
    """``count`` rows of ``expression``, evaluated once per row (``x`` keeps SQLite from computing it only once)."""
    return (
        f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {count}) "
        f"SELECT {expression} AS v FROM c"
    )


# 40 calls that each loop 300 million times inside one step of SQLite's virtual machine: before the watchdog, the
# progress handler (every 10,000 steps) never ran and this took a minute with --timeout 1.
EXPENSIVE = rows_of(40, "length(printf('%.*c', 3e8 + x - x, 'x'))")


@pytest.fixture
def empty_cache(cli: Cli, db_path: Path) -> Path:
    assert cli("db", "upgrade").exit_code == 0
    return db_path


def run_measured(*args: str, timeout: float = 60) -> tuple[int, str, str, float, float]:
    """Run ``python -m isrcdb`` as a real process: exit code, stdout, stderr, seconds taken, peak memory in MiB."""
    with tempfile.TemporaryDirectory() as scratch:
        env, peak_file = peak_environment(Path(scratch))
        started = time.monotonic()
        process = subprocess.run(
            measured_command(*args),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        return process.returncode, process.stdout, process.stderr, time.monotonic() - started, read_peak_mib(peak_file)


def test_expensive_calls_between_progress_checks_stop_at_the_timeout(empty_cache: Path) -> None:
    code, stdout, stderr, elapsed, _ = run_measured("query", EXPENSIVE, "--timeout", "1")
    assert (code, stdout) == (2, "")
    assert stderr == (
        "Error: the query ran for more than 1 s and was stopped; give it longer with --timeout SECONDS (0: no limit)\n"
    )
    started = time.monotonic()
    assert run_measured("query", "SELECT 1")[0] == 0
    start_up = time.monotonic() - started
    # The limit, a quarter of a second of grace for the call in progress, and the cost of starting isrcdb.
    assert elapsed < 1 + 0.25 + start_up + 0.75, (elapsed, start_up)


def test_a_call_sqlite_can_interrupt_is_stopped_by_the_watchdog_at_the_timeout(cli: Cli, empty_cache: Path) -> None:
    # 200 rows of a 10 MB string: 60 ms each, 12 s in all; far fewer steps than one progress check needs.
    started = time.monotonic()
    result = cli("query", rows_of(200, "length(printf('%.*c', 1e7 + x - x, 'x'))"), "--timeout", "0.5")
    elapsed = time.monotonic() - started
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("Error: the query ran for more than 0.5 s and was stopped")
    assert elapsed < 1.5


class RecordingConnection(sqlite3.Connection):
    """A connection that notes which thread interrupted it."""

    interrupted_from: list[str]

    def interrupt(self) -> None:
        self.interrupted_from.append(threading.current_thread().name)
        super().interrupt()


def test_the_watchdog_thread_interrupts_the_connection(empty_cache: Path) -> None:
    conn: Any = sqlite3.connect(
        f"{empty_cache.resolve().as_uri()}?mode=ro", uri=True, factory=RecordingConnection, check_same_thread=False
    )
    conn.interrupted_from = []
    with contextlib.closing(conn):
        _, found = run_readonly(conn, rows_of(10**9, "x"), {}, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(query.QueryTimeout):
            for _ in found:
                pass
    assert time.monotonic() - started < 1.5
    assert conn.interrupted_from == ["isrcdb-query-watchdog"]


def test_the_watchdog_leaves_no_thread_behind_and_never_fires_once_disarmed() -> None:
    fired: list[float] = []
    watchdog = Watchdog(lambda: fired.append(time.monotonic()), idle=0.1)
    watchdog.arm(0.2)
    watchdog.disarm()
    time.sleep(0.4)
    assert (fired, watchdog.watching) == ([], False)
    started = time.monotonic()
    watchdog.arm(0.05)
    time.sleep(0.3)
    assert len(fired) == 1 and fired[0] - started < 0.25


@pytest.mark.parametrize(
    "expression",
    [
        "zeroblob(1e9)",
        "randomblob(1e9)",
        "replace(printf('%.*c', 1e6, 'x'), 'x', printf('%.*c', 1000, 'y'))",
        "(SELECT group_concat(printf('%.*c', 1e6, 'x')) FROM c)",
    ],
    ids=["zeroblob", "randomblob", "replace", "group_concat"],
)
def test_a_huge_single_value_is_refused_in_bounded_memory(empty_cache: Path, expression: str) -> None:
    code, stdout, stderr, _, peak = run_measured("query", rows_of(100, expression), "--format", "jsonl")
    assert (code, stdout) == (2, "")
    assert stderr == (
        "Error: a value of the result would be larger than 16 MiB, the most a query may produce; "
        "select less, e.g. with substr() (SQLite: string or blob too big)\n"
    )
    assert peak < 200, peak  # MiB: a gigabyte was asked for


def test_a_value_within_the_limit_is_returned_whole(cli: Cli, empty_cache: Path) -> None:
    result = cli("query", f"SELECT printf('%.*c', {MAX_VALUE_BYTES - 1}, 'x') AS v", "--format", "csv")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "v\n" + "x" * (MAX_VALUE_BYTES - 1) + "\n"


# --- a database corrupt in its middle pages -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real cache holding 300 answers (a few hundred pages), its WAL folded into the file."""
    path = tmp_path_factory.mktemp("template") / "cache.sqlite3"
    with SpotifyReplica() as replica:
        settings = Settings.from_mapping(replica.env()).with_options(database=path, cache_dir=path.parent)
        with IsrcDB(settings=settings) as cache:
            assert {result.status for result in cache.lookup(synthetic_codes(300))} == {"found"}
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def corrupt_middle_pages(path: Path, template: Path) -> None:
    """The first and last quarters of the file intact, the pages between them garbage."""
    shutil.copy(template, path)
    data = bytearray(path.read_bytes())
    pages = len(data) // 4096
    assert pages >= 40
    rng = random.Random(SEED)
    start, end = pages // 4 * 4096, pages * 3 // 4 * 4096
    data[start:end] = bytes(rng.randrange(256) for _ in range(end - start))
    path.write_bytes(bytes(data))


COMMANDS: dict[str, list[str]] = {
    "lookup-offline": ["lookup", "--offline", *synthetic_codes(300)],
    "query": ["query", "SELECT isrc, name, artists, album FROM lookups"],
    "export": ["export"],
    "stats": ["stats"],
    "sync": ["sync", "--all"],
    "import": ["import", "codes.txt"],
}


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
def test_a_database_corrupt_in_its_middle_pages_ends_every_command_with_exit_4(
    cli: Cli, spotify: SpotifyReplica, workdir: Path, template: Path, command: str
) -> None:
    path = workdir / "cache.sqlite3"
    corrupt_middle_pages(path, template)
    (workdir / "codes.txt").write_text("\n".join(synthetic_codes(600)) + "\n")
    result = cli(*COMMANDS[command], "--db", str(path))
    assert result.exit_code == 4, (result.stdout[-300:], result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(path) in errors[0] and "malformed" in errors[0], result.stderr

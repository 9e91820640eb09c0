"""Crashes: SIGKILL at random moments during ``sync``, ``import``, ``lookup`` and database creation.

After every kill the database passes ``integrity_check`` and isrcdb's invariants, every entry committed before the
kill is intact and never searched again, and the next run completes without duplicates (see
:mod:`tests.reliability.crashkit`). The quick trials run by default; ``-m slow`` runs many more, and
``benchmarks/crash_trials.py`` more still. Randomness is seeded (``ISRCDB_TEST_SEED`` replays another seed).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from isrcdb import migrate
from isrcdb.testing.spotify import SpotifyReplica
from tests.reliability.crashkit import Setup, crash_trials, import_codes, stored_codes, synthetic_codes
from tests.reliability.helpers import SEED, assert_sound, table

# command, trials, codes: enough work that a kill lands mid-run (the replica adds 20 ms to every request).
QUICK = [("sync", 2, 160), ("import", 2, 120_000), ("lookup", 2, 150), ("create", 2, 0)]
SLOW = [("sync", 25, 600), ("import", 15, 300_000), ("lookup", 25, 600), ("create", 25, 0)]


def run_trials(tmp_path: Path, command: str, trials: int, codes: int) -> None:
    with SpotifyReplica(latency=0.02, synthetic_not_found=True) as replica:
        setup = Setup.create(tmp_path / command, replica)
        report = crash_trials(command, setup, trials=trials, seed=SEED, codes=codes)
    assert report.problems == [], report.as_dict()
    assert report.killed + report.finished_first == trials
    assert report.killed >= 1, report.as_dict()  # at least one kill landed while the process ran
    assert report.final_exit == (1 if command == "lookup" else 0)


@pytest.mark.parametrize(("command", "trials", "codes"), QUICK, ids=[case[0] for case in QUICK])
def test_sigkill_at_random_moments_loses_nothing_committed_and_the_next_run_completes(
    tmp_path: Path, command: str, trials: int, codes: int
) -> None:
    run_trials(tmp_path, command, trials, codes)


@pytest.mark.slow
@pytest.mark.parametrize(("command", "trials", "codes"), SLOW, ids=[case[0] for case in SLOW])
def test_many_sigkills_lose_nothing_committed_and_the_next_run_completes(
    tmp_path: Path, command: str, trials: int, codes: int
) -> None:
    run_trials(tmp_path, command, trials, codes)


# A process that dies right after the first CREATE TABLE of the migrations of a new database: SIGKILL, or Ctrl-C.
DIE_WHILE_CREATING = textwrap.dedent(
    """
    import os, signal, sys
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    how = sys.argv[1]

    def die(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("CREATE TABLE"):
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise KeyboardInterrupt

    event.listen(Engine, "after_cursor_execute", die)
    sys.argv = ["isrcdb", "db", "upgrade", "--db", sys.argv[2]]
    from isrcdb.cli import main
    main()
    """
)


@pytest.mark.parametrize(("how", "exit_code"), [("kill", -9), ("interrupt", 130)])
def test_a_process_dying_while_it_creates_the_database_leaves_nothing_the_next_run_cannot_open(
    workdir: Path, how: str, exit_code: int
) -> None:
    path = workdir / "new.sqlite3"
    died = subprocess.run(
        [sys.executable, "-c", DIE_WHILE_CREATING, how, str(path)], capture_output=True, text=True, timeout=60
    )
    assert died.returncode == exit_code, died.stderr
    assert "Traceback" not in died.stderr
    assert_sound(path)  # no half-made schema in the database itself (SIGKILL may leave the copy being built)
    opened = subprocess.run(
        [sys.executable, "-m", "isrcdb", "db", "upgrade", "--db", str(path)], capture_output=True, text=True, timeout=60
    )
    assert (opened.returncode, opened.stderr) == (0, "")
    assert_sound(path)
    assert table(path, "SELECT count(*) FROM isrcs") == [(0,)]
    assert list(workdir.glob(".new.sqlite3.creating*")) == []  # the next run replaced and removed that copy


DIE_WHILE_UPGRADING = DIE_WHILE_CREATING.replace(
    'startswith("CREATE TABLE")', 'startswith(("CREATE", "DROP", "ALTER"))'
)


def test_a_process_killed_while_it_upgrades_an_older_database_leaves_one_the_next_run_upgrades(
    workdir: Path,
) -> None:
    path = workdir / "old.sqlite3"
    migrate.upgrade(path, migrate.REVISIONS[0])
    died = subprocess.run(
        [sys.executable, "-c", DIE_WHILE_UPGRADING, "kill", str(path)], capture_output=True, text=True, timeout=60
    )
    assert died.returncode == -signal.SIGKILL
    opened = subprocess.run(
        [sys.executable, "-m", "isrcdb", "db", "upgrade", "--db", str(path)], capture_output=True, text=True, timeout=60
    )
    assert (opened.returncode, opened.stderr) == (0, "")


@pytest.mark.parametrize("command", ["lookup", "import"])
def test_ctrl_c_mid_run_exits_130_with_whole_lines_and_a_sound_database(
    replica: Callable[..., SpotifyReplica], workdir: Path, db_path: Path, command: str
) -> None:
    replica(latency=0.01)
    codes = synthetic_codes(150) if command == "lookup" else import_codes(60_000)
    (workdir / "codes.txt").write_text("\n".join(codes) + "\n")
    args = ["lookup", "--file", "codes.txt", "--format", "jsonl"] if command == "lookup" else ["import", "codes.txt"]
    process = subprocess.Popen(
        [sys.executable, "-m", "isrcdb", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not stored_codes(db_path) and time.monotonic() < deadline:  # the work has begun
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    # 130; or -2 (130 to a shell) when the signal lands as the interpreter shuts down, the work done
    assert process.returncode in (130, -signal.SIGINT), stderr
    assert stderr.endswith("Interrupted.\n") or process.returncode == -signal.SIGINT
    assert "Traceback" not in stderr
    assert all(json.loads(line) for line in stdout.splitlines())
    assert_sound(db_path)
    assert len(stored_codes(db_path)) < len(codes)
    finished = subprocess.run([sys.executable, "-m", "isrcdb", *args], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert stored_codes(db_path) == set(codes)

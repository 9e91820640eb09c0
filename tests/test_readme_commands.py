"""Every shell command of the README runs as written, in order, as a new user following it would run it.

The commands are read from the README's ``sh`` blocks, so a new or changed command is checked without touching this
file. They run in bash against the local replica and a fresh database in a temporary directory that holds the
files the README's examples name (``codes.txt``, ``catalogue.csv``). Only what cannot run here is skipped, each
with its reason: installing packages, servers that run until stopped, the team's PostgreSQL server, the suite
itself.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from isrcdb.testing.spotify import SpotifyReplica
from tests.conftest import replica_environment

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"

FIRST_INSTALL = "python3 -m pip install . && "
"""The quick start installs from the clone before it runs: here the package is installed already."""

SKIPPED = [
    ("python3 -m pip install", "installs packages (this environment has them installed)"),
    ("python3 -m pytest", "runs the test suite itself"),
    ("benchmarks/run.py", "the benchmarks take minutes; tests/test_benchmarks.py runs them"),
    ("isrcdb-spotify-replica --port", "serves until Ctrl-C; tests/test_cli_surface.py checks what it prints"),
    ("isrcdb datasette", "serves until stopped; tests/test_datasette.py runs it"),
    ("postgresql://", "needs the team's PostgreSQL server named in the example"),
]


def readme_commands() -> list[tuple[int, str, str | None]]:
    """(block number, command line, reason to skip it) for every line of every ``sh`` block of the README."""
    blocks = re.findall(r"^```sh\n(.*?)^```", README.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    commands = []
    for number, block in enumerate(blocks):
        postgresql = "postgresql://" in block
        for line in block.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            line = line.replace(FIRST_INSTALL, "", 1) if line.startswith(FIRST_INSTALL) else line
            reason = next((why for what, why in SKIPPED if what in line), None)
            if postgresql and reason is None:
                reason = "part of the shared-cache example, which needs the team's PostgreSQL server"
            commands.append((number, line, reason))
    return commands


COMMANDS = readme_commands()


@pytest.fixture(scope="module")
def follower(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new user's directory: the files the README's examples read, a fresh cache, the replica as Spotify."""
    root = tmp_path_factory.mktemp("readme")
    (root / "codes.txt").write_text("USRC17607839\nFRZ039800212\nQZSYN2400001\n", encoding="utf-8")
    (root / "catalogue.csv").write_text(
        'Title,"Artist, main",ISRC\nPaper Lanterns,The Velvet Harbour,USRC17607839\nSoleil,Marchand,FRZ039800212\n',
        encoding="utf-8",
    )
    replica: SpotifyReplica
    with replica_environment(root, root / "isrcdb.sqlite3") as replica:
        os.environ["XDG_DATA_HOME"] = str(root / "xdg-data")
        assert replica.api_url
        yield root


def test_the_readme_has_commands_to_check() -> None:
    assert len([command for command in COMMANDS if command[2] is None]) >= 20, COMMANDS


@pytest.mark.parametrize(
    ("block", "line", "reason"), COMMANDS, ids=[f"{block}:{line[:60]}" for block, line, _ in COMMANDS]
)
def test_every_readme_command_runs_as_written(follower: Path, block: int, line: str, reason: str | None) -> None:
    if reason is not None:
        pytest.skip(reason)
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", line], cwd=follower, capture_output=True, text=True, timeout=120
    )
    # 1 is an answer, not a failure: "some codes not found on Spotify" (the README's second code is not in the
    # replica's sample catalogue).
    assert result.returncode in (0, 1), f"{line}\nexit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    assert "Error" not in result.stderr, result.stderr

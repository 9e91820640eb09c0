"""Shared fixtures: an isolated environment, a running local Spotify replica, and ways to run the CLI.

Every test runs in its own temporary working directory with its own database, token cache and data directories,
and with none of the user's isrcdb or Spotify variables, so nothing leaks between tests or from the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from isrcdb.cli import app
from isrcdb.settings import ENV_VARS
from isrcdb.testing.spotify import SpotifyReplica
from tests import postgresql

# Every variable isrcdb reads, so that none set on the machine reaches a test.
CLEARED = (*ENV_VARS, "CLIENT_ID", "CLIENT_SECRET")


DATABASES = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "databases: run each test on both stores, SQLite and PostgreSQL (the workdir's ISRCDB_DATABASE)"
    )
    config.addinivalue_line("markers", "sqlite_only: a test of SQLite's files, inside a module run on both stores")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``databases`` (a module's ``pytestmark``) run once per store, unless marked ``sqlite_only``."""
    if "database_kind" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("databases") and not metafunc.definition.get_closest_marker(
        "sqlite_only"
    ):
        metafunc.parametrize("database_kind", DATABASES, indirect=True)


def pytest_report_header(config: pytest.Config) -> str:
    url = postgresql.server_url()
    return f"PostgreSQL tests: {postgresql.redacted(url)}" if url else postgresql.HOW_TO_RUN


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    postgresql.finish()


@pytest.fixture
def database_kind(request: pytest.FixtureRequest) -> str:
    """Which store the test's cache is in: ``sqlite`` unless the test runs on both (see ``databases``)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_kind: str) -> Path:
    """A clean environment: temporary cwd, database, cache and data directories; no user configuration.

    The database is a file in the directory, or, for a test run on PostgreSQL, a fresh database on the server.
    """
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    if database_kind == "postgresql":
        monkeypatch.setenv("ISRCDB_DATABASE", postgresql.server().new_database())
    else:
        monkeypatch.setenv("ISRCDB_DATABASE", str(tmp_path / "isrcdb.sqlite3"))
    monkeypatch.setenv("ISRCDB_READ_TIMEOUT", "10")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def db_path(workdir: Path) -> Any:
    """Where the test's cache is: the SQLite file's path, or the PostgreSQL database's URL (see tests/dbtools.py)."""
    location = os.environ["ISRCDB_DATABASE"]
    return location if location.startswith("postgresql://") else Path(location)


@pytest.fixture
def spotify(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SpotifyReplica]:
    """A local Spotify replica (development profile, sample catalogue), with isrcdb pointed at it."""
    with SpotifyReplica() as replica:
        for name, value in replica.env().items():
            monkeypatch.setenv(name, value)
        yield replica


@pytest.fixture
def replica(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., SpotifyReplica]]:
    """Start a replica with the given options and point isrcdb (this process and its children) at it."""
    started: list[SpotifyReplica] = []

    def start(**options: Any) -> SpotifyReplica:
        server = SpotifyReplica(**options).start()
        started.append(server)
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        return server

    yield start
    for server in started:
        server.stop()


@contextlib.contextmanager
def replica_environment(root: Path, database: Path) -> Iterator[SpotifyReplica]:
    """For module-scoped fixtures: the isolated environment of ``workdir`` and ``spotify``, rooted at ``root``."""
    with pytest.MonkeyPatch.context() as env, SpotifyReplica() as replica:
        for name in CLEARED:
            env.delenv(name, raising=False)
        env.setenv("XDG_CACHE_HOME", str(root / "xdg-cache"))
        env.setenv("ISRCDB_DATABASE", str(database))
        for name, value in replica.env().items():
            env.setenv(name, value)
        env.chdir(root)
        yield replica


class Cli:
    """Runs ``isrcdb`` in-process with Typer's CliRunner; stdout and stderr stay separate."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Any:
        return self.runner.invoke(app, list(args), input=input, catch_exceptions=False)

    def json(self, *args: str, input: str | None = None, code: int | None = 0) -> Any:
        result = self(*args, "--format", "json", input=input)
        if code is not None:
            assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        return json.loads(result.stdout)


@pytest.fixture
def cli(workdir: Path) -> Cli:
    return Cli()


def run_isrcdb(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m isrcdb`` as a real process, with the current (test) environment plus ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "isrcdb", *args],
        env={**os.environ, **(env or {})},
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )

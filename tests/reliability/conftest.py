"""Fixtures for the reliability tests: replicas started with any options.

The fixtures of ``tests/conftest.py`` (``workdir``, ``db_path``, ``spotify``, ``cli``) apply here too: every test
runs in its own directory, with its own database and token cache, pointed at a local replica.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from isrcdb.testing.spotify import SpotifyReplica


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

"""Fixtures of the reliability tests: a hostile Spotify of the tests' own (see hostile_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.hostile_server import HostileServer


@pytest.fixture
def hostile(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    """A hostile Spotify, with isrcdb (this process and its children) pointed at it."""
    with HostileServer() as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server

"""pytest fixtures for code that calls Spotify's Web API: a local replica of Spotify, with the environment set.

Installed with isrcdb and loaded by pytest on its own (a ``pytest11`` entry point), so any test can ask for:

* ``spotify_replica``: a replica of Spotify's accounts service and Web API on 127.0.0.1 (see
  :class:`isrcdb.testing.spotify.SpotifyReplica`), running for one test, with ``SPOTIFY_CLIENT_ID``,
  ``SPOTIFY_CLIENT_SECRET``, ``ISRCDB_SPOTIFY_API_URL`` and ``ISRCDB_SPOTIFY_TOKEN_URL`` pointing at it. Its
  options come from the marker ``@pytest.mark.spotify_replica(profile="extended", rate_limit=5, ...)``. Script
  faults with ``spotify_replica.inject("429", 2, retry_after=1)``; read counters with ``search_count()``, ``stats()``.
* ``spotify_replica_factory``: ``spotify_replica_factory(**options)`` starts another replica (latency, rate limit,
  profile, catalogue...) and points the environment at it; each is stopped after the test.

isrcdb's access-token cache goes to the test's temporary directory (``ISRCDB_CACHE_DIR``), so a test never reads
or writes the user's. pytest imports this module in every run of every project that has isrcdb installed, so it
imports the replica only when a test asks for a fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from isrcdb.testing.spotify import SpotifyReplica

MARKER = "spotify_replica"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): options of the spotify_replica fixture's SpotifyReplica "
        "(profile, latency, rate_limit, rate_window, catalogue, token_expires_in, ...)",
    )


@pytest.fixture
def spotify_replica_factory(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., SpotifyReplica]]:
    """``spotify_replica_factory(**options)``: start a Spotify replica and point the environment at it.

    The options are :class:`~isrcdb.testing.spotify.SpotifyReplica`'s. The replica started last is the one the
    environment names; all are stopped after the test.
    """
    from isrcdb.testing.spotify import SpotifyReplica

    started: list[SpotifyReplica] = []
    token_cache: list[Path] = []

    def start(**options: Any) -> SpotifyReplica:
        replica = SpotifyReplica(**options).start()
        started.append(replica)
        if not token_cache:
            token_cache.append(tmp_path_factory.mktemp("spotify-token-cache"))
            monkeypatch.setenv("ISRCDB_CACHE_DIR", str(token_cache[0]))
        for name, value in replica.env().items():
            monkeypatch.setenv(name, value)
        return replica

    try:
        yield start
    finally:
        for replica in started:
            replica.stop()


@pytest.fixture
def spotify_replica(
    request: pytest.FixtureRequest, spotify_replica_factory: Callable[..., SpotifyReplica]
) -> SpotifyReplica:
    """A running Spotify replica, with the environment pointing at it (options: the ``spotify_replica`` marker)."""
    marker = request.node.get_closest_marker(MARKER)
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    return spotify_replica_factory(**options)

"""The pytest plugin: ``spotify_replica`` and ``spotify_replica_factory``, loaded through isrcdb's ``pytest11`` entry
point, run inside a separate pytest session (``pytester``) the way a project that installs isrcdb would use them."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.conftest import CLEARED

pytest_plugins = ["pytester"]

README = Path(__file__).parent.parent / "README.md"


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """None of the machine's isrcdb or Spotify settings, and no user cache or data directory, reach the session."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


def readme_example() -> str:
    """The Python example of the README's section on testing your own code against the replica."""
    section = README.read_text(encoding="utf-8").split("## Testing your own code against the replica\n", 1)[1]
    found = re.search(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.DOTALL)
    assert found, "the README's testing section has no Python example"
    return found.group(1)


def test_the_plugin_is_registered_through_a_pytest11_entry_point() -> None:
    plugins = {entry.name: entry.value for entry in entry_points(group="pytest11")}
    assert plugins.get("isrcdb") == "isrcdb.testing.pytest_plugin"


def test_the_readmes_example_passes(pytester: pytest.Pytester, clean: None) -> None:
    pytester.makepyfile(test_catalogue=readme_example())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", timeout=120)
    result.assert_outcomes(passed=3)


def test_a_fault_injected_through_the_fixture_reaches_the_code_under_test(
    pytester: pytest.Pytester, clean: None
) -> None:
    pytester.makepyfile(
        """
        import os
        import requests

        def test_a_503_then_an_answer(spotify_replica):
            spotify_replica.inject("503", 1, route="search")
            token = requests.post(
                os.environ["ISRCDB_SPOTIFY_TOKEN_URL"],
                data={"grant_type": "client_credentials"},
                auth=(os.environ["SPOTIFY_CLIENT_ID"], os.environ["SPOTIFY_CLIENT_SECRET"]),
                timeout=5,
            ).json()["access_token"]
            search = {"q": "isrc:USRC17607839", "type": "track"}
            url = os.environ["ISRCDB_SPOTIFY_API_URL"] + "/search"
            headers = {"Authorization": "Bearer " + token}
            first = requests.get(url, params=search, headers=headers, timeout=5)
            second = requests.get(url, params=search, headers=headers, timeout=5)
            assert (first.status_code, second.status_code) == (503, 200)
            assert second.json()["tracks"]["total"] == 3
            assert spotify_replica.search_count("USRC17607839") == 2
            assert spotify_replica.pending_faults() == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1)


def test_the_marker_and_the_factory_choose_the_replicas_options(pytester: pytest.Pytester, clean: None) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.spotify_replica(profile="extended", token_expires_in=60)
        def test_the_marker(spotify_replica):
            assert spotify_replica.config()["profile"] == "extended"
            assert spotify_replica.config()["token_expires_in"] == 60

        def test_no_marker_means_the_defaults(spotify_replica):
            assert spotify_replica.config()["profile"] == "development"

        def test_the_factory_points_the_environment_at_the_last_replica(spotify_replica_factory):
            slow = spotify_replica_factory(latency=0.01)
            limited = spotify_replica_factory(rate_limit=3)
            assert slow.latency == 0.01 and limited.config()["rate_limit"] == 3
            assert os.environ["ISRCDB_SPOTIFY_API_URL"] == limited.api_url
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", timeout=120)
    result.assert_outcomes(passed=3)


def test_each_replica_stops_and_the_environment_is_restored_after_its_test(
    pytester: pytest.Pytester, clean: None
) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest
        import requests

        seen = []

        def test_uses_a_replica_and_the_token_cache(spotify_replica, tmp_path):
            from isrcdb import IsrcDB

            seen.append(spotify_replica)
            with IsrcDB(tmp_path / "cache.sqlite3") as cache:
                assert cache.lookup(["USRC17607839"])[0].status == "found"
            seen.append(os.environ["ISRCDB_CACHE_DIR"])
            assert [path.name.startswith("token-") for path in os.scandir(os.environ["ISRCDB_CACHE_DIR"])] == [True]

        def test_afterwards():
            replica, cache_dir = seen
            assert not replica.running
            with pytest.raises(requests.ConnectionError):
                requests.get(replica.root_url, timeout=5)
            names = ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "ISRCDB_SPOTIFY_API_URL", "ISRCDB_CACHE_DIR")
            assert [name for name in names if name in os.environ] == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=2)


def test_without_the_plugin_the_fixture_does_not_exist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(spotify_replica):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:isrcdb", timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'spotify_replica' not found*"])


def test_loading_the_plugin_leaves_the_replica_unimported() -> None:
    # pytest loads the plugin in every run of every project with isrcdb installed: it must stay cheap.
    probe = (
        "import sys, isrcdb.testing.pytest_plugin; "
        "print(sorted(name for name in sys.modules if name.startswith('isrcdb.testing.spotify')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout == "[]\n"

"""The Python API as other people's code uses it: typed, documented, shareable between threads, quiet about the CLI.

The examples of docs/api.md and the README's Python API section are run here, and checked by mypy --strict as a
user's script would be.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import isrcdb
from isrcdb import (
    AuthError,
    ConfigError,
    DatabaseError,
    InvalidIsrc,
    IsrcDB,
    IsrcdbError,
    MissingCredentials,
    OutputError,
    QueryTimeout,
    RateLimited,
    Settings,
    SpotifyError,
    UsageError,
)
from isrcdb.cli.common import exit_code_for
from isrcdb.testing.spotify import SpotifyReplica
from tests.conftest import Cli
from tests.dbtools import rows

ROOT = Path(__file__).resolve().parent.parent
API_DOC = ROOT / "docs" / "api.md"
FEW, NONE = "USRC17607839", "GBAAA0000001"


def python_blocks(path: Path, section: str | None = None) -> list[str]:
    """The ```python blocks of a Markdown file (of one ``## section`` only, if named)."""
    text = path.read_text(encoding="utf-8")
    if section is not None:
        text = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def test_the_api_examples_run_against_the_replica(spotify: SpotifyReplica, workdir: Path) -> None:
    script = workdir / "example.py"
    script.write_text("\n".join(python_blocks(API_DOC)), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    assert f"{isrcdb.__version__}\n" in done.stdout
    assert "Move it aside or choose another database." in done.stdout
    assert spotify.stats()["tokens_issued"] >= 1


def test_the_readme_example_runs_against_the_replica(spotify: SpotifyReplica, workdir: Path) -> None:
    script = workdir / "readme.py"
    script.write_text("\n".join(python_blocks(ROOT / "README.md", "Python API")), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    assert f"{FEW} found Paper Lanterns" in done.stdout


def mypy(workdir: Path, name: str, code: str) -> subprocess.CompletedProcess[str]:
    script = workdir / name
    script.write_text(code, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull, str(script)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mypy_strict_accepts_the_documented_examples_and_catches_a_misspelt_option(workdir: Path) -> None:
    examples = [*python_blocks(ROOT / "README.md", "Python API"), *python_blocks(API_DOC)]
    good = mypy(workdir, "user_script.py", "\n".join(examples))
    assert good.returncode == 0, good.stdout
    bad = mypy(
        workdir,
        "misspelt.py",
        "from isrcdb import IsrcDB, LookupResult\n"
        "with IsrcDB('catalogue.sqlite3') as cache:\n"
        "    results: list[LookupResult] = cache.lookup(['USRC17607839'], ofline=True)\n"
        "    status: int = results[0].status\n",
    )
    assert bad.returncode == 1
    assert 'Unexpected keyword argument "ofline" for "lookup" of "IsrcDB"; did you mean "offline"?' in bad.stdout
    assert 'Incompatible types in assignment (expression has type "Literal[' in bad.stdout  # status is typed


def test_a_misspelt_option_fails_at_run_time_with_a_type_error(workdir: Path) -> None:
    with IsrcDB("catalogue.sqlite3") as cache, pytest.raises(TypeError, match="ofline"):
        cache.lookup([FEW], ofline=True)  # type: ignore[call-arg]
    with IsrcDB("catalogue.sqlite3") as cache, pytest.raises(TypeError):
        cache.lookup([FEW], True)  # type: ignore[call-arg]  # options are keyword-only


def test_every_public_name_is_exported_and_documented() -> None:
    documented = API_DOC.read_text(encoding="utf-8")
    for name in isrcdb.__all__:
        assert getattr(isrcdb, name) is not None
        assert f"`{name}" in documented or (name == "__version__" and "isrcdb.__version__" in documented), name
    assert "Settings" in isrcdb.__all__ and all(
        name in isrcdb.__all__ for name in ("IsrcdbError", "SpotifyError", "DatabaseError", "RateLimited")
    )


@pytest.mark.databases
def test_sixteen_threads_share_one_isrcdb_looking_up_and_storing_at_once(spotify: SpotifyReplica, db_path: Any) -> None:
    shared = [FEW, NONE, "FRZ039800212"]  # every thread asks for these: each must be searched once in all
    own = {n: [f"QZSYN27{n:03d}{i:02d}" for i in range(12)] for n in range(16)}
    start = threading.Barrier(16)
    answers: dict[int, list[tuple[str, str]]] = {}
    failures: list[BaseException] = []

    with IsrcDB() as cache:

        def work(n: int) -> None:
            try:
                start.wait(timeout=30)
                results = cache.lookup([*shared, *own[n]])
                results += cache.lookup(own[n])  # and again: now from the cache
                answers[n] = [(result.isrc, result.status) for result in results]
            except BaseException as exc:  # reported below, with the thread's number
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert failures == []
    assert sorted(answers) == list(range(16))
    for n, got in answers.items():
        expected = [(FEW, "found"), (NONE, "not_found"), ("FRZ039800212", "found")]
        assert got == expected + [(code, "found") for code in own[n]] * 2
    searched = spotify.stats()["searches_by_isrc"]
    assert {code: searched[code] for code in shared} == {FEW: 1, NONE: 1, "FRZ039800212": 2}  # its 2 pages, once
    assert all(searched[code] == 1 for codes in own.values() for code in codes)
    assert spotify.stats()["tokens_issued"] == 1  # one client, one token, for every thread
    stored = rows(db_path, "SELECT status, count(*) FROM isrcs GROUP BY status ORDER BY status")
    assert stored == [("found", 2 + 16 * 12), ("not_found", 1)]
    claimed = rows(db_path, "SELECT count(*) FROM isrcs WHERE claimed_by IS NOT NULL")
    assert claimed == [(0,)]


def test_the_library_reads_no_dotenv_but_from_env_does(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / ".env").write_text("SPOTIFY_CLIENT_ID=from-dotenv\nISRCDB_TTL=3d\n", encoding="utf-8")
    monkeypatch.setenv("ISRCDB_TTL", "5d")
    with IsrcDB("catalogue.sqlite3") as plain:
        assert (plain.settings.client_id, plain.settings.ttl.days) == (None, 5)
    with IsrcDB.from_env("catalogue.sqlite3") as like_the_cli:
        assert (like_the_cli.settings.client_id, like_the_cli.settings.ttl.days) == ("from-dotenv", 5)
    with IsrcDB.from_env(dotenv=None) as without_file:
        assert without_file.settings.client_id is None


def test_library_messages_name_python_options_and_the_cli_names_its_flags(
    cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with IsrcDB("catalogue.sqlite3") as cache:
        (offline,) = cache.lookup([FEW], offline=True)
        assert offline.error == "not in the cache, and offline=True does not ask Spotify"
        (missing,) = cache.lookup([FEW])  # a lookup reports what stops it in each result
    assert (missing.status, missing.error) == (
        "error",
        "no Spotify credentials: set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET in the environment, or pass "
        "Settings(client_id=..., client_secret=...) (or use offline=True to answer from the cache only)",
    )

    (shown,) = cli.json("lookup", FEW, "--offline", code=3)
    assert shown["error"] == "not in the cache, and --offline does not ask Spotify"
    result = cli("lookup", FEW)
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        3,
        "Error: no Spotify credentials: set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET in the environment or in a "
        ".env file in the working directory (or use --offline to answer from the cache only)",
    )
    # The CLI's wording ends with its command: the library's comes back afterwards.
    with IsrcDB("catalogue.sqlite3") as cache:
        assert cache.lookup([FEW], offline=True)[0].error == offline.error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("bad"), 2),
        (ConfigError("bad setting"), 2),
        (InvalidIsrc("X", "too short"), 2),
        (QueryTimeout("slow"), 2),
        (SpotifyError("down"), 3),
        (AuthError("refused", status=401), 3),
        (RateLimited(60.0), 3),
        (MissingCredentials("none"), 3),
        (DatabaseError("corrupt"), 4),
        (OutputError("disk full"), 4),
        (IsrcdbError("anything else"), 4),
    ],
)
def test_library_errors_carry_no_exit_code_and_the_cli_maps_them(error: IsrcdbError, code: int) -> None:
    assert not hasattr(error, "exit_code")
    assert exit_code_for(error) == code


def test_import_codes_and_sync_report_progress_and_return_typed_summaries(spotify: SpotifyReplica) -> None:
    codes = [f"QZSYN28{n:05d}" for n in range(25)]
    seen: list[tuple[int, int]] = []
    with IsrcDB() as cache:
        report = cache.import_codes([*codes, codes[0], "not a code"])
        assert (report.read, report.added, report.invalid, report.source) == (27, 25, 1, "<values>")
        assert cache.sync(dry_run=True).due == 25
        summary = cache.sync(concurrency=4, on_progress=lambda so_far: seen.append((so_far.handled, so_far.due)))
        stopped = threading.Event()
        stopped.set()
        again = cache.sync(older_than=timedelta(0), stop=stopped)
    assert (summary.status, summary.found, summary.requests, summary.remaining) == ("complete", 25, 25, 0)
    handled = [count for count, _ in seen]  # after each stored batch of answers
    assert handled == sorted(set(handled)) and seen[-1] == (25, 25) and {due for _, due in seen} == {25}
    assert again.status == "interrupted" and again.found == 0
    with pytest.raises(ConfigError, match="between 1 and 32"), IsrcDB() as cache:
        cache.sync(concurrency=0)


def test_settings_are_exported_and_keep_the_secret_out_of_their_repr() -> None:
    settings = Settings(client_id="an-id", client_secret="a-secret-value")
    assert "a-secret-value" not in repr(settings)
    assert isinstance(settings, isrcdb.Settings)

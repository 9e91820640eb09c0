"""Answers from a hostile network, through the real CLI: each ends in a clear error for that code, in bounded time
and memory, and is never stored as an answer.

The server (``hostile_server.py``) trickles answers a byte at a time, sends endless bodies and gzip bombs,
redirects elsewhere, and hands out tokens no header can carry with absurd lifetimes. Runs whose time or memory is
the point are real processes, measured (``measured_run``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from isrcdb.spotify.auth import MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME
from tests.conftest import Cli
from tests.reliability.helpers import assert_sound, statuses, table, without_created_note
from tests.reliability.hostile_server import HostileServer, measured_run

CODES = ["GBAAA0000001", "GBAAA0000002", "GBAAA0000003", "GBAAA0000004", "GBAAA0000005"]
MARK = "SNEAKY"
"""In every bad token, so that any trace of one is found."""
MEMORY_HEADROOM_MB = 40.0
"""Peak memory a hostile answer may add to a normal run: the 8 MiB limit, and the decoded copy of it, with margin."""


def assert_an_error_for_that_code(db_path: Path, code: str, error: str) -> None:
    """The code is pending, its last error says why; nothing is half-written."""
    assert_sound(db_path)
    ((status, last_error),) = table(db_path, "SELECT status, last_error FROM isrcs WHERE isrc = ?", code)
    assert status == "pending"
    assert error in last_error


# --- the deadline -------------------------------------------------------------------------------------------------

DEADLINE = {"ISRCDB_REQUEST_DEADLINE": "1s", "ISRCDB_READ_TIMEOUT": "2s"}
"""A byte every 0.1 s never trips a 2 s read timeout: only the 1 s deadline can end these answers."""
DEADLINE_BOUND = 10.0
"""Seconds such a run may take: start-up, one second of deadline, margin for a loaded machine."""


@pytest.mark.parametrize(
    ("route", "mode"),
    [("search", "drip-body"), ("search", "drip-headers"), ("token", "drip-body")],
    ids=["search-body", "search-headers", "token-body"],
)
def test_a_slow_drip_answer_hits_the_deadline(hostile: HostileServer, db_path: Path, route: str, mode: str) -> None:
    if route == "search":
        hostile.plan.search = mode
    else:
        hostile.plan.token_mode = mode
    run = measured_run("lookup", CODES[0], timeout=30, **DEADLINE)
    assert run.seconds < DEADLINE_BOUND
    assert run.exit_code == 3, run.stderr
    message = "Spotify's answer did not come whole within the 1 s deadline"
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert hostile.requests[route] == 1  # not retried: that would multiply the wait
    assert_an_error_for_that_code(db_path, CODES[0], message)


# --- the size limit -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["endless", "gzip-bomb"])
def test_an_endless_or_exploding_answer_is_refused_at_the_size_limit_in_bounded_memory(
    hostile: HostileServer, db_path: Path, mode: str
) -> None:
    normal = measured_run("lookup", CODES[0])
    assert normal.exit_code == 1, normal.stderr
    hostile.plan.search = mode
    run = measured_run("lookup", CODES[1])
    assert run.exit_code == 3, run.stderr
    assert run.seconds < DEADLINE_BOUND  # the limit ends it, not the 60 s deadline
    assert run.peak_mb < normal.peak_mb + MEMORY_HEADROOM_MB, (run.peak_mb, normal.peak_mb)
    message = "is larger than 8 MiB; it was not read further"
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert statuses(db_path) == {CODES[0]: "not_found", CODES[1]: "pending"}
    assert_an_error_for_that_code(db_path, CODES[1], message)


# --- redirects ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["search", "token"])
def test_a_redirect_to_another_host_is_not_followed(
    cli: Cli, hostile: HostileServer, db_path: Path, route: str
) -> None:
    with HostileServer() as elsewhere:  # would answer "no track": followed, the code would be stored as not found
        if route == "search":
            hostile.plan.search = "redirect"
            hostile.plan.redirect_to = f"{elsewhere.url}/v1/search"
        else:
            hostile.plan.token_mode = "redirect"
            hostile.plan.redirect_to = f"{elsewhere.url}/api/token"
        result = cli("lookup", CODES[0])
        assert sum(elsewhere.requests.values()) == 0
    assert result.exit_code == 3, result.stderr
    message = "Spotify answered 302, a redirect, which is not followed"
    assert message in result.stderr
    assert_an_error_for_that_code(db_path, CODES[0], message)


# --- the access token ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (f"{MARK}\r\nX-Injected: yes", "an access token holding characters a header cannot carry"),
        (f"{MARK}\x1b]0;owned\x07\x1b[2J", "an access token holding characters a header cannot carry"),
        (f"{MARK}-tökén", "an access token holding characters a header cannot carry"),
        (f"{MARK} with spaces", "an access token holding characters a header cannot carry"),
        (MARK * 1000, "an access token 6000 characters long (at most 4096)"),
        ("", "the token endpoint's answer has no bearer access_token"),
    ],
    ids=["line-break", "control-characters", "non-ascii", "spaces", "too-long", "empty"],
)
def test_a_token_that_a_header_cannot_carry_is_refused_and_never_shown(
    hostile: HostileServer, workdir: Path, db_path: Path, token: str, error: str
) -> None:
    hostile.plan.token = token
    run = measured_run("-vv", "lookup", CODES[0], "--format", "json")  # -vv: every request logged
    assert run.exit_code == 3, run.stderr
    last_line = run.stderr.splitlines()[-1]
    assert last_line.startswith("Error: the token endpoint")
    assert error in last_line
    assert MARK not in run.stdout + run.stderr
    assert hostile.requests["search"] == 0  # the token was never sent
    for path in workdir.rglob("*"):  # the database, its journal, the token cache: nothing holds it
        if path.is_file():
            assert MARK.encode() not in path.read_bytes(), path
    assert statuses(db_path).get(CODES[0]) in (None, "pending")


@pytest.mark.parametrize(
    "expires_in",
    ["0", "-1", "30", "59", "1" + "0" * 400, "1e400", "Infinity", "-Infinity", "NaN", '"3600"', "null", "true"],
    ids=["0", "negative", "30s", "59s", "10^400", "1e400", "Infinity", "-Infinity", "NaN", "string", "null", "true"],
)
def test_an_absurd_expires_in_neither_crashes_nor_costs_a_token_per_search(
    cli: Cli, hostile: HostileServer, workdir: Path, db_path: Path, expires_in: str
) -> None:
    hostile.plan.expires_in = expires_in
    first = cli("lookup", *CODES[:3])
    assert first.exit_code == 1, first.stderr
    second = cli("lookup", *CODES[3:])  # another run: the cached token is still good
    assert second.exit_code == 1, second.stderr
    assert set(statuses(db_path).values()) == {"not_found"}
    assert (hostile.requests["token"], hostile.requests["search"]) == (1, 5)
    (token_file,) = (workdir / "xdg-cache" / "isrcdb").glob("token-*.json")
    lifetime = json.loads(token_file.read_text())["expires_at"] - time.time()
    assert MIN_TOKEN_LIFETIME - 60 < lifetime <= MAX_TOKEN_LIFETIME


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SPOTIFY_CLIENT_ID", "client-idé"),
        ("SPOTIFY_CLIENT_SECRET", "秘密-secret"),
        ("SPOTIFY_CLIENT_SECRET", "tab\tinside"),
        ("SPOTIFY_CLIENT_SECRET", "line\x1b[2Jcontrol"),
        ("SPOTIFY_CLIENT_ID", "undecodable-\udcff"),  # a byte that is not UTF-8, as os.environ holds it
    ],
    ids=["id-latin-1", "secret-cjk", "secret-tab", "secret-control", "id-undecodable"],
)
def test_a_client_id_or_secret_basic_auth_cannot_carry_is_refused_naming_the_variable(
    cli: Cli, hostile: HostileServer, monkeypatch: pytest.MonkeyPatch, db_path: Path, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    result = cli("lookup", CODES[0])
    assert result.exit_code == 3
    assert without_created_note(result.stderr).startswith(
        f"Error: {name} holds a character that is not printable ASCII"
    )
    assert result.stderr.endswith(f"check {name}\n")
    assert value not in result.stderr + result.stdout
    assert hostile.requests["token"] == 0
    assert statuses(db_path).get(CODES[0]) in (None, "pending")


@pytest.mark.parametrize("mode", ["endless", "gzip-bomb", "redirect"])
def test_a_sync_against_hostile_answers_stores_no_code_as_not_found(
    cli: Cli, hostile: HostileServer, db_path: Path, mode: str
) -> None:
    hostile.plan.search = mode
    hostile.plan.redirect_to = "http://127.0.0.1:9/v1/search"  # never reached: redirects are not followed
    assert cli("import", "-", input="\n".join(CODES)).exit_code == 0
    result = cli("sync", "--format", "json", "--concurrency", "2")
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert set(statuses(db_path).values()) == {"pending"}
    assert_sound(db_path)
    errors = table(db_path, "SELECT last_error FROM isrcs WHERE last_error IS NOT NULL")
    assert errors and all(("larger than 8 MiB" in e or "a redirect, which is not followed" in e) for (e,) in errors)

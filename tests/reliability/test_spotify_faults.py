"""Faults from Spotify, injected by the local replica, during ``lookup`` and ``sync`` through the real CLI.

Each case names what Spotify does, what each code's answer must be, the exit code and a line of stderr; every case
also checks the database: sound, and nothing stored for a code that failed beyond a pending row noting the error.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from isrcdb.spotify.transport import MAX_RETRY_AFTER, retry_after_seconds
from isrcdb.testing.spotify import SpotifyReplica
from tests.conftest import Cli, run_isrcdb
from tests.reliability.crashkit import Setup, fault_storm, synthetic_codes
from tests.reliability.helpers import FEW, MANY, NONE, SEED, assert_sound, statuses, table

OK = ["found", "found", "not_found"]


@dataclass(frozen=True)
class Case:
    id: str
    faults: list[dict[str, Any]]
    answers: list[str]
    """Each code's status in the output, in input order."""
    exit_code: int
    stderr: str = ""
    """A piece of stderr."""
    extra: dict[str, Any] = field(default_factory=dict)


def inject(replica: SpotifyReplica, faults: list[dict[str, Any]]) -> None:
    for fault in faults:
        replica.inject(**fault)


def search(kind: str, count: int = 1, **options: Any) -> dict[str, Any]:
    return {"kind": kind, "count": count, "route": "search", **options}


def token(kind: str, count: int = 1) -> dict[str, Any]:
    return {"kind": kind, "count": count, "route": "token"}


def assert_nothing_half_written(db_path: Path, codes: list[str], answers: list[str]) -> None:
    """Found and not-found answers are stored as such; a code that failed has no row, or a pending one."""
    assert_sound(db_path)
    stored = statuses(db_path)
    for code, answer in zip(codes, answers, strict=True):
        if answer in ("found", "not_found"):
            assert stored.get(code) == answer, code
        else:
            assert stored.get(code) in (None, "pending"), code


# --- lookup -------------------------------------------------------------------------------------------------------

LOOKUP_CASES = [
    Case("401-once", [search("status", status=401)], OK, 1, extra={"tokens_issued": 2}),
    Case("429-short", [search("429", retry_after=1)], OK, 1, "Spotify's rate limit: waiting 1 s before asking for"),
    Case("429-long", [search("429", retry_after=3600)], ["error"] * 3, 3, "rate limit asks to wait 3600 s; stopped"),
    Case("quota", [search("quota")], ["error"] * 3, 3, "Spotify's quota is exceeded; stopped, come back after"),
    Case("429-absurd", [search("429", retry_after=10**12)], ["error"] * 3, 3, "stopped, come back after 2027-"),
    Case("5xx-bursts", [search("500"), search("502"), search("503"), search("504", isrc=MANY)], OK, 1),
    Case("503-outage", [search("503", 4)], ["error", "found", "not_found"], 3, "Spotify answered 503"),
    Case("drop-twice", [search("drop", 2)], OK, 1),
    Case("drop-always", [search("drop", 50)], ["error"] * 3, 3, "Remote end closed connection without response"),
    Case("truncated-once", [search("truncated")], OK, 1),
    Case("truncated-one-code", [search("truncated", 4, isrc=MANY)], ["found", "error", "not_found"], 3, "cut short"),
    Case("malformed-one-code", [search("malformed", isrc=MANY)], ["found", "error", "not_found"], 3, "unreadable JSON"),
    Case(
        "malformed-second-page",
        [search("slow", isrc=MANY, delay=0), search("malformed", isrc=MANY)],
        ["found", "error", "not_found"],
        3,
        "unreadable JSON",
    ),
    Case(
        "wrong-shape-one-code",
        [search("wrong_shape", isrc=MANY)],
        ["found", "error", "not_found"],
        3,
        "Spotify's search answer has no list of tracks (unexpected shape)",
    ),
    Case("token-503-and-dropped", [token("503"), token("drop")], OK, 1),
    Case(
        "token-wrong-shape",
        [token("wrong_shape")],
        ["error"] * 3,
        3,
        "the token endpoint's answer has no bearer access",
    ),
]


@pytest.mark.parametrize("case", LOOKUP_CASES, ids=[case.id for case in LOOKUP_CASES])
def test_lookup_survives_spotify_faults_and_half_writes_nothing(
    cli: Cli, spotify: SpotifyReplica, db_path: Path, case: Case
) -> None:
    inject(spotify, case.faults)
    result = cli("lookup", FEW, MANY, NONE, "--format", "json")
    answers = json.loads(result.stdout)
    assert ([answer["status"] for answer in answers], result.exit_code) == (case.answers, case.exit_code), result.stderr
    assert case.stderr in result.stderr
    assert "Traceback" not in result.stderr
    assert_nothing_half_written(db_path, [FEW, MANY, NONE], case.answers)
    if "found" == case.answers[1]:
        assert answers[1]["match_count"] == 13  # both pages read
    for key, value in case.extra.items():
        assert spotify.stats()[key] == value


def test_a_stopped_lookup_remembers_when_to_come_back(cli: Cli, spotify: SpotifyReplica, db_path: Path) -> None:
    spotify.inject("quota", route="search", retry_after=7200)
    assert cli("lookup", FEW).exit_code == 3
    ((until,),) = table(db_path, "SELECT paused_until FROM rate_budgets")
    again = cli("lookup", FEW)
    assert (again.exit_code, again.stdout.count(FEW)) == (3, 1)
    assert f"Spotify's rate limit is in force until {until}; try again after that" in again.stderr
    assert spotify.stats()["requests"]["search"] == 1


# --- sync ---------------------------------------------------------------------------------------------------------

CODES = synthetic_codes(12)
X = CODES[5]
ALL_FOUND = ["found"] * len(CODES)
ONE_FAILED = ["found" if code != X else "pending" for code in CODES]

SYNC_CASES = [
    Case("401-once", [search("status", status=401)], ALL_FOUND, 0, extra={"tokens_issued": 2}),
    Case("429-short", [search("429", retry_after=1)], ALL_FOUND, 0, "1 answered 429"),
    Case("429-long", [search("429", retry_after=3600)], ["pending"] * 12, 3, "more than the --max-wait of 60 s"),
    Case("quota", [search("quota")], ["pending"] * 12, 3, "Stopped: Spotify's quota is exceeded; come back after"),
    Case("429-absurd", [search("429", retry_after=10**12)], ["pending"] * 12, 3, "come back after 2027-"),
    Case("5xx-bursts", [search("500"), search("502"), search("503"), search("504", isrc=X)], ALL_FOUND, 0),
    Case("503-one-code", [search("503", 4, isrc=X)], ONE_FAILED, 3, f"Error: {X}: Spotify answered 503"),
    Case("drop-twice", [search("drop", 2)], ALL_FOUND, 0),
    Case("truncated-once", [search("truncated")], ALL_FOUND, 0),
    Case(
        "truncated-one-code", [search("truncated", 4, isrc=X)], ONE_FAILED, 3, f"Error: {X}: Spotify's answer was cut"
    ),
    Case("malformed-one-code", [search("malformed", isrc=X)], ONE_FAILED, 3, f"Error: {X}: Spotify sent unreadable"),
    Case("wrong-shape-one-code", [search("wrong_shape", isrc=X)], ONE_FAILED, 3, f"Error: {X}: Spotify's search"),
]


@pytest.mark.parametrize("case", SYNC_CASES, ids=[case.id for case in SYNC_CASES])
def test_sync_survives_spotify_faults_and_half_writes_nothing(
    cli: Cli, spotify: SpotifyReplica, db_path: Path, case: Case
) -> None:
    assert cli("import", "-", input="\n".join(CODES)).exit_code == 0
    inject(spotify, case.faults)
    # A run that must stop at its first answer is run one request at a time: with several in flight, others may
    # legitimately complete before the stopping answer arrives.
    one_at_a_time = ["--concurrency", "1"] if "found" not in case.answers else []
    result = cli("sync", "--format", "json", *one_at_a_time)
    stored = statuses(db_path)
    assert ([stored[code] for code in CODES], result.exit_code) == (case.answers, case.exit_code), result.stderr
    assert case.stderr in result.stderr
    assert "Traceback" not in result.stderr
    assert_sound(db_path)
    summary = json.loads(result.stdout)
    assert summary["found"] == case.answers.count("found")
    for key, value in case.extra.items():
        assert spotify.stats()[key] == value
    failed = table(db_path, "SELECT isrc FROM isrcs WHERE last_error IS NOT NULL")
    assert failed == ([(X,)] if case.answers == ONE_FAILED else [])


@pytest.mark.parametrize("command", ["lookup", "sync"])
def test_tokens_revoked_mid_run_cost_one_new_token_and_nothing_else(
    cli: Cli, replica: Any, db_path: Path, command: str
) -> None:
    server = replica(latency=0.02)
    codes = synthetic_codes(40)
    assert cli("import", "-", input="\n".join(codes)).exit_code == 0

    def revoke_after_ten_searches() -> None:
        deadline = time.monotonic() + 30
        while server.stats()["requests"]["search"] < 10 and time.monotonic() < deadline:
            time.sleep(0.005)
        server.revoke_tokens()

    watcher = threading.Thread(target=revoke_after_ten_searches)
    watcher.start()
    result = cli(command, *(codes if command == "lookup" else ("--concurrency", "4")), "--format", "json")
    watcher.join()
    assert result.exit_code == 0, result.stderr
    assert set(statuses(db_path).values()) == {"found"}
    stats = server.stats()
    assert stats["tokens_issued"] == 2
    assert 1 <= stats["statuses"]["401"] <= 4  # every request in flight with the old token, no more
    assert stats["requests"]["search"] == len(codes) + stats["statuses"]["401"]
    assert_sound(db_path)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("1000000000000", MAX_RETRY_AFTER),
        ("1e400", MAX_RETRY_AFTER),
        ("inf", MAX_RETRY_AFTER),
        ("nan", 1.0),
        ("-5", 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("soon", 1.0),
    ],
)
def test_an_absurd_retry_after_is_bounded_so_the_time_to_come_back_is_a_date(header: str, seconds: float) -> None:
    assert retry_after_seconds(header, now=1_800_000_000.0) == seconds


# --- nothing hangs ------------------------------------------------------------------------------------------------

TIMEOUTS = {"ISRCDB_CONNECT_TIMEOUT": "0.5", "ISRCDB_READ_TIMEOUT": "0.5"}
BOUND = 20.0
"""Seconds any run may take when Spotify never answers: 4 attempts of 0.5 s, backoff, start-up, with margin."""


@dataclass(frozen=True)
class Hang:
    id: str
    command: str
    fault: dict[str, Any]
    exit_code: int
    stderr: str


HANGS = [
    Hang("lookup-search-once", "lookup", search("hang"), 1, ""),
    Hang("lookup-search-always", "lookup", search("hang", 100), 3, "Spotify did not answer within 0.5 s"),
]
SLOW_HANGS = [
    Hang("sync-search-always", "sync", search("hang", 100), 3, "Spotify did not answer within 0.5 s"),
    Hang("lookup-token-always", "lookup", token("hang", 100), 3, "Spotify did not answer within 0.5 s"),
    Hang("sync-search-once", "sync", search("hang"), 0, ""),
    Hang("sync-token-always", "sync", token("hang", 100), 3, "Spotify did not answer within 0.5 s"),
]


@pytest.mark.parametrize(
    "case",
    [*HANGS, *(pytest.param(case, marks=pytest.mark.slow) for case in SLOW_HANGS)],
    ids=[case.id for case in (*HANGS, *SLOW_HANGS)],
)
def test_a_spotify_that_accepts_and_never_answers_ends_the_run_within_a_bound(
    cli: Cli, spotify: SpotifyReplica, db_path: Path, case: Hang
) -> None:
    codes = [FEW, MANY, NONE] if case.command == "lookup" else synthetic_codes(8)
    assert cli("import", "-", input="\n".join(codes)).exit_code == 0
    spotify.inject(**case.fault)
    started = time.monotonic()
    result = run_isrcdb(case.command, *(codes if case.command == "lookup" else ()), env=TIMEOUTS, timeout=60)
    elapsed = time.monotonic() - started
    assert elapsed < BOUND
    assert result.returncode == case.exit_code, result.stderr
    assert case.stderr in result.stderr
    assert "Traceback" not in result.stderr
    assert_sound(db_path)


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose listen queue is full: a connection to it is never accepted (connect() times out)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        try:
            yield port
        finally:
            for filler in fillers:
                filler.close()


@pytest.mark.parametrize("command", ["lookup", pytest.param("sync", marks=pytest.mark.slow)])
def test_a_spotify_that_never_accepts_the_connection_ends_the_run_within_a_bound(
    cli: Cli, db_path: Path, unanswered_port: int, command: str
) -> None:
    base = f"http://127.0.0.1:{unanswered_port}"
    env = {
        **TIMEOUTS,
        "SPOTIFY_CLIENT_ID": "id",
        "SPOTIFY_CLIENT_SECRET": "secret",
        "ISRCDB_SPOTIFY_API_URL": f"{base}/v1",
        "ISRCDB_SPOTIFY_TOKEN_URL": f"{base}/api/token",
    }
    assert cli("import", "-", input=FEW).exit_code == 0
    started = time.monotonic()
    result = run_isrcdb(command, *([FEW] if command == "lookup" else ()), env=env, timeout=60)
    assert time.monotonic() - started < BOUND
    assert result.returncode == 3, result.stderr
    assert f"cannot connect to Spotify at {base}/api/token within 0.5 s" in result.stderr
    assert "Traceback" not in result.stderr
    assert statuses(db_path) == {FEW: "pending"}


@pytest.mark.slow
def test_a_storm_of_random_faults_loses_nothing_and_every_code_is_resolved_in_the_end(tmp_path: Path) -> None:
    with SpotifyReplica(latency=0.005, synthetic_not_found=True) as server:
        setup = Setup.create(tmp_path, server, ISRCDB_READ_TIMEOUT="0.5", ISRCDB_CONNECT_TIMEOUT="0.5")
        report = fault_storm(setup, codes_per_round=20, seed=SEED, rounds=15)
    assert report.problems == [], report
    assert report.faults_served >= 20

"""A team's cache on PostgreSQL: several processes (standing in for several machines) share the work, one rate
budget and one pause, and many users look up the same code at once; queries cannot write; no password leaks.

Every process here is a real ``isrcdb`` against the local replica and a database of its own on the test server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from isrcdb import store
from isrcdb.database import open_database
from isrcdb.database.postgresql import libpq_url
from isrcdb.spotify.parse import parse_track
from isrcdb.testing.spotify import SpotifyReplica
from tests import postgresql
from tests.conftest import Cli, run_isrcdb
from tests.dbtools import rows
from tests.reliability.crashkit import synthetic_codes


@pytest.fixture
def team_cache(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh PostgreSQL cache, set as ISRCDB_DATABASE for this process and its children."""
    url = postgresql.server().new_database()
    monkeypatch.setenv("ISRCDB_DATABASE", url)
    return url


def start(*args: str, host: str, **env: str) -> subprocess.Popen[str]:
    """``isrcdb ARGS`` as a real process on a machine called ``host`` (the name its claims carry)."""
    return subprocess.Popen(
        [sys.executable, "-m", "isrcdb", *args],
        env={**os.environ, "ISRCDB_HOST_ID": host, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def import_codes(cli: Cli, codes: list[str]) -> None:
    result = cli("import", "-", input="\n".join(codes) + "\n")
    assert result.exit_code == 0, result.stderr


def searches(replica: SpotifyReplica) -> dict[str, int]:
    found: dict[str, int] = replica.stats()["searches_by_isrc"]
    return found


def statuses(url: str) -> dict[str, int]:
    return {status: int(count) for status, count in rows(url, "SELECT status, count(*) FROM isrcs GROUP BY status")}


def test_three_machines_share_two_thousand_codes_searching_each_once(
    cli: Cli, replica: Callable[..., SpotifyReplica], team_cache: str
) -> None:
    server = replica(latency=0.005)
    codes = synthetic_codes(2000)
    import_codes(cli, codes)
    runs = [start("sync", "--format", "json", host=f"machine-{n}") for n in range(3)]
    results = [finish(run) for run in runs]
    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    summaries = [json.loads(out) for _, out, _ in results]
    assert sum(summary["resolved"] for summary in summaries) == 2000
    assert all(summary["resolved"] > 0 for summary in summaries)  # the work was shared
    counts = searches(server)
    assert sorted(counts) == sorted(codes) and set(counts.values()) == {1}
    assert statuses(team_cache) == {"found": 2000}
    assert rows(team_cache, "SELECT count(*) FROM isrcs WHERE claimed_by IS NOT NULL") == [(0,)]


def test_a_killed_machines_codes_are_finished_by_the_others_once_its_lease_runs_out(
    cli: Cli, replica: Callable[..., SpotifyReplica], team_cache: str
) -> None:
    server = replica(latency=0.02)
    codes = synthetic_codes(400)
    import_codes(cli, codes)
    lease = {"ISRCDB_CLAIM_LEASE": "4s", "ISRCDB_MAX_WAIT": "1s"}
    doomed = start("sync", "--format", "json", "--concurrency", "4", host="doomed", **lease)
    deadline = time.monotonic() + 30
    while not rows(team_cache, "SELECT count(*) FROM isrcs WHERE claimed_by LIKE 'doomed:%'")[0][0]:
        assert time.monotonic() < deadline, "the doomed sync never claimed a code"
        time.sleep(0.05)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    held = rows(team_cache, "SELECT isrc FROM isrcs WHERE claimed_by LIKE 'doomed:%'")
    assert held, "the killed sync held no claim"
    others = [start("sync", "--format", "json", host=f"survivor-{n}", **lease) for n in range(2)]
    results = [finish(run) for run in others]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert statuses(team_cache) == {"found": 400}
    counts = searches(server)
    assert all(counts.get(code, 0) >= 1 for (code,) in held)
    # Only what the killed run had in flight can be searched twice (its answers were sent to nobody).
    assert sum(count - 1 for count in counts.values()) <= 4


def test_three_machines_together_keep_to_one_rate_budget(
    cli: Cli, replica: Callable[..., SpotifyReplica], team_cache: str
) -> None:
    limit, window = 60, 6.0
    server = replica(latency=0.005, rate_limit=limit, rate_window=window)
    codes = synthetic_codes(300)
    import_codes(cli, codes)
    server.reset_stats()
    pace = ("--rate", str(limit), "--rate-window", f"{window:g}s")
    started = time.monotonic()
    runs = [start("sync", "--format", "json", *pace, host=f"machine-{n}") for n in range(3)]
    results = [finish(run) for run in runs]
    elapsed = time.monotonic() - started
    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    stats = server.stats()
    requests = stats["requests"]["search"]
    assert statuses(team_cache) == {"found": 300}
    assert stats["responses_429"] / requests < 0.01, stats
    # 300 searches at 60 per 6 s is 30 s of pacing at best; together they reach at least 90 % of that rate
    # (the processes' start-up counted against them).
    assert requests / elapsed >= 0.9 * limit / window * (1 - 1.5 / elapsed), (requests, elapsed)


def test_a_quota_429_stops_every_machine_within_seconds(
    cli: Cli, replica: Callable[..., SpotifyReplica], team_cache: str
) -> None:
    server = replica(latency=0.05)
    import_codes(cli, synthetic_codes(3000))
    runs = [start("sync", "--format", "json", "--concurrency", "2", host=f"machine-{n}") for n in range(3)]
    deadline = time.monotonic() + 30
    while server.stats()["requests"]["search"] < 30:
        assert time.monotonic() < deadline, "the syncs did not start searching"
        time.sleep(0.05)
    server.inject("quota", count=1, route="search")
    hit = time.monotonic()
    results = [finish(run, timeout=60) for run in runs]
    stopped = time.monotonic() - hit
    assert stopped < 5, stopped
    assert [code for code, _, _ in results] == [3, 3, 3], [err for _, _, err in results]
    summaries = [json.loads(out) for _, out, _ in results]
    assert {summary["status"] for summary in summaries} == {"rate_limited"}
    later = run_isrcdb("lookup", "QZSYN2699999", "--format", "json")
    assert later.returncode == 3 and "rate limit is in force" in later.stderr


def test_twenty_people_looking_up_one_new_code_at_once_cause_one_search(
    replica: Callable[..., SpotifyReplica], team_cache: str
) -> None:
    server = replica(latency=0.3)
    code = "QZSYN2600042"
    runs = [start("lookup", code, "--format", "json", host=f"laptop-{n}") for n in range(20)]
    results = [finish(run, timeout=120) for run in runs]
    assert [exit_code for exit_code, _, _ in results] == [0] * 20, [err for _, _, err in results if err]
    answers = [json.loads(out)[0] for _, out, _ in results]
    assert {(answer["status"], answer["spotify_id"]) for answer in answers} == {("found", answers[0]["spotify_id"])}
    assert server.search_count(code) == 1
    assert [err for _, _, err in results] == [""] * 20


# --- read-only queries, enforced by the server -----------------------------------------------------------------

REFUSED = [
    "COMMIT; INSERT INTO meta (key, value, updated_at) VALUES ('x', 'y', 'z')",
    "SELECT 1; DELETE FROM isrcs",
    "WITH d AS (DELETE FROM isrcs RETURNING isrc) SELECT * FROM d",
    "SET transaction_read_only = off",
    "SELECT nextval('isrc_changes_id_seq')",
    "SELECT pg_sleep(5)",
    "DO $$ BEGIN DELETE FROM isrcs; END $$",
    "DELETE FROM isrcs",
    "UPDATE isrcs SET status = 'found'",
    "DROP TABLE isrcs CASCADE",
    "CREATE TABLE x (a int)",
]


def contents(url: str) -> list[Any]:
    from isrcdb.models import Base

    tables = [rows(url, f"SELECT * FROM {table.name} ORDER BY 1") for table in Base.metadata.sorted_tables]
    return [*tables, rows(url, "SELECT last_value, is_called FROM isrc_changes_id_seq")]


@pytest.fixture
def filled_team_cache(cli: Cli, spotify: SpotifyReplica, team_cache: str) -> str:
    assert cli("lookup", "USRC17607839", "GBAAA0000001").exit_code == 1
    return team_cache


@pytest.mark.parametrize("sql", REFUSED, ids=[sql.split("(")[0][:30] for sql in REFUSED])
def test_every_write_is_refused_by_the_server_and_nothing_changes(cli: Cli, filled_team_cache: str, sql: str) -> None:
    before = contents(filled_team_cache)
    result = cli("query", sql, "--timeout", "1")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1 and result.stdout == ""
    assert contents(filled_team_cache) == before


def test_a_query_reads_the_views_with_postgresql_types(cli: Cli, filled_team_cache: str) -> None:
    (row,) = cli.json("query", "SELECT isrc, stale, explicit, artists, fetched_at FROM lookups WHERE status = 'found'")
    assert (row["isrc"], row["stale"], row["artists"]) == (
        "USRC17607839",
        False,
        ["The Velvet Harbour", "Mara Lindqvist"],
    )
    assert row["fetched_at"].endswith("Z")
    ((fresh,),) = rows(filled_team_cache, "SELECT count(*) FROM lookups WHERE expires_at > now() AND NOT stale")
    assert fresh == 2


def test_a_reader_role_can_read_the_views_and_nothing_else(cli: Cli, filled_team_cache: str) -> None:
    role = f"isrcdb_reader_{os.getpid()}"
    try:
        result = cli("db", "grant-reader", role, "--create")
        assert result.exit_code == 0, result.stderr
        reader = postgresql.with_user(filled_team_cache, role)
        found = run_isrcdb(
            "query", "SELECT isrc FROM lookups ORDER BY isrc", "--format", "csv", env={"ISRCDB_QUERY_DATABASE": reader}
        )
        assert (found.returncode, found.stdout) == (0, "isrc\nGBAAA0000001\nUSRC17607839\n"), found.stderr
        direct = run_isrcdb("query", "SELECT * FROM tracks", env={"ISRCDB_DATABASE": reader})
        assert direct.returncode in (2, 4) and "permission denied" in direct.stderr
    finally:
        postgresql.drop_role(filled_team_cache, role)


def test_grant_reader_prints_the_grants_without_running_them(cli: Cli, team_cache: str) -> None:
    result = cli("db", "grant-reader", "analysts")
    assert result.exit_code == 0
    assert "GRANT SELECT ON lookups, matches TO analysts;" in result.stdout
    assert rows(team_cache, "SELECT count(*) FROM pg_roles WHERE rolname = 'analysts'") == [(0,)]


# --- secrets -----------------------------------------------------------------------------------------------------


def test_the_database_password_never_appears(cli: Cli, spotify: SpotifyReplica, team_cache: str) -> None:
    secret = "s3cret-Passw0rd"
    with_password = team_cache.replace("postgres@", f"postgres:{secret}@")  # trust authentication ignores it
    missing = with_password.rsplit("/", 1)[0] + "/no_such_database"
    outputs = []
    for args, env in [
        (("-vv", "lookup", "USRC17607839"), {"ISRCDB_DATABASE": with_password}),
        (("db", "path"), {"ISRCDB_DATABASE": with_password}),
        (("stats", "--format", "json"), {"ISRCDB_DATABASE": with_password}),
        (("lookup", "USRC17607839"), {"ISRCDB_DATABASE": missing}),
        (("query", "SELECT 1"), {"ISRCDB_DATABASE": missing}),
    ]:
        result = run_isrcdb(*args, env=env)
        outputs.append((result.returncode, result.stdout + result.stderr))
    assert [code for code, _ in outputs][:3] == [0, 0, 0], outputs
    assert [code for code, _ in outputs][3:] == [4, 4], outputs
    assert all(secret not in text for _, text in outputs), outputs
    assert "postgres:***@" in outputs[1][1]


def test_a_batch_that_loses_a_deadlock_inside_a_larger_transaction_is_undone_alone_and_run_again(
    team_cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    # Another writer takes two artists in the opposite order to isrcdb's, while a sync's transaction (its batch of
    # answers, then its next claims) stores a track of both: the server breaks the circle by failing isrcdb's batch.
    now = datetime(2026, 1, 1, tzinfo=UTC)
    artists = [{"id": "0TstArtistOne", "name": "One"}, {"id": "0TstArtistTwo", "name": "Two"}]
    first = parse_track({"id": "0TstTrackOne", "name": "First", "artists": artists})
    second = parse_track({"id": "0TstTrackTwo", "name": "Second", "artists": artists})
    assert first is not None and second is not None
    later = now + timedelta(days=30)
    conflicts: list[BaseException] = []
    committed: list[bool] = []
    with open_database(team_cache) as db, psycopg.connect(libpq_url(team_cache)) as other:
        store.save_answers(db, [store.Answer("QZTST2600001", [first], now, later)])  # both artists stored
        is_conflict = db.is_conflict
        monkeypatch.setattr(db, "is_conflict", lambda exc: is_conflict(exc) and not conflicts.append(exc))
        db.execute("SET deadlock_timeout = '100ms'")  # this side finds the circle, long before the other would
        mine = db.one("SELECT pg_backend_pid()")
        other.execute("SET deadlock_timeout = '60s'")
        other.execute("UPDATE artists SET name = 'Two, renamed' WHERE id = '0TstArtistTwo'")

        def close_the_circle() -> None:
            while not other.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'", mine
            ).fetchone():
                time.sleep(0.01)
            other.execute("UPDATE artists SET name = 'One, renamed' WHERE id = '0TstArtistOne'")
            other.commit()
            committed.append(True)

        closer = threading.Thread(target=close_the_circle)
        closer.start()
        with db.transaction():
            changed = store.save_answers(db, [store.Answer("QZTST2600002", [second], now, later)])
            db.execute("UPDATE isrcs SET claimed_by = 'next claims' WHERE isrc = 'QZTST2600001'")
        closer.join(timeout=30)
    assert len(conflicts) == 1 and type(conflicts[0]).__name__ == "DeadlockDetected"
    assert changed == [True]
    assert rows(team_cache, "SELECT isrc, status, canonical_track_id, claimed_by FROM isrcs ORDER BY isrc") == [
        ("QZTST2600001", "found", "0TstTrackOne", "next claims"),
        ("QZTST2600002", "found", "0TstTrackTwo", None),
    ]
    # The other writer committed, then the batch run again wrote the names of the answer it stores.
    assert committed == [True]
    assert rows(team_cache, "SELECT name FROM artists ORDER BY id") == [("One",), ("Two",)]


def round_trips(trace: Path) -> int:
    """The round trips in a libpq protocol trace: each ends with the server's ReadyForQuery."""
    return sum("\tReadyForQuery" in line for line in trace.read_text().splitlines())


def test_a_batch_of_answers_and_the_next_claims_cost_six_round_trips_and_an_empty_transaction_none(
    team_cache: str, workdir: Path
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def batch(first: int) -> list[store.Answer]:
        answers = []
        for n in range(first, first + 8):
            artist = {"id": f"0TstArtist{n:03d}", "name": f"Artist {n}"}
            obj = {"id": f"0TstTrack{n:03d}", "name": f"Track {n}", "artists": [artist]}
            obj["album"] = {"id": f"0TstAlbum{n:03d}", "name": f"Album {n}", "artists": [artist]}
            track = parse_track(obj)
            assert track is not None
            answers.append(store.Answer(f"QZTST26{n:05d}", [track], now, now + timedelta(days=30)))
        return answers

    trace = workdir / "trace.txt"
    with open_database(team_cache) as db:
        store.save_answers(db, batch(0))  # codes seen before: their matches are read too
        conn = db.connection()
        with trace.open("w") as out:
            conn.pgconn.trace(out.fileno())
            with db.transaction():
                pass
            conn.pgconn.untrace()
        assert trace.read_text() == ""  # a transaction that ran nothing sent nothing
        with trace.open("w") as out:
            conn.pgconn.trace(out.fileno())
            with db.transaction():  # as a sync stores a batch, then claims
                assert store.save_answers(db, batch(4)) == [False] * 4 + [True] * 4  # 4 stored before, unchanged
                db.all("SELECT isrc FROM isrcs WHERE status = 'pending' LIMIT 8 FOR UPDATE SKIP LOCKED")
            conn.pgconn.untrace()
    # BEGIN, SAVEPOINT and the codes' rows; the codes locked and read; the matches of those seen before; the writes
    # (pipelined); RELEASE and the claims; COMMIT.
    assert round_trips(trace) == 6
    assert rows(team_cache, "SELECT count(*) FROM isrcs WHERE status = 'found'") == [(12,)]

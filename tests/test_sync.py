"""``isrcdb sync``: the rate governor on a fake clock, then the real CLI and processes against the local replica."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from isrcdb.errors import RateLimited
from isrcdb.sync import UNSTORED, GovernorStopped, RateGovernor
from isrcdb.testing.spotify import Catalogue, SpotifyReplica
from tests.conftest import Cli, run_isrcdb
from tests.dbtools import execute, rows

pytestmark = pytest.mark.databases

FEW, ONE, MANY, NONE = "USRC17607839", "GBUM71029604", "FRZ039800212", "GBAAA0000001"


# --- the governor, on a fake clock ------------------------------------------------------------------------------


class FakeTime:
    """A clock that only moves when someone waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += seconds


def governor(fake: FakeTime, **options: Any) -> RateGovernor:
    return RateGovernor(clock=fake.clock, wait=fake.wait, **options)


def test_before_any_429_the_pace_starts_at_the_initial_rate_and_grows_with_each_answer() -> None:
    fake = FakeTime()
    gov = governor(fake, initial_rate=10)
    slots = [gov.acquire() for _ in range(3)]  # 10 a second
    gov.on_success()  # at 0.2: 12 a second
    gov.on_success()  # 14.4 a second, the next request 1/14.4 s after this answer
    slots += [gov.acquire() for _ in range(2)]
    assert slots == pytest.approx([0.0, 0.1, 0.2, 0.2 + 1 / 14.4, 0.2 + 2 / 14.4])
    assert gov.requests == 5


def test_an_answer_lets_the_next_request_go_sooner_than_a_slot_booked_at_the_slower_pace() -> None:
    fake = FakeTime()
    gov = governor(fake, initial_rate=10)
    assert gov.acquire() == 0.0  # the next slot was 0.1
    fake.now = 0.01  # answered at once, as a server on the same machine answers
    gov.on_success()
    assert gov.acquire() == pytest.approx(0.01 + 1 / 12)


def test_before_any_429_the_pace_is_not_capped_below_what_the_workers_can_send() -> None:
    fake = FakeTime()
    gov = governor(fake, initial_rate=10)
    for _ in range(100):
        gov.acquire()
        gov.on_success()
    first = gov.acquire()
    assert gov.acquire() - first < 1e-4  # more than 10,000 a second: the concurrency is the bound


def test_a_ceiling_allows_a_whole_empty_window_at_once_then_keeps_every_window_to_it() -> None:
    fake = FakeTime()
    gov = governor(fake, window=30, ceiling=10)
    sent = [gov.acquire() for _ in range(25)]
    assert sent[:10] == [0.0] * 10  # the window is known to be empty: the whole ceiling at once
    assert sent[10:20] == pytest.approx([30 * 1.01] * 10)  # then as the first ones leave the rolling window
    assert sent[20:] == pytest.approx([60 * 1.01] * 5)
    assert all(sum(1 for t in sent if start < t <= start + 30) <= 10 for start in sent)


def test_the_window_counts_a_request_from_when_it_was_written_to_its_socket() -> None:
    fake = FakeTime()
    gov = governor(fake, window=30, ceiling=3)
    first = [gov.acquire() for _ in range(3)]
    assert first == [0.0, 0.0, 0.0]
    fake.now = 0.4  # the third left late: a busy thread, a slow write
    sent = gov.sent_once(first[2])
    sent()
    sent()  # a retried attempt of the same request: still one request
    nxt = [gov.acquire() for _ in range(3)]
    # The first two leave the window at 30, the third at 30.4; each next one goes a little after (0.3 s: 1 %).
    assert nxt == pytest.approx([30.3, 30.3, 30.7])


def send(gov: RateGovernor, count: int) -> list[float]:
    return [gov.acquire() for _ in range(count)]


def test_a_429_pauses_every_worker_and_teaches_the_limit() -> None:
    fake = FakeTime()
    gov = governor(fake, window=30, initial_rate=1000)
    sent = send(gov, 41)
    gov.on_429(RateLimited(5), sent[-1])  # refused after 40 accepted in the window
    assert gov.learned == 38  # 95 % of 40
    assert gov.pause_until == pytest.approx(fake.now + 5)
    after = send(gov, 3)
    # The window must first let go of enough of the 41 sent (the 38th most recent leaves at sent[3] + 30, and the
    # next goes a little after that, 1 % of the window: its booking precedes its sending) ...
    assert after[0] == pytest.approx(sent[3] + 30 * 1.01)
    # ... then the pace is the learned limit spread over the window (grown by one: a window passed without a 429).
    assert after[2] - after[1] == pytest.approx(30 / 39)


def test_429s_of_requests_already_in_flight_do_not_cut_again() -> None:
    fake = FakeTime()
    gov = governor(fake, window=30, initial_rate=1000)
    sent = send(gov, 42)
    gov.on_429(RateLimited(1), sent[41])  # 41 before it in the window
    gov.on_429(RateLimited(1), sent[40])  # in flight when the first came: refines (40 before it), no second cut
    assert gov.learned == 38
    assert gov.rate_limited == 2


def test_a_429_after_a_few_requests_slows_down_without_learning() -> None:
    fake = FakeTime()
    gov = governor(fake, initial_rate=10)
    sent = send(gov, 3)
    gov.on_429(RateLimited(0), sent[-1])
    assert gov.learned is None
    after = send(gov, 3)
    assert after[0] >= sent[-1] + 1.0  # Retry-After 0 still pauses a second
    assert after[2] - after[1] == pytest.approx(0.2)  # half the rate


@pytest.mark.parametrize(
    "refusal", [RateLimited(10, quota=True), RateLimited(61)], ids=["quota", "longer-than-max-wait"]
)
def test_a_quota_429_or_a_long_retry_after_halts_every_worker(refusal: RateLimited) -> None:
    fake = FakeTime()
    gov = governor(fake, max_wait=60)
    sent = gov.acquire()
    gov.on_429(refusal, sent)
    assert gov.halted is refusal
    with pytest.raises(GovernorStopped):
        gov.acquire()


def test_without_429s_a_learned_limit_grows_by_one_percent_each_window() -> None:
    fake = FakeTime()
    gov = governor(fake, window=10, initial_rate=1000)
    sent = send(gov, 201)
    gov.on_429(RateLimited(1), sent[-1])
    assert gov.learned == 190
    fake.now += 10.5
    gov.acquire()
    assert gov.learned == 191


def test_stop_makes_every_acquire_raise() -> None:
    gov = governor(FakeTime())
    gov.acquire()
    gov.stop()
    with pytest.raises(GovernorStopped):
        gov.acquire()


# --- helpers for the end-to-end tests ---------------------------------------------------------------------------


def synthetic(count: int, start: int = 0) -> list[str]:
    return [f"QZSYN26{number:05d}" for number in range(start, start + count)]


def statuses(db_path: Path) -> dict[str, int]:
    return dict(rows(db_path, "SELECT status, count(*) FROM isrcs GROUP BY status"))  # type: ignore[arg-type]


def import_codes(cli: Cli, codes: list[str]) -> None:
    report = cli.json("import", "-", input="\n".join(codes) + "\n")
    assert report["invalid"] == 0


def import_in_a_process(codes: list[str]) -> None:
    """Import through a child process, which creates the database, as the cron jobs and shells running syncs do."""
    result = run_isrcdb("import", "-", input="\n".join(codes) + "\n")
    assert result.returncode == 0, result.stderr


def sync(cli: Cli, *args: str, code: int | None = 0) -> tuple[dict[str, Any], Any]:
    result = cli("sync", "--format", "json", *args)
    if code is not None:
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout), result


def searches(replica: SpotifyReplica) -> dict[str, int]:
    return dict(replica.stats()["searches_by_isrc"])


def popen_sync(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "isrcdb", "sync", "--format", "json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def found_count(db_path: Path) -> int:
    try:
        return int(rows(db_path, "SELECT count(*) FROM isrcs WHERE status = 'found'")[0][0])
    except Exception:  # the database is not made yet
        return 0


# --- sync end to end ----------------------------------------------------------------------------------------------


def test_sync_resolves_every_pending_code_searching_each_once_and_a_second_sync_asks_nothing(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path
) -> None:
    server = replica(latency=0.005)
    codes = [*synthetic(60), FEW, NONE]
    import_codes(cli, codes)
    summary, result = sync(cli, "--concurrency", "4")
    assert {k: summary[k] for k in ("status", "due", "resolved", "found", "not_found", "errors", "remaining")} == {
        "status": "complete",
        "due": 62,
        "resolved": 62,
        "found": 61,
        "not_found": 1,
        "errors": 0,
        "remaining": 0,
    }
    counts = (summary["changed"], summary["newly_not_found"], summary["requests"], summary["rate_limited"])
    assert counts == (0, 0, 62, 0)
    assert searches(server) == dict.fromkeys(codes, 1)
    assert server.stats()["peak_in_flight"] > 1
    assert statuses(db_path) == {"found": 61, "not_found": 1}
    assert rows(db_path, "SELECT count(*) FROM isrcs WHERE claimed_by IS NOT NULL") == [(0,)]
    assert result.stderr.startswith("Synced 62 codes in ")

    server.reset_stats()
    again, result = sync(cli)
    assert (again["status"], again["due"], again["resolved"]) == ("complete", 0, 0)
    assert result.stderr == "Nothing to sync: every stored code is fresh.\n"
    assert sum(server.stats()["requests"].values()) == 0  # not even a token


def test_dry_run_says_what_would_be_fetched_and_asks_nothing(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path
) -> None:
    server = replica()
    cli.json("lookup", MANY, NONE, code=1)
    execute(db_path, "UPDATE isrcs SET expires_at = '2000-01-01T00:00:00Z'")
    import_codes(cli, synthetic(3))
    server.reset_stats()
    summary, result = sync(cli, "--dry-run")
    assert (summary["status"], summary["due"], summary["plan"]) == (
        "dry_run",
        5,
        {"pending": 3, "not_found": 1, "found": 1, "requests": 6},  # 13 matches take 2 pages
    )
    assert result.stderr == (
        "Dry run: would fetch 5 codes (3 pending, 1 not found and due again, 1 found and due for a refresh), "
        "about 6 requests to Spotify. Nothing was fetched.\n"
    )
    limited, _ = sync(cli, "--dry-run", "--limit", "2")
    assert (limited["due"], limited["plan"]["requests"]) == (2, 2)
    assert sum(server.stats()["requests"].values()) == 0
    assert statuses(db_path) == {"pending": 3, "found": 1, "not_found": 1}


def test_limit_caps_a_run_and_the_next_run_continues(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path
) -> None:
    server = replica()
    import_codes(cli, synthetic(10))
    first, result = sync(cli, "--limit", "4")
    assert (first["status"], first["resolved"], first["remaining"]) == ("limit", 4, 6)
    assert result.stderr.endswith("Stopped at --limit: 6 codes still due.\n")
    second, _ = sync(cli, "--limit", "100")
    assert (second["status"], second["resolved"], second["remaining"]) == ("complete", 6, 0)
    assert searches(server) == dict.fromkeys(synthetic(10), 1)


def test_pending_codes_come_first_then_expired_not_found_then_found_stalest_first(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path
) -> None:
    server = replica()
    cli.json("lookup", FEW, ONE, MANY, NONE, code=1)
    execute(db_path, "UPDATE isrcs SET expires_at = '2001-01-01T00:00:00Z' WHERE isrc = ?", FEW)
    execute(db_path, "UPDATE isrcs SET expires_at = '2000-06-01T00:00:00Z' WHERE isrc = ?", ONE)
    execute(db_path, "UPDATE isrcs SET expires_at = '2002-01-01T00:00:00Z' WHERE isrc = ?", NONE)
    (pending,) = synthetic(1)
    import_codes(cli, [pending])
    order = []
    fresh = searches(server)[MANY]
    for _ in range(4):
        before = searches(server)
        sync(cli, "--limit", "1", "--concurrency", "1")
        after = searches(server)
        (searched,) = [code for code in after if after[code] != before.get(code, 0)]
        order.append(searched)
    assert order == [pending, NONE, ONE, FEW]
    last, _ = sync(cli)
    assert last["due"] == 0
    assert searches(server)[MANY] == fresh  # still fresh: never refreshed


def test_all_and_older_than_refresh_fresh_codes_once_each(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path
) -> None:
    server = replica()
    codes = synthetic(8)
    import_codes(cli, codes)
    sync(cli)
    execute(db_path, "UPDATE isrcs SET fetched_at = '2026-01-01T00:00:00Z' WHERE isrc IN (?, ?)", *codes[:2])
    older, _ = sync(cli, "--older-than", "30d")
    assert older["resolved"] == 2
    everything, _ = sync(cli, "--all")  # right after a sync: codes fetched this very second count too
    assert everything["resolved"] == 8
    assert searches(server) == {**dict.fromkeys(codes, 2), **dict.fromkeys(codes[:2], 3)}


def test_a_rate_limited_sync_paces_itself_and_meets_only_a_few_429s(
    cli: Cli, replica: Callable[..., SpotifyReplica], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = replica(latency=0.01, rate_limit=30, rate_window=2.0)
    monkeypatch.setenv("ISRCDB_RATE_WINDOW", "2s")
    codes = synthetic(75)
    import_codes(cli, codes)
    summary, _ = sync(cli, "--concurrency", "4")
    refused = server.stats()["statuses"].get("429", 0)
    assert (summary["status"], summary["resolved"]) == ("complete", 75)
    assert summary["rate_limited"] == refused <= 5
    assert summary["requests"] == 75 + refused


@pytest.mark.parametrize(
    ("kind", "retry_after", "says"),
    [("429", 3600, "rate limit asks to wait 3600 s, more than the --max-wait of 60 s"), ("quota", None, "quota")],
    ids=["long-retry-after", "quota"],
)
def test_a_long_retry_after_or_a_quota_429_stops_the_run_and_the_next_run_resumes(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path, kind: str, retry_after: int | None, says: str
) -> None:
    server = replica(latency=0.01)
    codes = synthetic(40)
    import_codes(cli, codes)
    server.inject(kind, isrc=codes[12], retry_after=retry_after)
    started = time.monotonic()
    summary, result = sync(cli, "--concurrency", "4", code=3)
    assert time.monotonic() - started < 5
    assert summary["status"] == "rate_limited" and says in summary["message"]
    assert summary["come_back_at"] is not None
    assert 0 < summary["resolved"] < 40 and summary["remaining"] == 40 - summary["resolved"]
    assert f"come back after {summary['come_back_at']}" in result.stderr
    assert rows(db_path, "SELECT paused_until FROM rate_budgets") == [(summary["come_back_at"],)]
    assert rows(db_path, "SELECT count(*) FROM isrcs WHERE claimed_by IS NOT NULL") == [(0,)]

    server.reset_stats()
    blocked, result = sync(cli, code=3)
    assert blocked["status"] == "rate_limited"
    assert "not calling Spotify" in result.stderr
    assert sum(server.stats()["requests"].values()) == 0

    execute(db_path, "UPDATE rate_budgets SET paused_until = '2000-01-01T00:00:00Z'")
    resumed, _ = sync(cli, "--concurrency", "4")
    assert (resumed["status"], resumed["resolved"]) == ("complete", 40 - summary["resolved"])
    total = {code: n for code, n in searches(server).items()}
    assert statuses(db_path) == {"found": 40}
    assert codes[12] in total
    assert max(total.values()) == 1  # after the stop, nothing already stored was searched again


def test_a_code_that_fails_is_reported_and_retried_by_the_next_run(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path
) -> None:
    server = replica()
    codes = synthetic(6)
    import_codes(cli, codes)
    server.inject("wrong_shape", isrc=codes[2])
    summary, result = sync(cli, code=3)
    assert (summary["status"], summary["resolved"], summary["errors"], summary["remaining"]) == ("complete", 5, 1, 1)
    assert f"Error: {codes[2]}: Spotify's search answer has no list of tracks" in result.stderr
    again, _ = sync(cli)
    assert (again["resolved"], again["errors"]) == (1, 0)
    assert searches(server)[codes[2]] == 2


def test_missing_credentials_stop_sync_before_anything_is_claimed(
    cli: Cli, workdir: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_codes(cli, synthetic(3))
    monkeypatch.setenv("ISRCDB_SPOTIFY_TOKEN_URL", "http://127.0.0.1:9/api/token")
    result = cli("sync")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: no Spotify credentials")
    assert rows(db_path, "SELECT count(*) FROM isrcs WHERE claimed_by IS NOT NULL") == [(0,)]


def test_codes_claimed_by_a_live_sync_elsewhere_are_left_and_expired_claims_are_taken(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path
) -> None:
    server = replica()
    codes = synthetic(4)
    import_codes(cli, codes)
    claim = "UPDATE isrcs SET claimed_by = ?, claimed_until = ? WHERE isrc = ?"
    execute(db_path, claim, "elsewhere:1:a", "2999-01-01T00:00:00Z", codes[0])  # live
    execute(db_path, claim, "elsewhere:2:b", "2000-01-01T00:00:00Z", codes[1])  # expired
    summary, _ = sync(cli)
    assert (summary["resolved"], summary["remaining"]) == (3, 1)
    assert codes[0] not in searches(server)


def test_change_history_is_recorded_when_a_refresh_finds_another_release_or_none(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path
) -> None:
    replica()
    import_codes(cli, [FEW, ONE])
    sync(cli)
    ((canonical,),) = rows(db_path, "SELECT canonical_track_id FROM isrcs WHERE isrc = ?", FEW)
    ((one_track,),) = rows(db_path, "SELECT canonical_track_id FROM isrcs WHERE isrc = ?", ONE)
    assert rows(db_path, "SELECT changed_at IS NOT NULL FROM isrcs ORDER BY isrc") == [(1,), (1,)]
    # The same catalogue, except that the canonical release of FEW and every release of ONE are gone.
    catalogue = Catalogue.from_tracks(
        track
        for track in Catalogue.sample()
        if track["id"] != canonical and track.get("external_ids", {}).get("isrc") != ONE
    )
    replica(catalogue=catalogue)
    execute(db_path, "UPDATE isrcs SET changed_at = NULL")
    summary, result = sync(cli, "--all")
    assert (summary["resolved"], summary["changed"], summary["newly_not_found"]) == (2, 2, 1)
    assert "2 changed, 1 newly not found" in result.stderr
    changes = rows(
        db_path, "SELECT isrc, kind, old_track_id FROM isrc_changes WHERE kind != 'found' ORDER BY isrc, kind"
    )
    assert changes == [
        (ONE, "not_found", one_track),
        (FEW, "canonical_changed", canonical),
        (FEW, "track_removed", canonical),
    ]
    assert rows(db_path, "SELECT status, changed_at IS NOT NULL FROM isrcs ORDER BY isrc") == [
        ("not_found", 1),
        ("found", 1),
    ]


# --- real processes ---------------------------------------------------------------------------------------------


def duplicates(counts: dict[str, int]) -> int:
    return sum(n - 1 for n in counts.values() if n > 1)


def test_a_killed_sync_loses_no_committed_work_and_the_rerun_repeats_at_most_what_was_in_flight(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path
) -> None:
    server = replica(latency=0.02)
    codes = synthetic(200)
    import_in_a_process(codes)
    process = popen_sync("--concurrency", "4")
    wait_until(lambda: found_count(db_path) >= 40)
    process.kill()  # SIGKILL: no cleanup at all
    process.wait()
    committed = found_count(db_path)
    assert committed >= 40
    assert rows(db_path, "SELECT count(*) FROM isrcs WHERE status = 'found' AND match_count = 0") == [(0,)]
    result = run_isrcdb("sync", "--concurrency", "4", "--format", "json")  # at once: dead claims are released
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["resolved"] == 200 - committed
    counts = searches(server)
    assert set(counts) == set(codes)
    # A request already sent when the process died, or answered and not yet committed, was lost: each such code
    # (at most UNSTORED per worker: a worker goes on while its last answer waits for its commit) is searched again;
    # nothing else is.
    assert duplicates(counts) <= UNSTORED * 4


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["int", "term"])
def test_a_signal_stops_sync_cleanly_with_a_summary_and_the_rerun_repeats_nothing(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path, signum: int, exit_code: int
) -> None:
    server = replica(latency=0.02)
    codes = synthetic(200)
    import_in_a_process(codes)
    process = popen_sync("--concurrency", "4")
    wait_until(lambda: found_count(db_path) >= 30)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == exit_code, stderr
    summary = json.loads(stdout)
    assert summary["status"] == "interrupted"
    assert "Interrupted: " in stderr and "run 'isrcdb sync' again to continue" in stderr
    assert rows(db_path, "SELECT count(*) FROM isrcs WHERE claimed_by IS NOT NULL") == [(0,)]
    assert found_count(db_path) == summary["resolved"]
    result = run_isrcdb("sync", "--format", "json")
    assert json.loads(result.stdout)["resolved"] == 200 - summary["resolved"]
    assert searches(server) == dict.fromkeys(codes, 1)


def test_two_syncs_at_once_share_the_work_without_searching_a_code_twice(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path
) -> None:
    server = replica(latency=0.02)
    codes = synthetic(240)
    import_in_a_process(codes)
    processes = [popen_sync("--concurrency", "3") for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in processes]
    summaries = [json.loads(stdout) for stdout, _ in outputs]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert sum(summary["resolved"] for summary in summaries) == 240
    assert all(summary["resolved"] >= 10 for summary in summaries)  # both took part
    assert searches(server) == dict.fromkeys(codes, 1)


def test_lookups_during_a_sync_never_meet_a_locked_database(
    cli: Cli, replica: Callable[..., SpotifyReplica], db_path: Path
) -> None:
    replica(latency=0.02)
    import_in_a_process(synthetic(1500))
    process = popen_sync("--concurrency", "4")
    wait_until(lambda: found_count(db_path) >= 10)
    during = []
    lookups = iter([[FEW], [ONE], [MANY], synthetic(20), synthetic(3, 1000), [NONE]])
    while process.poll() is None:
        args = next(lookups, None)
        if args is None:
            break
        result = run_isrcdb("lookup", *args, "--format", "json", *(["--offline"] if len(args) == 20 else []))
        during.append((result, process.poll() is None))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert sum(running for _, running in during) >= 3  # these ended while the sync was still writing
    for result, _ in during:
        assert "locked" not in result.stderr, result.stderr
        assert result.returncode in (0, 1, 3), result.stderr  # 3: an --offline code not synced yet
        assert json.loads(result.stdout)

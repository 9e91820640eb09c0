"""429s that repeat with a ``Retry-After`` that bounds nothing (missing, ``0``, ``-5``, ``soon``, a past date, empty).

The rule (:func:`isrcdb.spotify.pacing.after_429`) as a table, the sync's governor and the Python API on fake time,
then storms served by the local replica to ``lookup`` and ``sync`` through the real CLI: each run ends within a
bound of time and requests, exit 3, with the time to come back stored, and a later run before then calls nobody.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from isrcdb.cache import IsrcDB
from isrcdb.clock import from_text
from isrcdb.errors import RateLimited
from isrcdb.spotify.pacing import MAX_IN_A_ROW, STORM_REST, Storm, Verdict, after_429, backoff
from isrcdb.sync import GovernorStopped, RateGovernor
from isrcdb.testing.spotify import Fault, SpotifyReplica
from tests.conftest import Cli
from tests.reliability.crashkit import synthetic_codes
from tests.reliability.helpers import FEW, assert_sound, statuses, table
from tests.test_sync import FakeTime

# --- the rule ---------------------------------------------------------------------------------------------------

RULE = [
    # (Retry-After read, quota, storm before, max_wait) -> (action, seconds, storm after)
    ((0.0, False, Storm(), 60.0), ("wait", 1.0, Storm(1, 1.0))),
    ((-5.0, False, Storm(), 60.0), ("wait", 1.0, Storm(1, 1.0))),
    ((math.nan, False, Storm(), 60.0), ("wait", 1.0, Storm(1, 1.0))),
    ((0.2, False, Storm(), 60.0), ("wait", 1.0, Storm(1, 1.0))),
    ((5.0, False, Storm(), 60.0), ("wait", 5.0, Storm(1, 5.0))),
    ((0.0, False, Storm(1, 1.0), 60.0), ("wait", 2.0, Storm(2, 3.0))),
    ((0.0, False, Storm(4, 15.0), 60.0), ("wait", 16.0, Storm(5, 31.0))),
    ((0.0, False, Storm(5, 31.0), 60.0), ("storm", 32.0, Storm(6, 31.0))),
    ((30.0, False, Storm(1, 1.0), 60.0), ("wait", 30.0, Storm(2, 31.0))),
    ((30.0, False, Storm(2, 31.0), 60.0), ("storm", 30.0, Storm(3, 31.0))),
    ((1.0, False, Storm(1, 1.0), 1.0), ("storm", STORM_REST, Storm(2, 1.0))),
    ((0.0, False, Storm(), 0.0), ("storm", STORM_REST, Storm(1, 0.0))),
    ((0.0, False, Storm(MAX_IN_A_ROW, 255.0), 1e6), ("storm", 256.0, Storm(MAX_IN_A_ROW + 1, 255.0))),
    ((61.0, False, Storm(), 60.0), ("long", 61.0, Storm(1, 0.0))),
    ((10.0, True, Storm(), 60.0), ("quota", 10.0, Storm(1, 0.0))),
    ((0.0, True, Storm(3, 7.0), 60.0), ("quota", 1.0, Storm(4, 7.0))),
]


@pytest.mark.parametrize(("given", "expected"), RULE)
def test_the_429_rule_waits_at_least_a_second_doubling_in_a_storm_and_stops_within_its_bounds(
    given: tuple[float, bool, Storm, float], expected: tuple[str, float, Storm]
) -> None:
    retry_after, quota, storm, max_wait = given
    verdict = after_429(retry_after, quota=quota, storm=storm, max_wait=max_wait)
    assert (verdict.action, verdict.seconds, verdict.storm) == expected


def test_a_storm_of_zero_second_429s_waits_a_bounded_total_then_stops() -> None:
    storm, waits = Storm(), []
    while True:
        verdict = after_429(0.0, storm=storm, max_wait=60.0)
        storm = verdict.storm
        if verdict.stop:
            break
        waits.append(verdict.seconds)
    assert waits == [backoff(n) for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert (verdict.action, storm.count, sum(waits)) == ("storm", 6, 31)


def test_a_stop_is_told_in_words() -> None:
    assert Verdict("storm", 30.0, Storm(2, 1.0)).reason() == (
        "Spotify's rate limit went on after 2 answers 429 in a row (1 s waited)"
    )
    assert Verdict("long", 61.0, Storm(1), 61.0).reason(60) == (
        "Spotify's rate limit asks to wait 61 s, more than the max_wait of 60 s"
    )
    from isrcdb.cli.common import CLI_WORDING
    from isrcdb.errors import wording

    with wording(CLI_WORDING):  # as the command line says it
        assert Verdict("long", 61.0, Storm(1), 61.0).reason(60) == (
            "Spotify's rate limit asks to wait 61 s, more than the --max-wait of 60 s"
        )
    assert Verdict("quota", 1.0, Storm(1)).reason() == "Spotify's quota is exceeded"


# --- on fake time -----------------------------------------------------------------------------------------------


def test_the_sync_governor_halts_a_storm_of_zero_second_429s_after_six_requests() -> None:
    fake = FakeTime()
    gov = RateGovernor(clock=fake.clock, wait=fake.wait, max_wait=60)
    with pytest.raises(GovernorStopped):
        for _ in range(100):
            gov.on_429(RateLimited(0), gov.acquire())
    assert (gov.requests, gov.rate_limited) == (6, 6)
    assert fake.now == pytest.approx(31, abs=0.5)  # 1 + 2 + 4 + 8 + 16 s of pauses
    assert gov.verdict is not None and (gov.verdict.action, gov.verdict.seconds) == ("storm", 32.0)


def test_429s_of_requests_in_flight_together_count_once_in_a_storm() -> None:
    fake = FakeTime()
    gov = RateGovernor(clock=fake.clock, wait=fake.wait, max_wait=60, initial_rate=1000)
    sent = [gov.acquire() for _ in range(8)]
    for slot in sent:
        gov.on_429(RateLimited(0), slot)
    assert gov.storm == Storm(1, 1.0)
    assert gov.acquire() >= sent[-1] + 1.0
    gov.on_success(sent[0])  # sent before the 429s: it does not end the storm
    assert gov.storm == Storm(1, 1.0)
    gov.on_success(gov.acquire())
    assert gov.storm == Storm()


def test_a_lookup_in_a_storm_sleeps_a_doubling_pause_and_stops_without_sleeping_for_real(
    spotify: SpotifyReplica, workdir: Path, db_path: Path
) -> None:
    spotify.add_fault(Fault("429", 100, route="search", retry_after_raw="0"))
    sleeps: list[float] = []
    with IsrcDB(sleep=sleeps.append) as cache:
        (result,) = cache.lookup([FEW])
        until = cache.rate_limited_until()
    assert (result.status, sleeps, spotify.search_count(FEW)) == ("error", [1, 2, 4, 8, 16], 6)
    assert result.error is not None and "went on after 6 answers 429 in a row (31 s waited)" in result.error
    assert until is not None and until >= datetime.now(UTC) + timedelta(seconds=30)


# --- storms through the CLI -------------------------------------------------------------------------------------

HEADERS = {
    "absent": None,
    "zero": "0",
    "negative": "-5",
    "words": "soon",
    "past-date": "Wed, 21 Oct 2015 07:28:00 GMT",
    "empty": "",
}


def storm(header: str | None) -> Fault:
    """A 429 for every search from now on (a thousand of them), with this ``Retry-After`` (``None``: none)."""
    if header is None:
        return Fault("429_bare", 1000, route="search")
    return Fault("429", 1000, route="search", retry_after_raw=header)


def stored_pause(db_path: Path) -> datetime:
    ((until,),) = table(db_path, "SELECT paused_until FROM rate_budgets")
    return from_text(until)


@pytest.mark.parametrize("header", list(HEADERS.values()), ids=list(HEADERS))
def test_a_lookup_in_a_429_storm_stops_within_a_bound_and_stores_the_pause(
    cli: Cli, spotify: SpotifyReplica, db_path: Path, monkeypatch: pytest.MonkeyPatch, header: str | None
) -> None:
    monkeypatch.setenv("ISRCDB_MAX_WAIT", "1s")
    spotify.add_fault(storm(header))
    started = time.monotonic()
    result = cli("lookup", FEW, "--format", "json")
    elapsed = time.monotonic() - started

    assert (result.exit_code, json.loads(result.stdout)[0]["status"]) == (3, "error"), result.stderr
    assert elapsed < 6
    assert spotify.search_count(FEW) == 2  # one pause of a second, then the second 429 ends the storm
    assert "Spotify's rate limit went on after 2 answers 429 in a row (1 s waited); stopped, come back" in result.stderr
    assert "Traceback" not in result.stderr
    assert stored_pause(db_path) >= datetime.now(UTC) + timedelta(seconds=STORM_REST - 5)

    again = cli("lookup", FEW, "--format", "json")
    assert again.exit_code == 3
    assert "Spotify's rate limit is in force until" in again.stderr
    assert spotify.search_count(FEW) == 2
    assert_sound(db_path)


@pytest.mark.parametrize("header", list(HEADERS.values()), ids=list(HEADERS))
def test_a_sync_in_a_429_storm_stops_within_a_bound_and_stores_the_pause(
    cli: Cli, spotify: SpotifyReplica, db_path: Path, header: str | None
) -> None:
    codes = synthetic_codes(6)
    assert cli("import", "-", input="\n".join(codes)).exit_code == 0
    spotify.add_fault(storm(header))
    started = time.monotonic()
    result = cli("sync", "--format", "json", "--max-wait", "1s", "--concurrency", "2")
    elapsed = time.monotonic() - started

    assert result.exit_code == 3, result.stderr
    assert elapsed < 8
    searches = spotify.stats()["requests"]["search"]
    assert 2 <= searches <= 4  # two workers: at most one request each before the pause, and each after it
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["found"], summary["remaining"]) == ("rate_limited", 0, 6)
    assert "Stopped: Spotify's rate limit went on after 2 answers 429 in a row (1 s waited); come back" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert stored_pause(db_path) >= datetime.now(UTC) + timedelta(seconds=STORM_REST - 5)
    assert set(statuses(db_path).values()) == {"pending"}
    assert table(db_path, "SELECT count(*) FROM isrcs WHERE claimed_by IS NOT NULL") == [(0,)]

    again = cli("sync", "--format", "json")
    later = cli("lookup", codes[0], "--format", "json")
    assert (again.exit_code, later.exit_code) == (3, 3)
    assert "Spotify's rate limit is in force until" in again.stderr
    assert "Spotify's rate limit is in force until" in later.stderr
    assert spotify.stats()["requests"]["search"] == searches
    assert_sound(db_path)

"""``isrcdb stats``: codes by status, freshness, requests saved and made, rate limits, size."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from isrcdb import migrate, store
from isrcdb.clock import from_text
from isrcdb.database import open_database, open_readonly
from isrcdb.stats import DESCRIPTIONS, collect, human_bytes
from tests.conftest import Cli, replica_environment
from tests.dbtools import copy_cache, rows

pytestmark = pytest.mark.databases

FEW, MANY, NONE, SYNTH = "USRC17607839", "FRZ039800212", "GBAAA0000001", "QZSYN2400001"
PENDING, FAILED = "QZSYN2400002", "QZSYN2400003"
FETCHED = "2026-06-01T00:00:00Z"  # stands in for "now" in the template, so that every figure is exact


def at(text: str) -> Callable[[], datetime]:
    """A clock stopped at ``text``."""
    return lambda: datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A cache after real lookups (two of them repeated: two cache hits), a pending and a failed code; and how many
    searches the replica received."""
    root = tmp_path_factory.mktemp("filled")
    database = root / "isrcdb.sqlite3"
    with replica_environment(root, database) as replica:
        cli = Cli()
        assert cli("lookup", FEW, MANY, NONE, SYNTH).exit_code == 1  # NONE is not found
        assert cli("lookup", FEW, MANY).exit_code == 0  # from the cache
        searches = sum(replica.search_count(code) for code in (FEW, MANY, NONE, SYNTH))
    with open_database(database) as cache:
        store.save_error(cache, FAILED, "Spotify answered 503", at("2026-06-01T00:00:05Z")())
        conn = cache.connection()
        conn.execute("INSERT INTO isrcs (isrc, status, first_seen_at) VALUES (?, 'pending', ?)", (PENDING, FETCHED))
        # Pin the lookups' timestamps, so that freshness and the oldest fetch are exact.
        conn.execute(
            "UPDATE isrcs SET fetched_at = ?, expires_at = CASE status WHEN 'found' THEN '2026-07-01T00:00:00Z' "
            "ELSE '2026-06-08T00:00:00Z' END WHERE status != 'pending'",
            (FETCHED,),
        )
        conn.execute("UPDATE isrcs SET fetched_at = '2026-05-01T00:00:00Z' WHERE isrc = ?", (SYNTH,))
    return database, searches


@pytest.fixture
def cache(filled: tuple[Path, int], db_path: Path) -> Path:
    """A private copy of the filled cache, at the test's ISRCDB_DATABASE."""
    copy_cache(filled[0], db_path)
    return db_path


def statistics(database: Path, now: str) -> dict[str, Any]:
    with open_readonly(database) as cache:
        return collect(cache, clock=at(now)).to_dict()


COUNTS = {"codes": 6, "found": 3, "not_found": 1, "pending": 2, "ambiguous": 2, "errors": 1}


@pytest.mark.parametrize(
    ("now", "fresh", "stale"),
    [
        ("2026-06-02T00:00:00Z", 4, 0),  # every answer is fresh
        ("2026-06-08T00:00:00Z", 3, 1),  # the not-found answer expires first (7 days)...
        ("2026-07-01T00:00:00Z", 0, 4),  # ...then the found ones (30 days); pending codes are never counted
    ],
)
def test_codes_are_counted_by_status_and_freshness(
    filled: tuple[Path, int], cache: Path, now: str, fresh: int, stale: int
) -> None:
    figures = statistics(cache, now)
    assert {key: figures[key] for key in [*COUNTS, "fresh", "stale"]} == {**COUNTS, "fresh": fresh, "stale": stale}


def test_requests_saved_and_made_are_the_counters(filled: tuple[Path, int], cache: Path) -> None:
    figures = statistics(cache, "2026-06-02T00:00:00Z")
    _, searches = filled
    assert {key: figures[key] for key in ("cache_hits", "spotify_requests", "rate_limited")} == {
        "cache_hits": 2,
        "spotify_requests": searches,
        "rate_limited": 0,
    }
    assert (figures["oldest_fetch"], figures["newest_fetch"]) == ("2026-05-01T00:00:00Z", FETCHED)


@pytest.mark.parametrize(("now", "in_force"), [("2026-06-01T00:59:59Z", True), ("2026-06-01T01:00:00Z", False)])
def test_the_last_rate_limit_pause_is_reported(cache: Path, now: str, in_force: bool) -> None:
    assert statistics(cache, now)["rate_limited_until"] is None
    with open_database(cache) as database:
        store.set_pause(
            database, "some-app", from_text("2026-06-01T01:00:00Z"), "rate limited", at("2026-06-01T00:00:00Z")()
        )
    figures = statistics(cache, now)
    assert (figures["rate_limited_until"], figures["rate_limit_in_force"]) == ("2026-06-01T01:00:00Z", in_force)


def size_on_disk(location: Path | str) -> int:
    """The bytes the cache takes: the file and its write-ahead log, or the PostgreSQL database."""
    if isinstance(location, str):
        return int(rows(location, "SELECT pg_database_size(current_database())")[0][0])
    wal = location.with_name(location.name + "-wal")
    return location.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_the_size_is_the_database_and_its_log(cache: Path | str) -> None:
    figures = statistics(cache, "2026-06-02T00:00:00Z")
    expected = size_on_disk(cache)
    assert (figures["database"], figures["schema"]) == (str(cache), migrate.HEAD)
    # PostgreSQL's size moves by a page or so as the server writes its own bookkeeping.
    assert abs(figures["database_bytes"] - expected) <= (0 if isinstance(cache, Path) else 64 * 1024)


def test_an_empty_cache_has_zeros_and_no_dates(cli: Cli, db_path: Path) -> None:
    assert cli("db", "upgrade").exit_code == 0
    figures = json.loads(cli("stats", "--format", "json").stdout)
    assert {key: value for key, value in figures.items() if key not in ("database", "database_bytes", "schema")} == {
        **dict.fromkeys(["codes", "found", "not_found", "pending", "fresh", "stale", "ambiguous", "errors"], 0),
        "oldest_fetch": None,
        "newest_fetch": None,
        **dict.fromkeys(["cache_hits", "spotify_requests", "rate_limited"], 0),
        "rate_limited_until": None,
        "rate_limit_in_force": False,
    }


# --- the command line ----------------------------------------------------------------------------------------------


def test_json_is_one_object_of_every_statistic(cli: Cli, cache: Path) -> None:
    result = cli("stats", "--format", "json")
    figures = json.loads(result.stdout)
    assert (result.exit_code, result.stderr, list(figures)) == (0, "", list(DESCRIPTIONS))
    assert {key: figures[key] for key in COUNTS} == COUNTS
    assert all(isinstance(figures[key], int) and not isinstance(figures[key], bool) for key in COUNTS)
    assert isinstance(figures["rate_limit_in_force"], bool)
    assert json.loads(cli("stats", "--format", "jsonl").stdout) == figures


def test_csv_has_a_row_per_statistic(cli: Cli, cache: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(cli("stats", "--format", "csv").stdout)))
    assert [row["statistic"] for row in rows] == list(DESCRIPTIONS)
    assert {row["statistic"]: row["value"] for row in rows}["ambiguous"] == "2"
    assert list(rows[0]) == ["statistic", "value", "description"]


def test_the_table_shows_the_size_for_people(cli: Cli, cache: Path) -> None:
    result = cli("stats", "--format", "json")
    size = json.loads(result.stdout)["database_bytes"]
    result = cli("stats", "--format", "table")
    names = [line.split()[0] for line in result.stdout.splitlines() if line.split() and line.split()[0] in DESCRIPTIONS]
    assert (result.exit_code, result.stderr, names) == (0, "", list(DESCRIPTIONS))
    assert f"database_bytes {human_bytes(size)} ({size} bytes)" in " ".join(result.stdout.split())
    assert "rate_limited_until - " in " ".join(result.stdout.split())


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024**2, "5.0 MiB"), (3 * 1024**3, "3.0 GiB")],
)
def test_sizes_are_written_for_people(size: int, text: str) -> None:
    assert human_bytes(size) == text


def test_stats_without_a_database_is_an_error(cli: Cli, workdir: Path) -> None:
    result = cli("stats", "--db", "missing.sqlite3")
    assert (result.exit_code, result.stdout, result.stderr) == (
        4,
        "",
        "Error: there is no database at missing.sqlite3\n",
    )

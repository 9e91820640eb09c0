"""``isrcdb lookup`` end to end: the real CLI, the real SQLite file, the real HTTP client, the local replica."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from isrcdb import IsrcDB
from isrcdb.cache import CLAIM_WAIT
from isrcdb.clock import to_text
from isrcdb.settings import Settings
from isrcdb.store import HELD
from isrcdb.testing.spotify import SpotifyReplica
from tests.conftest import Cli, run_isrcdb
from tests.dbtools import execute, rows

pytestmark = pytest.mark.databases

FEW, MANY, NONE, STRAY, LOWER = "USRC17607839", "FRZ039800212", "GBAAA0000001", "AUUM71900817", "DEA621100512"


def expire(db_path: Path, code: str) -> None:
    execute(db_path, "UPDATE isrcs SET expires_at = '2000-01-01T00:00:00Z' WHERE isrc = ?", code)


def test_a_miss_is_fetched_and_stored_then_answered_from_the_cache(
    cli: Cli, spotify: SpotifyReplica, db_path: Path
) -> None:
    (first,) = cli.json("lookup", FEW)
    assert (first["status"], first["source"], first["match_count"], first["stale"]) == ("found", "spotify", 3, False)
    assert first["name"] == "Paper Lanterns"
    assert first["artists"] == ["The Velvet Harbour", "Mara Lindqvist"]
    assert spotify.search_count(FEW) == 1

    (second,) = cli.json("lookup", FEW)
    assert second["source"] == "cache"
    assert spotify.search_count(FEW) == 1  # no request at all for a fresh entry
    assert {k: v for k, v in second.items() if k != "source"} == {k: v for k, v in first.items() if k != "source"}
    fetched = datetime.fromisoformat(first["fetched_at"])
    assert datetime.fromisoformat(first["expires_at"]) - fetched == timedelta(days=30)


def test_every_match_is_stored_with_its_full_json(cli: Cli, spotify: SpotifyReplica, db_path: Path) -> None:
    cli.json("lookup", FEW)
    stored = rows(
        db_path,
        "SELECT t.spotify_id, t.json FROM isrc_matches m JOIN track_json t ON t.spotify_id = m.track_id "
        "WHERE m.isrc = ? ORDER BY m.rank",
        FEW,
    )
    assert len(stored) == 3
    for track_id, raw in stored:
        obj = raw if isinstance(raw, dict) else json.loads(raw)  # the view: Spotify's whole object again
        assert obj["id"] == track_id and obj["external_ids"]["isrc"] == FEW
        assert "popularity" not in obj  # stored as the development-mode replica sent it
    assert rows(db_path, "SELECT status, match_count, first_seen_at IS NOT NULL FROM isrcs") == [("found", 3, 1)]
    assert rows(db_path, "SELECT kind FROM isrc_changes WHERE isrc = ?", FEW) == [("found",)]
    assert rows(db_path, "SELECT count(*) FROM track_artists")[0][0] >= 6


def test_a_stale_entry_is_refetched(cli: Cli, spotify: SpotifyReplica, db_path: Path) -> None:
    cli.json("lookup", FEW)
    expire(db_path, FEW)
    (again,) = cli.json("lookup", FEW)
    assert (again["source"], again["stale"]) == ("spotify", False)
    assert spotify.search_count(FEW) == 2


def test_refresh_ignores_freshness(cli: Cli, spotify: SpotifyReplica) -> None:
    cli.json("lookup", FEW)
    (again,) = cli.json("lookup", FEW, "--refresh")
    assert again["source"] == "spotify"
    assert spotify.search_count(FEW) == 2


def test_ttl_option_judges_and_sets_freshness(cli: Cli, spotify: SpotifyReplica) -> None:
    (first,) = cli.json("lookup", FEW, "--ttl", "2h")
    assert datetime.fromisoformat(first["expires_at"]) - datetime.fromisoformat(first["fetched_at"]) == timedelta(
        hours=2
    )
    (again,) = cli.json("lookup", FEW, "--ttl", "0s")
    assert again["source"] == "spotify"
    assert spotify.search_count(FEW) == 2


def test_offline_answers_from_the_cache_whatever_its_age_and_never_calls(
    cli: Cli, spotify: SpotifyReplica, db_path: Path
) -> None:
    cli.json("lookup", FEW)
    expire(db_path, FEW)
    spotify.reset_stats()
    result = cli("lookup", FEW, NONE, "--offline", "--format", "json")
    assert result.exit_code == 3
    cached, missing = json.loads(result.stdout)
    assert (cached["status"], cached["source"], cached["stale"], cached["name"]) == (
        "found",
        "cache",
        True,
        "Paper Lanterns",
    )
    assert (missing["status"], missing["source"], missing["error"]) == (
        "error",
        "none",
        "not in the cache, and --offline does not ask Spotify",
    )
    assert spotify.stats()["requests"]["search"] == 0
    assert spotify.stats()["tokens_issued"] == 0


def test_pagination_reads_every_match_past_ten(cli: Cli, spotify: SpotifyReplica) -> None:
    (result,) = cli.json("lookup", MANY, "--all-matches")
    assert result["match_count"] == 13
    assert len(result["matches"]) == 13
    assert len({m["spotify_id"] for m in result["matches"]}) == 13
    assert result["matches"][0]["spotify_id"] == result["spotify_id"]
    assert spotify.search_count(MANY) == 2  # development mode: at most 10 a page


def test_the_canonical_match_is_the_artists_own_earliest_release(cli: Cli, spotify: SpotifyReplica) -> None:
    (result,) = cli.json("lookup", MANY, "--all-matches")
    first = result["matches"][0]
    assert first["album_type"] in ("album", "single")
    others = [
        m for m in result["matches"][1:] if "Various Artists" not in m["artists"] and m["album_type"] != "compilation"
    ]
    assert all(first["release_date"][:4] <= other["release_date"][:4] for other in others)
    # Cached answers keep the same order.
    (cached,) = cli.json("lookup", MANY, "--all-matches")
    assert [m["spotify_id"] for m in cached["matches"]] == [m["spotify_id"] for m in result["matches"]]


def test_only_exact_isrc_matches_are_kept(cli: Cli, spotify: SpotifyReplica) -> None:
    (stray, lower) = cli.json("lookup", STRAY, LOWER, "--all-matches")
    assert stray["match_count"] == 2  # the third result carries another ISRC
    assert lower["match_count"] == 2  # an item whose ISRC is written de-a62-11-00512 still matches


def test_not_found_is_remembered_with_its_own_ttl(cli: Cli, spotify: SpotifyReplica) -> None:
    (first,) = cli.json("lookup", NONE, code=1)
    assert (first["status"], first["source"], first["match_count"], first["spotify_id"]) == (
        "not_found",
        "spotify",
        0,
        None,
    )
    assert datetime.fromisoformat(first["expires_at"]) - datetime.fromisoformat(first["fetched_at"]) == timedelta(
        days=7
    )
    (second,) = cli.json("lookup", NONE, code=1)
    assert second["source"] == "cache"
    assert spotify.search_count(NONE) == 1


def test_invalid_codes_are_reported_never_stored_and_the_valid_ones_resolved(
    cli: Cli, spotify: SpotifyReplica, db_path: Path
) -> None:
    result = cli("lookup", "XX1234567890", FEW, "US-RC1", "--format", "json")
    assert result.exit_code == 2
    bad, good, short = json.loads(result.stdout)
    assert (bad["status"], bad["error"]) == ("invalid", "unknown country or agency prefix 'XX'")
    assert (short["isrc"], short["status"]) == ("US-RC1", "invalid")
    assert good["status"] == "found"
    assert "Error: 2 invalid codes" in result.stderr
    assert rows(db_path, "SELECT isrc FROM isrcs") == [(FEW,)]


def test_one_result_per_distinct_code_in_input_order(cli: Cli, spotify: SpotifyReplica) -> None:
    results = cli.json("lookup", NONE, FEW, "us-rc1-76-07839", NONE, code=1)
    assert [r["isrc"] for r in results] == [NONE, FEW]
    assert spotify.search_count(FEW) == 1


def test_codes_come_from_a_file_or_stdin(cli: Cli, spotify: SpotifyReplica, workdir: Path) -> None:
    (workdir / "codes.txt").write_bytes(b"\xef\xbb\xbfUSRC17607839\r\n\r\n  FRZ039800212  \r\n")
    assert [r["isrc"] for r in cli.json("lookup", "--file", "codes.txt")] == [FEW, MANY]
    assert [r["isrc"] for r in cli.json("lookup", "--file", "-", input=f"{MANY}\n")] == [MANY]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--refresh", "--offline", FEW], 2, "--refresh and --offline cannot be used together"),
        (["--ttl", "soon", FEW], 2, "--ttl: 'soon' is not a duration"),
        (["--file", "missing.txt"], 2, "cannot read missing.txt: No such file or directory"),
        (["--file", "-"], 2, "no codes given: the input was empty"),
        (["--format", "xml", FEW], 2, "Invalid value for '--format'"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    cli: Cli, spotify: SpotifyReplica, args: list[str], code: int, message: str
) -> None:
    result = cli("lookup", *args, input="")
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    ("codes", "exit_code"),
    [([FEW], 0), ([FEW, NONE], 1), ([NONE], 1), ([FEW, "XX1234567890"], 2), ([NONE, "bad"], 2)],
)
def test_exit_codes(cli: Cli, spotify: SpotifyReplica, codes: list[str], exit_code: int) -> None:
    assert cli("lookup", *codes, "--format", "json").exit_code == exit_code


def test_missing_credentials_are_named(cli: Cli, spotify: SpotifyReplica, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPOTIFY_CLIENT_ID")
    monkeypatch.delenv("SPOTIFY_CLIENT_SECRET")
    result = cli("lookup", FEW, "--format", "json")
    assert result.exit_code == 3
    assert "SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET" in result.stderr
    assert json.loads(result.stdout)[0]["status"] == "error"


def test_a_wrong_secret_is_reported_without_the_secret(
    cli: Cli, spotify: SpotifyReplica, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "wrong-secret-value-123")
    result = cli("lookup", FEW, MANY, "--format", "json")
    assert result.exit_code == 3
    assert "Spotify refused the client credentials (invalid_client: Invalid client secret)" in result.stderr
    assert "wrong-secret-value-123" not in result.stdout + result.stderr
    assert spotify.stats()["tokens_issued"] == 0
    assert spotify.stats()["requests"]["token"] == 1  # the refusal stops the run: no retry per code


def test_a_stale_entry_is_answered_when_spotify_fails(cli: Cli, spotify: SpotifyReplica, db_path: Path) -> None:
    cli.json("lookup", FEW)
    expire(db_path, FEW)
    spotify.inject("503", count=20, route="search")
    result = cli("lookup", FEW, MANY, "--format", "json")
    stale, missing = json.loads(result.stdout)
    assert (stale["status"], stale["source"], stale["stale"]) == ("found", "cache", True)
    assert "Spotify answered 503" in stale["error"]
    assert (missing["status"], missing["source"]) == ("error", "none")
    assert result.exit_code == 3
    assert "answered from the cache (stale)" in result.stderr
    # The stored entry is untouched apart from the noted error.
    assert rows(db_path, "SELECT status, match_count, last_error IS NOT NULL FROM isrcs WHERE isrc = ?", FEW) == [
        ("found", 3, 1)
    ]


def test_a_short_rate_limit_is_waited_out(cli: Cli, spotify: SpotifyReplica) -> None:
    spotify.inject("429", count=1, route="search", retry_after=0)
    (result,) = cli.json("lookup", FEW)
    assert result["status"] == "found"
    assert spotify.stats()["statuses"]["429"] == 1


@pytest.mark.parametrize("kind", ["429", "quota"])
def test_a_long_rate_limit_stops_at_once_and_later_runs_do_not_call(
    cli: Cli, spotify: SpotifyReplica, db_path: Path, kind: str
) -> None:
    spotify.inject(kind, count=1, route="search", retry_after=3600)
    result = cli("lookup", FEW, MANY, "--format", "json")
    assert result.exit_code == 3
    assert "come back after" in result.stderr
    assert [r["status"] for r in json.loads(result.stdout)] == ["error", "error"]
    assert spotify.stats()["requests"]["search"] == 1  # stopped at the first 429
    (until,) = rows(db_path, "SELECT paused_until FROM rate_budgets")[0]
    assert until > to_text(datetime.now(UTC) + timedelta(minutes=59))

    again = cli("lookup", FEW, "--format", "json")
    assert again.exit_code == 3
    assert f"rate limit is in force until {until}" in again.stderr
    assert spotify.stats()["requests"]["search"] == 1


def test_tokens_are_reused_across_runs_and_renewed_once_on_401(
    cli: Cli, spotify: SpotifyReplica, workdir: Path
) -> None:
    cli.json("lookup", FEW)
    cli.json("lookup", MANY)
    assert spotify.stats()["tokens_issued"] == 1
    (token_file,) = (workdir / "xdg-cache" / "isrcdb").glob("token-*.json")
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700

    spotify.revoke_tokens()
    (result,) = cli.json("lookup", NONE, code=1)
    assert result["status"] == "not_found"
    assert spotify.stats()["tokens_issued"] == 2
    assert spotify.stats()["statuses"]["401"] == 1


def test_secrets_never_appear_in_verbose_output(spotify: SpotifyReplica, workdir: Path, database_kind: str) -> None:
    secret = spotify.env()["SPOTIFY_CLIENT_SECRET"]
    first = run_isrcdb("-vv", "lookup", FEW, MANY, "--format", "json")
    spotify.revoke_tokens()
    second = run_isrcdb("-vv", "lookup", NONE, "--refresh", "--format", "json")
    (token_file,) = (workdir / "xdg-cache" / "isrcdb").glob("token-*.json")
    token = json.loads(token_file.read_text())["access_token"]
    assert first.returncode == 0 and second.returncode == 1, (first.stderr, second.stderr)
    assert "GET http://127.0.0.1" in first.stderr  # -vv does log every request
    for output in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert secret not in output and token not in output
    if database_kind == "sqlite":
        database = (workdir / "isrcdb.sqlite3").read_bytes()
        assert secret.encode() not in database and token.encode() not in database
    else:
        dump = repr(rows(os.environ["ISRCDB_DATABASE"], "SELECT * FROM isrcs")) + repr(
            rows(os.environ["ISRCDB_DATABASE"], "SELECT * FROM tracks")
        )
        assert secret not in dump and token not in dump


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_delimited_output_has_a_header_and_flat_values(cli: Cli, spotify: SpotifyReplica, fmt: str) -> None:
    result = cli("lookup", FEW, NONE, "--format", fmt)
    sep = "," if fmt == "csv" else "\t"
    header, found, missing = result.stdout.splitlines()
    assert header.split(sep)[:4] == ["isrc", "status", "source", "stale"]
    assert found.split(sep)[:3] == [FEW, "found", "spotify"]
    assert "The Velvet Harbour; Mara Lindqvist" in found
    assert missing.split(sep)[:3] == [NONE, "not_found", "spotify"]


def test_all_matches_in_csv_gives_a_row_per_match(cli: Cli, spotify: SpotifyReplica) -> None:
    result = cli("lookup", FEW, "--all-matches", "--format", "csv")
    header, *lines = result.stdout.splitlines()
    assert "match_rank" in header.split(",")
    assert len(lines) == 3


def test_jsonl_and_table(cli: Cli, spotify: SpotifyReplica) -> None:
    lines = cli("lookup", FEW, NONE, "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["found", "not_found"]
    table = cli("lookup", FEW)
    assert table.exit_code == 0 and "Paper Lanterns" in table.stdout and FEW in table.stdout


def claim(db_path: Path, code: str, owner: str) -> None:
    """Mark ``code`` as claimed by ``owner`` for an hour, as a sync searching it would."""
    until = to_text(datetime.now(UTC) + timedelta(hours=1))
    execute(db_path, "UPDATE isrcs SET claimed_by = ?, claimed_until = ? WHERE isrc = ?", owner, until, code)


def test_a_code_a_sync_holds_is_waited_for_within_a_bound_per_run_then_searched(
    cli: Cli, spotify: SpotifyReplica, db_path: Path
) -> None:
    assert cli("import", "-", input=f"{FEW}\n{MANY}\n").exit_code == 0
    for code in (FEW, MANY):
        claim(db_path, code, "elsewhere:1:0badc0de")  # a sync on another machine that never answers
    sleeps: list[float] = []
    with IsrcDB(sleep=sleeps.append) as cache:
        results = cache.lookup([FEW, MANY])
    assert [(result.status, result.source) for result in results] == [("found", "spotify")] * 2
    assert sum(sleeps) == pytest.approx(CLAIM_WAIT)  # for both codes together, not for each
    assert (spotify.search_count(FEW), spotify.search_count(MANY)) == (1, 2)


def test_a_code_whose_sync_gave_up_on_it_or_died_is_searched_without_waiting(
    cli: Cli, spotify: SpotifyReplica, db_path: Path
) -> None:
    assert cli("import", "-", input=f"{FEW}\n{NONE}\n").exit_code == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claim(db_path, FEW, f"elsewhere:1:0badc0de{HELD}")  # its search failed in that sync, which holds it aside
    claim(db_path, NONE, f"{socket.gethostname()[:40]}:{dead.pid}:0badc0de")  # a sync killed on this machine
    sleeps: list[float] = []
    with IsrcDB(sleep=sleeps.append) as cache:
        results = cache.lookup([FEW, NONE])
    assert [result.status for result in results] == ["found", "not_found"]
    assert sleeps == []
    assert (spotify.search_count(FEW), spotify.search_count(NONE)) == (1, 1)


def test_python_api_uses_an_injected_clock_for_freshness(spotify: SpotifyReplica, workdir: Path) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    settings = Settings.load(spotify.env() | {"ISRCDB_DATABASE": str(workdir / "api.sqlite3")})
    with IsrcDB(settings=settings, clock=lambda: now[0]) as cache:
        (first,) = cache.lookup([FEW])
        assert (first.status, first.source, first.canonical and first.canonical.name) == (
            "found",
            "spotify",
            "Paper Lanterns",
        )
        now[0] += timedelta(days=29)
        assert cache.lookup([FEW])[0].source == "cache"
        now[0] += timedelta(days=2)
        assert cache.lookup([FEW])[0].source == "spotify"
    assert spotify.search_count(FEW) == 2
    assert os.path.exists(workdir / "api.sqlite3")


def test_answers_encoded_by_sqlite_equal_the_python_encoding(spotify: SpotifyReplica, workdir: Path) -> None:
    """Fresh hits streamed as JSON are encoded by SQLite; they must be exactly what to_dict() gives."""
    codes = [FEW, MANY, NONE, STRAY, LOWER, "JPK651500123", "QZJ842400387", "GBUM71029604", "QZSYN2400007"]
    settings = Settings.load(spotify.env() | {"ISRCDB_DATABASE": str(workdir / "json.sqlite3")})
    with IsrcDB(settings=settings) as cache:
        assert all(result.json is None for result in cache.lookup(codes, as_json=True))  # fetched, not cached
        results = cache.lookup(codes, as_json=True)
    assert [r.source for r in results] == ["cache"] * len(codes)
    for result in results:
        assert result.json is not None
        assert json.loads(result.json) == result.to_dict()
        assert list(json.loads(result.json)) == list(result.to_dict())  # same keys, same order
    assert any(r.canonical and r.canonical.explicit for r in results)
    assert any(r.canonical and not r.canonical.name.isascii() for r in results)


def test_jsonl_of_hits_and_misses_has_one_shape(cli: Cli, spotify: SpotifyReplica) -> None:
    miss = cli("lookup", FEW, NONE, "--format", "jsonl").stdout.splitlines()
    hit = cli("lookup", FEW, NONE, "--format", "jsonl").stdout.splitlines()
    for fetched, cached in zip(miss, hit, strict=True):
        assert list(json.loads(fetched)) == list(json.loads(cached))
        assert {**json.loads(fetched), "source": "cache"} == json.loads(cached)
        assert ", " not in fetched and ", " not in cached  # both compact


SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "spotify-real-responses"
REAL = {  # recorded search responses without a license to copy: read from ../shared when it is there
    "JPPO02100907": ("01_credits_spot_isrc_JPPO02100907_total6.json", 6, "single", "2021-08-13"),
    "JPB609520101": ("02_credits_spot_isrc_JPB609520101_total5.json", 5, "single", "1995-01-01"),
}


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/spotify-real-responses is not beside this checkout")
@pytest.mark.parametrize("code", sorted(REAL))
def test_the_canonical_pick_on_real_responses_is_the_original_single(workdir: Path, code: str) -> None:
    from isrcdb.testing.spotify import Catalogue

    name, count, album_type, release_date = REAL[code]
    with SpotifyReplica(catalogue=Catalogue.from_files([SHARED / name])) as replica:
        settings = Settings.load(replica.env() | {"ISRCDB_DATABASE": str(workdir / "real.sqlite3")})
        with IsrcDB(settings=settings) as cache:
            (result,) = cache.lookup([code], all_matches=True)
    assert result.canonical is not None
    assert (result.match_count, result.canonical.album_type, result.canonical.release_date) == (
        count,
        album_type,
        release_date,
    )
    assert [m.album_type for m in result.matches[1:]].count("compilation") >= 2  # compilations sort last

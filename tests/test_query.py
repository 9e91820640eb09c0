"""``isrcdb query``: one read-only statement, parameters bound as data, a time limit, formats, saved queries."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from isrcdb import query
from isrcdb.cli import app
from isrcdb.database import open_readonly
from isrcdb.database.sqlite_query import Budget, Guard
from tests.conftest import Cli, replica_environment
from tests.dbtools import copy_cache, execute, rows

FEW, MANY, NONE, SYNTH = "USRC17607839", "FRZ039800212", "GBAAA0000001", "QZSYN2400001"
PENDING, FAILED = "QZSYN2400002", "QZSYN2400003"
RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache filled once per module by real lookups against the replica, plus a pending and a failed code."""
    root = tmp_path_factory.mktemp("filled")
    database = root / "isrcdb.sqlite3"
    with replica_environment(root, database):
        result = Cli()("lookup", FEW, MANY, NONE, SYNTH, "--format", "json")
    assert result.exit_code == 1, result.stderr  # NONE is not found
    with contextlib.closing(sqlite3.connect(database)) as conn, conn:
        conn.execute(
            "INSERT INTO isrcs (isrc, status, first_seen_at) VALUES (?, 'pending', '2026-01-01T00:00:00Z')", (PENDING,)
        )
        conn.execute(
            "INSERT INTO isrcs (isrc, status, first_seen_at, last_error, last_error_at) "
            "VALUES (?, 'pending', '2026-01-02T00:00:00Z', 'Spotify answered 503', '2026-01-02T00:00:05Z')",
            (FAILED,),
        )
        conn.execute(
            "INSERT INTO isrc_changes (isrc, changed_at, kind, old_track_id, new_track_id) "
            "VALUES (?, '2020-01-01T00:00:00Z', 'canonical_changed', 'old', 'new')",
            (FEW,),
        )
    return database


def copy_database(source: Path, target: Path | str) -> None:
    copy_cache(source, target)


@pytest.fixture
def cache(template: Path, db_path: Path) -> Path:
    """A private copy of the filled cache, at the test's ISRCDB_DATABASE."""
    copy_database(template, db_path)
    return db_path


def dump(database: Path | str) -> list[str]:
    """The database's full contents: as SQL (schema and rows) for a file; the rows of every table on PostgreSQL."""
    if isinstance(database, str):
        from isrcdb.models import Base

        return [repr(rows(database, f"SELECT * FROM {table.name} ORDER BY 1")) for table in Base.metadata.sorted_tables]
    with contextlib.closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        return list(conn.iterdump())


def files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# --- results and formats -------------------------------------------------------------------------------------------

TWO_ROWS = f"SELECT isrc, match_count FROM lookups WHERE isrc IN ('{FEW}', '{NONE}') ORDER BY isrc"


@pytest.mark.databases
@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("csv", f"isrc,match_count\n{NONE},0\n{FEW},3\n"),
        ("tsv", f"isrc\tmatch_count\n{NONE}\t0\n{FEW}\t3\n"),
        ("jsonl", f'{{"isrc":"{NONE}","match_count":0}}\n{{"isrc":"{FEW}","match_count":3}}\n'),
        ("json", f'[\n  {{"isrc":"{NONE}","match_count":0}},\n  {{"isrc":"{FEW}","match_count":3}}\n]\n'),
    ],
)
def test_rows_are_written_in_each_format(cli: Cli, cache: Path, fmt: str, expected: str) -> None:
    result = cli("query", TWO_ROWS, "--format", fmt)
    assert (result.exit_code, result.stdout, result.stderr) == (0, expected, "")


@pytest.mark.databases
def test_the_table_format_has_a_header_and_a_line_per_row(cli: Cli, cache: Path) -> None:
    result = cli("query", TWO_ROWS)
    lines = result.stdout.splitlines()
    assert (result.exit_code, [line.split() for line in lines]) == (
        0,
        [["isrc", "match_count"], [NONE, "0"], [FEW, "3"]],
    )


@pytest.mark.databases
@pytest.mark.parametrize(("fmt", "expected"), [("csv", "isrc,status\n"), ("tsv", "isrc\tstatus\n"), ("json", "[]\n")])
def test_an_empty_result_still_has_its_header(cli: Cli, cache: Path, fmt: str, expected: str) -> None:
    result = cli("query", "SELECT isrc, status FROM lookups WHERE 1 = 0", "--format", fmt)
    assert (result.exit_code, result.stdout) == (0, expected)


def test_json_keeps_numbers_nulls_and_artists_lists_and_0_1_as_integers(cli: Cli, cache: Path) -> None:
    (row,) = cli.json(
        "query",
        "SELECT isrc, match_count, duration_ms, stale, explicit, artists, 1.5 AS ratio, NULL AS missing "
        "FROM lookups WHERE isrc = :isrc",
        "-p",
        "isrc",
        FEW,
    )
    assert row == {
        "isrc": FEW,
        "match_count": 3,
        "duration_ms": 214306,
        "stale": 0,
        "explicit": 0,
        "artists": ["The Velvet Harbour", "Mara Lindqvist"],
        "ratio": 1.5,
        "missing": None,
    }
    assert [type(row[key]) for key in ("match_count", "stale", "explicit", "ratio")] == [int, int, int, float]


@pytest.mark.databases
def test_artists_of_every_match_are_lists_and_joined_in_csv(cli: Cli, cache: Path) -> None:
    sql = "SELECT rank, artists FROM matches WHERE isrc = :isrc AND rank = 0"
    assert cli.json("query", sql, "-p", "isrc", FEW) == [
        {"rank": 0, "artists": ["The Velvet Harbour", "Mara Lindqvist"]}
    ]
    result = cli("query", sql, "-p", "isrc", FEW, "--format", "csv")
    assert result.stdout == "rank,artists\n0,The Velvet Harbour; Mara Lindqvist\n"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1 AS a, 2 AS a, 3 AS a", [{"a": 1, "a_2": 2, "a_3": 3}]),
        ("SELECT x'00ff' AS blob", [{"blob": {"$base64": True, "encoded": "AP8="}}]),
        ("SELECT 'not json [' AS artists", [{"artists": "not json ["}]),
        ("SELECT '[1, 2]' AS other", [{"other": "[1, 2]"}]),
    ],
)
def test_unusual_values_are_kept(cli: Cli, cache: Path, sql: str, expected: list[dict[str, object]]) -> None:
    assert cli.json("query", sql) == expected


@pytest.mark.databases
def test_the_statement_can_come_from_standard_input(cli: Cli, cache: Path) -> None:
    result = cli("query", "-", "--format", "csv", input="SELECT count(*) AS codes FROM lookups\n")
    assert (result.exit_code, result.stdout) == (0, "codes\n6\n")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"SELECT '\xff'", "the SQL on standard input is not UTF-8 text: byte 0xff at offset 8 cannot be read"),
        (b"SELECT 1 -- caf\xe9", "the SQL on standard input is not UTF-8 text: byte 0xe9 at offset 15 cannot be read"),
    ],
)
def test_a_statement_on_standard_input_that_is_not_utf8_is_a_usage_error(
    cli: Cli, cache: Path, data: bytes, message: str
) -> None:
    result = cli.runner.invoke(app, ["query", "-"], input=data, catch_exceptions=False)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")


def test_a_statement_on_standard_input_may_start_with_a_byte_order_mark(cli: Cli, cache: Path) -> None:
    result = cli.runner.invoke(app, ["query", "-", "-F", "csv"], input="\ufeffSELECT 1 AS one".encode())
    assert (result.exit_code, result.stdout) == (0, "one\n1\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["SELECT '\udcff'"], "the SQL or a parameter is not valid UTF-8 text (bytes ff at character 9)"),
        (
            ["SELECT :x", "-p", "x", "a\udcc3"],
            "the SQL or a parameter is not valid UTF-8 text (bytes c3 at character 2)",
        ),
    ],
)
def test_arguments_that_were_not_utf8_are_a_usage_error(cli: Cli, cache: Path, args: list[str], message: str) -> None:
    # Bytes that are not UTF-8 on the command line reach Python as lone surrogates (surrogateescape).
    result = cli("query", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")


def test_read_only_pragmas_are_allowed(cli: Cli, cache: Path) -> None:
    result = cli("query", "SELECT name FROM pragma_table_info('matches') LIMIT 3", "--format", "csv")
    assert (result.exit_code, result.stdout) == (0, "name\nisrc\nrank\ncanonical\n")
    result = cli("query", "PRAGMA index_list(isrc_matches)", "--format", "json")
    assert result.exit_code == 0
    assert cli.json("query", "PRAGMA query_only") == [{"query_only": 1}]


# --- writes are refused ------------------------------------------------------------------------------------------

NOT_AUTHORIZED = "is not allowed: isrcdb query only reads, the database was not changed (SQLite: not authorized)"

REFUSED = [
    ("DELETE FROM isrcs", f"DELETE {NOT_AUTHORIZED}"),
    ("UPDATE isrcs SET status = 'pending'", f"UPDATE {NOT_AUTHORIZED}"),
    ("INSERT INTO counters (name, value) VALUES ('cache_hits', 1000)", f"INSERT {NOT_AUTHORIZED}"),
    ("REPLACE INTO counters (name, value) VALUES ('cache_hits', 1000)", f"INSERT {NOT_AUTHORIZED}"),
    ("INSERT INTO meta VALUES ('k', 'v', 'now') RETURNING *", f"INSERT {NOT_AUTHORIZED}"),
    ("DROP TABLE isrcs", f"DROP TABLE {NOT_AUTHORIZED}"),
    ("DROP VIEW lookups", f"DROP VIEW {NOT_AUTHORIZED}"),
    (
        "WITH doomed AS (SELECT isrc FROM isrcs) DELETE FROM isrcs WHERE isrc IN (SELECT isrc FROM doomed)",
        f"DELETE {NOT_AUTHORIZED}",
    ),
    ("ATTACH DATABASE 'attached.sqlite3' AS other", f"ATTACH {NOT_AUTHORIZED}"),
    ("DETACH DATABASE main", f"DETACH {NOT_AUTHORIZED}"),
    ("PRAGMA writable_schema = 1", f"PRAGMA writable_schema with a value {NOT_AUTHORIZED}"),
    ("PRAGMA user_version = 7", f"PRAGMA user_version with a value {NOT_AUTHORIZED}"),
    ("PRAGMA journal_mode = DELETE", f"PRAGMA journal_mode with a value {NOT_AUTHORIZED}"),
    ("PRAGMA query_only = 0", f"PRAGMA query_only with a value {NOT_AUTHORIZED}"),
    ("PRAGMA wal_checkpoint", f"PRAGMA wal_checkpoint {NOT_AUTHORIZED}"),
    (
        "VACUUM INTO 'copy.sqlite3'",
        "VACUUM is not allowed: isrcdb query only reads, the database was not changed (SQLite: authorization denied)",
    ),
    (
        "VACUUM",
        "VACUUM is not allowed: isrcdb query only reads, the database was not changed (SQLite: authorization denied)",
    ),
    ("CREATE TABLE scratch (x)", f"CREATE TABLE {NOT_AUTHORIZED}"),
    ("CREATE TEMP TABLE scratch (x)", f"CREATE TEMP TABLE {NOT_AUTHORIZED}"),
    ("CREATE INDEX ix_name ON tracks (name)", f"CREATE INDEX {NOT_AUTHORIZED}"),
    ("ALTER TABLE isrcs ADD COLUMN note TEXT", f"ALTER TABLE {NOT_AUTHORIZED}"),
    ("ANALYZE", f"ANALYZE {NOT_AUTHORIZED}"),
    ("REINDEX", f"REINDEX {NOT_AUTHORIZED}"),
    ("BEGIN IMMEDIATE", f"BEGIN, COMMIT and ROLLBACK {NOT_AUTHORIZED}"),
    ("SAVEPOINT s", f"SAVEPOINT {NOT_AUTHORIZED}"),
    (
        "UPDATE sqlite_master SET sql = '' WHERE name = 'isrcs'",
        "UPDATE would write, and isrcdb query only reads; the database was not changed "
        "(SQLite: table sqlite_master may not be modified)",
    ),
    (
        "SELECT 1; DELETE FROM isrcs",
        "only one SQL statement can run at a time: remove everything after the first ';' (nothing was run)",
    ),
    (
        "SELECT 1; ATTACH 'second.sqlite3' AS second",
        "only one SQL statement can run at a time: remove everything after the first ';' (nothing was run)",
    ),
]


@pytest.mark.parametrize(("sql", "message"), REFUSED, ids=[sql.split("(")[0][:40] for sql, _ in REFUSED])
def test_every_kind_of_write_is_refused_and_nothing_changes(
    cli: Cli, cache: Path, workdir: Path, sql: str, message: str
) -> None:
    assert cli("query", "SELECT 1").exit_code == 0  # opens the database once, so its -wal/-shm files exist
    before, listing = dump(cache), files(workdir)

    result = cli("query", sql)

    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")
    assert dump(cache) == before
    assert files(workdir) == listing  # ATTACH and VACUUM INTO created no file


@pytest.mark.databases
def test_a_write_hidden_in_a_parameter_is_only_data(cli: Cli, cache: Path) -> None:
    before = dump(cache)
    hostile = "x'); DROP TABLE isrcs; --"
    assert cli.json("query", "SELECT :v AS v", "-p", "v", hostile) == [{"v": hostile}]
    assert cli.json("query", "SELECT isrc FROM lookups WHERE isrc = :isrc", "-p", "isrc", f"{FEW}' OR '1'='1") == []
    assert dump(cache) == before


@pytest.mark.parametrize(
    ("action", "arg1", "arg2", "allowed"),
    [
        (sqlite3.SQLITE_SELECT, None, None, True),
        (sqlite3.SQLITE_READ, "isrcs", "isrc", True),
        (sqlite3.SQLITE_FUNCTION, None, "json_extract", True),
        (sqlite3.SQLITE_RECURSIVE, None, None, True),
        (sqlite3.SQLITE_PRAGMA, "table_info", "lookups", True),
        (sqlite3.SQLITE_PRAGMA, "user_version", None, True),
        (sqlite3.SQLITE_PRAGMA, "USER_VERSION", "3", False),
        (sqlite3.SQLITE_PRAGMA, "writable_schema", None, False),
        (sqlite3.SQLITE_PRAGMA, "optimize", None, False),
        (sqlite3.SQLITE_UPDATE, "sqlite_master", "sql", True),  # SQLite's own bookkeeping; it refuses user updates
        (sqlite3.SQLITE_UPDATE, "isrcs", "status", False),
        (sqlite3.SQLITE_INSERT, "isrcs", None, False),
        (sqlite3.SQLITE_ATTACH, "", None, False),
        (sqlite3.SQLITE_CREATE_TEMP_VIEW, "v", None, False),
    ],
)
def test_the_guard_allows_only_reading(action: int, arg1: str | None, arg2: str | None, allowed: bool) -> None:
    expected = sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY
    assert Guard()(action, arg1, arg2, "main", None) == expected


# --- parameters ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "bound"),
    [
        ("42", "integer", 42),
        ("-7", "integer", -7),
        ("0", "integer", 0),
        ("9223372036854775807", "integer", 9223372036854775807),
        ("9223372036854775808", "text", "9223372036854775808"),
        ("007", "text", "007"),
        ("+5", "text", "+5"),
        ("1.5", "text", "1.5"),
        ("2026-11-01", "text", "2026-11-01"),
        ("", "text", ""),
        (FEW, "text", FEW),
    ],
)
def test_whole_numbers_bind_as_integers_anything_else_as_text(
    cli: Cli, cache: Path, value: str, kind: str, bound: object
) -> None:
    assert cli.json("query", "SELECT typeof(:v) AS kind, :v AS v", "-p", "v", value) == [{"kind": kind, "v": bound}]


@pytest.mark.databases
@pytest.mark.parametrize(
    ("sql", "params", "expected"),
    [
        ("SELECT isrc FROM lookups WHERE status = :status", ["-p", "status", "not_found"], [NONE]),
        ("SELECT isrc FROM matches WHERE rank = :r AND isrc = :i", ["-p", "r", "0", "-p", "i", FEW], [FEW]),
        ("SELECT isrc FROM lookups WHERE match_count > :n ORDER BY isrc", ["-p", "n", "2"], [MANY, FEW]),
        ("SELECT isrc FROM lookups WHERE release_date LIKE :year || '%'", ["-p", "year", "2017"], [FEW]),
        ("SELECT isrc FROM lookups ORDER BY isrc LIMIT :n", ["-p", ":n", "2"], [MANY, NONE]),
    ],
)
def test_named_parameters_select_rows(cli: Cli, cache: Path, sql: str, params: list[str], expected: list[str]) -> None:
    assert [row["isrc"] for row in cli.json("query", sql, *params)] == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["SELECT :a"],
            "query parameters: You did not supply a value for binding parameter :a. "
            "(give named parameters with -p NAME VALUE)",
        ),
        (["SELECT :a", "-p", "a", "1", "-p", "a", "2"], "the parameter :a is given twice"),
        (["SELECT 1", "-p", "a b", "1"], "'a b' is not a parameter name: use letters, digits and _ (e.g. -p since 7d)"),
        (
            ["SELECT ?", "-p", "a", "1"],
            "query parameters: Binding 1 has no name, but you supplied a dictionary (which has only names). "
            "(give named parameters with -p NAME VALUE)",
        ),
    ],
)
def test_parameter_mistakes_are_usage_errors(cli: Cli, cache: Path, args: list[str], message: str) -> None:
    result = cli("query", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")


def test_a_parameter_needs_a_name_and_a_value(cli: Cli, cache: Path) -> None:
    result = cli("query", "SELECT :a", "-p", "a")
    assert result.exit_code == 2
    assert "requires 2 arguments" in result.stderr


# --- errors and the time limit -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC 1", 'SQL error: near "SELEC": syntax error'),
        ("SELECT * FROM nowhere", "SQL error: no such table: nowhere"),
        ("SELECT missing FROM lookups", "SQL error: no such column: missing"),
        ("SELECT json_extract('{', '$')", "SQL error: malformed JSON"),
        ("   ", 'the SQL is empty: give one statement, e.g. "SELECT * FROM lookups LIMIT 5"'),
        ("/* just a comment */", "the SQL has no statement that returns rows (only comments, or nothing to read)"),
    ],
)
def test_sql_mistakes_name_sqlites_message_without_a_traceback(cli: Cli, cache: Path, sql: str, message: str) -> None:
    result = cli("query", sql)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")


@pytest.mark.databases
def test_a_runaway_query_is_stopped_after_the_timeout(cli: Cli, cache: Path) -> None:
    started = time.monotonic()
    result = cli("query", RUNAWAY, "--timeout", "0.5")
    elapsed = time.monotonic() - started
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: the query ran for more than 0.5 s and was stopped; "
        "give it longer with --timeout SECONDS (0: no limit)\n"
    )
    assert 0.5 <= elapsed < 2.5


def test_timeout_zero_means_no_limit(cli: Cli, cache: Path) -> None:
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT count(*) AS n FROM c"
    assert cli.json("query", sql, "--timeout", "0") == [{"n": 200000}]


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_only_time_inside_sqlite_counts_towards_the_limit(cache: Path) -> None:
    clock = FakeClock()
    with open_readonly(cache) as database:
        result = query.run(database, "SELECT isrc FROM lookups ORDER BY isrc", timeout=1.0, monotonic=clock)
        seen = []
        for row in result.rows:
            clock.now += 10.0  # the reader is slow: this time is spent outside SQLite
            seen.append(row["isrc"])
    assert len(seen) == 6


@pytest.mark.parametrize(("used", "inside", "expired"), [(0.0, 0.4, False), (0.5, 0.4, False), (0.7, 0.4, True)])
def test_the_budget_adds_up_time_spent_inside_sqlite(used: float, inside: float, expired: bool) -> None:
    clock = FakeClock()
    budget = Budget(1.0, clock, used=used)
    with budget.running():
        clock.now += inside
        assert budget() == int(expired)
    assert budget.expired == expired
    assert budget.used == pytest.approx(used + inside)


# --- saved queries -------------------------------------------------------------------------------------------------


def test_saved_alone_lists_the_saved_queries(cli: Cli) -> None:
    listed = cli.json("query", "--saved")
    assert [entry["name"] for entry in listed] == ["stale", "not_found", "ambiguous", "changed", "pending", "errors"]
    assert cli.json("query", "--list") == listed
    assert listed[3]["parameters"].startswith("since (default 7d): ")


@pytest.mark.databases
@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("not_found", [], [NONE]),
        ("ambiguous", [], [MANY, FEW]),
        ("pending", [], [PENDING, FAILED]),
        ("errors", [], [FAILED]),
        ("stale", [], []),
        ("changed", [], [SYNTH, MANY, FEW]),
        ("changed", ["-p", "since", "2000-01-01"], [SYNTH, MANY, FEW, FEW]),
        ("changed", ["-p", "since", "2999-01-01T00:00:00Z"], []),
        ("changed", ["-p", "since", "100w"], [SYNTH, MANY, FEW]),
    ],
)
def test_saved_queries_list_their_codes(
    cli: Cli, cache: Path, name: str, params: list[str], expected: list[str]
) -> None:
    # (the template's lookups found FEW, MANY and SYNTH in that order, now; FEW also has a change dated 2020)
    rows = cli.json("query", "--saved", name, *params)
    assert [row["isrc"] for row in rows] == expected


@pytest.mark.databases
def test_the_stale_query_lists_expired_answers(cli: Cli, cache: Path) -> None:
    execute(cache, "UPDATE isrcs SET expires_at = '2001-01-01T00:00:00Z' WHERE isrc = ?", MANY)
    execute(cache, "UPDATE isrcs SET expires_at = '2000-01-01T00:00:00Z' WHERE isrc = ?", NONE)
    result = cli("query", "--saved", "stale", "--format", "csv")
    assert result.stdout.splitlines()[0] == "isrc,status,fetched_at,expires_at,name,artists"
    assert [line.split(",")[:2] for line in result.stdout.splitlines()[1:]] == [[NONE, "not_found"], [MANY, "found"]]


@pytest.mark.databases
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--saved", "nope"],
            "there is no saved query 'nope'; "
            "the saved queries are: stale, not_found, ambiguous, changed, pending, errors",
        ),
        (["--saved", "changed", "-p", "sinse", "1d"], "the saved query 'changed' takes :since, not :sinse"),
        (["--saved", "stale", "-p", "since", "1d"], "the saved query 'stale' takes no parameters, not :since"),
        (
            ["--saved", "changed", "-p", "since", "last tuesday"],
            "since: 'last tuesday' is neither a duration (7d, 12h) "
            "nor a date or time (2026-11-01, 2026-11-01T08:00:00Z)",
        ),
    ],
)
def test_saved_query_mistakes_are_usage_errors(cli: Cli, cache: Path, args: list[str], message: str) -> None:
    result = cli("query", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")


def test_every_saved_query_is_documented(cli: Cli) -> None:
    schema = (Path(__file__).parent.parent / "docs" / "schema.md").read_text(encoding="utf-8")
    for saved in query.SAVED_QUERIES:
        assert f"| `{saved.name}` |" in schema
        assert saved.description in schema


# --- the command line ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "give one SQL statement (or - to read it from standard input), or --saved NAME, or --list"),
        (["SELECT 1", "--db", "missing.sqlite3"], 4, "there is no database at missing.sqlite3"),
    ],
)
def test_command_line_mistakes(cli: Cli, workdir: Path, args: list[str], code: int, message: str) -> None:
    result = cli("query", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", f"Error: {message}\n")


def test_the_help_names_the_default_timeout(cli: Cli) -> None:
    result = cli("query", "--help")
    assert f"(default {query.DEFAULT_TIMEOUT:g})" in " ".join(result.stdout.split())


@pytest.mark.databases
def test_rows_are_streamed_from_a_generator(cache: Path) -> None:
    with open_readonly(cache) as database:
        result = query.run(database, "SELECT isrc FROM lookups ORDER BY isrc")
        assert isinstance(result.rows, Iterator)
        assert result.columns == ["isrc"]
        assert next(result.rows) == {"isrc": MANY}
        assert json.dumps(list(result.rows))

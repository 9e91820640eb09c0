"""The environment: unusable databases and directories, credentials, ``.env`` files and settings.

Each case ends in one clear ``Error: ...`` line on stderr and the documented exit code (2 usage or configuration,
3 Spotify, 4 database or environment), never a traceback, and leaves the database file as it was.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from isrcdb import IsrcDB
from isrcdb.database import sqlite as sqlite_database
from isrcdb.settings import Settings
from isrcdb.testing.spotify import SpotifyReplica
from tests.conftest import Cli, run_isrcdb
from tests.reliability.crashkit import synthetic_codes
from tests.reliability.helpers import FEW, SEED, assert_sound, statuses, without_created_note

# Every command that opens the database, with what it needs to run.
COMMANDS: dict[str, list[str]] = {
    "lookup": ["lookup", FEW],
    "lookup-offline": ["lookup", FEW, "--offline"],
    "import": ["import", "codes.txt"],
    "sync": ["sync"],
    "query": ["query", "SELECT 1"],
    "stats": ["stats"],
    "export": ["export"],
    "db-upgrade": ["db", "upgrade"],
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real cache holding 150 answers, its WAL folded into the file (built once, copied by each test)."""
    path = tmp_path_factory.mktemp("template") / "cache.sqlite3"
    with SpotifyReplica() as replica:
        settings = Settings.from_mapping(replica.env()).with_options(database=path, cache_dir=path.parent)
        with IsrcDB(settings=settings) as cache:
            assert {result.status for result in cache.lookup([FEW, *synthetic_codes(150)])} == {"found"}
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def good_database(path: Path, template: Path) -> None:
    shutil.copy(template, path)


def not_sqlite(path: Path, template: Path) -> None:
    path.write_text("SPOTIFY_CLIENT_ID=this is a text file, not a database\n" * 50)


def corrupt_header(path: Path, template: Path) -> None:
    good_database(path, template)
    data = bytearray(path.read_bytes())
    data[4096:] = bytes((index * 7) % 256 for index in range(len(data) - 4096))
    path.write_bytes(bytes(data))


def corrupt_pages(path: Path, template: Path) -> None:
    """The schema pages intact, the data pages after them garbage: opening works, reading fails."""
    good_database(path, template)
    data = bytearray(path.read_bytes())
    rng = random.Random(SEED)
    half = len(data) // 4096 // 2 * 4096
    data[half:] = bytes(rng.randrange(256) for _ in range(len(data) - half))
    path.write_bytes(bytes(data))


def newer_schema(path: Path, template: Path) -> None:
    good_database(path, template)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def half_created(path: Path, template: Path) -> None:
    """What an older isrcdb killed while creating a database left: some tables, no schema revision."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.execute("CREATE TABLE albums (id VARCHAR(64) NOT NULL PRIMARY KEY, name TEXT NOT NULL)")


BROKEN: list[tuple[str, Callable[[Path, Path], None], str]] = [
    ("not-sqlite", not_sqlite, "is not an isrcdb database (or is corrupt): file is not a database."),
    ("corrupt-header", corrupt_header, "is not an isrcdb database (or is corrupt): database disk image is malformed"),
    ("newer-schema", newer_schema, "was made by a newer version of isrcdb (schema revision '9999', this isrcdb knows"),
    ("half-created", half_created, "is not an isrcdb database"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
@pytest.mark.parametrize(("make", "message"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_an_unusable_database_is_refused_clearly_and_left_unchanged(
    cli: Cli,
    spotify: SpotifyReplica,
    workdir: Path,
    template: Path,
    command: str,
    make: Callable[[Path, Path], None],
    message: str,
) -> None:
    path = workdir / "cache.sqlite3"
    make(path, template)
    (workdir / "codes.txt").write_text(FEW + "\n")
    before = path.read_bytes()
    result = cli(*COMMANDS[command], "--db", str(path))
    assert result.exit_code == 4, result.stderr
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert path.read_bytes() == before  # never repaired, migrated or downgraded behind the user's back


@pytest.mark.parametrize("command", ["lookup", "lookup-offline", "sync", "stats", "export"])
def test_a_database_corrupt_beyond_its_first_pages_is_an_error_not_a_traceback(
    cli: Cli, spotify: SpotifyReplica, workdir: Path, template: Path, command: str
) -> None:
    path = workdir / "cache.sqlite3"
    corrupt_pages(path, template)
    args = [*COMMANDS[command], *(synthetic_codes(150) if command.startswith("lookup") else ())]
    result = cli(*args, "--db", str(path))
    assert result.exit_code == 4, result.stderr
    assert result.stderr.startswith("Error: ") and "database disk image is malformed" in result.stderr


def test_the_schema_of_a_newer_isrcdb_is_named_by_db_current(cli: Cli, workdir: Path, template: Path) -> None:
    path = workdir / "cache.sqlite3"
    newer_schema(path, template)
    result = cli("db", "current", "--db", str(path))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "9999 (made by a newer isrcdb)\n", "")


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("a-file.txt/cache.sqlite3", "cannot create the directory a-file.txt: a-file.txt is a file, not a directory"),
        ("a-file.txt/sub/cache.sqlite3", "directory a-file.txt/sub: a-file.txt is a file, not a directory"),
        ("/proc/isrcdb.sqlite3", "cannot write the database /proc/isrcdb.sqlite3: unable to open database file"),
        ("/proc/version", "cannot write the database /proc/version: unable to open database file"),
        (".", "is a directory, not a database file"),
    ],
)
@pytest.mark.parametrize("command", ["lookup", "import", "sync", "db-upgrade"])
def test_a_place_where_no_database_can_be_written_is_refused_clearly(
    cli: Cli, spotify: SpotifyReplica, workdir: Path, where: str, message: str, command: str
) -> None:
    (workdir / "a-file.txt").write_text("not a directory\n")
    (workdir / "codes.txt").write_text(FEW + "\n")
    result = cli(*COMMANDS[command], "--db", where)
    assert (result.exit_code, result.stdout) == (4, "")
    if command == "sync" and where != "/proc/version":  # sync needs an existing cache: it names the path
        message = f"there is no database at {where}"
    assert result.stderr.startswith("Error: ") and message in result.stderr, result.stderr
    assert (workdir / "a-file.txt").read_text() == "not a directory\n"


def test_a_token_cache_that_cannot_be_written_costs_a_warning_and_nothing_else(
    spotify: SpotifyReplica, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "a-file.txt").write_text("")
    monkeypatch.setenv("ISRCDB_CACHE_DIR", str(workdir / "a-file.txt" / "cache"))
    result = run_isrcdb("lookup", FEW, "--format", "json")  # a real process: the warning goes through logging
    assert result.returncode == 0
    assert without_created_note(result.stderr) == (
        f"cannot cache the access token in {workdir}/a-file.txt/cache: Not a directory\n"
    )


# --- credentials --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "Error: no Spotify credentials: set SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET"),
        ({"SPOTIFY_CLIENT_ID": "test-client-id"}, "Error: no Spotify credentials"),
        ({"SPOTIFY_CLIENT_ID": "  ", "SPOTIFY_CLIENT_SECRET": "test-client-secret"}, "Error: no Spotify credentials"),
        (
            {"SPOTIFY_CLIENT_ID": "test-client-id", "SPOTIFY_CLIENT_SECRET": "wrong"},
            "Error: Spotify refused the client credentials (invalid_client: Invalid client secret); check "
            "SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET",
        ),
        (
            {"SPOTIFY_CLIENT_ID": "someone-else", "SPOTIFY_CLIENT_SECRET": "test-client-secret"},
            "Error: Spotify refused the client credentials (invalid_client: Invalid client)",
        ),
    ],
    ids=["none", "no-secret", "blank-id", "wrong-secret", "unknown-client"],
)
@pytest.mark.parametrize("command", ["lookup", "sync"])
def test_missing_or_wrong_credentials_stop_with_exit_3_and_store_nothing(
    cli: Cli,
    spotify: SpotifyReplica,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    message: str,
    command: str,
) -> None:
    assert cli("import", "-", input="GBAAA0000001\n").exit_code == 0
    for name in ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = cli(command, *([FEW] if command == "lookup" else ()))
    assert result.exit_code == 3
    assert message_line(result.stderr, "Error: ").startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    assert set(statuses(db_path).values()) == {"pending"}  # at most the failure noted, nothing found
    assert spotify.stats()["requests"]["search"] == 0


def message_line(stderr: str, prefix: str) -> str:
    return next((line for line in stderr.splitlines() if line.startswith(prefix)), "")


# --- .env files ---------------------------------------------------------------------------------------------------

SECRET = "s3cr#t value"
"""The replica's secret for the .env tests: a space and a #, the two things quoting is for."""


@pytest.mark.parametrize(
    ("content", "secret"),
    [
        ("SPOTIFY_CLIENT_ID=test-client-id\nSPOTIFY_CLIENT_SECRET='s3cr#t value'\n", SECRET),
        ('SPOTIFY_CLIENT_ID="test-client-id"\nSPOTIFY_CLIENT_SECRET="s3cr#t value"\n', SECRET),
        ("export SPOTIFY_CLIENT_ID=test-client-id\nexport SPOTIFY_CLIENT_SECRET='s3cr#t value'\n", SECRET),
        ("SPOTIFY_CLIENT_ID=test-client-id # my app\nSPOTIFY_CLIENT_SECRET=plain  # a comment\n", "plain"),
        ("SPOTIFY_CLIENT_ID = test-client-id\nSPOTIFY_CLIENT_SECRET  =  plain\n", "plain"),
        ("SPOTIFY_CLIENT_ID=test-client-id\r\nSPOTIFY_CLIENT_SECRET='s3cr#t value'\r\n", SECRET),
        ("SPOTIFY_CLIENT_ID=test-client-id\nSPOTIFY_CLIENT_SECRET=ab#cd\n", "ab#cd"),
        ("\ufeffSPOTIFY_CLIENT_ID=test-client-id\nSPOTIFY_CLIENT_SECRET=plain\n", "plain"),
        ("# my Spotify app\n\nCLIENT_ID=test-client-id\nCLIENT_SECRET=plain\nISRCDB_MARKET=\n", "plain"),
        ("not a variable at all\nSPOTIFY_CLIENT_ID=test-client-id\nSPOTIFY_CLIENT_SECRET=plain\n", "plain"),
    ],
    ids=[
        "single-quotes",
        "double-quotes",
        "export-prefix",
        "inline-comments",
        "spaces-around-equals",
        "crlf",
        "hash-in-value",
        "byte-order-mark",
        "short-names-comments-empty-value",
        "a-line-that-is-not-a-variable",
    ],
)
def test_a_dotenv_file_is_read_the_way_shells_and_python_dotenv_read_it(
    cli: Cli,
    replica: Callable[..., SpotifyReplica],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: str,
    secret: str,
) -> None:
    server = replica(client_secret=secret)
    for name in ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    (workdir / ".env").write_bytes(content.encode("utf-8"))
    result = cli("lookup", FEW, "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    assert server.stats()["tokens_issued"] == 1
    assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (b"SPOTIFY_CLIENT_ID=test-client-id\nSPOTIFY_CLIENT_SECRET=\n", 3, "Error: no Spotify credentials"),
        (b"SPOTIFY_CLIENT_ID=test-client-id\nSPOTIFY_CLIENT_SECRET=''\n", 3, "Error: no Spotify credentials"),
        (b"SPOTIFY_CLIENT_ID=test-client-id\nSPOTIFY_CLIENT_SECRET\n", 3, "Error: no Spotify credentials"),
        (b"\xff\xfeS\x00P\x00\x00\x00garbage", 2, "Error: cannot read "),
        (b"ISRCDB_TTL=forever\n", 2, "Error: ISRCDB_TTL: 'forever' is not a duration"),
    ],
    ids=["empty-secret", "empty-quoted-secret", "no-equals", "binary", "bad-value"],
)
def test_an_unusable_dotenv_file_ends_in_a_clear_message(
    cli: Cli,
    spotify: SpotifyReplica,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: bytes,
    code: int,
    message: str,
) -> None:
    for name in ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    (workdir / ".env").write_bytes(content)
    result = cli("lookup", FEW)
    assert result.exit_code == code
    assert message in result.stderr


# --- settings out of range ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ISRCDB_TTL": "99999999999d"}, "Error: ISRCDB_TTL: '99999999999d' is too long"),
        ({"ISRCDB_TTL": "3000000d"}, "Error: ISRCDB_TTL: '3000000d' is too long"),
        ({"ISRCDB_NOT_FOUND_TTL": "3000000d"}, "Error: ISRCDB_NOT_FOUND_TTL: '3000000d' is too long"),
        ({"ISRCDB_MAX_WAIT": "99999999999999d"}, "Error: ISRCDB_MAX_WAIT: '99999999999999d' is too long"),
        ({"ISRCDB_READ_TIMEOUT": "3000000d"}, "Error: ISRCDB_READ_TIMEOUT: '3000000d' is too long"),
        ({"ISRCDB_CONNECT_TIMEOUT": "1e400"}, "Error: ISRCDB_CONNECT_TIMEOUT: '1e400' is not a duration"),
    ],
)
def test_settings_out_of_range_are_refused_naming_the_variable(
    cli: Cli, spotify: SpotifyReplica, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = cli("lookup", FEW)
    assert result.exit_code == 2
    assert result.stderr.startswith(message), result.stderr


@pytest.mark.parametrize(
    ("ttl", "code", "stderr"),
    [
        ("36500d", 0, ""),
        ("36501d", 2, "Error: --ttl: '36501d' is too long (at most 36500 days)\n"),
        ("3000000d", 2, ""),
    ],
)
def test_a_ttl_option_beyond_a_hundred_years_is_a_usage_error(
    cli: Cli, spotify: SpotifyReplica, db_path: Path, ttl: str, code: int, stderr: str
) -> None:
    result = cli("lookup", FEW, "--ttl", ttl, "--format", "json")
    assert result.exit_code == code
    quiet = without_created_note(result.stderr) == ""
    assert stderr in result.stderr and "is too long" in result.stderr if code else quiet
    assert statuses(db_path) == ({FEW: "found"} if code == 0 else {})


@pytest.mark.parametrize(
    "args",
    [
        ["lookup", FEW, "--ttl", "99999999999d"],
        ["sync", "--max-wait", "99999999999d"],
        ["sync", "--older-than", "99999999999d"],
        ["sync", "--older-than", "3000000d"],
    ],
)
def test_a_duration_option_too_large_for_a_timedelta_is_a_usage_error(
    cli: Cli, spotify: SpotifyReplica, args: list[str]
) -> None:
    result = cli(*args)
    assert result.exit_code == 2


def test_a_database_left_locked_beyond_the_busy_timeout_is_reported_not_raised(
    cli: Cli, spotify: SpotifyReplica, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("lookup", FEW).exit_code == 0
    monkeypatch.setattr(sqlite_database, "BUSY_TIMEOUT_MS", 200)
    with sqlite3.connect(db_path, isolation_level=None) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        result = cli("lookup", "FRZ039800212", "--format", "json")
        holder.execute("ROLLBACK")
    assert result.exit_code == 4
    assert "stayed locked by another isrcdb" in result.stderr
    assert_sound(db_path)

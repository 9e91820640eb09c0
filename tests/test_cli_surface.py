"""The command line as a new user meets it: files read the same way everywhere, feedback on long work, a
mistyped database path, a read-only cache, a stored rate-limit pause, shell completion, and -v/-q anywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from isrcdb.cache import IsrcDB
from isrcdb.cli import hoist_verbosity
from isrcdb.cli.progress import Feedback
from isrcdb.importer import detect_delimiter
from tests.conftest import Cli, run_isrcdb

FEW, FRZ, SYN = "USRC17607839", "FRZ039800212", "QZSYN2400001"


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- reading files ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("title,isrc\nA,USRC17607839\n", ","),
        ("title;isrc\nA;USRC17607839\n", ";"),
        ("title\tisrc\nA\tUSRC17607839\n", "\t"),
        ("title|isrc\nA|USRC17607839\n", "|"),
        ('"Title, full";ISRC;Year\n"A, b";USRC17607839;2019\n', ";"),
        ('"Artist; Title"|ISRC\n"x; y"|USRC17607839\n', "|"),
        ("title;isrc\nHello, world;USRC17607839\nBye, now;FRZ039800212\n", ";"),
        ("ISRC\nUSRC17607839\n", None),
    ],
)
def test_the_csv_separator_is_recognised_with_quotes_respected(text: str, delimiter: str | None) -> None:
    assert detect_delimiter(text.splitlines(keepends=True)) == delimiter


def test_a_quoted_header_cell_holding_a_comma_does_not_defeat_the_reader(cli: Cli, workdir: Path) -> None:
    path = write(workdir / "songs.csv", f'"Title, full";ISRC;Year\n"Paper, Lanterns";{FEW};2017\nSoleil;{FRZ};1998\n')
    report = cli.json("import", path)
    assert (report["format"], report["column"], report["added"], report["invalid"]) == ("csv", "ISRC", 2, 0)


@pytest.mark.parametrize("name", [";", "semicolon"])
def test_delimiter_overrides_the_detection_on_import(cli: Cli, workdir: Path, name: str) -> None:
    # Two cells by commas and two by semicolons: only --delimiter can tell which is meant.
    path = write(workdir / "odd.csv", f"a,b;ISRC\nx,y;{FEW}\n")
    assert cli.json("import", path, code=2)["column"] == "b;ISRC"  # the first of the likely ones, by commas
    report = cli.json("import", path, "--delimiter", name)
    assert (report["column"], report["added"]) == ("ISRC", 1)


def test_a_bad_delimiter_is_one_error_line(cli: Cli, workdir: Path) -> None:
    result = cli("import", write(workdir / "c.txt", f"{FEW}\n"), "--delimiter", "ab")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --delimiter: 'ab' is not a separator; give one character, or tab, comma, semicolon or pipe\n"
    )


def test_import_counts_repeats_in_the_file_as_duplicates_not_as_known(cli: Cli, workdir: Path) -> None:
    path = write(workdir / "codes.txt", f"{FEW}\n{FRZ}\nusrc-17607839\n{FEW}\n")
    first = cli.json("import", path)
    assert (first["added"], first["already_known"], first["duplicates"]) == (2, 0, 2)
    again = cli.json("import", path)
    assert (again["added"], again["already_known"], again["duplicates"]) == (0, 2, 2)
    text = cli("import", path)
    assert text.stderr.endswith(f"Imported {path}: 0 added, 2 already known, 2 duplicates in the file, 0 invalid.\n"), (
        text.stderr
    )


def test_lookup_reads_a_csv_file_as_import_does(cli: Cli, workdir: Path, spotify: Any) -> None:
    path = write(workdir / "songs.csv", f'"Title, full";ISRC\n"Paper, Lanterns";{FEW}\nSoleil;{FRZ}\n')
    results = cli.json("lookup", "--file", path)
    assert [(row["isrc"], row["status"]) for row in results] == [(FEW, "found"), (FRZ, "found")]
    piped = cli.json("lookup", "--file", "-", "--delimiter", "|", "--column", "code", input=f"x|code\ny|{FEW}\n")
    assert [row["isrc"] for row in piped] == [FEW]


def test_lookup_refuses_delimiter_without_a_file(cli: Cli) -> None:
    result = cli("lookup", FEW, "--delimiter", ";")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --delimiter separates the columns of the --file; give --file too\n",
    )


# --- a database that is not there ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["sync"], ["sync", "--dry-run"], ["stats"], ["export"], ["query", "SELECT 1"], ["db", "current"]],
)
def test_a_command_on_a_missing_database_exits_4_naming_it_and_creates_nothing(
    cli: Cli, workdir: Path, command: list[str]
) -> None:
    typo = workdir / "catalog.sqlite3"
    result = cli(*command, "--db", str(typo))
    assert result.exit_code == 4, result.stderr
    assert result.stderr.startswith(f"Error: there is no database at {typo}")
    assert result.stdout == ""
    assert sorted(path.name for path in workdir.iterdir() if "sqlite3" in path.name) == []


@pytest.mark.parametrize(
    "command",
    [["lookup", "--offline", FEW, "--format", "csv"], ["import", "-"], ["db", "upgrade"]],
)
def test_commands_that_create_a_database_say_so_once(cli: Cli, workdir: Path, command: list[str]) -> None:
    new = workdir / "new.sqlite3"
    result = cli(*command, "--db", str(new), input=f"{FEW}\n")
    assert new.is_file()
    assert result.stderr.count(f"Created a new database at {new}.") == 1, result.stderr
    again = cli(*command, "--db", str(new), input=f"{FEW}\n")
    assert "Created" not in again.stderr
    assert [path.name for path in workdir.iterdir() if path.name.endswith("migrate-lock")] == []


# --- a database that cannot be written ----------------------------------------------------------------------------


def _filled_cache(workdir: Path, cli: Cli) -> Path:
    folder = workdir / "ro"
    folder.mkdir()
    database = folder / "cache.sqlite3"
    assert cli("lookup", FEW, "--db", str(database), "--format", "csv").exit_code == 0
    return database


def _runner(prefix: list[str], database: Path) -> Any:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [*prefix, sys.executable, "-m", "isrcdb", *args, "--db", str(database), "--format", "csv"]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, env=dict(os.environ))

    return run


def _check_read_only(run: Any, database: Path) -> None:
    offline = run("lookup", "--offline", FEW)
    assert (offline.returncode, offline.stderr) == (0, "")
    assert offline.stdout.splitlines()[1].startswith(f"{FEW},found,cache,")
    fresh = run("lookup", FEW)  # a fresh hit counts itself when it can, and still answers when it cannot
    assert (fresh.returncode, fresh.stderr) == (0, "")
    assert fresh.stdout.splitlines()[1].startswith(f"{FEW},found,cache,")
    needs_write = run("lookup", SYN)
    assert needs_write.returncode == 4
    assert needs_write.stderr.startswith(f"Error: cannot write the database file {database}: the file is read-only")
    assert "directory" not in needs_write.stderr


def test_a_read_only_database_file_still_answers_from_the_cache(cli: Cli, workdir: Path, spotify: Any) -> None:
    database = _filled_cache(workdir, cli)
    database.chmod(0o444)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root writes whatever the mode: drop the capabilities that let it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv, so a mode 0444 file stays writable")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    _check_read_only(_runner(prefix, database), database)


def test_a_database_on_a_read_only_mount_still_answers_from_the_cache(cli: Cli, workdir: Path, spotify: Any) -> None:
    database = _filled_cache(workdir, cli)
    folder = str(database.parent)
    mount = f'mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && exec "$@"'
    probe = subprocess.run(["unshare", "-m", "sh", "-c", mount, "sh", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("cannot make a read-only mount here (needs unshare and mount in a private namespace)")
    _check_read_only(_runner(["unshare", "-m", "sh", "-c", mount, "sh"], database), database)


# --- the rate-limit pause -----------------------------------------------------------------------------------------


def test_a_stored_pause_shows_in_stats_and_is_cleared_on_purpose(cli: Cli, workdir: Path, spotify: Any) -> None:
    assert cli("lookup", FEW, "--format", "csv").exit_code == 0
    with IsrcDB() as cache:
        until = cache.note_rate_limit(3600, "quota exceeded")
    stats = cli("stats", "--format", "json")
    assert json.loads(stats.stdout)["rate_limit_in_force"] is True
    assert stats.stderr.startswith("Note: Spotify's rate limit: this Spotify app may not call Spotify again before")
    assert "isrcdb db clear-pause" in stats.stderr
    held = cli("lookup", SYN, "--format", "csv")
    assert held.exit_code == 3 and spotify.search_count(SYN) == 0

    cleared = cli("db", "clear-pause")
    assert cleared.exit_code == 0
    assert cleared.stderr == (
        f"Cleared the rate-limit pause (it ran until {until:%Y-%m-%dT%H:%M:%SZ}); Spotify is asked again now.\n"
    )
    assert json.loads(cli("stats", "--format", "json").stdout)["rate_limit_in_force"] is False
    assert cli("stats").stderr == ""
    assert cli("db", "clear-pause").stderr == "No rate-limit pause was stored for this Spotify app; nothing to clear.\n"
    assert cli("lookup", SYN, "--format", "csv").exit_code == 0


def test_sync_ignore_pause_clears_it_and_asks_spotify(cli: Cli, workdir: Path, spotify: Any) -> None:
    cli.json("import", write(workdir / "codes.txt", f"{SYN}\n"))
    with IsrcDB() as cache:
        cache.note_rate_limit(timedelta(hours=2).total_seconds(), "rate limited")
    assert cli("sync").exit_code == 3
    assert spotify.search_count(SYN) == 0
    result = cli("sync", "--ignore-pause")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("Note: the stored rate-limit pause was cleared (--ignore-pause)")
    assert spotify.search_count(SYN) == 1


def test_a_pause_of_other_credentials_does_not_hold_these(
    cli: Cli, workdir: Path, spotify: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("lookup", FEW, "--format", "csv").exit_code == 0
    with IsrcDB() as cache:
        cache.note_rate_limit(3600, "quota exceeded")
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "another-app")
    assert json.loads(cli("stats", "--format", "json").stdout)["rate_limit_in_force"] is False


# --- feedback -----------------------------------------------------------------------------------------------------


def test_progress_lines_in_a_log_come_at_a_steady_interval(capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    with Feedback("sync", terminal=False, interval=60, clock=lambda: now[0]) as feedback:
        for done in range(1, 301):
            now[0] = done * 1.0  # one code a second
            feedback.update(done, 300)
    assert capsys.readouterr().err.splitlines() == [
        "sync: 60 of 300 codes done, 1.0 codes/s, 1m 00s elapsed",
        "sync: 120 of 300 codes done, 1.0 codes/s, 2m 00s elapsed",
        "sync: 180 of 300 codes done, 1.0 codes/s, 3m 00s elapsed",
        "sync: 240 of 300 codes done, 1.0 codes/s, 4m 00s elapsed",
        "sync: 300 of 300 codes done, 1.0 codes/s, 5m 00s elapsed",
    ]


def test_sync_and_lookup_write_progress_lines_when_stderr_is_not_a_terminal(
    cli: Cli, workdir: Path, spotify: Any
) -> None:
    cli.json("import", write(workdir / "codes.txt", f"{FEW}\n{FRZ}\n"))
    result = cli("sync", "--progress-interval", "0")
    lines = result.stderr.splitlines()
    assert [line.split(",")[0] for line in lines[:2]] == ["sync: 1 of 2 codes done", "sync: 2 of 2 codes done"]
    assert lines[2].startswith("Synced 2 codes in ")
    quiet = cli("lookup", SYN, "QZSYN2400002", "--format", "csv", "--progress-interval", "0")
    assert [line.split(",")[0] for line in quiet.stderr.splitlines()] == [
        "lookup: 1 of 2 codes done",
        "lookup: 2 of 2 codes done",
    ]
    assert cli("sync", "--all", "--progress-interval", "3600").stderr.startswith("Synced 4 codes")


def test_the_sync_summary_and_the_saved_query_changed_tell_the_same_story(
    cli: Cli, workdir: Path, spotify: Any
) -> None:
    cli.json("import", write(workdir / "codes.txt", f"{FEW}\n{FRZ}\n{SYN}\n"))
    result = cli("sync")
    assert "3 found, 0 not found; 3 first found, 0 changed, 0 newly not found" in result.stderr
    summary = cli.json("sync", "--all")
    assert (summary["first_found"], summary["changed"]) == (0, 0)
    changes = cli.json("query", "--saved", "changed", "-p", "since", "1d")
    assert sorted((row["isrc"], row["kind"]) for row in changes) == [(FRZ, "found"), (SYN, "found"), (FEW, "found")]


# --- -v and -q on both sides --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "hoisted"),
    [
        (["sync", "-q"], ["-q", "sync"]),
        (["-q", "sync"], ["-q", "sync"]),
        (["lookup", "X", "-vv", "--db", "a"], ["-vv", "lookup", "X", "--db", "a"]),
        (["db", "current", "--verbose"], ["--verbose", "db", "current"]),
        (["lookup", "--", "-q"], ["lookup", "--", "-q"]),
        (["query", "SELECT 1", "-F", "csv"], ["query", "SELECT 1", "-F", "csv"]),
    ],
)
def test_verbosity_flags_move_before_the_command(args: list[str], hoisted: list[str]) -> None:
    assert hoist_verbosity(args) == hoisted


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_silences_all_but_errors_on_either_side_of_the_command(workdir: Path, where: str) -> None:
    codes = write(workdir / "codes.txt", f"{FEW}\nbad\n")
    loud = run_isrcdb("import", codes)
    assert "Imported" in loud.stderr
    args = ["-q", "import", codes] if where == "before" else ["import", codes, "-q"]
    quiet = run_isrcdb(*args)
    assert (quiet.returncode, quiet.stderr) == (2, "")
    missing = ["-q", "stats", "--db", "nope.sqlite3"] if where == "before" else ["stats", "--db", "nope.sqlite3", "-q"]
    error = run_isrcdb(*missing)
    assert error.returncode == 4 and error.stderr.startswith("Error: there is no database at nope.sqlite3")


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_works_on_either_side_of_the_command(workdir: Path, spotify: Any, where: str) -> None:
    args = ["-vv", "lookup", FEW] if where == "before" else ["lookup", FEW, "-vv"]
    result = run_isrcdb(*args, "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert "DEBUG" in result.stderr
    assert spotify.client_secret not in result.stderr


def test_help_shows_verbose_as_a_counting_flag(cli: Cli) -> None:
    result = cli("--help")
    line = next(line for line in result.stdout.splitlines() if "--verbose" in line)
    assert "<int>" not in line and "INTEGER" not in line
    assert any("--quiet" in line for line in result.stdout.splitlines())


# --- shell completion and help ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "_isrcdb_completion()"), ("zsh", "#compdef isrcdb"), ("fish", "complete --command isrcdb")],
)
def test_show_completion_prints_a_script_for_each_shell(workdir: Path, shell: str, marker: str) -> None:
    # The shell is given explicitly (Typer's switch for this), so no real shell needs to run the test.
    result = run_isrcdb("--show-completion", shell, env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert "_ISRCDB_COMPLETE" in result.stdout


def test_completion_offers_the_commands(workdir: Path) -> None:
    result = run_isrcdb(env={"_ISRCDB_COMPLETE": "complete_bash", "COMP_WORDS": "isrcdb db c", "COMP_CWORD": "2"})
    assert sorted(result.stdout.split()) == ["clear-pause", "current"]


def test_lookup_help_lists_its_exit_codes(cli: Cli) -> None:
    text = " ".join(cli("lookup", "--help").stdout.split())
    assert "Exit status: 0 every code found; 1 some not found on Spotify; 2 an invalid code" in text
    assert "130 after Ctrl-C" in text


# --- the replica's own command ------------------------------------------------------------------------------------


def test_the_replica_running_one_command_does_not_ask_for_ctrl_c(workdir: Path) -> None:
    command = [sys.executable, "-m", "isrcdb.testing.spotify", "--", sys.executable, "-c", "print('ran')"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, "ran\n")
    assert "Ctrl-C" not in result.stderr


def test_the_replica_server_prints_export_lines_to_paste(workdir: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "isrcdb.testing.spotify"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n") for _ in range(6)]
    finally:
        process.terminate()
        process.communicate(timeout=15)
    api = lines[0].rsplit(" ", 1)[1]
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines[2:])
    assert exports == {
        "SPOTIFY_CLIENT_ID": "test-client-id",
        "SPOTIFY_CLIENT_SECRET": "test-client-secret",
        "ISRCDB_SPOTIFY_API_URL": api,
        "ISRCDB_SPOTIFY_TOKEN_URL": api.removesuffix("/v1") + "/api/token",
    }

"""Output in pipes and files: tab-separated lines by default, a streamed table on request, one format vocabulary,
one way to write numbers and durations, and usage errors as one ``Error:`` line.

The CLI runs through CliRunner (its stdout is no terminal) or as a real process with pipes; the table's layout on a
real terminal is tests/test_terminal_layout.py's.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from isrcdb.cli import app
from isrcdb.output import (
    DATA_FORMATS,
    EXPORT_FORMATS,
    REPORT_FORMATS,
    SAMPLE_ROWS,
    number,
    plain_lines,
    plural,
    table_lines,
)
from isrcdb.testing.spotify import SpotifyReplica
from tests.conftest import Cli, run_isrcdb
from tests.reliability.measure import measured_command, peak_environment, read_peak_mib

FEW, NONE = "USRC17607839", "GBAAA0000001"
ID = "f0nLqh13v1c8GJE4AQcMFC"


@pytest.fixture
def empty_cache(cli: Cli) -> None:
    assert cli("db", "upgrade").exit_code == 0


# --- piped defaults --------------------------------------------------------------------------------------------------


def test_a_piped_query_is_tab_separated_lines_with_a_header_by_default(cli: Cli, empty_cache: None) -> None:
    result = cli(
        "query", "SELECT 'USRC17607839' AS isrc, 'Paper Lanterns' AS name, 3 AS n UNION ALL SELECT 'X', NULL, 0"
    )
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "isrc\tname\tn\nUSRC17607839\tPaper Lanterns\t3\nX\t\t0\n",
        "",
    )


def test_piped_lines_keep_one_row_per_line_and_show_control_characters_escaped(cli: Cli, empty_cache: None) -> None:
    result = cli("query", "SELECT 'a' || char(9) || 'b' || char(10) || 'c' || char(27) || '[31m' AS v, 'x' AS w")
    assert (result.exit_code, result.stdout) == (0, "v\tw\na\\tb\\nc\\x1b[31m\tx\n")
    exact = cli("query", "SELECT 'a' || char(9) || 'b' AS v", "--format", "tsv")
    assert exact.stdout == 'v\n"a\tb"\n'  # tsv keeps the value exact, quoted as CSV does


def test_a_piped_lookup_gives_every_field_as_tab_separated_lines(cli: Cli, spotify: SpotifyReplica) -> None:
    result = cli("lookup", FEW, NONE)
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert result.exit_code == 1
    assert lines[0][:3] == ["isrc", "status", "source"] and lines[0][-1] == "error" and "spotify_url" in lines[0]
    assert [line[:2] for line in lines[1:]] == [[FEW, "found"], [NONE, "not_found"]]
    assert all(len(line) == len(lines[0]) for line in lines)


def test_piped_all_matches_are_one_line_per_match(cli: Cli, spotify: SpotifyReplica) -> None:
    result = cli("lookup", FEW, "--all-matches")
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    rank = lines[0].index("match_rank")
    assert [line[rank] for line in lines[1:]] == ["0", "1", "2"]


def test_stats_piped_are_machine_values(cli: Cli, empty_cache: None) -> None:
    result = cli("stats")
    rows = dict(line.split("\t")[:2] for line in result.stdout.splitlines())
    assert rows["statistic"] == "value" and rows["database_bytes"].isdigit() and rows["codes"] == "0"


# --- the table in a pipe: streamed -----------------------------------------------------------------------------------


def endless() -> Iterator[dict[str, Any]]:
    for n in itertools.count():
        yield {"isrc": f"QZSYN26{n:05d}", "name": f"Track number {n}"}


def test_the_table_streams_sized_from_its_first_rows() -> None:
    lines = list(itertools.islice(table_lines(endless(), width=None), SAMPLE_ROWS + 10))
    assert lines[0] == "isrc          name\n"
    assert lines[SAMPLE_ROWS] == f"QZSYN26{SAMPLE_ROWS - 1:05d}  Track number {SAMPLE_ROWS - 1}\n"
    # Read after the columns were sized, a longer name is cut to the width of the first ones.
    assert lines[SAMPLE_ROWS + 5] == f"QZSYN26{SAMPLE_ROWS + 4:05d}  Track number 10\u2026\n"


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        (None, ["isrc          name                         spotify_id", f"{FEW}  A long name for a recording  {ID}"]),
        (52, ["isrc          name            spotify_id", f"{FEW}  A long name f\u2026  {ID}"]),
    ],
)
def test_names_are_cut_with_an_ellipsis_and_codes_stay_whole(width: int | None, expected: list[str]) -> None:
    rows = [{"isrc": FEW, "name": "A long name for a recording", "spotify_id": ID, "error": None}]
    assert [line.rstrip("\n") for line in table_lines(rows, width=width)] == expected


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        (50, ["isrc          source   name          album", f"{FEW}  spotify  Paper Lante\u2026  Harbour Ligh\u2026"]),
        (40, ["isrc          name          album", f"{FEW}  Paper Lante\u2026  Harbour Lig\u2026"]),
        (36, ["isrc          name", f"{FEW}  Paper Lanterns"]),
    ],
)
def test_optional_columns_go_before_names_become_unreadable(width: int, expected: list[str]) -> None:
    rows = [{"isrc": FEW, "source": "spotify", "name": "Paper Lanterns", "album": "Harbour Lights (Deluxe Edition)"}]
    assert [line.rstrip("\n") for line in table_lines(rows, width=width, optional=["source", "album"])] == expected


def test_piped_lines_stream() -> None:
    lines = list(itertools.islice(plain_lines(endless()), 3))
    assert lines == ["isrc\tname\n", "QZSYN2600000\tTrack number 0\n", "QZSYN2600001\tTrack number 1\n"]


# --- memory and time of 50,000 piped rows ----------------------------------------------------------------------------

ROWS = 50_000
SQL = (
    "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 50000) "
    "SELECT printf('QZSYN26%05d', n) AS isrc, 'A recording called number ' || n AS name, "
    "'The Artist ' || (n % 97) AS artists, printf('2019-%02d-01', n % 12 + 1) AS release_date FROM s"
)


def piped_query(workdir: Path, *extra: str) -> tuple[float, float, int]:
    """Seconds, peak MiB and lines of ``isrcdb query`` of 50,000 rows into a pipe, as the child measured itself."""
    env, peak = peak_environment(workdir)
    started = time.monotonic()
    result = subprocess.run(
        measured_command("query", SQL, "--timeout", "0", *extra),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=workdir,
    )
    seconds = time.monotonic() - started
    assert (result.returncode, result.stderr) == (0, "")
    return seconds, read_peak_mib(peak), result.stdout.count("\n")


def test_50000_rows_piped_as_the_default_or_a_table_cost_about_what_csv_costs(
    cli: Cli, empty_cache: None, workdir: Path
) -> None:
    csv_seconds, csv_peak, csv_lines = piped_query(workdir, "--format", "csv")
    for extra in ([], ["--format", "table"]):
        seconds, peak, lines = piped_query(workdir, *extra)
        assert lines == csv_lines == ROWS + 1
        assert peak < csv_peak + 10, (extra, peak, csv_peak)  # flat: 50,000 rows held at once would be ~100 MB
        assert seconds < csv_seconds * 3 + 2, (extra, seconds, csv_seconds)


# --- one set of format names, one way to write durations and numbers -------------------------------------------------

COMMANDS = {"lookup": DATA_FORMATS, "query": DATA_FORMATS, "stats": DATA_FORMATS, "export": EXPORT_FORMATS}
COMMANDS.update({"import": REPORT_FORMATS, "sync": REPORT_FORMATS})


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_takes_its_formats_from_one_definition_with_f(name: str) -> None:
    command: Any = get_command(app)
    option = next(param for param in command.commands[name].params if param.name == "fmt")
    assert sorted(option.opts) == ["--format", "-F"]
    assert option.help.startswith(", ".join(fmt.value for fmt in COMMANDS[name]) + ".")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_format_a_command_does_not_offer_is_a_usage_error(cli: Cli, empty_cache: None, name: str) -> None:
    result = cli(name, "-F", "xml")
    offered = ", ".join(fmt.value for fmt in COMMANDS[name])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"Error: Invalid value for '--format' / '-F': 'xml' is not one of {offered} (see 'isrcdb {name} --help')\n"
    )


def test_format_names_are_case_insensitive(cli: Cli, empty_cache: None) -> None:
    assert cli("query", "SELECT 1 AS x", "-F", "JSON").stdout == '[\n  {"x":1}\n]\n'


@pytest.mark.parametrize("timeout", ["10s", "2m", "5", "0.5", "0"])
def test_query_timeout_takes_a_duration_like_every_duration_option(cli: Cli, empty_cache: None, timeout: str) -> None:
    result = cli("query", "SELECT 1 AS x", "--timeout", timeout, "-F", "csv")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "x\n1\n", "")


def test_a_timeout_that_is_no_duration_is_a_usage_error(cli: Cli, empty_cache: None) -> None:
    result = cli("query", "SELECT 1", "--timeout", "soon")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --timeout: 'soon' is not a duration: write a number and a unit, e.g. 90s, 15m, 12h, 30d\n",
    )


@pytest.mark.parametrize(
    ("value", "word", "text"), [(0, "code", "0 codes"), (1, "code", "1 code"), (1234567, "row", "1,234,567 rows")]
)
def test_counts_are_written_one_way(value: int, word: str, text: str) -> None:
    assert plural(value, word) == text
    assert number(value) == text.split()[0]


def test_the_export_summary_writes_its_count_like_the_others(cli: Cli, empty_cache: None, workdir: Path) -> None:
    result = cli("export", "--output", "cache.csv")
    assert (result.exit_code, result.stderr) == (0, "Exported 0 rows to cache.csv\n")


# --- usage errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lookup", "--bogus"], "No such option: --bogus (see 'isrcdb lookup --help')"),
        (["query", "SELECT 1", "-p", "a"], "Option '-p' requires 2 arguments."),
        (["frobnicate"], "No such command 'frobnicate'. (see 'isrcdb --help')"),
        (
            ["sync", "--limit", "0"],
            "Invalid value for '--limit' / '-n': 0 is not in the range x>=1. (see 'isrcdb sync --help')",
        ),
    ],
)
def test_a_usage_error_in_a_pipe_is_one_error_line(workdir: Path, args: list[str], message: str) -> None:
    result = run_isrcdb(*args, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")


def test_no_command_still_prints_the_help(workdir: Path) -> None:
    result = run_isrcdb(timeout=60)
    assert result.returncode == 2 and "Usage: isrcdb" in result.stdout and result.stderr == ""


def test_the_help_of_format_names_the_piped_default(cli: Cli) -> None:
    text = "".join(cli("lookup", "--help").stdout.replace("\u2502", "").split())
    assert "(tableonaterminal,elsetab-separatedlines)" in text


def test_piped_output_of_a_real_process_is_lines(cli: Cli, empty_cache: None) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "isrcdb", "query", "SELECT 1 AS a, 2 AS b"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert (result.returncode, result.stdout) == (0, "a\tb\n1\t2\n")


@pytest.mark.parametrize("fmt", ["json", "jsonl", "JSONL"])
def test_a_summary_in_json_or_jsonl_is_one_json_line_on_stdout(cli: Cli, workdir: Path, fmt: str) -> None:
    (workdir / "codes.txt").write_text(f"{FEW}\n")
    result = cli("import", "codes.txt", "-F", fmt)
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 1
    assert json.loads(result.stdout)["added"] == 1

"""The table on a real terminal: the CLI runs as its own process on a pseudo-terminal of 80 or 120 columns.

Codes, Spotify ids and dates are never split, a row never folds onto a second line, long names are cut with an
ellipsis, a column empty in every row is left out, and ``--all-matches`` is one block per code. Messages on a
terminal wrap between words at its width.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from isrcdb.output import cell_width
from isrcdb.testing.spotify import SpotifyReplica
from isrcdb.testing.spotify.sample import FEW_RELEASES, MANY_RELEASES, NON_ASCII, NOT_FOUND, ONE_RELEASE
from tests.conftest import Cli

CODES = [FEW_RELEASES, MANY_RELEASES, ONE_RELEASE, NON_ASCII, NOT_FOUND[0]]
STYLE = re.compile(r"\x1b\[[0-9;]*m")


def on_a_terminal(columns: int, *args: str, timeout: float = 60) -> tuple[int, list[str]]:
    """Run ``python -m isrcdb ARGS`` with stdout and stderr on a pseudo-terminal ``columns`` wide (set as the
    terminal's own size, as a resized window would be, with no COLUMNS variable); its exit code and screen lines."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "isrcdb", *args], stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, env=env
    )
    os.close(slave)
    screen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the program has closed the terminal's other side
                    break
                if not chunk:
                    break
                screen += chunk
            elif process.poll() is not None:
                break
        process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    text = STYLE.sub("", screen.decode("utf-8", "replace"))
    return process.returncode, text.replace("\r\n", "\n").splitlines()


@pytest.fixture
def answers(cli: Cli, spotify: SpotifyReplica) -> list[dict[str, object]]:
    """The five codes looked up once (so that the terminal runs answer from the cache), with every match."""
    result = cli("lookup", *CODES, "--all-matches", "--format", "json")
    assert result.exit_code == 1  # one code is not on Spotify
    return list(json.loads(result.stdout))


def assert_fits(lines: list[str], columns: int) -> None:
    too_wide = [line for line in lines if cell_width(line) > columns]
    assert too_wide == [], f"lines wider than {columns} columns: {too_wide}"


@pytest.mark.parametrize("columns", [80, 120])
def test_codes_ids_and_dates_stay_whole_and_each_row_is_one_line(
    answers: list[dict[str, object]], columns: int
) -> None:
    code, lines = on_a_terminal(columns, "lookup", *CODES)
    assert code == 1
    assert_fits(lines, columns)
    header, rows = lines[0].split(), lines[1:]
    assert header[:2] == ["isrc", "status"] and header[-2:] == ["release_date", "spotify_id"]
    assert len(rows) == len(CODES)  # nothing folded onto a second line
    for answer, row in zip(answers, rows, strict=True):
        assert row.startswith(f"{answer['isrc']}  "), row
        for key in ("spotify_id", "release_date"):
            if answer[key]:
                assert f" {answer[key]}" in row, (key, row)


@pytest.mark.parametrize("columns", [80, 120])
def test_an_empty_error_column_is_left_out_and_long_names_are_cut_with_an_ellipsis(
    answers: list[dict[str, object]], columns: int
) -> None:
    _, lines = on_a_terminal(columns, "lookup", *CODES)
    assert "error" not in lines[0].split()
    assert any("\u2026" in line for line in lines[1:])  # "Soleil d'hiver - Radio Mix" is longer than its column


def test_at_120_columns_every_column_is_shown(answers: list[dict[str, object]]) -> None:
    _, lines = on_a_terminal(120, "lookup", *CODES)
    assert lines[0].split() == ["isrc", "status", "source", "name", "artists", "album", "release_date", "spotify_id"]


def test_an_error_is_a_column_when_a_row_has_one(answers: list[dict[str, object]]) -> None:
    code, lines = on_a_terminal(80, "lookup", "--offline", "XX1234567890", FEW_RELEASES)
    assert code == 2
    assert lines[0].split()[-1] == "error" and lines[1].startswith("XX1234567890  invalid  ")
    assert lines[2].startswith(f"{FEW_RELEASES}  found  ")
    assert_fits(lines, 80)


@pytest.mark.parametrize("columns", [80, 120])
def test_all_matches_is_one_readable_block_per_code(answers: list[dict[str, object]], columns: int) -> None:
    code, lines = on_a_terminal(columns, "lookup", *CODES, "--all-matches")
    assert code == 1
    assert_fits(lines, columns)
    blocks = "\n".join(lines).split("\n\n")
    assert len(blocks) == len(CODES)
    for answer, block in zip(answers, blocks, strict=True):
        heading, *matches = block.split("\n")
        assert heading.split()[:2] == [answer["isrc"], answer["status"]]
        expected = answer["matches"]
        assert isinstance(expected, list) and len(matches) == len(expected)
        for rank, (match, line) in enumerate(zip(expected, matches, strict=True), 1):
            assert line.startswith(f"  {rank}.")
            assert f" {match['spotify_id']} " in line and f" {match['release_date']} " in line, line


def test_an_explicit_machine_format_on_a_terminal_is_that_format(answers: list[dict[str, object]]) -> None:
    code, lines = on_a_terminal(80, "lookup", FEW_RELEASES, "--format", "jsonl")
    assert code == 0 and json.loads(lines[0])["isrc"] == FEW_RELEASES


def test_a_long_message_wraps_between_words_at_80_columns(cli: Cli, workdir: Path) -> None:
    (workdir / "codes.txt").write_text("".join(f"QZSYN26{n:05d}\n" for n in range(1, 1235)))
    assert cli("import", "codes.txt").exit_code == 0
    code, lines = on_a_terminal(80, "sync", "--dry-run")
    assert code == 0
    assert_fits(lines, 80)
    text = " ".join(line.strip() for line in lines)
    assert text.startswith("Dry run: would fetch 1,234 codes (1,234 pending,") and "Nothing was fetched." in text


def test_a_usage_error_on_a_terminal_is_shown_with_its_usage(workdir: Path) -> None:
    code, lines = on_a_terminal(80, "lookup", "--bogus")
    assert code == 2
    assert lines[0].startswith("Usage: isrcdb lookup") and any("No such option: --bogus" in line for line in lines)

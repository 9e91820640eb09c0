"""``isrcdb import`` end to end: files in, pending rows out, through the real CLI and SQLite file, never Spotify."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from isrcdb.database import open_database
from isrcdb.importer import MAX_LINE, import_file
from tests.conftest import Cli, run_isrcdb
from tests.dbtools import execute, exists, rows

pytestmark = pytest.mark.databases

FEW, ONE, SYN = "USRC17607839", "GBUM71029604", "QZSYN2400001"
REMOVED = "characters once hyphens and spaces are removed, not 12"


def stored(db_path: Path) -> list[tuple[str, str]]:
    if not exists(db_path):
        return []
    return rows(db_path, "SELECT isrc, status FROM isrcs ORDER BY isrc")


def write(path: Path, content: str | bytes) -> str:
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return str(path)


def test_a_text_file_is_imported_as_pending_with_counts_and_invalid_line_numbers(
    cli: Cli, workdir: Path, db_path: Path
) -> None:
    source = write(workdir / "codes.txt", f"{FEW}\nnot-a-code\n\n  gb-um7-10-29604  \n{FEW}\nXX12345678901\n")
    result = cli("import", source, "--format", "json")
    assert result.exit_code == 2, result.stderr
    assert json.loads(result.stdout) == {
        "source": source,
        "format": "text",
        "column": None,
        "read": 5,
        "added": 2,
        "already_known": 0,
        "duplicates": 1,
        "invalid": 2,
        "empty": 0,
        "invalid_lines": [
            {"line": 2, "text": "not-a-code", "reason": f"it has 8 {REMOVED}"},
            {"line": 6, "text": "XX12345678901", "reason": f"it has 13 {REMOVED}"},
        ],
        "invalid_lines_omitted": 0,
    }
    assert stored(db_path) == [(ONE, "pending"), (FEW, "pending")]


def test_the_text_summary_goes_to_stderr(cli: Cli, workdir: Path, db_path: Any) -> None:
    result = cli("import", write(workdir / "codes.txt", f"{FEW}\nbad\n"))
    assert result.exit_code == 2
    assert result.stdout == ""
    # A new SQLite file is announced; a PostgreSQL database is made by its administrator, not by isrcdb.
    created = [f"Created a new database at {db_path}."] if isinstance(db_path, Path) else []
    assert result.stderr.splitlines() == [
        "Invalid: line 2: 'bad': it has 3 characters once hyphens and spaces are removed, not 12",
        f"Imported {workdir / 'codes.txt'}: 1 added, 0 already known, 1 invalid.",
        *created,
    ]


def test_importing_twice_changes_nothing_and_counts_everything_as_known(cli: Cli, workdir: Path, db_path: Path) -> None:
    source = write(workdir / "codes.txt", f"{FEW}\n{ONE}\n{SYN}\n")
    first = cli.json("import", source)
    before = rows(db_path, "SELECT * FROM isrcs ORDER BY isrc")
    second = cli.json("import", source)
    assert (first["added"], first["already_known"]) == (3, 0)
    assert (second["added"], second["already_known"]) == (0, 3)
    assert rows(db_path, "SELECT * FROM isrcs ORDER BY isrc") == before


def test_a_code_already_found_keeps_its_answer(cli: Cli, workdir: Path, db_path: Path) -> None:
    cli.json("import", write(workdir / "a.txt", f"{FEW}\n"))
    execute(db_path, "UPDATE isrcs SET status = 'not_found', fetched_at = '2026-01-01T00:00:00Z'")
    report = cli.json("import", write(workdir / "b.txt", f"{FEW}\n"))
    assert report["already_known"] == 1
    assert stored(db_path) == [(FEW, "not_found")]


@pytest.mark.parametrize(
    ("content", "args", "column"),
    [
        ('title,ISRC code,artist\nA,USRC17607839,x\n"B, with comma",GBUM71029604,y\n', (), "ISRC code"),
        ("title;isrc\nA;USRC17607839\nB;GB-UM7-10-29604\n", (), "isrc"),
        ("title\tIsrc\nA\tUSRC17607839\nB\tGBUM71029604\n", (), "Isrc"),
        ("title,code,isrc_old\nA,USRC17607839,x\nB,GBUM71029604,y\n", ("--column", "CODE"), "code"),
        ("A,USRC17607839,3:15\nB,GBUM71029604,4:01\n", (), "#2"),
        ("ISRC\nUSRC17607839\nGBUM71029604\n", ("--column", "isrc"), "ISRC"),
    ],
    ids=["header-comma", "header-semicolon", "header-tab", "named-column", "no-header", "single-column"],
)
def test_a_csv_column_is_found_or_named(
    cli: Cli, workdir: Path, db_path: Path, content: str, args: tuple[str, ...], column: str
) -> None:
    report = cli.json("import", write(workdir / "codes.csv", content), *args)
    assert (report["format"], report["column"], report["added"], report["invalid"]) == ("csv", column, 2, 0)
    assert stored(db_path) == [(ONE, "pending"), (FEW, "pending")]


def test_a_csv_reports_the_line_of_each_bad_row_and_skips_empty_cells(cli: Cli, workdir: Path) -> None:
    content = f'isrc,title\n{FEW},"two\nlines"\n,empty\nnope,x\n{ONE}\n'
    result = cli("import", write(workdir / "codes.csv", content), "--format", "json")
    report = json.loads(result.stdout)
    assert result.exit_code == 2
    assert (report["added"], report["empty"], report["invalid"]) == (2, 1, 1)
    assert [(item["line"], item["text"]) for item in report["invalid_lines"]] == [(5, "nope")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("title,artist\nA,B\n", "cannot tell which column of"),
        (f"title,isrc\nA,{FEW}\n", "has no column 'code'; its first line has: 'title', 'isrc'"),
    ],
    ids=["no-isrc-column", "wrong-column"],
)
def test_a_csv_whose_column_cannot_be_found_is_a_usage_error_and_stores_nothing(
    cli: Cli, workdir: Path, db_path: Path, content: str, message: str
) -> None:
    args = ("--column", "code") if "code" in message else ()
    result = cli("import", write(workdir / "codes.csv", content), *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert stored(db_path) == []


@pytest.mark.parametrize(
    "content",
    [
        f"\ufeff{FEW}\r\n{ONE}\r\n".encode(),
        f"\ufeffISRC\r\n{FEW}\r\n{ONE}".encode(),
        f"\ufeff{FEW}\n{ONE}\n".encode("utf-16"),
        f"{FEW}\r{ONE}\r".encode(),
        f"# my catalogue\n{FEW}\n\n\n{ONE}\n".encode(),
    ],
    ids=["bom-crlf", "bom-header-no-final-newline", "utf16", "cr-only", "comment"],
)
def test_encodings_line_endings_headers_and_comments_are_read(
    cli: Cli, workdir: Path, db_path: Path, content: bytes
) -> None:
    report = cli.json("import", write(workdir / "codes.txt", content))
    assert (report["added"], report["invalid"]) == (2, 0)
    assert stored(db_path) == [(ONE, "pending"), (FEW, "pending")]


def test_an_empty_file_imports_nothing_and_says_so(cli: Cli, workdir: Path, db_path: Path) -> None:
    result = cli("import", write(workdir / "empty.txt", ""))
    assert result.exit_code == 0
    assert "holds no codes" in result.stderr
    assert stored(db_path) == []


def test_a_binary_file_is_refused_before_anything_is_stored(cli: Cli, workdir: Path, db_path: Path) -> None:
    garbage = bytes(range(256)) * 64
    result = cli("import", write(workdir / "image.png", f"{FEW}\n".encode() + garbage))
    assert result.exit_code == 2
    assert "is not a text or CSV file" in result.stderr
    assert stored(db_path) == []


def test_nul_bytes_after_a_utf8_byte_order_mark_are_refused_too(cli: Cli, workdir: Path, db_path: Path) -> None:
    result = cli("import", write(workdir / "marked.txt", b"\xef\xbb\xbf" + f"{FEW}\n".encode() + b"\x00" * 4096))
    assert (result.exit_code, result.stderr) == (
        2,
        f"Error: {workdir / 'marked.txt'} is not a text or CSV file (it contains NUL bytes); give a file of ISRCs\n",
    )
    assert stored(db_path) == []


def test_undecodable_bytes_and_an_overlong_line_are_invalid_lines_and_the_rest_is_read(
    cli: Cli, workdir: Path, db_path: Path
) -> None:
    content = b"\x80\xfe\xfd\xffabc\n" + b"Z" * (MAX_LINE * 3) + b"\n" + f"{FEW}\n".encode()
    result = cli("import", write(workdir / "codes.txt", content), "--format", "json")
    report = json.loads(result.stdout)
    assert result.exit_code == 2
    assert [item["line"] for item in report["invalid_lines"]] == [1, 2]
    assert report["invalid_lines"][1]["reason"] == f"the line is longer than {MAX_LINE} characters"
    assert stored(db_path) == [(FEW, "pending")]


def test_only_the_first_hundred_invalid_lines_are_listed(cli: Cli, workdir: Path) -> None:
    result = cli("import", write(workdir / "codes.txt", "bad\n" * 250), "--format", "json")
    report = json.loads(result.stdout)
    assert (report["invalid"], len(report["invalid_lines"]), report["invalid_lines_omitted"]) == (250, 100, 150)


def test_standard_input_is_read_with_a_dash(cli: Cli, db_path: Path) -> None:
    result = cli("import", "-", "--format", "json", input=f"{FEW}\n{ONE}\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["added"] == 2


def test_a_missing_file_is_a_usage_error(cli: Cli, workdir: Path) -> None:
    result = cli("import", str(workdir / "nope.txt"))
    assert result.exit_code == 2
    assert result.stderr == f"Error: cannot read {workdir / 'nope.txt'}: No such file or directory\n"


def test_import_never_calls_spotify(cli: Cli, workdir: Path, spotify: Any) -> None:
    cli.json("import", write(workdir / "codes.txt", f"{FEW}\n{SYN}\n"))
    assert sum(spotify.stats()["requests"].values()) == 0


def test_import_runs_as_a_real_process(workdir: Path, db_path: Path) -> None:
    result = run_isrcdb("import", "-", "--format", "json", input=f"{FEW}\nbad\n")
    assert result.returncode == 2
    assert json.loads(result.stdout)["added"] == 1


def _peak_bytes(path: Path, count: int, workdir: Path) -> int:
    with path.open("w") as handle:
        for number in range(count):
            handle.write(f"QZSYN{number:07d}\n")
    conn = open_database(workdir / f"mem-{count}.sqlite3")
    tracemalloc.start()
    try:
        report = import_file(conn, str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        conn.close()
    assert report.added == count
    return peak


def test_memory_does_not_grow_with_the_size_of_the_file(workdir: Path) -> None:
    small = _peak_bytes(workdir / "small.txt", 20_000, workdir)
    large = _peak_bytes(workdir / "large.txt", 100_000, workdir)
    assert large < small * 1.5 + 200_000, (small, large)

"""The filesystem: database paths with URL syntax in them, export targets that are not plain files, hostile code files.

A path is a path: ``?``, ``#``, ``%``, ``&``, ``=``, ``'``, spaces and non-ASCII letters reach SQLite URIs and
SQLAlchemy URLs escaped, so every command uses the file it was given and creates no other. An export never writes
over the database it reads; it follows a symlink, writes a FIFO or a device in place (as the shell's ``>`` would)
and replaces a regular file atomically. ``lookup --file`` reads a file exactly as ``import`` does, so ``/dev/zero``
and a file of NULs end at once in a clear error, in bounded memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from isrcdb import migrate
from isrcdb.importer import MAX_LINE
from isrcdb.testing.spotify import SpotifyReplica
from tests.conftest import Cli
from tests.reliability.helpers import FEW, MANY, NONE, assert_sound, statuses, without_created_note

SPECIAL_NAMES = [
    "notes?.sqlite3",
    "cache#1.sqlite3",
    "100%41.sqlite3",
    "a&b.sqlite3",
    "key=value.sqlite3",
    "it's.sqlite3",
    "my cache Ünïcødé ñ 音楽.sqlite3",
    "file:notes?mode=ro.sqlite3",
]
"""Database names holding each character that means something in a URL, one with spaces and non-ASCII letters,
and one that SQLite would read as a URI if given as it is."""


def companions(name: str) -> set[str]:
    """The files SQLite and isrcdb may keep beside a database: its WAL, shared memory and migration lock."""
    return {name, f"{name}-wal", f"{name}-shm", f"{name}.migrate-lock"}


def revision(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


# --- database paths --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SPECIAL_NAMES)
def test_every_command_uses_the_database_file_it_is_given_whatever_its_name(
    cli: Cli, spotify: SpotifyReplica, workdir: Path, name: str
) -> None:
    before = set(os.listdir(workdir))
    path = workdir / name
    result = cli("db", "upgrade", "--db", name)
    assert (result.exit_code, result.stderr) == (0, f"Created a new database at {name}.\n"), result.stderr
    assert revision(path) == migrate.HEAD

    looked_up = cli("lookup", FEW, "--format", "json", "--db", name)
    assert looked_up.exit_code == 0, looked_up.stderr
    assert statuses(path) == {FEW: "found"}

    queried = cli("query", "SELECT isrc, status FROM lookups", "--format", "csv", "--db", name)
    assert (queried.exit_code, queried.stdout, queried.stderr) == (0, f"isrc,status\n{FEW},found\n", "")

    exported = cli("export", "--format", "jsonl", "--db", str(path))  # an absolute path too
    assert exported.exit_code == 0, exported.stderr
    assert [row["isrc"] for row in map(json.loads, exported.stdout.splitlines())] == [FEW]

    counted = cli("stats", "--format", "json", "--db", name)
    assert counted.exit_code == 0, counted.stderr
    assert {key: json.loads(counted.stdout)[key] for key in ("database", "codes", "found")} == {
        "database": name,
        "codes": 1,
        "found": 1,
    }

    offline = cli("lookup", FEW, "--offline", "--format", "jsonl", "--db", name)
    assert (offline.exit_code, json.loads(offline.stdout)["source"]) == (0, "cache")
    token_cache = {"xdg-cache"}  # where the workdir fixture keeps the access token
    assert set(os.listdir(workdir)) - before - companions(name) - token_cache == set()
    assert_sound(path)


@pytest.mark.parametrize("name", ["notes?.sqlite3", "100%41 ünï.sqlite3", "file:old?mode=ro.sqlite3"])
def test_an_older_schema_at_a_path_with_url_syntax_is_upgraded_in_place(cli: Cli, workdir: Path, name: str) -> None:
    path = workdir / name
    assert cli("db", "upgrade", "--db", str(path)).exit_code == 0
    migrate.downgrade(path, migrate.REVISIONS[0])
    assert revision(path) == migrate.REVISIONS[0]
    result = cli("db", "upgrade", "--db", name)
    assert (result.exit_code, result.stdout) == (0, f"{name}: schema at {migrate.HEAD} (up to date)\n")
    assert revision(path) == migrate.HEAD
    assert {entry for entry in os.listdir(workdir) if not entry.startswith("xdg")} - companions(name) == set()


def test_an_sqlite_url_is_percent_decoded_as_sqlalchemy_decodes_it(cli: Cli, workdir: Path) -> None:
    result = cli("db", "upgrade", "--db", "sqlite:///notes%3F%20%C3%B1.sqlite3?timeout=5")
    assert (result.exit_code, result.stdout) == (0, f"notes? ñ.sqlite3: schema at {migrate.HEAD} (up to date)\n")
    assert revision(workdir / "notes? ñ.sqlite3") == migrate.HEAD


# --- export targets --------------------------------------------------------------------------------------------


@pytest.fixture
def cache(cli: Cli, spotify: SpotifyReplica, db_path: Path) -> Path:
    """A cache holding three answers (two found, one not found)."""
    assert cli("lookup", FEW, MANY, NONE).exit_code == 1
    return db_path


def exported_csv(cli: Cli) -> str:
    result = cli("export")
    assert result.exit_code == 0, result.stderr
    return str(result.stdout)


def test_a_symlink_is_followed_and_its_target_replaced(cli: Cli, cache: Path, workdir: Path) -> None:
    (workdir / "exports").mkdir()
    (workdir / "exports" / "cache.csv").write_text("the previous export\n", encoding="utf-8")
    (workdir / "latest.csv").symlink_to("exports/cache.csv")
    (workdir / "new.csv").symlink_to("exports/new.csv")  # dangling: its target is created
    for link in ("latest.csv", "new.csv"):
        result = cli("export", "--output", link)
        assert result.exit_code == 0, result.stderr
        assert os.readlink(workdir / link) == f"exports/{link.replace('latest', 'cache')}"
    assert (workdir / "exports" / "cache.csv").read_text(encoding="utf-8") == exported_csv(cli)
    assert (workdir / "exports" / "new.csv").read_text(encoding="utf-8") == exported_csv(cli)
    assert sorted(os.listdir(workdir / "exports")) == ["cache.csv", "new.csv"]  # no temporary file left


@contextlib.contextmanager
def fifo_reader(path: Path) -> Iterator[list[bytes]]:
    """A FIFO at ``path`` with a reader thread; the list receives everything read, once the writer closes."""
    os.mkfifo(path)
    received: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as handle:
            received.append(handle.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        thread.join(timeout=5)
        if thread.is_alive():  # no writer ever opened it: open and close one, so that the reader ends
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            thread.join(timeout=5)


def test_a_fifo_is_written_in_place_not_replaced(cli: Cli, cache: Path, workdir: Path) -> None:
    fifo = workdir / "export.fifo"
    with fifo_reader(fifo) as received:
        result = cli("export", "--output", str(fifo))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", f"Exported 3 rows to {fifo}\n")
    assert received == [exported_csv(cli).encode()]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_device_is_written_in_place_not_replaced(cli: Cli, cache: Path) -> None:
    result = cli("export", "--output", "/dev/null")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "Exported 3 rows to /dev/null\n")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_device_that_refuses_writes_ends_in_a_clear_error(cli: Cli, cache: Path) -> None:
    result = cli("export", "--output", "/dev/full")
    assert (result.exit_code, result.stdout, result.stderr) == (
        4,
        "",
        "Error: cannot write /dev/full: No space left on device; the export is incomplete\n",
    )
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="no /proc/self/fd on this system")
def test_an_export_to_proc_self_fd_1_goes_to_standard_output(cli: Cli, cache: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "isrcdb", "export", "--output", "/proc/self/fd/1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "Exported 3 rows to /proc/self/fd/1\n")
    assert result.stdout == exported_csv(cli)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file of ``directory`` but the WAL and shared memory that SQLite manages, with its bytes."""
    return {
        path.name: path.read_bytes()
        for path in directory.iterdir()
        if path.is_file() and not path.name.endswith(("-wal", "-shm"))
    }


@pytest.mark.parametrize("target", ["isrcdb.sqlite3", "./isrcdb.sqlite3-wal", "isrcdb.sqlite3-shm", "symlink", "link"])
def test_an_export_never_writes_over_the_database_it_reads(cli: Cli, cache: Path, workdir: Path, target: str) -> None:
    (workdir / "symlink").symlink_to(cache.name)
    os.link(cache, workdir / "link")
    before = snapshot(workdir)
    result = cli("export", "--output", target)
    shown = Path(target)  # as the message names it: ./isrcdb.sqlite3-wal is isrcdb.sqlite3-wal
    named = workdir / shown if shown.name.startswith(f"{cache.name}-") else cache
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"Error: {shown} is the database being exported, or one of its files ({named}); "
        "give another file name with --output\n",
    )
    assert snapshot(workdir) == before
    for suffix in ("-wal", "-shm"):  # SQLite may create these when it opens the database, but no CSV reaches them
        companion = Path(f"{cache}{suffix}")
        assert not companion.exists() or b"isrc,status" not in companion.read_bytes()
    assert statuses(cache) == {FEW: "found", MANY: "found", NONE: "not_found"}
    assert_sound(cache)


# --- code files ------------------------------------------------------------------------------------------------


def sparse_nuls(path: Path) -> str:
    """A 4 GiB file of NUL bytes that takes no room on disk."""
    with open(path, "wb") as handle:
        handle.truncate(4 * 2**30)
    return str(path)


MEMORY_LIMIT = 1 * 2**30
"""The address space a lookup may use here: an interpreter with isrcdb loaded needs a fraction of it."""


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.parametrize("source", ["/dev/zero", "nuls"])
def test_lookup_of_an_endless_or_huge_file_of_nuls_ends_at_once_in_bounded_memory(
    workdir: Path, db_path: Path, source: str
) -> None:
    file = sparse_nuls(workdir / "nuls.bin") if source == "nuls" else source
    result = subprocess.run(
        [sys.executable, "-m", "isrcdb", "lookup", "--file", file],
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=limit_memory,
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        f"Error: {file} is not a text or CSV file (it contains NUL bytes); give a file of ISRCs\n",
    )
    assert not db_path.exists()  # refused before the database was opened


# file name, content, extra options: each read alike by import and lookup --file
CODE_FILES: list[tuple[str, bytes, list[str]]] = [
    ("isrc-column.csv", f"title,ISRC\nPaper Lanterns,{FEW}\nTide,{MANY}\n".encode(), []),
    ("header-and-comments.txt", f"ISRC\n# from the label\n\n{FEW}\n{MANY.lower()}\n".encode(), []),
    ("utf-16.txt", f"\ufeffISRC\r\n{FEW}\r\n{MANY}\r\n".encode("utf-16-le"), []),
    ("semicolons-no-header.csv", f"a;{FEW}\nb;{MANY}\n".encode(), []),
    ("named-column.tsv", f"code\tnote\n{FEW}\tx\n{MANY}\ty\n".encode(), ["--column", "CODE"]),
]


@pytest.mark.parametrize(("name", "content", "options"), CODE_FILES, ids=[case[0] for case in CODE_FILES])
def test_lookup_reads_a_code_file_exactly_as_import_reads_it(
    cli: Cli, spotify: SpotifyReplica, workdir: Path, db_path: Path, name: str, content: bytes, options: list[str]
) -> None:
    (workdir / name).write_bytes(content)
    imported = cli("import", name, *options)
    assert imported.exit_code == 0, imported.stderr
    looked_up = cli("lookup", "--file", name, *options, "--format", "jsonl", "--db", "lookup.sqlite3")
    assert looked_up.exit_code == 0, looked_up.stderr
    assert [json.loads(line)["isrc"] for line in looked_up.stdout.splitlines()] == [FEW, MANY]
    assert sorted(statuses(db_path)) == sorted(statuses(workdir / "lookup.sqlite3")) == sorted([FEW, MANY])


def test_a_line_too_long_to_read_is_named_and_the_rest_looked_up(
    cli: Cli, spotify: SpotifyReplica, workdir: Path
) -> None:
    (workdir / "codes.txt").write_text(f"{FEW}\n{'A' * (MAX_LINE + 10)}\n{MANY}\n", encoding="utf-8")
    result = cli("lookup", "--file", "codes.txt", "--format", "jsonl")
    assert [json.loads(line)["isrc"] for line in result.stdout.splitlines()] == [FEW, MANY]
    assert (result.exit_code, without_created_note(result.stderr)) == (
        2,
        f"Error: codes.txt, line 2: the line is longer than {MAX_LINE} characters; no code read from it\n",
    )


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (
            ["--file", "codes.csv", "--column", "code"],
            "Error: codes.csv has no column 'code'; its first line has: 'title', 'isrc'\n",
        ),
        ([FEW, "--column", "isrc"], "Error: --column names a column of the --file; give --file too\n"),
        (
            ["--file", "long.txt"],
            f"Error: no codes given: long.txt, line 1: the line is longer than {MAX_LINE} characters\n",
        ),
    ],
)
def test_a_code_file_lookup_cannot_read_is_a_usage_error_before_the_database_is_opened(
    cli: Cli, workdir: Path, db_path: Path, args: list[str], stderr: str
) -> None:
    (workdir / "codes.csv").write_text(f"title,isrc\nx,{FEW}\n", encoding="utf-8")
    (workdir / "long.txt").write_text("A" * (MAX_LINE * 2), encoding="utf-8")
    result = cli("lookup", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", stderr)
    assert not db_path.exists()

"""``isrcdb export``: the whole cache in csv/tsv/json/jsonl, with or without every match, written atomically."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.common import build_cache, code_of
from isrcdb import export
from isrcdb.database import open_readonly
from isrcdb.database.base import Database
from isrcdb.errors import DatabaseError
from isrcdb.export import LOOKUP_COLUMNS, ExportFormat, atomic_file
from isrcdb.output import Format, write_rows
from tests import dbtools
from tests.conftest import Cli, replica_environment
from tests.dbtools import copy_cache

pytestmark = pytest.mark.databases

FEW, MANY, NONE, SYNTH = "USRC17607839", "FRZ039800212", "GBAAA0000001", "QZSYN2400001"
ORDER = [MANY, NONE, SYNTH, FEW]  # by ISRC
HEADER = ",".join(LOOKUP_COLUMNS)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache filled once per module by real lookups against the replica."""
    root = tmp_path_factory.mktemp("filled")
    database = root / "isrcdb.sqlite3"
    with replica_environment(root, database):
        result = Cli()("lookup", FEW, MANY, NONE, SYNTH, "--format", "json")
    assert result.exit_code == 1, result.stderr  # NONE is not found
    return database


@pytest.fixture
def cache(template: Path, db_path: Path) -> Path:
    """A private copy of the filled cache, at the test's ISRCDB_DATABASE."""
    copy_cache(template, db_path)
    return db_path


def files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if not path.name.startswith("isrcdb.sqlite3"))


# --- formats -------------------------------------------------------------------------------------------------------


def test_csv_has_the_lookups_columns_and_one_row_per_code(cli: Cli, cache: Path) -> None:
    result = cli("export")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert (result.exit_code, result.stdout.splitlines()[0], result.stderr) == (0, HEADER, "")
    assert [row["isrc"] for row in rows] == ORDER
    assert {key: rows[1][key] for key in ("status", "stale", "match_count", "spotify_id", "artists", "explicit")} == {
        "status": "not_found",
        "stale": "false",
        "match_count": "0",
        "spotify_id": "",
        "artists": "",
        "explicit": "",
    }
    assert (rows[3]["artists"], rows[3]["explicit"]) == ("The Velvet Harbour; Mara Lindqvist", "false")


def test_tsv_is_csv_with_tabs(cli: Cli, cache: Path) -> None:
    tsv = cli("export", "--format", "tsv").stdout
    assert tsv.replace("\t", ",") == cli("export").stdout.replace("\t", ",")
    assert tsv.splitlines()[0] == "\t".join(LOOKUP_COLUMNS)


def test_json_keeps_numbers_booleans_and_artists_lists(cli: Cli, cache: Path) -> None:
    rows = cli.json("export")
    assert [list(row) for row in rows] == [list(LOOKUP_COLUMNS)] * 4
    few, none = rows[3], rows[1]
    assert {key: few[key] for key in ("match_count", "duration_ms", "stale", "explicit", "artists")} == {
        "match_count": 3,
        "duration_ms": 214306,
        "stale": False,
        "explicit": False,
        "artists": ["The Velvet Harbour", "Mara Lindqvist"],
    }
    assert [type(few[key]) for key in ("match_count", "stale", "explicit", "artists")] == [int, bool, bool, list]
    assert {key: none[key] for key in ("status", "artists", "explicit", "spotify_id")} == {
        "status": "not_found",
        "artists": None,
        "explicit": None,
        "spotify_id": None,
    }


def test_jsonl_has_the_same_rows_as_json_one_per_line(cli: Cli, cache: Path) -> None:
    lines = cli("export", "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == cli.json("export")


def test_export_agrees_with_lookup(cli: Cli, cache: Path) -> None:
    exported = {row["isrc"]: row for row in cli.json("export")}
    looked_up = cli.json("lookup", FEW, MANY, NONE, SYNTH, "--offline", code=1)
    for answer in looked_up:
        row = exported[answer["isrc"]]
        assert {key: row[key] for key in answer if key in row} == {key: answer[key] for key in answer if key in row}


# --- every value as the csv module writes it -----------------------------------------------------------------------
#
# From SQLite, CSV and TSV lines are built by SQLite (export.line_batches); they must be the bytes isrcdb.output
# writes for the rows of export.iter_lookups, whatever the values: the reference below, on the SQLite cache.

EDGE_CODES = 40  # codes of a synthetic cache: 1-3 and 21-23 not found, 20 and 40 pending, the others found


def python_written(location: Path | str, fmt: ExportFormat, *, all_matches: bool = False) -> bytes:
    """The export of ``location`` as isrcdb.output writes the rows of export.iter_lookups (or flat_rows)."""
    stream = io.StringIO()
    with open_readonly(location) as db, db.snapshot():
        rows = export.flat_rows(db) if all_matches else export.iter_lookups(db)
        write_rows(rows, Format(fmt.value), stream, export.columns(fmt, all_matches=all_matches))
    return stream.getvalue().encode("utf-8")


def exported(cli: Cli, workdir: Path, fmt: str, *extra: str) -> bytes:
    """The bytes ``isrcdb export`` writes to a file."""
    result = cli("export", "--format", fmt, *extra, "--output", "out")
    assert result.exit_code == 0, result.stderr
    return (workdir / "out").read_bytes()


# Values both stores hold: what the csv module quotes (delimiters, quotes, line breaks), what it does not (carriage
# returns in Python 3.11, other control characters, backslashes), text that is not ASCII, names holding "; ",
# artists' JSON with escapes (whose rows are read again, here in the first and last lines of batches of 3 too).
EDGE_NAMES = {
    4: "Hello, Goodbye",
    5: 'The "Heroes"',
    6: "Line\nBreak",
    7: "Carriage\rReturn",
    8: "Tab\there",
    13: "Élodie — 夜 🎵",
    14: "AC\\DC",
    19: 'ends with a quote"',
    27: '"Heroes", live',
}
EDGE_ARTISTS = {
    9: ["One; Two", "Three"],
    10: ['Say "Hi"', "Back\\slash"],
    11: ["Tyler, The Creator"],
    12: [],
    13: ["Sigur Rós", "Björk"],
    16: ["Tab\tin a name"],
    39: ['The "Band"'],
}
EDGE_ALBUMS = {15: "Unit\x1fseparator", 17: 'A, B and "C"', 39: 'Last, and quoted: ""'}
EDGE_ERRORS = {1: "timeout\x1bwhile reading", 2: 'HTTP 500: "Internal", retry later', 3: "two\nlines"}


def edit_edges(location: Path | str) -> None:
    """Put :data:`EDGE_NAMES` and the others in the synthetic cache at ``location``."""
    for n, name in EDGE_NAMES.items():
        dbtools.execute(location, "UPDATE tracks SET name = ? WHERE id = ?", name, f"tr{n}_0")
    for n, names in EDGE_ARTISTS.items():
        text = json.dumps(names, ensure_ascii=False, separators=(",", ":"))
        dbtools.execute(location, "UPDATE tracks SET artist_names = ? WHERE id = ?", text, f"tr{n}_0")
    for n, album in EDGE_ALBUMS.items():
        dbtools.execute(location, "UPDATE albums SET name = ? WHERE id = ?", album, f"al{n}_0")
    for n, error in EDGE_ERRORS.items():
        dbtools.execute(location, "UPDATE isrcs SET last_error = ? WHERE isrc = ?", error, code_of(n))
    # JSON isrcdb does not write itself, but valid: spaced, not only names.
    dbtools.execute(location, "UPDATE tracks SET artist_names = ? WHERE id = 'tr18_0'", '["Spaced", "Out"]')
    dbtools.execute(location, "UPDATE tracks SET artist_names = ? WHERE id = 'tr24_0'", "[1,2.5,null,true]")
    dbtools.execute(location, "UPDATE tracks SET explicit = NULL, duration_ms = NULL WHERE id = 'tr25_0'")
    dbtools.execute(location, "UPDATE isrcs SET expires_at = '2001-01-01T00:00:00Z' WHERE isrc = ?", code_of(23))


@pytest.fixture
def edge_source(tmp_path: Path) -> Path:
    """A synthetic SQLite cache holding the edge values."""
    source = tmp_path / "edges.sqlite3"
    build_cache(source, EDGE_CODES)
    edit_edges(source)
    return source


@pytest.fixture
def edge_cache(edge_source: Path, db_path: Path | str) -> Path | str:
    """The edge values in the test's store (SQLite or PostgreSQL)."""
    copy_cache(edge_source, db_path)
    return db_path


@pytest.mark.parametrize("batch", [3, export.LINE_BATCH])
@pytest.mark.parametrize("fmt", [ExportFormat.csv, ExportFormat.tsv])
def test_csv_and_tsv_write_every_value_as_the_csv_module_does(
    cli: Cli,
    edge_source: Path,
    edge_cache: Path | str,
    workdir: Path,
    fmt: ExportFormat,
    batch: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(export, "LINE_BATCH", batch)  # batches of 3: lines read again at every place in a batch
    assert exported(cli, workdir, fmt.value) == python_written(edge_source, fmt)


def test_the_edge_values_come_back_from_the_csv_file(cli: Cli, edge_cache: Path | str, workdir: Path) -> None:
    with io.StringIO(exported(cli, workdir, "csv").decode("utf-8"), newline="") as text:
        rows = {row["isrc"]: row for row in csv.DictReader(text)}
    # Python 3.11's csv module does not quote a carriage return, which its reader then takes for a line break.
    names = {n: name for n, name in EDGE_NAMES.items() if "\r" not in name}
    assert {n: rows[code_of(n)]["name"] for n in names} == names
    assert {n: rows[code_of(n)]["artists"] for n in EDGE_ARTISTS} == {
        n: "; ".join(names) for n, names in EDGE_ARTISTS.items()
    }
    assert {n: rows[code_of(n)]["album"] for n in EDGE_ALBUMS} == EDGE_ALBUMS
    assert {n: rows[code_of(n)]["last_error"] for n in EDGE_ERRORS} == EDGE_ERRORS
    assert [rows[code_of(n)]["artists"] for n in (18, 24)] == ["Spaced; Out", "1; 2.5; ; true"]
    no_flags = rows[code_of(25)]
    assert [no_flags[key] for key in ("status", "explicit", "duration_ms", "stale")] == ["found", "", "", "false"]
    assert [rows[code_of(n)]["stale"] for n in (23, 20)] == ["true", "true"]  # expired; pending


def test_csv_with_all_matches_repeats_the_lookups_columns_of_the_csv(
    cli: Cli, edge_source: Path, edge_cache: Path | str, workdir: Path
) -> None:
    flat = exported(cli, workdir, "csv", "--all-matches")
    assert flat == python_written(edge_source, ExportFormat.csv, all_matches=True)

    def rows(written: bytes) -> list[list[str]]:  # a carriage return kept whole (see the test above)
        with io.StringIO(written.decode("utf-8").replace("\r", "\u240d"), newline="") as text:
            return list(csv.reader(text))

    lookups = {row[0]: row for row in rows(exported(cli, workdir, "csv"))}
    for row in rows(flat):
        assert row[: len(LOOKUP_COLUMNS)] == lookups[row[0]]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("fmt", [ExportFormat.csv, ExportFormat.tsv])
def test_values_only_sqlite_can_hold_are_written_as_the_csv_module_does(
    cli: Cli, edge_cache: Path, workdir: Path, fmt: ExportFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # U+0000 in names, album types and reasons (where SQLite's printf would stop), a boolean neither 0 nor 1,
    # artists that are not JSON.
    dbtools.execute(edge_cache, "UPDATE tracks SET name = 'nul' || char(0) || 'inside' WHERE id = 'tr31_0'")
    dbtools.execute(edge_cache, "UPDATE albums SET name = char(0) WHERE id = 'al32_0'")
    dbtools.execute(edge_cache, "UPDATE albums SET album_type = char(0) WHERE id = 'al34_0'")
    dbtools.execute(edge_cache, "UPDATE isrcs SET last_error = 'a' || char(0) WHERE isrc = ?", code_of(1))
    dbtools.execute(edge_cache, "UPDATE tracks SET explicit = 2 WHERE id = 'tr33_0'")
    dbtools.execute(edge_cache, "UPDATE tracks SET artist_names = 'not JSON' WHERE id = 'tr35_0'")
    monkeypatch.setattr(export, "LINE_BATCH", 4)
    written = exported(cli, workdir, fmt.value)
    assert written == python_written(edge_cache, fmt)
    assert b"nul\x00inside" in written


@pytest.mark.parametrize("fmt", [ExportFormat.csv, ExportFormat.tsv])
def test_every_stream_gets_the_same_bytes(
    cli: Cli, edge_cache: Path | str, workdir: Path, fmt: ExportFormat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "LINE_BATCH", 3)
    written = exported(cli, workdir, fmt.value)
    assert cli("export", "--format", fmt.value).stdout_bytes == written  # standard output
    text = io.StringIO()  # a text stream with no bytes under it
    with open_readonly(edge_cache) as db:
        summary = export.write_export(db, text, fmt)
    assert (text.getvalue().encode("utf-8"), summary.rows) == (written, EDGE_CODES)


@pytest.mark.sqlite_only
def test_sqlite_builds_the_lines_of_an_isrcdb_cache(edge_cache: Path) -> None:
    with open_readonly(edge_cache) as db:
        assert export._builds_lines(db)


# --- all matches ---------------------------------------------------------------------------------------------------


def test_json_with_all_matches_nests_every_match_canonical_first(cli: Cli, cache: Path) -> None:
    rows = cli.json("export", "--all-matches")
    assert [(row["isrc"], len(row["matches"])) for row in rows] == [(MANY, 13), (NONE, 0), (SYNTH, 1), (FEW, 3)]
    for row in rows:
        assert len(row["matches"]) == row["match_count"]
        if row["matches"]:
            assert row["matches"][0]["spotify_id"] == row["spotify_id"]
            assert list(row["matches"][0]) == list(export.MATCH_COLUMNS)
    few_lookup = cli.json("lookup", FEW, "--all-matches", "--offline")[0]
    assert rows[3]["matches"] == few_lookup["matches"]


def test_csv_with_all_matches_has_a_row_per_match_and_one_for_a_code_without(cli: Cli, cache: Path) -> None:
    result = cli("export", "--all-matches", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert result.stdout.splitlines()[0] == ",".join([*LOOKUP_COLUMNS, *export.FLAT_MATCH_COLUMNS])
    assert [(row["isrc"], row["match_rank"]) for row in rows if row["isrc"] != MANY] == [
        (NONE, ""),
        (SYNTH, "0"),
        (FEW, "0"),
        (FEW, "1"),
        (FEW, "2"),
    ]
    assert [row["match_rank"] for row in rows if row["isrc"] == MANY] == [str(rank) for rank in range(13)]
    assert all(row["match_spotify_id"] == row["spotify_id"] for row in rows if row["match_rank"] == "0")


# --- output files --------------------------------------------------------------------------------------------------


def test_output_writes_a_file_and_says_so_on_stderr(cli: Cli, cache: Path, workdir: Path) -> None:
    before = files(workdir)
    result = cli("export", "--format", "jsonl", "--output", "cache.jsonl")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "Exported 4 rows to cache.jsonl\n")
    assert (workdir / "cache.jsonl").read_text(encoding="utf-8") == cli("export", "--format", "jsonl").stdout
    assert files(workdir) == sorted([*before, "cache.jsonl"])  # and no temporary file left


def test_output_dash_is_standard_output(cli: Cli, cache: Path) -> None:
    assert cli("export", "--output", "-").stdout == cli("export").stdout


@contextlib.contextmanager
def failing_after(count: int) -> Iterator[None]:
    """Make the export fail with a database error once it has read ``count`` rows (CSV and TSV from SQLite are read
    a batch of lines at a time: they fail after the batch that holds that row, or after the last batch)."""

    def failing(source: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def rows(database: Database, *args: Any) -> Iterator[Any]:
            read = 0
            for item in source(database, *args):
                yield item
                read += item[1] if isinstance(item, tuple) else 1  # line_batches gives (text, rows)
                if read >= count:
                    break
            raise DatabaseError(f"database error in {database.location}: disk I/O error")

        return rows

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export, "iter_lookups", failing(export.iter_lookups))
        patch.setattr(export, "line_batches", failing(export.line_batches))
        yield


def test_a_failed_export_leaves_no_file_behind(cli: Cli, cache: Path, workdir: Path) -> None:
    before = files(workdir)
    with failing_after(2):
        result = cli("export", "--output", "cache.csv")
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == f"Error: database error in {cache}: disk I/O error\n"
    assert files(workdir) == before


def test_a_failed_export_keeps_the_previous_file(cli: Cli, cache: Path, workdir: Path) -> None:
    (workdir / "cache.csv").write_text("the previous export\n", encoding="utf-8")
    with failing_after(1):
        assert cli("export", "--output", "cache.csv").exit_code == 4
    assert (workdir / "cache.csv").read_text(encoding="utf-8") == "the previous export\n"
    assert cli("export", "--output", "cache.csv").exit_code == 0
    assert (workdir / "cache.csv").read_text(encoding="utf-8").startswith(HEADER)


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError, ValueError])
def test_atomic_file_removes_its_temporary_file_on_any_failure(tmp_path: Path, failure: type[BaseException]) -> None:
    with pytest.raises(failure), atomic_file(tmp_path / "out.csv") as handle:
        handle.write("half")
        raise failure()
    assert list(tmp_path.iterdir()) == []


def test_atomic_file_appears_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with atomic_file(target) as handle:
        handle.write("a,b\n")
        assert not target.exists()
        assert len(list(tmp_path.iterdir())) == 1
    assert (target.read_text(encoding="utf-8"), [path.name for path in tmp_path.iterdir()]) == ("a,b\n", ["out.csv"])


def test_a_replaced_export_keeps_the_permissions_of_the_file_it_replaces(cli: Cli, cache: Path, workdir: Path) -> None:
    (workdir / "private.csv").write_text("the previous export\n", encoding="utf-8")
    (workdir / "private.csv").chmod(0o600)
    assert cli("export", "--output", "private.csv").exit_code == 0
    assert (workdir / "private.csv").stat().st_mode & 0o777 == 0o600
    assert (workdir / "private.csv").read_text(encoding="utf-8").startswith(HEADER)


@pytest.mark.parametrize(
    ("output", "code", "message"),
    [
        ("missing-dir/out.csv", 2, "cannot write missing-dir/out.csv: No such file or directory"),
        (".", 2, ". is a directory; give a file name with --output"),
    ],
)
def test_output_mistakes_are_usage_errors(cli: Cli, cache: Path, output: str, code: int, message: str) -> None:
    result = cli("export", "--output", output)
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", f"Error: {message}\n")


def test_exporting_without_a_database_is_an_error(cli: Cli, workdir: Path) -> None:
    result = cli("export", "--db", "missing.sqlite3")
    assert (result.exit_code, result.stdout, result.stderr) == (
        4,
        "",
        "Error: there is no database at missing.sqlite3\n",
    )


def test_an_empty_cache_exports_a_header_or_an_empty_array(cli: Cli, workdir: Path) -> None:
    assert cli("db", "upgrade").exit_code == 0
    assert (cli("export").stdout, cli("export", "--format", "json").stdout) == (HEADER + "\n", "[]\n")


# --- a large synthetic cache ---------------------------------------------------------------------------------------


def test_a_synthetic_cache_exports_every_code_and_match(tmp_path: Path) -> None:
    database = tmp_path / "synthetic.sqlite3"
    build_cache(database, 2000)
    stream = io.StringIO()
    with open_readonly(database) as cache:
        summary = export.write_export(cache, stream, ExportFormat.jsonl, all_matches=True)
    rows = [json.loads(line) for line in stream.getvalue().splitlines()]
    statuses = {status: sum(row["status"] == status for row in rows) for status in ("found", "not_found", "pending")}
    assert (summary.rows, statuses) == (2000, {"found": 1600, "not_found": 300, "pending": 100})
    assert sum(len(row["matches"]) for row in rows) == sum(row["match_count"] for row in rows) == 1600 + 2 * 200
    assert all(row["matches"][0]["spotify_id"] == row["spotify_id"] for row in rows if row["matches"])

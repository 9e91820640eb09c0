"""The public views ``lookups`` and ``matches``: their columns (the stable contract, documented in docs/schema.md)
and their contents after real lookups against the replica."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from isrcdb.database import open_database
from tests.conftest import Cli, replica_environment

FEW, MANY, NONE, SYNTH = "USRC17607839", "FRZ039800212", "GBAAA0000001", "QZSYN2400001"
CODES = (FEW, MANY, NONE, SYNTH)
SCHEMA_DOC = Path(__file__).parent.parent / "docs" / "schema.md"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

TRACK_COLUMNS = [
    "spotify_id",
    "name",
    "artists",
    "album",
    "album_type",
    "release_date",
    "duration_ms",
    "explicit",
    "spotify_url",
]
VIEW_COLUMNS = {
    "lookups": [
        "isrc",
        "status",
        "first_seen_at",
        "fetched_at",
        "expires_at",
        "stale",
        "match_count",
        *TRACK_COLUMNS,
        "changed_at",
        "last_error",
    ],
    "matches": [
        "isrc",
        "rank",
        "canonical",
        *TRACK_COLUMNS,
        "album_id",
        "release_date_precision",
        "disc_number",
        "track_number",
        "fetched_at",
    ],
}


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """A cache filled once by real lookups against the replica, and what ``lookup --all-matches`` answered."""
    root = tmp_path_factory.mktemp("filled")
    database = root / "isrcdb.sqlite3"
    with replica_environment(root, database):
        answers = Cli().json("lookup", *CODES, "--all-matches", code=1)
    return database, {answer["isrc"]: answer for answer in answers}


def select(database: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows as dicts, read with nothing but the standard library's sqlite3."""
    with contextlib.closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


def documented_columns(view: str) -> list[str]:
    """The columns listed in docs/schema.md's table for ``view``, in order."""
    text = SCHEMA_DOC.read_text(encoding="utf-8")
    section = text.split(f"## View `{view}`", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)


@pytest.mark.parametrize("view", ["lookups", "matches"])
def test_a_new_database_has_each_view_with_its_contracted_columns(tmp_path: Path, view: str) -> None:
    open_database(tmp_path / "new.sqlite3").close()
    with contextlib.closing(sqlite3.connect(tmp_path / "new.sqlite3")) as conn:
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({view})")]
        kind = conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (view,)).fetchone()
    assert (kind, columns) == (("view",), VIEW_COLUMNS[view])


@pytest.mark.parametrize("view", ["lookups", "matches"])
def test_every_view_column_is_documented_in_order(view: str) -> None:
    assert documented_columns(view) == VIEW_COLUMNS[view]


def test_lookups_has_one_row_per_stored_code(filled: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    database, _ = filled
    rows = select(database, "SELECT isrc, status, match_count, stale, last_error FROM lookups ORDER BY isrc")
    assert rows == [
        {"isrc": MANY, "status": "found", "match_count": 13, "stale": 0, "last_error": None},
        {"isrc": NONE, "status": "not_found", "match_count": 0, "stale": 0, "last_error": None},
        {"isrc": SYNTH, "status": "found", "match_count": 1, "stale": 0, "last_error": None},
        {"isrc": FEW, "status": "found", "match_count": 3, "stale": 0, "last_error": None},
    ]


@pytest.mark.parametrize("code", CODES)
def test_lookups_agrees_with_what_lookup_answered(filled: tuple[Path, dict[str, dict[str, Any]]], code: str) -> None:
    database, answers = filled
    (row,) = select(database, "SELECT * FROM lookups WHERE isrc = ?", code)
    answer = answers[code]
    expected = {key: answer[key] for key in ("isrc", "status", "fetched_at", "expires_at", "match_count")}
    expected |= {key: answer[key] for key in TRACK_COLUMNS if key not in ("artists", "explicit")}
    assert {key: row[key] for key in expected} == expected
    assert row["explicit"] == (None if answer["explicit"] is None else int(answer["explicit"]))
    assert (json.loads(row["artists"]) if row["artists"] is not None else None) == answer["artists"]


@pytest.mark.parametrize("code", [FEW, MANY, SYNTH])
def test_matches_lists_every_release_canonical_first(filled: tuple[Path, dict[str, dict[str, Any]]], code: str) -> None:
    database, answers = filled
    rows = select(database, "SELECT * FROM matches WHERE isrc = ? ORDER BY rank", code)
    assert [row["rank"] for row in rows] == list(range(answers[code]["match_count"]))
    assert [row["canonical"] for row in rows] == [1] + [0] * (len(rows) - 1)
    expected = [{key: match[key] for key in TRACK_COLUMNS} for match in answers[code]["matches"]]
    actual = [
        {
            **{key: row[key] for key in TRACK_COLUMNS},
            "artists": json.loads(row["artists"]),
            "explicit": bool(row["explicit"]),
        }
        for row in rows
    ]
    assert actual == expected
    (canonical,) = select(database, f"SELECT {', '.join(TRACK_COLUMNS)} FROM lookups WHERE isrc = ?", code)
    assert canonical == {key: rows[0][key] for key in TRACK_COLUMNS}


def test_a_code_not_found_has_no_matches_and_no_track(filled: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    database, _ = filled
    assert select(database, "SELECT * FROM matches WHERE isrc = ?", NONE) == []
    (row,) = select(database, f"SELECT {', '.join(TRACK_COLUMNS)} FROM lookups WHERE isrc = ?", NONE)
    assert row == dict.fromkeys(TRACK_COLUMNS)


def test_match_count_equals_the_rows_in_matches(filled: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    database, _ = filled
    rows = select(
        database,
        "SELECT l.isrc, l.match_count, (SELECT count(*) FROM matches m WHERE m.isrc = l.isrc) AS counted, "
        "(SELECT count(*) FROM matches m WHERE m.isrc = l.isrc AND m.canonical = 1) AS canonical FROM lookups l",
    )
    assert all(row["match_count"] == row["counted"] for row in rows)
    assert sorted(row["canonical"] for row in rows) == [0, 1, 1, 1]


def test_values_are_stored_as_documented(filled: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    database, _ = filled
    lookups = select(
        database, "SELECT first_seen_at, fetched_at, expires_at, changed_at FROM lookups WHERE status = 'found'"
    )
    matches = select(
        database,
        "SELECT fetched_at, typeof(artists) AS artists_type, json_valid(artists) AS artists_json, "
        "json_type(artists) AS artists_kind, typeof(explicit) AS explicit_type, typeof(canonical) AS canonical_type, "
        "release_date_precision FROM matches",
    )
    assert all(TIMESTAMP.match(value) for row in lookups for value in row.values())
    assert {row["fetched_at"] for row in matches} <= {row["fetched_at"] for row in lookups}
    kinds = {
        (r["artists_type"], r["artists_json"], r["artists_kind"], r["explicit_type"], r["canonical_type"])
        for r in matches
    }
    assert kinds == {("text", 1, "array", "integer", "integer")}
    assert {row["release_date_precision"] for row in matches} <= {"day", "month", "year"}


@pytest.mark.parametrize(("expires_at", "stale"), [("2000-01-01T00:00:00Z", 1), ("2999-01-01T00:00:00Z", 0), (None, 1)])
def test_stale_is_computed_from_expires_at_when_read(
    filled: tuple[Path, dict[str, dict[str, Any]]], tmp_path: Path, expires_at: str | None, stale: int
) -> None:
    database = tmp_path / "copy.sqlite3"
    with (
        contextlib.closing(sqlite3.connect(filled[0])) as source,
        contextlib.closing(sqlite3.connect(database)) as copy,
    ):
        source.backup(copy)
        with copy:
            copy.execute("UPDATE isrcs SET expires_at = ? WHERE isrc = ?", (expires_at, FEW))
    assert select(database, "SELECT stale FROM lookups WHERE isrc = ?", FEW) == [{"stale": stale}]


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 shell is not installed")
def test_the_sqlite3_shell_reads_the_views(filled: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    database, _ = filled
    result = subprocess.run(
        ["sqlite3", "-readonly", "-csv", str(database), "SELECT isrc, match_count FROM lookups ORDER BY isrc"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"{MANY},13\n{NONE},0\n{SYNTH},1\n{FEW},3\n",
        "",
    )


def test_pandas_reads_the_views(filled: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    pd = pytest.importorskip("pandas")
    database, _ = filled
    with contextlib.closing(sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        frame = pd.read_sql("SELECT * FROM lookups WHERE status = 'found'", conn, parse_dates=["fetched_at"])
    assert list(frame.columns) == VIEW_COLUMNS["lookups"]
    assert sorted(frame["isrc"]) == [MANY, SYNTH, FEW]

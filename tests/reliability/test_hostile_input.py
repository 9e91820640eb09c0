"""Hostile input: codes, Spotify's answers, code files and query parameters that try to break isrcdb.

Property-based where the input space is open (hypothesis), case tables where a named kind of file matters. The
basics (normalisation, a parser that never crashes on JSON values, import encodings) are in ``tests/test_isrc.py``,
``tests/test_parse.py`` and ``tests/test_import.py``; these add what they do not cover: lone surrogates and control
characters, values SQLite cannot store, bodies that are not JSON at all, arbitrary bytes as code files, and
injection through every place a user's text reaches SQL.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from isrcdb import store
from isrcdb.database import open_database
from isrcdb.database.base import Database
from isrcdb.errors import InvalidIsrc, SpotifyError, UsageError
from isrcdb.importer import import_file
from isrcdb.isrc import normalise, validate
from isrcdb.spotify.parse import parse_search, parse_track
from isrcdb.spotify.transport import Transport
from isrcdb.testing.spotify import SpotifyReplica
from tests.conftest import Cli
from tests.reliability.crashkit import integrity_problems, synthetic_codes
from tests.reliability.helpers import FEW, MANY, assert_sound, statuses, table

ANY_TEXT = st.text(st.one_of(st.characters(blacklist_categories=()), st.characters(categories=["Cs"])), max_size=40)
"""Every code point, control characters included, and lone surrogates often (JSON's ``"\\ud800"`` decodes to one)."""

SMALL = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- ISRC parsing -------------------------------------------------------------------------------------------------


@SMALL
@given(ANY_TEXT)
def test_validation_of_any_text_either_names_a_reason_or_gives_the_inputs_own_characters(text: str) -> None:
    try:
        code = validate(text)
    except InvalidIsrc as exc:
        assert exc.reason and str(exc).encode("utf-8", "backslashreplace")  # printable on any stderr
    else:
        # Nothing invented, dropped or reordered: the code is the input without separators, upper-cased.
        kept = "".join(char for char in text if char not in "- \t\u00a0\ufeff")
        assert code == kept.upper() and code.isascii() and code.isalnum()


@SMALL
@given(
    st.sampled_from(["USRC17607839", "QZJ842400387", "GBAYE0300047"]), st.sampled_from(["\u200b", "\x00", "\n", "/"])
)
def test_a_code_with_an_invisible_or_control_character_inside_is_refused_not_mangled(code: str, junk: str) -> None:
    with pytest.raises(InvalidIsrc):
        validate(code[:6] + junk + code[6:])


@SMALL
@given(st.lists(st.one_of(ANY_TEXT, st.sampled_from([FEW, "us-rc1-76-07839", "QZSYN2600001"])), max_size=15))
def test_a_lookup_of_any_inputs_answers_each_distinct_one_once_and_stores_no_invalid_code(
    workdir: Path, inputs: list[str]
) -> None:
    from isrcdb import IsrcDB
    from isrcdb.settings import Settings

    path = workdir / "hypothesis.sqlite3"
    with IsrcDB(settings=Settings().with_options(database=path)) as cache:
        results = cache.lookup(inputs, offline=True)
    expected: list[str] = []
    for text in (raw.strip() for raw in inputs):
        key = validate(text) if _valid(text) else text
        if text and key not in expected:
            expected.append(key)
    assert [result.isrc for result in results] == expected
    assert {result.status for result in results} <= {"invalid", "error"}
    assert statuses(path) == {}


def _valid(text: str) -> bool:
    try:
        validate(text)
    except InvalidIsrc:
        return False
    return True


# --- Spotify's answers --------------------------------------------------------------------------------------------

HOSTILE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),  # beyond SQLite's 64-bit integers
    st.floats(allow_nan=False),
    ANY_TEXT,
)
TRACK_LIKE = st.fixed_dictionaries(
    {"id": st.one_of(st.just("t1"), ANY_TEXT), "external_ids": st.just({"isrc": FEW})},
    optional={
        "name": HOSTILE_SCALARS,
        "duration_ms": HOSTILE_SCALARS,
        "disc_number": HOSTILE_SCALARS,
        "track_number": HOSTILE_SCALARS,
        "explicit": HOSTILE_SCALARS,
        "external_urls": st.fixed_dictionaries({"spotify": HOSTILE_SCALARS}),
        "artists": st.lists(st.fixed_dictionaries({"id": HOSTILE_SCALARS, "name": HOSTILE_SCALARS}), max_size=3),
        "album": st.fixed_dictionaries(
            {"id": HOSTILE_SCALARS, "name": HOSTILE_SCALARS},
            optional={
                "release_date": HOSTILE_SCALARS,
                "total_tracks": HOSTILE_SCALARS,
                "album_type": HOSTILE_SCALARS,
                "artists": st.lists(st.fixed_dictionaries({"id": ANY_TEXT, "name": ANY_TEXT}), max_size=2),
            },
        ),
    },
)


TRACK = {"id": "t1", "name": "Paper Lanterns", "external_ids": {"isrc": FEW}}


@pytest.fixture
def conn(workdir: Path) -> Iterator[Database]:
    database = open_database(workdir / "parse.sqlite3")
    yield database
    database.close()


@SMALL
@given(st.lists(TRACK_LIKE, min_size=1, max_size=3))
@example([{**TRACK, "name": "Paper \ud800 Lanterns"}])
@example([{**TRACK, "id": "\udc80"}])
@example([{**TRACK, "duration_ms": 2**64}])
@example([{**TRACK, "album": {"id": "al", "name": "A", "total_tracks": -(2**63) - 1}}])
@example([{**TRACK, "artists": [{"id": "\ud83d", "name": "\ude00"}]}])
def test_any_track_spotify_could_send_is_stored_whole_or_skipped_never_a_crash(
    conn: Database, workdir: Path, objects: list[dict[str, Any]]
) -> None:
    objects = json.loads(json.dumps(objects))  # as they arrive: decoded from JSON text
    page = parse_search({"tracks": {"items": objects, "total": len(objects)}})
    tracks = list({track.id: track for track in reversed(page.items) if track.isrc == FEW}.values())[::-1]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    if tracks:
        store.save_found(conn, FEW, tracks, now, now + timedelta(days=30))
        for track in tracks:
            # Spotify's object, put together again from the track's JSON and its album's (stored once per album).
            (raw,) = conn.execute("SELECT json FROM track_json WHERE spotify_id = :id", {"id": track.id}).fetchone()
            original = next(obj for obj in objects if parse_track(obj) == track)
            assert json.loads(raw) == original  # Spotify's JSON kept exactly, even what SQLite text cannot hold
    assert integrity_problems(workdir / "parse.sqlite3") == []


class _Body:
    """What the little server below answers: a status and a body, set per example."""

    status = 200
    body = b"{}"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(_Body.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(_Body.body)))
        self.end_headers()
        self.wfile.write(_Body.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/v1/search"
    httpd.shutdown()
    httpd.server_close()


def fetch_and_parse(url: str, status: int, body: bytes) -> None:
    """What the client does with an answer: transport, then the search parser; only isrcdb's errors may leave."""
    _Body.status, _Body.body = status, body
    transport = Transport(max_attempts=1)
    try:
        response = transport.request("GET", url)
        if response.status == 200:
            parse_search(response.payload)
    except SpotifyError:
        pass
    finally:
        transport.close()


@SMALL
@given(st.sampled_from([200, 400, 401, 404, 429, 500]), st.binary(max_size=300))
def test_any_bytes_as_an_answer_are_an_answer_or_a_spotify_error(server: str, status: int, body: bytes) -> None:
    fetch_and_parse(server, status, body)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"tracks":' * 50_000 + b"null" + b"}" * 50_000,
        b'{"tracks": {"items": [' + b"{}," * 100_000 + b'{}], "total": 1e999}}',
        b'{"tracks": {"items": [], "total": NaN, "offset": -Infinity}}',
        b"\xef\xbb\xbf" + json.dumps({"tracks": {"items": [], "total": 0}}).encode(),
        "\u2028{}".encode(),
    ],
    ids=["nested-arrays", "nested-objects", "many-items", "nan-infinity", "byte-order-mark", "line-separator"],
)
@pytest.mark.parametrize("status", [200, 429])
def test_pathological_json_is_a_spotify_error_not_a_crash(server: str, body: bytes, status: int) -> None:
    fetch_and_parse(server, status, body)


# --- code files ---------------------------------------------------------------------------------------------------

TEN_MB = b"A" * (10 * 1024 * 1024)

# name, bytes, import (exit, stored), lookup --file (exit, answered codes in order)
FILES: list[tuple[str, bytes, tuple[int, list[str]], tuple[int, list[str]]]] = [
    ("binary-garbage", bytes(range(256)) * 40, (2, []), (2, [])),
    ("garbage-then-code", b"\x89PNG\r\n\x1a\n\xff\xfe\xfd" + FEW.encode() + b"\n", (2, []), (2, [])),
    ("bom", b"\xef\xbb\xbf" + FEW.encode() + b"\n" + MANY.encode() + b"\n", (0, [FEW, MANY]), (0, [FEW, MANY])),
    ("crlf", f"{FEW}\r\n{MANY}\r\n".encode(), (0, [FEW, MANY]), (0, [FEW, MANY])),
    ("ten-mb-line", FEW.encode() + b"\n" + TEN_MB + b"\n" + MANY.encode(), (2, [FEW, MANY]), (2, [FEW, MANY])),
    ("ten-mb-no-newline", TEN_MB, (2, []), (2, [])),
    ("empty", b"", (0, []), (2, [])),
    ("blank-lines", b"\n\r\n  \n", (0, []), (2, [])),
    ("wrong-column", b"title,artist\nPaper Lanterns,The Velvet Harbour\n", (2, []), (2, [])),
]


@pytest.mark.parametrize(("name", "content", "imported", "looked_up"), FILES, ids=[case[0] for case in FILES])
def test_import_and_lookup_read_hostile_code_files_without_a_crash(
    cli: Cli,
    spotify: SpotifyReplica,
    workdir: Path,
    db_path: Path,
    name: str,
    content: bytes,
    imported: tuple[int, list[str]],
    looked_up: tuple[int, list[str]],
) -> None:
    path = workdir / f"{name}.txt"
    path.write_bytes(content)
    result = cli("import", str(path))
    assert (result.exit_code, sorted(statuses(db_path))) == (imported[0], sorted(imported[1])), result.stderr
    assert result.stdout == "" and (result.stderr.startswith(("Error: ", "Invalid: ", "Warning: ", "Imported ")))

    result = cli("lookup", "--file", str(path), "--format", "jsonl", "--db", str(workdir / "lookup.sqlite3"))
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == looked_up[0], result.stderr
    assert [row["isrc"] for row in rows if row["status"] != "invalid"] == looked_up[1]
    assert_sound(db_path)


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        (["import", "."], 2, "Error: cannot read .: Is a directory\n"),
        (["lookup", "--file", "."], 2, "Error: cannot read .: Is a directory\n"),
        (["import", "/dev/null"], 0, "Warning: /dev/null holds no codes; nothing imported\n"),
        (["lookup", "--file", "/dev/null"], 2, "Error: no codes given: the input was empty\n"),
        (["import", "missing.txt"], 2, "Error: cannot read missing.txt: No such file or directory\n"),
        (["lookup", "--file", "missing.txt"], 2, "Error: cannot read missing.txt: No such file or directory\n"),
    ],
)
def test_a_code_file_that_is_not_a_regular_file_ends_in_a_clear_message(
    cli: Cli, workdir: Path, args: list[str], code: int, stderr: str
) -> None:
    result = cli(*args)
    created = f"Created a new database at {workdir / 'isrcdb.sqlite3'}.\n" if args[0] == "import" and code == 0 else ""
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", stderr + created)


def test_undecodable_bytes_on_standard_input_are_an_invalid_code_whatever_the_locale(spotify: SpotifyReplica) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "isrcdb", "lookup", "--file", "-", "--format", "jsonl"],
        input=b"US\xffRC17607839\n" + FEW.encode() + b"\n",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        timeout=60,
    )
    assert b"Traceback" not in result.stderr
    assert result.returncode == 2


LINES = st.one_of(
    st.sampled_from([FEW, "qzsyn2600001", "GB-AYE-03-00047", "ISRC", "isrc,title", "#comment", ""]),
    st.binary(max_size=30).map(lambda raw: raw.decode("latin-1")),
    ANY_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass").decode("latin-1")),
)


@SMALL
@given(st.lists(LINES, max_size=20), st.sampled_from([b"\n", b"\r\n", b"\r", b",", b";", b"\t"]))
def test_import_of_any_bytes_stores_only_valid_codes_that_are_in_the_file(
    conn: sqlite3.Connection, lines: list[str], separator: bytes
) -> None:
    content = separator.join(line.encode("latin-1") for line in lines)
    conn.execute("DELETE FROM isrcs")
    try:
        report = import_file(conn, "-", stdin=io.BytesIO(content))
    except UsageError:
        assert table_count(conn) == 0  # refused before its first chunk of codes: nothing stored
        return
    stored = {row[0] for row in conn.execute("SELECT isrc FROM isrcs")}
    assert report.added == len(stored) <= report.read
    assert all(validate(code) == code for code in stored)
    if not content.startswith((b"\xff\xfe", b"\xfe\xff")):  # read as UTF-8: every code stored is in the file
        text = normalise(content.decode("utf-8", "replace"))
        assert all(code in text for code in stored)


def table_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM isrcs").fetchone()[0])


# --- injection ----------------------------------------------------------------------------------------------------

INJECTIONS = [
    "x'; DROP TABLE isrcs; --",
    "USRC17607839' OR '1'='1",
    '"); DELETE FROM isrcs; --',
    "1; ATTACH DATABASE '/tmp/pwned.sqlite3' AS pwned; --",
    "'||(SELECT group_concat(isrc) FROM isrcs)||'",
]


@pytest.mark.parametrize("hostile", INJECTIONS)
def test_text_that_looks_like_sql_is_only_ever_data(
    cli: Cli, spotify: SpotifyReplica, workdir: Path, db_path: Path, hostile: str
) -> None:
    assert cli("lookup", FEW, *synthetic_codes(3), "--format", "json").exit_code == 0
    before = table(db_path, "SELECT * FROM isrcs ORDER BY isrc")

    query = cli("query", "SELECT isrc FROM lookups WHERE isrc = :name", "-p", "name", hostile, "--format", "json")
    assert (query.exit_code, query.stdout, query.stderr) == (0, "[]\n", "")
    echoed = cli("query", "SELECT :name AS v", "-p", "name", hostile, "--format", "json")
    assert json.loads(echoed.stdout) == [{"v": hostile}]

    looked_up = cli("lookup", hostile, "--format", "json")
    assert looked_up.exit_code == 2 and json.loads(looked_up.stdout)[0]["status"] == "invalid"
    (workdir / "hostile.txt").write_text(f"{hostile}\n{FEW}\n")
    assert cli("import", "hostile.txt").exit_code in (0, 2)  # 0 when the line reads as a CSV header naming "isrcs"

    assert table(db_path, "SELECT * FROM isrcs ORDER BY isrc") == before
    assert not Path("/tmp/pwned.sqlite3").exists()
    assert_sound(db_path)

"""``isrcdb datasette`` and the Datasette plugin: a real cache made by ``isrcdb lookup`` against the replica, served by
a real Datasette on 127.0.0.1 and read through its JSON API (and once in headless Chromium)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from isrcdb.query import SAVED_QUERIES
from isrcdb.schema_doc import VIEWS
from tests.conftest import Cli, replica_environment

SCHEMA_DOC = Path(__file__).parent.parent / "docs" / "schema.md"
FEW, MANY, NONE = "USRC17607839", "FRZ039800212", "GBAAA0000001"  # 3 matches, 13 matches, not found
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Server:
    """A running Datasette: where it answers, and what it wrote on stderr."""

    url: str
    process: subprocess.Popen[str]
    stderr: list[str]

    def json(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=20) as response:
            return json.load(response)


@contextlib.contextmanager
def serving(command: list[str], env: dict[str, str]) -> Iterator[Server]:
    """Start ``command`` (a Datasette on port 0), wait until it listens, stop it afterwards."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"Datasette ended before listening: {''.join(seen)}"
            seen.append(line)
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        yield Server(url, process, seen)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def require_datasette() -> None:
    pytest.importorskip("datasette", reason="Datasette is not installed: pip install -e '.[test]' installs it")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache made by ``isrcdb lookup`` against the replica: two codes found (3 and 13 releases), one not found."""
    root = tmp_path_factory.mktemp("cache")
    database = root / "isrcdb.sqlite3"
    with replica_environment(root, database):
        Cli().json("lookup", FEW, MANY, NONE, code=1)
    return database


@pytest.fixture(scope="module")
def served(cache: Path) -> Iterator[tuple[Server, str]]:
    """``isrcdb datasette`` serving the cache (it becomes Datasette), and the cache's digest before it started."""
    require_datasette()
    before = digest(cache)
    env = {**os.environ, "ISRCDB_DATABASE": str(cache)}
    with serving([sys.executable, "-m", "isrcdb", "datasette", "--port", "0"], env) as server:
        yield server, before


@pytest.fixture
def server(served: tuple[Server, str]) -> Server:
    return served[0]


def test_isrcdb_datasette_serves_the_cache_read_only(served: tuple[Server, str], cache: Path) -> None:
    server, before = served
    assert server.stderr[0] == f"Serving {cache} read-only with Datasette; Ctrl-C stops it.\n"
    assert server.json("/isrcdb/lookups.json", _shape="array", _sort="isrc")[0]["isrc"] == MANY
    assert digest(cache) == before


def test_the_cache_shows_its_views_and_hides_every_table(server: Server) -> None:
    database = server.json("/isrcdb.json")
    assert sorted(view["name"] for view in database["views"]) == ["lookups", "matches", "track_json"]
    tables = {table["name"]: table["hidden"] for table in database["tables"]}
    assert {"alembic_version", "counters", "meta", "isrcs", "tracks", "albums", "isrc_matches"} <= set(tables)
    assert [name for name, hidden in tables.items() if not hidden] == []


@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view.name)
def test_every_column_of_the_views_is_described(server: Server, view: Any) -> None:
    described = server.json("/-/metadata.json")["databases"]["isrcdb"]["tables"][view.name]
    columns = server.json(f"/isrcdb/{view.name}.json", _size="1")["columns"]
    assert described["description"] == view.plain()
    assert list(described["columns"]) == columns == [column.name for column in view.columns]
    if "spotify_url" in described["columns"]:
        assert described["columns"]["spotify_url"] == "text: https://open.spotify.com/track/<id>"


def test_the_saved_queries_are_canned_queries_with_their_parameters(server: Server) -> None:
    queries = {query["name"]: query for query in server.json("/isrcdb.json")["queries"]}
    assert list(queries) == [saved.name for saved in SAVED_QUERIES]
    assert queries["changed"]["params"] == ["since"]
    assert [name for name, query in queries.items() if query["params"]] == ["changed"]


@pytest.mark.parametrize(
    ("since", "codes"),
    [
        ("7d", [FEW, MANY]),
        ("", [FEW, MANY]),  # empty: the default, 7d
        ("2000-01-01", [FEW, MANY]),
        ("2999-01-01", []),
        ("1h", [FEW, MANY]),
    ],
)
def test_the_changed_query_reads_its_since_parameter_like_the_command_line(
    server: Server, since: str, codes: list[str]
) -> None:
    rows = server.json("/isrcdb/changed.json", since=since, _shape="array")
    assert sorted((row["isrc"], row["kind"]) for row in rows) == sorted((code, "found") for code in codes)


@pytest.mark.parametrize(
    ("query", "rows"),
    [
        ("ambiguous", [{"isrc": MANY, "match_count": 13}, {"isrc": FEW, "match_count": 3}]),
        ("not_found", [{"isrc": NONE}]),
        ("pending", []),
    ],
)
def test_canned_queries_without_parameters_answer_like_isrcdb_query(
    server: Server, query: str, rows: list[dict[str, Any]]
) -> None:
    answer = server.json(f"/isrcdb/{query}.json", _shape="array")
    assert [{key: row[key] for key in expected} for row, expected in zip(answer, rows, strict=True)] == rows


def test_a_since_that_is_no_duration_or_date_is_an_error_not_an_empty_answer(server: Server) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.json("/isrcdb/changed.json", since="last tuesday")
    answer = json.load(refused.value)
    assert (refused.value.code, answer["ok"], answer["rows"]) == (400, False, [])


def test_other_databases_in_the_same_datasette_are_left_alone(cache: Path, tmp_path: Path) -> None:
    require_datasette()
    notes = tmp_path / "notes.sqlite3"
    with contextlib.closing(sqlite3.connect(notes)) as conn, conn:
        conn.execute("CREATE TABLE counters (name TEXT, value INTEGER)")  # a table name the cache hides
        conn.execute("INSERT INTO counters VALUES ('a', 1)")
    command = [sys.executable, "-m", "datasette", "serve", str(cache), str(notes), "--port", "0"]
    with serving(command, dict(os.environ)) as server:
        other = server.json("/notes.json")
        assert [(table["name"], table["hidden"]) for table in other["tables"]] == [("counters", False)]
        assert other["queries"] == []
        assert "notes" not in server.json("/-/metadata.json")["databases"]
        assert server.json("/notes/counters.json", _shape="array") == [{"rowid": 1, "name": "a", "value": 1}]
        assert all(table["hidden"] for table in server.json("/isrcdb.json")["tables"])


def test_connections_datasette_opens_to_a_cache_cannot_write(cache: Path, tmp_path: Path) -> None:
    from isrcdb.datasette_plugin import prepare_connection

    copy = tmp_path / "copy.sqlite3"
    with contextlib.closing(sqlite3.connect(cache)) as source, contextlib.closing(sqlite3.connect(copy)) as target:
        source.backup(target)
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        prepare_connection(conn, "copy", None)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM isrcs")
    plain = tmp_path / "plain.sqlite3"
    with contextlib.closing(sqlite3.connect(plain)) as conn:
        prepare_connection(conn, "plain", None)
        conn.execute("CREATE TABLE t (x)")  # not a cache: left writable


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_the_lookups_page_shows_the_view_and_its_descriptions_in_a_browser(server: Server, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # nothing but the local Datasette is reached
        f"--user-data-dir={tmp_path / 'profile'}",
        "--dump-dom",
        f"{server.url}/isrcdb/lookups",
    ]
    page = subprocess.run(command, capture_output=True, text=True, timeout=90, check=True).stdout
    assert re.search(r"<h1[^>]*>\s*lookups \(view\)", page)
    assert "One row per ISRC stored in the cache, found or not" in page
    assert "<dt>match_count</dt><dd>integer: how many Spotify tracks carry this ISRC" in page
    assert FEW in page and MANY in page and NONE in page


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (None, "Error: there is no database at {db}\n"),
        ("not sqlite", "Error: {db} is not an isrcdb database (or is corrupt): file is not a database."),
    ],
    ids=["missing", "not-sqlite"],
)
def test_isrcdb_datasette_refuses_a_missing_or_foreign_file(tmp_path: Path, prepare: str | None, message: str) -> None:
    require_datasette()  # without it, the command says so first
    db = tmp_path / "cache.sqlite3"
    if prepare is not None:
        db.write_text(prepare * 1000)
    result = subprocess.run(
        [sys.executable, "-m", "isrcdb", "datasette", "--db", str(db), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (4, "")
    assert result.stderr.startswith(message.format(db=db)), result.stderr
    assert result.stderr.count("\n") == 1


def test_isrcdb_datasette_without_datasette_names_the_extra(tmp_path: Path) -> None:
    # Datasette is installed here: block its import, the way Python sees a package that is not there.
    probe = "import sys; sys.modules['datasette'] = None; from isrcdb.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", probe, "datasette", "--db", str(tmp_path / "x.sqlite3")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (4, "")
    assert result.stderr == "Error: Datasette is not installed: install it with pip install 'isrcdb[datasette]'\n"


@pytest.mark.parametrize(("immutable", "mode"), [(False, []), (True, ["-i"])])
def test_datasette_opens_the_cache_read_only_unless_asked_for_immutable(
    workdir: Path, immutable: bool, mode: list[str]
) -> None:
    from isrcdb.cli.datasette import serve_arguments

    argv = serve_arguments(Path("-odd.sqlite3"), host="127.0.0.1", port=8001, open_browser=False, immutable=immutable)
    path = str(workdir / "-odd.sqlite3")  # absolute: never taken for an option
    assert argv == [sys.executable, "-m", "datasette", "serve", *mode, path, "--host", "127.0.0.1", "--port", "8001"]


@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view.name)
def test_the_schema_documentation_shows_the_descriptions_datasette_shows(view: Any) -> None:
    section = SCHEMA_DOC.read_text(encoding="utf-8").split(f"## View `{view.name}`\n", 1)[1].split("\n## ", 1)[0]
    paragraphs = [paragraph.strip() for paragraph in section.strip().split("\n\n")]
    assert " ".join(paragraphs[0].split()) == view.description
    assert view.markdown_table() in paragraphs

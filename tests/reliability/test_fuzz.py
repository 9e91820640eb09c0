"""Fuzzing the two readers of outside data: Spotify's search answer, and a file of codes.

Each ends in a result or a clean error (:class:`~isrcdb.errors.SpotifyError`, :class:`~isrcdb.errors.UsageError`),
never a traceback, whatever the bytes. Answers go through the real transport, token provider, client and parser,
served in process by a requests adapter (nothing leaves the process); code files go through the one reader that
``import`` and ``lookup --file`` share, and through ``lookup`` itself. Example counts are bounded so that the whole
file runs in a few seconds; set ``ISRCDB_TEST_SEED`` to replay another sequence.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st
from requests.adapters import HTTPAdapter

from isrcdb.errors import SpotifyError, UsageError
from isrcdb.importer import MAX_LINE, MAX_REPORTED, ImportReport, read_values
from isrcdb.spotify.auth import TokenProvider
from isrcdb.spotify.client import SpotifyClient
from isrcdb.spotify.parse import SearchPage, parse_search
from isrcdb.spotify.transport import Transport
from tests.conftest import Cli
from tests.reliability.helpers import FEW, MANY, SEED

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FEW_EXAMPLES = settings(FUZZ, max_examples=40)

BASE = "http://127.0.0.1:9"
"""Where the client believes Spotify is; the adapter below answers instead, so no request is ever sent."""

TOKEN = json.dumps({"access_token": "fuzz-token", "token_type": "Bearer", "expires_in": 3600}).encode()

ANY_TEXT = st.text(st.one_of(st.characters(blacklist_categories=()), st.characters(categories=["Cs"])), max_size=20)
"""Every code point, lone surrogates included (JSON's ``"\\ud800"`` decodes to one)."""

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    ANY_TEXT,
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(ANY_TEXT, children, max_size=3),
    max_leaves=8,
)
"""Any JSON value (and NaN, infinities and 2**70, which Python's json module writes and reads)."""


def shaped(fields: dict[str, Any], required: tuple[str, ...] = ()) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with ``required`` and some of the other ``fields``; an optional field is now and then any JSON."""
    return st.fixed_dictionaries(
        {key: fields[key] for key in required},
        optional={key: value | JSON_VALUES for key, value in fields.items() if key not in required},
    )


ARTISTS = st.lists(
    max_size=2, elements=shaped({"id": ANY_TEXT, "name": ANY_TEXT, "external_urls": shaped({"spotify": ANY_TEXT})})
)
TRACKS = shaped(
    {
        "id": st.sampled_from(["4uLU6hMCjMI75M1A2tKUQC", ""]) | ANY_TEXT,
        "name": ANY_TEXT,
        "external_ids": shaped({"isrc": st.sampled_from([FEW, MANY.lower(), "US-RC1-76-07839"]) | ANY_TEXT}),
        "artists": ARTISTS,
        "album": shaped({"id": ANY_TEXT, "name": ANY_TEXT, "artists": ARTISTS, "images": JSON_VALUES}),
        "duration_ms": st.integers(min_value=-(2**65), max_value=2**65),
        "explicit": st.booleans(),
        "disc_number": st.integers(),
    },
    required=("id",),
)
PAGES = shaped(
    {
        "tracks": shaped(
            {
                "items": st.lists(TRACKS | TRACKS | JSON_VALUES, max_size=3),
                "total": st.integers(min_value=-(2**64), max_value=2**64),
                "offset": st.integers(),
                "limit": st.integers(),
                "next": ANY_TEXT,
            },
            required=("items",),
        )
    },
    required=("tracks",),
)
SEARCH_ANSWERS = st.integers(0, 3).flatmap(lambda pick: PAGES if pick else JSON_VALUES)
"""Anything JSON, and, more often than chance would give, answers shaped like a search answer with bad values."""


def assert_is_a_sound_page(page: SearchPage) -> None:
    """Every track of a parsed page has an id and can be stored (UTF-8 text, 64-bit integers, JSON kept whole)."""
    assert isinstance(page, SearchPage)
    for track in page.items:
        assert isinstance(track.id, str) and track.id
        for text in (track.id, track.name, track.isrc or "", *(artist.name for artist in track.artists)):
            text.encode("utf-8")
        assert all(-(2**63) <= value < 2**63 for value in (track.duration_ms, track.disc_number) if value is not None)
        json.loads(track.raw_json)
    assert all(isinstance(value, int) for value in (page.received, page.total, page.offset, page.limit))


class InProcessSpotify(HTTPAdapter):
    """Answers every request in process: a token for the token endpoint, ``body`` for anything else."""

    def __init__(self) -> None:
        super().__init__()
        self.body = b""
        self.encoding: str | None = None

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        body = TOKEN
        if not str(request.url).startswith(f"{BASE}/api/token"):
            body = self.body
            if self.encoding:
                headers["Content-Encoding"] = self.encoding
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(body), headers=headers, status=200, preload_content=False, decode_content=False
        )
        return self.build_response(request, raw)


@pytest.fixture(scope="module")
def spotify() -> Any:
    """A real client (transport, token provider, parser) whose requests the in-process adapter answers."""
    transport = Transport(max_attempts=1, sleep=lambda _: None)
    server = InProcessSpotify()
    transport.session.mount(f"{BASE}/", server)
    auth = TokenProvider(transport, f"{BASE}/api/token", "fuzz-id", "fuzz-secret")
    client = SpotifyClient(transport, auth, f"{BASE}/v1")
    yield client, server
    client.close()


def search_with_answer(spotify: Any, body: bytes, encoding: str | None = None) -> SearchPage | SpotifyError:
    client, server = spotify
    server.body, server.encoding = body, encoding
    try:
        return client.search_page(FEW, 0)  # type: ignore[no-any-return]
    except SpotifyError as exc:
        return exc


# --- Spotify's search answer -----------------------------------------------------------------------------------


@FUZZ
@seed(SEED)
@given(st.binary(max_size=400), st.sampled_from([None, "gzip", "deflate"]))
@example(b'{"tracks": {"items": [{"id": "x", "name": "\\ud800"}]}}', None)
@example(b"\xef\xbb\xbf{}", None)
@example(b"[" * 100_000, None)
def test_any_bytes_as_a_search_answer_are_a_page_or_a_spotify_error(
    spotify: Any, body: bytes, encoding: str | None
) -> None:
    result = search_with_answer(spotify, body, encoding)
    if not isinstance(result, SpotifyError):
        assert_is_a_sound_page(result)


@FUZZ
@seed(SEED)
@given(SEARCH_ANSWERS, st.booleans())
def test_any_json_as_a_search_answer_is_a_page_or_a_spotify_error(spotify: Any, answer: Any, compressed: bool) -> None:
    text = json.dumps(answer, ensure_ascii=False).encode("utf-8", "surrogatepass")
    result = search_with_answer(spotify, gzip.compress(text) if compressed else text, "gzip" if compressed else None)
    if not isinstance(result, SpotifyError):
        assert_is_a_sound_page(result)
        assert result.received == len(answer["tracks"]["items"])


@settings(FUZZ, max_examples=60)
@seed(SEED)
@given(SEARCH_ANSWERS)
def test_the_parser_takes_any_decoded_json_value(answer: Any) -> None:
    try:
        page = parse_search(answer)
    except SpotifyError:
        return
    assert_is_a_sound_page(page)


def test_a_well_formed_answer_reaches_the_parser_whole(spotify: Any) -> None:
    answer = {"tracks": {"items": [{"id": "t1", "name": "Tide", "external_ids": {"isrc": FEW}}], "total": 1}}
    page = search_with_answer(spotify, json.dumps(answer).encode())
    assert isinstance(page, SearchPage)
    assert [(track.id, track.isrc, page.received, page.total) for track in page.items] == [("t1", FEW, 1, 1)]


# --- code files ------------------------------------------------------------------------------------------------

LINES = st.one_of(
    st.sampled_from(
        [FEW, MANY.lower(), "GB-AYE-03-00047", "ISRC", "isrc,title", "title;ISRC", "#x", "", '"', "\ufeff"]
    ),
    st.binary(max_size=20).map(lambda raw: raw.decode("latin-1")),
    ANY_TEXT,
)
CODE_FILES = st.one_of(
    st.binary(max_size=600),
    st.tuples(
        st.lists(LINES, max_size=12),
        st.sampled_from(["\n", "\r\n", "\r", ",", ";", "\t", "|", '"']),
        st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]),
    ).map(lambda parts: parts[1].join(parts[0]).encode(parts[2], "surrogatepass" if "8" in parts[2] else "replace")),
)
"""Raw bytes, and text files made of codes, headers, comments, quotes and separators in any of four encodings."""
COLUMNS = st.integers(0, 3).flatmap(
    lambda pick: st.none() if pick else st.sampled_from(["isrc", "ISRC", "title"]) | ANY_TEXT
)
"""No ``--column`` most of the time (the reader then finds the column itself), else a likely or an unlikely one."""


@FUZZ
@seed(SEED)
@given(CODE_FILES, COLUMNS)
@example(b"\x00" * 10, None)
@example(b"A" * (MAX_LINE + 5) + b"\n" + FEW.encode(), None)
@example(b'isrc\n"' + b"x" * 200_000 + b'"\n', None)
def test_any_bytes_read_as_a_code_file_give_values_or_a_usage_error(content: bytes, column: str | None) -> None:
    report = ImportReport(source="-")
    try:
        values = list(read_values("-", report, column=column, stdin=io.BytesIO(content)))
    except UsageError as exc:
        assert str(exc) and "\n" not in str(exc)  # one line, whatever the file holds
        return
    numbers = [number for number, _ in values]
    assert numbers == sorted(numbers) and all(number >= 1 for number in numbers)
    assert all(isinstance(value, str) and value and value == value.strip() for _, value in values)
    assert len(report.invalid_lines) == min(report.invalid, MAX_REPORTED)
    if b"\x00" in content[:8192] and not content.startswith((b"\xff\xfe", b"\xfe\xff")):
        pytest.fail("a file with NUL bytes was read as text")


@FEW_EXAMPLES
@seed(SEED)
@given(CODE_FILES)
def test_lookup_of_any_code_file_ends_in_rows_or_one_error_line(cli: Cli, workdir: Path, content: bytes) -> None:
    (workdir / "codes").write_bytes(content)
    result = cli("lookup", "--file", "codes", "--offline", "--format", "jsonl")
    assert result.exit_code in (0, 1, 2, 3), result.stderr
    allowed = ("Error: ", "Warning: ", "Created a new database at ")
    assert all(line.startswith(allowed) for line in result.stderr.splitlines()), result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(row["status"] in ("invalid", "error") for row in rows)  # the cache is empty and stays so offline

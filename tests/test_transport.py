"""The transport's rules, as tables of cases: retries (no sleeping: delays are computed, not waited), the deadline
and the size limit of an answer, and what is believed of the token endpoint's answer."""

from __future__ import annotations

import zlib

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from isrcdb.errors import BadResponse
from isrcdb.spotify.auth import (
    DEFAULT_TOKEN_LIFETIME,
    MAX_TOKEN_LIFETIME,
    MIN_TOKEN_LIFETIME,
    is_plain_token,
    token_lifetime,
)
from isrcdb.spotify.transport import (
    BodyDecoder,
    attempt_timeouts,
    backoff_delay,
    error_message,
    prepared_get_url,
    retry_after_seconds,
    should_retry,
)


@pytest.mark.parametrize(
    ("status", "attempt", "retry"),
    [
        (None, 1, True),  # dropped connection or timeout
        (500, 1, True),
        (502, 2, True),
        (503, 3, True),
        (504, 1, True),
        (500, 4, False),  # attempts exhausted
        (None, 4, False),
        (429, 1, False),  # never retried by the transport: the caller decides to wait or stop
        (400, 1, False),
        (401, 1, False),
        (403, 1, False),
        (404, 1, False),
        (200, 1, False),
    ],
)
def test_should_retry(status: int | None, attempt: int, retry: bool) -> None:
    assert should_retry(status, attempt, max_attempts=4) is retry


@pytest.mark.parametrize(
    ("attempt", "jitter", "delay"),
    [(1, 0.0, 0.125), (1, 1.0, 0.25), (2, 0.0, 0.25), (3, 1.0, 1.0), (10, 0.0, 4.0), (10, 1.0, 8.0)],
)
def test_backoff_grows_exponentially_with_bounded_jitter(attempt: int, jitter: float, delay: float) -> None:
    assert backoff_delay(attempt, lambda: jitter) == pytest.approx(delay)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("5", 5.0),
        ("0", 0.0),
        ("12000", 12000.0),
        (" 2.5 ", 2.5),
        (None, 1.0),
        ("", 1.0),
        ("soon", 1.0),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date(header: str | None, seconds: float) -> None:
    now = 1445412420.0  # 2015-10-21T07:27:00Z
    assert retry_after_seconds(header, now=now) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"error": {"status": 429, "message": "API rate limit exceeded", "reason": "QUOTA_EXCEEDED"}},
            ("API rate limit exceeded", "QUOTA_EXCEEDED"),
        ),
        ({"error": {"status": 404, "message": "non existing id"}}, ("non existing id", None)),
        (
            {"error": "invalid_client", "error_description": "Invalid client secret"},
            ("invalid_client: Invalid client secret", "invalid_client"),
        ),
        ({"error": "invalid_client"}, ("invalid_client", "invalid_client")),
        (None, (None, None)),
        ("text", (None, None)),
        ({"tracks": {}}, (None, None)),
    ],
)
def test_error_bodies_of_both_shapes_are_understood(payload: object, expected: tuple[str | None, str | None]) -> None:
    assert error_message(payload) == expected


# --- the deadline and the size limit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connect", "read", "deadline", "timeouts"),
    [
        (5.0, 30.0, 60.0, (5.0, 30.0)),
        (5.0, 30.0, 10.0, (5.0, 10.0)),
        (5.0, 2.0, 1.0, (1.0, 1.0)),
        (0.5, 0.5, 60.0, (0.5, 0.5)),
    ],
)
def test_no_socket_timeout_is_longer_than_the_deadline(
    connect: float, read: float, deadline: float, timeouts: tuple[float, float]
) -> None:
    assert attempt_timeouts(connect, read, deadline) == timeouts


def gzip(data: bytes) -> bytes:
    return zlib.compress(data, wbits=16 + zlib.MAX_WBITS)


def deflate(data: bytes, *, wrapped: bool) -> bytes:
    return zlib.compress(data, wbits=zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)


PAGE = b'{"tracks": {"items": [], "total": 0}}' + b" " * 2000
BOMB = gzip(b" " * (16 * 1024 * 1024))  # 16 KB that expand to 16 MiB


def chunks(data: bytes, size: int = 4096) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize(
    ("encoding", "body", "decoded"),
    [
        (None, chunks(PAGE), PAGE),
        ("identity", [PAGE], PAGE),
        ("gzip", chunks(gzip(PAGE), 7), PAGE),
        ("GZIP ", [gzip(PAGE)], PAGE),
        ("x-gzip", [gzip(PAGE)], PAGE),
        ("gzip", [gzip(PAGE[:100]) + gzip(PAGE[100:])], PAGE),  # two gzip members, as urllib3 reads them
        ("deflate", chunks(deflate(PAGE, wrapped=True), 1), PAGE),
        ("deflate", [deflate(PAGE, wrapped=False)], PAGE),  # raw deflate, as some servers send it
        (None, [b"x" * 1024], b"x" * 1024),  # exactly the limit
        ("gzip", [gzip(b"x" * 1024)], b"x" * 1024),
    ],
)
def test_an_answer_within_the_limit_is_decoded_whole(encoding: str | None, body: list[bytes], decoded: bytes) -> None:
    decoder = BodyDecoder(encoding, limit=max(len(decoded), 1024))
    for part in body:
        decoder.feed(part)
    assert decoder.finish() == decoded


@pytest.mark.parametrize(
    ("encoding", "body", "error"),
    [
        (None, [b"x" * 1024, b"x"], "is larger than 1,024 bytes; it was not read further"),
        ("gzip", [gzip(b"x" * 1025)], "is larger than"),
        ("gzip", chunks(BOMB), "is larger than"),
        ("deflate", [deflate(b" " * 10**6, wrapped=True)], "is larger than"),
        ("gzip", [b"\x1f\x8b" + b"not gzip at all"], "could not be decompressed (gzip)"),
        ("br", [PAGE], "is in an encoding that was not asked for ('br')"),
        ("gzip, gzip", [gzip(gzip(PAGE))], "is in an encoding that was not asked for ('gzip, gzip')"),
        ("\x1b[2Jgzip", [PAGE], "not asked for ('\\x1b[2jgzip')"),  # the server's text, escaped
    ],
    ids=["identity", "gzip", "gzip-bomb", "deflate-bomb", "corrupt", "brotli", "twice", "control-characters"],
)
def test_an_answer_past_the_limit_or_not_decodable_is_a_bad_response(
    encoding: str | None, body: list[bytes], error: str
) -> None:
    with pytest.raises(BadResponse) as raised:
        decoder = BodyDecoder(encoding, limit=1024)
        for part in body:
            decoder.feed(part)
            assert decoder.size <= 1025  # never more in memory than the limit, whatever the ratio
        decoder.finish()
    assert error in str(raised.value)


# --- the access token ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (3600, 3600.0),
        (1800.5, 1800.5),
        (0, MIN_TOKEN_LIFETIME),
        (-1, MIN_TOKEN_LIFETIME),
        (59, MIN_TOKEN_LIFETIME),  # under the refresh margin: would be a token per search
        (10**400, MAX_TOKEN_LIFETIME),  # float() of it raises OverflowError
        (float("inf"), MAX_TOKEN_LIFETIME),
        (float("-inf"), MIN_TOKEN_LIFETIME),
        (float("nan"), DEFAULT_TOKEN_LIFETIME),
        ("3600", DEFAULT_TOKEN_LIFETIME),
        (None, DEFAULT_TOKEN_LIFETIME),
        (True, DEFAULT_TOKEN_LIFETIME),
    ],
)
def test_expires_in_is_held_to_a_sane_range(expires_in: object, lifetime: float) -> None:
    assert token_lifetime(expires_in) == lifetime


@pytest.mark.parametrize(
    ("token", "plain"),
    [
        ("BQAbc-_.~+/=", True),
        ("x" * 4096, True),
        ("x" * 4097, False),
        ("", False),
        ("tok\r\nX-Injected: yes", False),
        ("tok\n", False),
        ("tok en", False),
        ("tok\x1b[2J", False),
        ("tök", False),
        ("tok\x7f", False),
        (None, False),
        (12345, False),
    ],
)
def test_only_a_plain_visible_ascii_token_is_sent(token: object, plain: bool) -> None:
    assert is_plain_token(token) is plain


@settings(max_examples=300, deadline=None)
@given(
    params=st.dictionaries(st.text(min_size=1, max_size=12), st.one_of(st.text(max_size=30), st.integers())),
    path=st.sampled_from(["/v1/search", "/v1/search/", "/v1/tracks/ä b", "/v1/a%20b"]),
    host=st.sampled_from(["http://127.0.0.1:8080", "https://api.spotify.com", "HTTPS://API.Spotify.com:443"]),
)
def test_a_search_url_is_the_one_requests_would_send(params: dict[str, str | int], path: str, host: str) -> None:
    url = f"{host}{path}"
    assert prepared_get_url(url, params) == requests.Request("GET", url, params=params).prepare().url

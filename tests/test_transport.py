"""The retry rules, as a table of cases (no sleeping: delays are computed, not waited)."""

from __future__ import annotations

import pytest

from isrcdb.spotify.transport import backoff_delay, error_message, retry_after_seconds, should_retry


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

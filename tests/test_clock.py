"""Durations and stored timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from isrcdb.clock import format_duration, from_text, parse_duration, to_text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("12h", 43200),
        ("30d", 2592000),
        ("2w", 1209600),
        ("0s", 0),
        ("45", 45),
        ("1.5h", 5400),
        (" 7D ", 604800),
    ],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "abc", "10y", "-5m", "5 minutes", "m5"])
def test_bad_durations_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 90s, 15m, 12h, 30d"):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(90, "90s"), (900, "15m"), (86400, "1d"), (0, "0s"), (1209600, "2w")])
def test_durations_format_back(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_timestamps_are_fixed_width_utc_text_and_round_trip() -> None:
    moment = datetime(2026, 3, 9, 7, 5, 3, tzinfo=UTC)
    assert to_text(moment) == "2026-03-09T07:05:03Z"
    assert from_text("2026-03-09T07:05:03Z") == moment
    assert to_text(datetime(2026, 3, 9, 9, 5, 3).astimezone()) == to_text(datetime(2026, 3, 9, 9, 5, 3).astimezone())

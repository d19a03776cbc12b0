from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from reconciler.core.durations import format_duration, format_time, parse_duration, parse_time


@pytest.mark.parametrize(("text", "expected"), [
    ("30m", timedelta(minutes=30)), ("4h", timedelta(hours=4)), ("7d", timedelta(days=7)),
    ("1d12h", timedelta(hours=36)), ("2w", timedelta(days=14)), (" 90s ", timedelta(seconds=90)),
])
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "4", "h", "4 h", "-1h", "1.5h", "4H", "0m", "1h-", "9999999h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration_two_largest_units() -> None:
    assert format_duration(timedelta(days=1, hours=2, minutes=3)) == "1d2h"
    assert format_duration(timedelta(minutes=35)) == "35m"
    assert format_duration(timedelta(seconds=-5)) == "0s"


def test_times_need_a_zone_and_come_back_in_utc() -> None:
    assert parse_time("2026-11-25T02:00:00+01:00") == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    assert format_time(parse_time("2026-11-25T02:00:00.5Z")) == "2026-11-25T02:00:00Z"
    for bad in ("2026-11-25T02:00:00", "2026-11-25", "tomorrow", "2026-11-25T25:00:00Z"):
        with pytest.raises(ValueError):
            parse_time(bad)


@pytest.mark.parametrize(("value", "written"), [
    (datetime(2026, 11, 25, 2, 0, tzinfo=UTC), "2026-11-25T02:00:00Z"),
    (datetime(2026, 11, 25, 2, 0, 0, 999_999, tzinfo=UTC), "2026-11-25T02:00:00Z"),
    (datetime(2026, 11, 25, 2, 0, tzinfo=timezone(timedelta(hours=-5))), "2026-11-25T07:00:00Z"),
    (datetime(2026, 11, 25, 2, 0, tzinfo=timezone(timedelta(0))), "2026-11-25T02:00:00Z"),
    (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02T03:04:05Z"),
])
def test_times_are_written_in_utc_to_the_second(value: datetime, written: str) -> None:
    assert format_time(value) == written

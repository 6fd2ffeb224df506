"""Budget windows are pure arithmetic: aligned, contiguous, and independent of any reset job."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from ingress.admission import EPOCH, parse_budget_duration, window_end, window_start
from schemas.errors import InvalidRequest


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type,misc]  # (year, month, day, ...)


ANCHOR = utc(2030, 1, 1, 9, 30)


@pytest.mark.parametrize(
    ("text", "seconds", "months", "canonical"),
    [
        ("1h", 3600, 0, "1h"),
        ("1d", 86400, 0, "1d"),
        ("7d", 7 * 86400, 0, "7d"),
        ("30d", 30 * 86400, 0, "30d"),
        ("30s", 30, 0, "30s"),
        ("15m", 900, 0, "15m"),
        ("1mo", 0, 1, "1mo"),
        ("3mo", 0, 3, "3mo"),
        ("monthly", 0, 1, "1mo"),
        ("calendar_month", 0, 1, "1mo"),
        ("daily", 86400, 0, "1d"),
        (" 7D ", 7 * 86400, 0, "7d"),
    ],
)
def test_parse_budget_duration(text: str, seconds: int, months: int, canonical: str) -> None:
    duration = parse_budget_duration(text)
    assert (duration.seconds, duration.months, duration.text) == (seconds, months, canonical)


@pytest.mark.parametrize("text", ["", "0d", "-1d", "1y", "d", "1.5h", "abc", "1 mo x"])
def test_parse_budget_duration_rejects_nonsense(text: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_budget_duration(text)
    assert raised.value.param == "budget_duration"
    assert raised.value.status == 400


def test_daily_window_is_aligned_to_the_anchor() -> None:
    day = parse_budget_duration("1d")
    now = utc(2030, 1, 5, 8, 0)
    assert window_start(day, now, ANCHOR) == utc(2030, 1, 4, 9, 30)
    assert window_end(day, now, ANCHOR) == utc(2030, 1, 5, 9, 30)
    at_boundary = utc(2030, 1, 5, 9, 30)
    assert window_start(day, at_boundary, ANCHOR) == at_boundary


@pytest.mark.parametrize(
    ("text", "now", "start"),
    [
        ("1h", utc(2030, 1, 1, 12, 10), utc(2030, 1, 1, 11, 30)),
        ("7d", utc(2030, 1, 15, 9, 29), utc(2030, 1, 8, 9, 30)),
        ("30d", utc(2030, 3, 3, 0, 0), utc(2030, 3, 2, 9, 30)),
        ("1d", utc(2029, 12, 31, 10, 0), utc(2029, 12, 31, 9, 30)),
    ],
)
def test_fixed_windows(text: str, now: datetime, start: datetime) -> None:
    duration = parse_budget_duration(text)
    assert window_start(duration, now, ANCHOR) == start
    assert window_end(duration, now, ANCHOR) == start + timedelta(seconds=duration.seconds)


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        (utc(2030, 2, 15, 12), utc(2030, 2, 1), utc(2030, 3, 1)),
        (utc(2030, 12, 31, 23, 59), utc(2030, 12, 1), utc(2031, 1, 1)),
        (utc(2030, 3, 1), utc(2030, 3, 1), utc(2030, 4, 1)),
    ],
)
def test_calendar_month_ignores_the_anchor_day(
    now: datetime, start: datetime, end: datetime
) -> None:
    month = parse_budget_duration("1mo")
    assert window_start(month, now, ANCHOR) == start
    assert window_end(month, now, ANCHOR) == end


def test_calendar_month_uses_utc_even_for_other_timezones() -> None:
    month = parse_budget_duration("1mo")
    # 2030-03-01 01:00 in UTC+5 is still February in UTC.
    now = utc(2030, 3, 1, 1, 0) - timedelta(hours=5)
    assert window_start(month, now, ANCHOR) == utc(2030, 2, 1)


def test_multi_month_windows_count_from_the_anchor_month() -> None:
    quarter = parse_budget_duration("3mo")
    now = utc(2030, 5, 20)
    assert window_start(quarter, now, ANCHOR) == utc(2030, 4, 1)
    assert window_end(quarter, now, ANCHOR) == utc(2030, 7, 1)


def test_instant_before_the_anchor_lands_in_the_previous_window() -> None:
    day = parse_budget_duration("1d")
    now = ANCHOR - timedelta(minutes=1)
    assert window_start(day, now, ANCHOR) == ANCHOR - timedelta(days=1)


def test_lifetime_budget_has_one_window() -> None:
    for now in (ANCHOR, ANCHOR + timedelta(days=4000)):
        assert window_start(None, now, ANCHOR) == EPOCH
        assert window_end(None, now, ANCHOR) > now + timedelta(days=365 * 1000)


@pytest.mark.parametrize("text", ["1h", "1d", "7d", "30d", "1mo", "2mo"])
def test_windows_tile_time_without_gaps_or_overlaps(text: str) -> None:
    duration = parse_budget_duration(text)
    rng = random.Random(text)
    for _ in range(200):
        now = ANCHOR + timedelta(seconds=rng.randrange(-400 * 86400, 400 * 86400))
        start, end = window_start(duration, now, ANCHOR), window_end(duration, now, ANCHOR)
        assert start <= now < end
        assert window_start(duration, end, ANCHOR) == end
        assert window_end(duration, start - timedelta(microseconds=1), ANCHOR) == start


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_start(parse_budget_duration("1d"), datetime(2030, 1, 1), ANCHOR)

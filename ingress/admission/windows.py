"""Budget windows and rate windows: pure arithmetic over time, never a reset job.

A budget's spend is a counter keyed by ``(scope, window_start)``. When time crosses into the next
window the admission looks up a *different* counter, which starts at zero; the previous window's
counter is left exactly as it was. Nothing is wiped, nothing is skipped, and no job has to run.

Windows are fixed and aligned:

- ``Ns``, ``Nm``, ``Nh``, ``Nd`` (``1h``, ``1d``, ``7d``, ``30d``...) are aligned to an *anchor*,
  the budgeted entity's creation time: a ``1d`` budget created at 09:30 UTC resets at 09:30 UTC.
- ``Nmo`` (``1mo``, or the aliases ``monthly`` / ``calendar_month``) is aligned to UTC calendar
  months: ``1mo`` runs from the first of the month, 00:00 UTC, to the first of the next.
- No duration at all is a lifetime budget: one window that starts at :data:`EPOCH` and never ends.

Rate limits (rpm, tpm) use fixed 60-second windows aligned to the Unix epoch, so every instance
computes the same window from the same clock without talking to the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.errors import InvalidRequest

__all__ = [
    "EPOCH",
    "FOREVER_US",
    "RATE_WINDOW_S",
    "BudgetDuration",
    "epoch_ms",
    "epoch_us",
    "from_epoch_us",
    "parse_budget_duration",
    "rate_window_start_s",
    "window_bounds_us",
    "window_end",
    "window_start",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Start of the single window of a budget without a duration (a lifetime budget)."""

RATE_WINDOW_S = 60
"""Length of an rpm / tpm window: an rpm limit of R admits exactly R requests per window."""

FOREVER_US = (datetime.max.replace(tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
"""End of a lifetime budget's window, in epoch microseconds (the last representable instant)."""

_ONE_US = timedelta(microseconds=1)
_US_PER_S = 1_000_000
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*(mo|s|m|h|d)\s*$")
_ALIASES = {
    "hourly": "1h",
    "daily": "1d",
    "weekly": "7d",
    "monthly": "1mo",
    "month": "1mo",
    "calendar_month": "1mo",
}


@dataclass(frozen=True, slots=True)
class BudgetDuration:
    """A parsed ``budget_duration``: either a fixed length in seconds or a number of months.

    Attributes:
        text: the canonical spelling (``"1d"``, ``"1mo"``), for events and API responses.
        seconds: window length for anchor-aligned windows; 0 for calendar months.
        months: number of calendar months per window; 0 for fixed-length windows.
    """

    text: str
    seconds: int = 0
    months: int = 0

    @property
    def is_calendar(self) -> bool:
        return self.months > 0


def parse_budget_duration(text: str) -> BudgetDuration:
    """Parse a LiteLLM-style ``budget_duration``: ``30s``, ``1h``, ``1d``, ``7d``, ``30d``, ``1mo``.

    Raises:
        InvalidRequest: the value is not a positive duration (``param="budget_duration"``).
    """
    normalized = _ALIASES.get(text.strip().lower(), text.strip().lower())
    match = _DURATION.match(normalized)
    if match is None or int(match.group(1)) <= 0:
        raise InvalidRequest(
            f"budget_duration {text!r} is not a duration like 1h, 1d, 7d, 30d or 1mo",
            param="budget_duration",
        )
    count, unit = int(match.group(1)), match.group(2)
    canonical = f"{count}{unit}"
    if unit == "mo":
        return BudgetDuration(text=canonical, months=count)
    return BudgetDuration(text=canonical, seconds=count * _UNIT_SECONDS[unit])


def window_start(duration: BudgetDuration | None, now: datetime, anchor: datetime) -> datetime:
    """Start of the budget window that contains ``now`` (UTC).

    Args:
        duration: the budget's window length, or None for a lifetime budget.
        now: the instant being admitted (timezone-aware).
        anchor: the budgeted entity's creation time (timezone-aware); fixed-length windows are
            aligned to it. Calendar months ignore the anchor's day and time, and use its month
            only to align multi-month windows.
    """
    start_us, _ = window_bounds_us(duration, epoch_us(now), epoch_us(anchor))
    return from_epoch_us(start_us)


def window_end(duration: BudgetDuration | None, now: datetime, anchor: datetime) -> datetime:
    """End (exclusive) of the budget window that contains ``now``; far future for lifetime."""
    _, end_us = window_bounds_us(duration, epoch_us(now), epoch_us(anchor))
    return from_epoch_us(end_us)


def window_bounds_us(
    duration: BudgetDuration | None, now_us: int, anchor_us: int
) -> tuple[int, int]:
    """``(start, end)`` in epoch microseconds of the window containing ``now_us``.

    PERF: the hot path computes a window per budgeted scope per request; integer arithmetic is
    about 5x faster than the same on aware datetimes (measured with cProfile on MemoryAdmission).
    """
    if duration is None:
        return 0, FOREVER_US
    if duration.is_calendar:
        return _month_bounds_us(duration.months, now_us, anchor_us)
    period_us = duration.seconds * _US_PER_S
    # NOTE: // floors, so an instant before the anchor (clock skew, or an anchor set in the
    # future) still lands in a well-defined window instead of a negative one.
    start_us = anchor_us + ((now_us - anchor_us) // period_us) * period_us
    return start_us, start_us + period_us


def epoch_us(instant: datetime) -> int:
    """Integer microseconds since the Unix epoch (exact; no float rounding).

    Raises:
        ValueError: ``instant`` is naive (admission times must be timezone-aware).
    """
    if instant.tzinfo is None:
        raise ValueError("admission times must be timezone-aware (UTC)")
    return (instant - EPOCH) // _ONE_US


def from_epoch_us(us: int) -> datetime:
    """The UTC datetime ``us`` microseconds after the Unix epoch."""
    return EPOCH + timedelta(microseconds=us)


def epoch_ms(instant: datetime) -> int:
    """Integer milliseconds since the Unix epoch (exact; no float rounding)."""
    return epoch_us(instant) // 1000


def rate_window_start_s(now: datetime) -> int:
    """Epoch second at which the 60-second rate window containing ``now`` starts."""
    seconds = epoch_us(now) // _US_PER_S
    return seconds - seconds % RATE_WINDOW_S


def _month_bounds_us(months: int, now_us: int, anchor_us: int) -> tuple[int, int]:
    now, anchor = from_epoch_us(now_us), from_epoch_us(anchor_us)
    now_index = now.year * 12 + now.month - 1
    anchor_index = anchor.year * 12 + anchor.month - 1
    start_index = anchor_index + ((now_index - anchor_index) // months) * months
    return _month_start_us(start_index), _month_start_us(start_index + months)


def _month_start_us(month_index: int) -> int:
    return epoch_us(datetime(month_index // 12, month_index % 12 + 1, 1, tzinfo=UTC))

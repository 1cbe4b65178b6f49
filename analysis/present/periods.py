"""Calendar periods as a chart or table shows them, and which of them the data only partly
covers (the data's last date falls inside): such a period must not read as a collapse."""
from __future__ import annotations

from datetime import date

import pandas as pd

_OFFSETS = {"M": pd.offsets.MonthEnd(0), "Q": pd.offsets.QuarterEnd(0), "Y": pd.offsets.YearEnd(0)}
TO_DATE = "to date"


def period_end(start: date, freq: str) -> date:
    """The last day of the month / quarter / year ("M", "Q", "Y") that begins on `start`."""
    if freq not in _OFFSETS:
        raise ValueError(f"freq must be one of {', '.join(_OFFSETS)}, got {freq!r}")
    return (pd.Timestamp(start) + _OFFSETS[freq]).date()


def is_partial(start: date, freq: str, last_date: date | None) -> bool:
    """True when the data stops inside the period: `last_date` is on or after its first day
    and before its last day."""
    return last_date is not None and start <= last_date < period_end(start, freq)


def period_label(start: date, freq: str, last_date: date | None = None) -> str:
    """"2026 Q4", "Oct 2026" or "2026", with " (to date)" when the data stops inside it."""
    if freq == "Q":
        text = f"{start.year} Q{(start.month - 1) // 3 + 1}"
    elif freq == "M":
        text = f"{start:%b %Y}"
    elif freq == "Y":
        text = str(start.year)
    else:
        raise ValueError(f"freq must be one of {', '.join(_OFFSETS)}, got {freq!r}")
    return f"{text} ({TO_DATE})" if is_partial(start, freq, last_date) else text


def days_covered(start: date, freq: str, last_date: date) -> tuple[int, int]:
    """(days of the period the data covers, days in the period)."""
    end = period_end(start, freq)
    total = (end - start).days + 1
    return min(total, max(0, (last_date - start).days + 1)), total


def first_day(value) -> date:
    """A period start from a date, a timestamp or an ISO string."""
    return pd.Timestamp(value).date()



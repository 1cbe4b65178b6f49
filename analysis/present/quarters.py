"""Calendar quarters: parsing "2026Q3", their dates, and which quarters the data covers."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from analysis.present.options import filter_options
from analysis.store import Store

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]\s*([1-4])\s*$")


@dataclass(frozen=True, order=True)
class Quarter:
    """One calendar quarter; `str(q)` is the canonical label "2026Q3"."""
    year: int
    number: int

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"

    @property
    def start(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> date:
        """The last day of the quarter (inclusive, like Filters.date_to)."""
        return self.next().start - timedelta(days=1)

    def next(self) -> "Quarter":
        return Quarter(self.year + self.number // 4, self.number % 4 + 1)

    def previous(self) -> "Quarter":
        return Quarter(self.year - (self.number == 1), (self.number - 2) % 4 + 1)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def parse_quarter(text: str | Quarter) -> Quarter:
    """A Quarter from "2026Q3", "2026-Q3" or "2026 q3"; ValueError with the accepted form otherwise."""
    if isinstance(text, Quarter):
        return text
    found = _QUARTER.match(str(text))
    if not found:
        raise ValueError(f"quarter {text!r} is not of the form 2026Q3 (or 2026-Q3)")
    return Quarter(int(found.group(1)), int(found.group(2)))


def quarter_of(day: date) -> Quarter:
    return Quarter(day.year, (day.month - 1) // 3 + 1)


def quarters_between(first: date, last: date) -> list[Quarter]:
    """Every quarter from the one holding `first` to the one holding `last`, oldest first."""
    out, q, stop = [], quarter_of(first), quarter_of(last)
    while q <= stop:
        out.append(q)
        q = q.next()
    return out


def data_quarters(store: Store) -> list[Quarter]:
    """Quarters that hold runs or renewals, oldest first (empty when there is no data)."""
    options = filter_options(store)
    if options.first_date is None or options.last_date is None:
        return []
    return quarters_between(options.first_date, options.last_date)


def last_complete_quarter(store: Store, today: date | None = None) -> Quarter | None:
    """The latest quarter whose last day is on or before both the data's last date and today.

    A quarter still in progress makes an unfair comparison (fewer runs, outcomes not in yet),
    so the review and "what changed" default to the last finished one. When no quarter of the
    data is finished, the data's last quarter is returned.
    """
    quarters = data_quarters(store)
    if not quarters:
        return None
    last_date = filter_options(store).last_date
    today = today or date.today()
    finished = [q for q in quarters if q.end <= last_date and q.end <= today]
    return finished[-1] if finished else quarters[-1]

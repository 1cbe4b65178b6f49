"""analysis/present/periods.py: labels and partial periods."""
from datetime import date

import pytest

from analysis.present.periods import days_covered, is_partial, period_end, period_label


def test_period_end_and_partial_periods():
    assert period_end(date(2026, 10, 1), "Q") == date(2026, 12, 31)
    assert period_end(date(2024, 2, 1), "M") == date(2024, 2, 29)
    assert period_end(date(2026, 1, 1), "Y") == date(2026, 12, 31)
    # The demo's last quarter: October only.
    assert is_partial(date(2026, 10, 1), "Q", date(2026, 10, 31))
    assert not is_partial(date(2026, 7, 1), "Q", date(2026, 10, 31))
    assert not is_partial(date(2026, 10, 1), "Q", date(2026, 12, 31))  # data through its last day
    assert not is_partial(date(2026, 10, 1), "M", date(2026, 10, 31))
    assert not is_partial(date(2026, 10, 1), "Q", None)
    assert days_covered(date(2026, 10, 1), "Q", date(2026, 10, 31)) == (31, 92)
    with pytest.raises(ValueError):
        period_end(date(2026, 1, 1), "W")


def test_period_labels_say_to_date():
    last = date(2026, 10, 31)
    assert period_label(date(2026, 10, 1), "Q", last) == "2026 Q4 (to date)"
    assert period_label(date(2026, 7, 1), "Q", last) == "2026 Q3"
    assert period_label(date(2026, 1, 1), "Y", last) == "2026 (to date)"
    assert period_label(date(2026, 10, 1), "M", last) == "Oct 2026"
    assert period_label(date(2026, 10, 1), "M") == "Oct 2026"

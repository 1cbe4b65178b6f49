from datetime import date

import pandas as pd
import pytest

from analysis.present.quarters import (Quarter, data_quarters, last_complete_quarter, parse_quarter,
                               quarter_of, quarters_between)


@pytest.mark.parametrize("text", ["2026Q3", "2026-Q3", "2026q3", " 2026 - q3 "])
def test_parse_quarter_accepts_both_spellings(text):
    q = parse_quarter(text)
    assert q == Quarter(2026, 3) and str(q) == "2026Q3"
    assert (q.start, q.end) == (date(2026, 7, 1), date(2026, 9, 30))


@pytest.mark.parametrize("text", ["2026Q5", "2026", "Q3 2026", "2026-07", ""])
def test_parse_quarter_rejects_other_forms(text):
    with pytest.raises(ValueError, match="not of the form 2026Q3"):
        parse_quarter(text)


def test_neighbours_cross_the_year():
    assert Quarter(2026, 1).previous() == Quarter(2025, 4)
    assert Quarter(2025, 4).next() == Quarter(2026, 1)
    assert Quarter(2024, 1).end == date(2024, 3, 31)
    assert Quarter(2024, 4).end == date(2024, 12, 31)
    assert quarter_of(date(2024, 5, 31)) == Quarter(2024, 2)
    assert [str(q) for q in quarters_between(date(2024, 11, 2), date(2025, 4, 1))] == [
        "2024Q4", "2025Q1", "2025Q2"]


def _runs(store, dates):
    frame = pd.DataFrame({"run_id": [f"r{i}" for i in range(len(dates))], "scenario": "at_risk",
                          "account_id": "a1", "opened_on": pd.to_datetime(dates).date})
    store.register("new_runs", frame)
    store.execute("INSERT INTO playbook_runs BY NAME SELECT * FROM new_runs")
    store.unregister("new_runs")


def test_data_quarters_and_the_last_complete_one(store):
    assert data_quarters(store) == [] and last_complete_quarter(store) is None
    _runs(store, ["2025-11-15", "2026-02-01", "2026-05-20"])
    assert [str(q) for q in data_quarters(store)] == ["2025Q4", "2026Q1", "2026Q2"]
    # The data stops on 20 May: 2026Q2 is not finished, 2026Q1 is.
    assert last_complete_quarter(store, today=date(2026, 11, 1)) == Quarter(2026, 1)
    # Today bounds it too: on 1 March 2026 the last finished quarter is 2025Q4.
    assert last_complete_quarter(store, today=date(2026, 3, 1)) == Quarter(2025, 4)


def test_without_a_finished_quarter_the_last_one_is_used(store):
    _runs(store, ["2026-04-02", "2026-05-20"])
    assert last_complete_quarter(store, today=date(2026, 11, 1)) == Quarter(2026, 2)

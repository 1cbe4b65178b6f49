"""The effect charts draw what the analysis frames hold: rates, Wilson bars, the marked date."""
from __future__ import annotations

import json
from datetime import date

import pandas as pd

from analysis.present.charts import effect

BEFORE_AFTER_ROW = {
    "before_n": 80, "before_rate": 0.6, "before_ci_low": 0.49, "before_ci_high": 0.70,
    "after_n": 0, "after_rate": None, "after_ci_low": None, "after_ci_high": None,
}


def test_before_after_bars_carry_rates_intervals_and_n():
    fig = effect.before_after_bars(BEFORE_AFTER_ROW, "t")
    bar = fig.data[0]
    assert list(bar.x) == ["Before", "After"] and list(bar.y) == [0.6, None]
    assert bar.error_y.array[0] == 0.70 - 0.6 and bar.error_y.arrayminus[0] == 0.6 - 0.49
    assert bar.error_y.array[1] is None  # no outcomes after: no bar, no error
    assert list(bar.text) == ["n = 80", "n = 0"]
    json.loads(fig.to_json())


def test_monthly_series_band_and_introduction_marker():
    series = pd.DataFrame({
        "month": [date(2024, 5, 1), date(2024, 6, 1), date(2024, 7, 1)],
        "side": ["before", "before", "after"], "n": [10, 12, 9],
        "successes": [3, 4, 6], "rate": [0.3, 4 / 12, 6 / 9],
        "ci_low": [0.1, 0.14, 0.35], "ci_high": [0.6, 0.61, 0.88]})
    fig = effect.monthly_series_chart(series, date(2024, 7, 1))
    names = [t.name for t in fig.data]
    assert names == ["before interval", "Before", "after interval", "After"]
    band = fig.data[0]
    assert list(band.y) == [0.6, 0.61, 0.14, 0.1]  # upper bounds, then lower ones reversed
    assert fig.layout.shapes[0].x0 == "2024-07-01"
    assert fig.layout.annotations[0].text == "introduced"


def test_forest_and_balance_plots():
    frame = pd.DataFrame({
        "playbook_id": ["a", "b"], "naive_diff": [0.25, 0.1], "naive_ci_low": [0.2, 0.0],
        "naive_ci_high": [0.3, 0.2], "adjusted_diff": [0.13, None],
        "adjusted_ci_low": [0.1, None], "adjusted_ci_high": [0.16, None]}, dtype=object)
    fig = effect.effect_forest(frame)
    assert [t.name for t in fig.data] == ["Naive", "Adjusted"]
    assert list(fig.data[1].x) == [0.13, None]
    balance = pd.DataFrame({"covariate": ["health_at_open"], "smd_before": [0.7],
                            "smd_after": [0.01]})
    fig = effect.balance_plot(balance)
    assert [list(t.x) for t in fig.data] == [[0.7], [0.01]]
    assert sorted(s.x0 for s in fig.layout.shapes) == [-0.1, 0, 0.1]
    json.loads(fig.to_json())


def test_monthly_series_marks_the_month_the_data_stops_inside():
    series = pd.DataFrame({
        "month": [date(2026, 9, 1), date(2026, 10, 1)], "side": ["after", "after"],
        "n": [40, 9], "rate": [0.5, 0.2], "ci_low": [0.35, 0.05], "ci_high": [0.65, 0.5]})
    fig = effect.monthly_series_chart(series, None, "t", last_date=date(2026, 10, 14))
    marks = [a for a in fig.layout.annotations if a.text == "to date"]
    assert len(marks) == 1 and marks[0].y == 0.2
    whole = effect.monthly_series_chart(series, None, "t", last_date=date(2026, 10, 31))
    assert not [a for a in whole.layout.annotations if a.text == "to date"]

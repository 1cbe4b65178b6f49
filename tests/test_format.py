"""analysis/present/format.py: how numbers read, and the table people read."""
from datetime import date

import pandas as pd

from analysis.present import format as fmt


def test_numbers_read_as_people_say_them():
    assert fmt.percent(0.354) == "35%" and fmt.percent(0.354, 1) == "35.4%"
    assert fmt.points(0.0941) == "+9" and fmt.points(-0.06) == "−6" and fmt.points(0.002) == "+0.2"
    assert fmt.points_text(0.0941) == "+9 points"
    assert fmt.interval_points(-0.021, 0.15) == "−2 to +15 points"
    assert fmt.interval_percent(0.41, 0.583) == "41% to 58%"
    assert fmt.spread_points(0.0914) == "9.1 points"
    assert fmt.p_value(8.9e-06) == "p < 0.001" and fmt.p_value(0.0312) == "p = 0.03"
    assert fmt.number(0.96142) == "0.96" and fmt.days(83.6) == "84 days"
    assert fmt.relative_change(-0.005) == "−0.5%" and fmt.relative_change(0.123) == "+12%"
    assert fmt.relative_change(0) == "0%"
    assert fmt.text(True) == "yes" and fmt.text(date(2026, 10, 31)) == "31 Oct 2026"
    for f in (fmt.percent, fmt.points_text, fmt.p_value, fmt.count, fmt.day, fmt.number,
              fmt.days, fmt.spread_points, fmt.text, fmt.relative_change):
        assert f(None) == "—" and f(float("nan")) == "—"


def test_table_picks_renames_and_formats_with_no_none_cells():
    frame = pd.DataFrame({"playbook_id": ["a", "b"], "diff": [0.0941, None],
                          "p_value": [8.9e-06, float("nan")], "n": [1005, 12],
                          "unused": [1, 2]})
    shown = fmt.table(frame, {"playbook_id": ("Playbook", "text"),
                              "diff": ("Difference", "points"), "p_value": ("p-value", "p"),
                              "n": ("Runs", "count"), "absent": ("Absent", "text")})
    assert list(shown.columns) == ["Playbook", "Difference", "p-value", "Runs"]
    assert shown.to_dict("records") == [
        {"Playbook": "a", "Difference": "+9 points", "p-value": "p < 0.001", "Runs": "1,005"},
        {"Playbook": "b", "Difference": "—", "p-value": "—", "Runs": "12"}]

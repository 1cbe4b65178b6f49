"""The feedback charts name the level of the intervals they draw."""
from __future__ import annotations

import pandas as pd

from analysis.present.charts.feedback import mean_rating_chart

# Two playbooks as `feedback_summary` gives them; the intervals' values do not matter here.
SUMMARY = pd.DataFrame({"playbook_id": ["at_risk", "renewal"], "rated": [4, 0],
                        "mean_rating": [4.0, None], "ci_low": [2.7, None],
                        "ci_high": [5.0, None]})


def test_mean_rating_title_names_the_alpha_it_is_given(monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_ALPHA", "0.1")  # never read: the caller passes alpha
    assert (mean_rating_chart(SUMMARY, alpha=0.05).layout.title.text
            == "Mean rating with 95% interval")
    assert (mean_rating_chart(SUMMARY, alpha=0.005).layout.title.text
            == "Mean rating with 99.5% interval")
    assert (mean_rating_chart(SUMMARY, alpha=0.1).layout.title.text
            == "Mean rating with 90% interval")
    # A title the caller gives is kept as it is.
    assert mean_rating_chart(SUMMARY, title="Ratings", alpha=0.05).layout.title.text == "Ratings"

"""AppTest of pages/overview.py: empty state, and figures equal to the analysis output."""
from html import escape

import pytest
from streamlit.testing.v1 import AppTest

from analysis.filters import Filters
from analysis.metrics.overview import effect_counts, playbook_headlines, quarter_changes
from tests.builders import ctx, figures, metric_values, page, run_page, shown_levels

PAGE = page("overview")


def _run() -> AppTest:
    return run_page(PAGE, timeout=300)  # the demo's analyses take a while on a cold start


def test_empty_database_says_how_to_start(empty_db):
    at = _run()
    assert [i.value for i in at.info] == [
        "No data yet — load the demo (`python -m analysis init --demo`) or import exports on "
        "Import data."]
    assert not at.metric


@pytest.fixture(scope="module")
def expected(demo_store):
    headlines = playbook_headlines(ctx(demo_store, Filters()))
    return headlines, quarter_changes(ctx(demo_store, Filters()))


def test_demo_overview_shows_the_analysis(demo_db, expected):
    headlines, changes = expected
    at = _run()
    metrics = metric_values(at)
    counts = effect_counts(headlines)
    assert metrics["Playbooks improved"] == str(counts["improved"])
    assert metrics["Got worse"] == str(counts["worse"])
    for h in headlines[headlines["diff"].notna()].to_dict("records"):
        assert metrics[h["name"]] == f"{h['after_rate']:.0%}"
    # What changed: the same measures and current values as quarter_changes.
    for c in changes.to_dict("records"):
        if c["kind"] == "rate" and c["current_value"] is not None:
            assert metrics[c["measure"]] == f"{c['current_value']:.0%}"
        elif c["kind"] == "count":
            assert metrics[c["measure"]] == f"{c['current_value']:,}"
    assert f"{changes['current_quarter'].iloc[0]} vs {changes['previous_quarter'].iloc[0]}" in \
        " ".join(s.value for s in at.subheader)


def test_effect_chart_plots_each_measured_playbook(demo_db, expected):
    headlines, _ = expected
    at = _run()
    specs = figures(at)
    effects = specs[0]
    plotted = {y: x for trace in effects["data"] for x, y in zip(trace["x"], trace["y"])}
    measured = headlines[headlines["diff"].notna()]
    assert len(plotted) == len(measured)
    for h in measured.to_dict("records"):
        # Names are escaped for plotly, which reads a little HTML in labels.
        assert plotted[escape(h["name"])] == pytest.approx(h["diff"])
    freshness = at.dataframe[-1].value
    assert set(freshness["Table"]) >= {"playbook_runs", "renewals", "csms"}
    assert freshness.set_index("Table").loc["playbook_runs", "Data runs to"] == "31 Oct 2026"


def test_interval_labels_name_the_alpha_in_use(demo_db, alpha_level):
    at = _run()
    assert alpha_level in shown_levels(at)
    assert shown_levels(at) == {alpha_level}

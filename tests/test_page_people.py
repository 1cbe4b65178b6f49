"""AppTests of the Consistency and Time-to-proficiency pages: they show the analysis' figures,
and say what to import when the database is empty."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from analysis.metrics.consistency import consistency_summary
from analysis.filters import Filters
from analysis.metrics.proficiency import proficiency_summary
from pages.common import claim_p
from pages.launch import NO_LAUNCH
from analysis.present import format as fmt
from tests.builders import (ctx, app_database, computed_first, figures, messages, metric_values,
                            page, run_page, shown_levels)
from tests.test_consistency import _seed as seed_renewals
from tests.test_proficiency import _seed_tracked as seed_roster

CONSISTENCY = page("consistency")
PROFICIENCY = page("proficiency")


def _fill(store) -> None:
    """Per-CSM renewals around the launch, and a roster with hire and ramp dates."""
    from analysis.playbooks.catalog import use_templates
    use_templates(store)  # the templates date the launch (2024-07-01)
    seed_renewals(store)
    seed_roster(store)


@pytest.fixture
def data_db(tmp_path, monkeypatch):
    return app_database(tmp_path / "data.duckdb", monkeypatch, _fill)


def _expected(summary, path):
    """The analysis result, computed before the page opens (and caches) the database."""
    return computed_first(path, lambda store: summary(ctx(store, Filters())))


def _shows(at: AppTest, metrics: dict[str, str], verdict: str) -> set[str]:
    """Check the page shows these metric values and the verdict; the names of its chart's
    traces come back."""
    shown = metric_values(at)
    for label, value in metrics.items():
        assert shown[label] == value, label
    assert verdict in messages(at)
    charts = figures(at)
    assert charts, "no chart rendered"
    return {trace.get("name") for trace in charts[0]["data"]}


def test_consistency_page_shows_the_analysis(data_db):
    result = _expected(consistency_summary, data_db)
    assert result.sd_ratio is not None
    at = run_page(CONSISTENCY)
    spread = result.spread.set_index("period")
    names = _shows(at, {
        "Spread before": f"{100 * spread.loc['before', 'sd']:.1f} points",
        "Spread after": f"{100 * spread.loc['after', 'sd']:.1f} points",
        "Spread after / before": f"{result.sd_ratio:.2f}",
        "Could it be chance?": fmt.p_value(claim_p(result)),
    }, result.verdict)
    assert "12 months before launch" in names and "Spread chance alone gives" in names
    assert len(at.dataframe) == 2
    # Under the verdict, one sentence on the design it rests on and what it assumes.
    assert any(c.value.startswith("Verdict from the spread") and "assumes" in c.value
               for c in at.caption)


def test_proficiency_page_shows_the_analysis(data_db):
    result = _expected(proficiency_summary, data_db)
    cohorts = result.cohorts.set_index("cohort")
    at = run_page(PROFICIENCY)
    names = _shows(at, {
        "Median ramp, hired before": f"{cohorts.loc['before', 'median_days']:.0f} days",
        "Median ramp, hired after": f"{cohorts.loc['after', 'median_days']:.0f} days",
        "Faster by": f"{result.faster_pct:.0%}",
        "Could it be chance?": fmt.p_value(claim_p(result)),
    }, result.verdict)
    assert {"Hired before launch", "Hired on or after launch"} <= names


@pytest.mark.parametrize("path", [CONSISTENCY, PROFICIENCY])
def test_empty_database_says_what_to_import(empty_db, path):
    at = run_page(path)
    assert at.info, "an empty database shows a note"
    assert any("Import data" in e.value for e in at.info)
    assert not at.metric


@pytest.mark.parametrize("path", [CONSISTENCY, PROFICIENCY])
def test_no_launch_date_says_how_to_set_one(empty_db, tmp_path, monkeypatch, path):
    # No playbook definitions and no runs: nothing dates the launch.
    (tmp_path / "no_playbooks").mkdir()
    monkeypatch.setenv("PLAYBOOK_IMPACT_PLAYBOOKS_DIR", str(tmp_path / "no_playbooks"))
    at = run_page(path)
    assert [e.value for e in at.info] == [NO_LAUNCH]
    assert not at.metric


def test_spread_chart_band_sizes_and_hover(store):
    from scipy import stats as sps
    from analysis.present.charts.people import csm_spread_chart
    from tests.test_consistency import LAUNCH
    seed_renewals(store)
    result = consistency_summary(ctx(store, None), LAUNCH)
    figure = csm_spread_chart(result.rates, result.spread, alpha=0.05, months=12)
    band = next(t for t in figure.data if t.name == "Spread chance alone gives")
    before = result.spread.set_index("period").loc["before"]
    z = sps.norm.ppf(0.975)
    assert min(band.y) == pytest.approx(before["pooled_rate"] - z * before["noise_sd"])
    assert max(band.y) == pytest.approx(min(before["pooled_rate"] + z * before["noise_sd"], 1))
    points = next(t for t in figure.data if t.name == "12 months before launch"
                  and t.type == "scatter")
    sizes = dict(zip(points.customdata[:, 0], points.marker.size))
    assert sizes["Bo"] > sizes["Ada"]  # 20 renewals against 10
    assert "%{customdata[0]}" in points.hovertemplate


def test_km_chart_steps_and_medians(store):
    from analysis.present.charts.people import km_chart
    from tests.test_proficiency import LAUNCH
    seed_roster(store)
    result = proficiency_summary(ctx(store, None), LAUNCH)
    figure = km_chart(result.curves, result.cohorts, alpha=0.05)
    line = next(t for t in figure.data if t.name == "Hired before launch")
    assert line.line.shape == "hv"
    medians = [list(t.x) for t in figure.data if t.y is not None and list(t.y) == [0, 0.5]]
    assert sorted(medians) == [[99, 99], [181, 181]]


@pytest.mark.parametrize("path", [CONSISTENCY, PROFICIENCY])
def test_interval_labels_name_the_alpha_in_use(data_db, alpha_level, path):
    at = run_page(path)
    assert shown_levels(at) == {alpha_level}


def test_people_charts_label_and_size_the_alpha_they_are_given(store):
    from scipy import stats as sps
    from analysis.present.charts.people import csm_spread_chart, km_chart
    from tests.test_consistency import LAUNCH
    seed_renewals(store)
    result = consistency_summary(ctx(store, None), LAUNCH)
    figure = csm_spread_chart(result.rates, result.spread, alpha=0.1, months=12)
    band = next(t for t in figure.data if t.name == "Spread chance alone gives")
    before = result.spread.set_index("period").loc["before"]
    z = sps.norm.ppf(0.95)  # two-sided 90%
    assert min(band.y) == pytest.approx(before["pooled_rate"] - z * before["noise_sd"])
    assert "(90% of CSMs)" in band.hovertemplate
    points = next(t for t in figure.data if t.name == "12 months before launch"
                  and t.type == "scatter")
    assert "90% CI %{customdata[3]:.1%}" in points.hovertemplate
    seed_roster(store)
    ramp = proficiency_summary(ctx(store, None), LAUNCH)
    line = next(t for t in km_chart(ramp.curves, ramp.cohorts, alpha=0.005).data
                if t.name == "Hired before launch")
    assert "99.5% CI %{customdata[1]:.0%}" in line.hovertemplate


def test_period_labels_name_the_window_in_use(data_db, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_WINDOW_MONTHS", "6")
    at = run_page(CONSISTENCY)
    figure = figures(at)[0]
    assert figure["layout"]["xaxis"]["ticktext"] == ["6 months before launch",
                                                     "6 months after launch"]
    assert not any("12 months" in str(trace.get("name")) for trace in figure["data"])

"""AppTests of the Consistency and Time-to-proficiency pages: they show the analysis' figures,
and say what to import when the database is empty."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.consistency import consistency_summary
from analysis.filters import Filters
from analysis.proficiency import proficiency_summary
from analysis.store import Store
from tests.test_consistency import _seed as seed_renewals
from tests.test_proficiency import _seed_tracked as seed_roster

ROOT = Path(__file__).resolve().parent.parent
CONSISTENCY = str(ROOT / "pages" / "consistency.py")
PROFICIENCY = str(ROOT / "pages" / "proficiency.py")


@pytest.fixture
def empty_db(tmp_path, monkeypatch):
    path = tmp_path / "empty.duckdb"
    Store(path).close()
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(path))
    return path


@pytest.fixture
def data_db(tmp_path, monkeypatch):
    """Per-CSM renewals around the launch, and a roster with hire and ramp dates."""
    path = tmp_path / "data.duckdb"
    store = Store(path)
    seed_renewals(store)
    seed_roster(store)
    store.close()
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(path))
    return path


def _run(path: str) -> AppTest:
    at = AppTest.from_file(path, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _expected(summary, path):
    """The analysis result, computed before the page opens (and caches) the database."""
    with Store(path) as store:
        return summary(store, Filters())


def _figure(at: AppTest) -> dict:
    charts = [e for e in at.main if getattr(e.proto, "spec", None)]
    assert charts, "no chart rendered"
    return json.loads(charts[0].proto.spec)


def test_consistency_page_shows_the_analysis(data_db):
    result = _expected(consistency_summary, data_db)
    assert result.sd_ratio is not None
    at = _run(CONSISTENCY)
    metrics = {m.label: m.value for m in at.metric}
    spread = result.spread.set_index("period")
    assert metrics["SD before"] == f"{100 * spread.loc['before', 'sd']:.1f} pts"
    assert metrics["SD after"] == f"{100 * spread.loc['after', 'sd']:.1f} pts"
    assert metrics["SD ratio (after / before)"] == f"{result.sd_ratio:.2f}"
    assert metrics["Brown–Forsythe p"] == f"{result.p_value:.3g}"
    shown = [e.value for e in (*at.info, *at.success, *at.warning)]
    assert result.verdict in shown
    figure = _figure(at)
    names = {trace.get("name") for trace in figure["data"]}
    assert "12 months before launch" in names and "Spread chance alone gives" in names
    assert len(at.dataframe) == 2


def test_proficiency_page_shows_the_analysis(data_db):
    result = _expected(proficiency_summary, data_db)
    cohorts = result.cohorts.set_index("cohort")
    at = _run(PROFICIENCY)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Median ramp, hired before"] == f"{cohorts.loc['before', 'median_days']:.0f} days"
    assert metrics["Median ramp, hired after"] == f"{cohorts.loc['after', 'median_days']:.0f} days"
    assert metrics["Faster by"] == f"{result.faster_pct:.0%}"
    assert metrics["Log-rank p"] == f"{result.p_value:.3g}"
    shown = [e.value for e in (*at.info, *at.success, *at.warning)]
    assert result.verdict in shown
    figure = _figure(at)
    names = {trace.get("name") for trace in figure["data"]}
    assert {"Hired before launch", "Hired on or after launch"} <= names


@pytest.mark.parametrize("page", [CONSISTENCY, PROFICIENCY])
def test_empty_database_says_what_to_import(empty_db, page):
    at = _run(page)
    assert at.info, "an empty database shows a note"
    assert any("Import data" in e.value for e in at.info)
    assert not at.metric


def test_spread_chart_band_sizes_and_hover(store):
    from scipy import stats as sps
    from analysis.charts.people import csm_spread_chart
    from tests.test_consistency import LAUNCH
    seed_renewals(store)
    result = consistency_summary(store, None, LAUNCH)
    figure = csm_spread_chart(result.rates, result.spread)
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
    from analysis.charts.people import km_chart
    from tests.test_proficiency import LAUNCH
    seed_roster(store)
    result = proficiency_summary(store, None, LAUNCH)
    figure = km_chart(result.curves, result.cohorts)
    line = next(t for t in figure.data if t.name == "Hired before launch")
    assert line.line.shape == "hv"
    medians = [list(t.x) for t in figure.data if t.y is not None and list(t.y) == [0, 0.5]]
    assert sorted(medians) == [[99, 99], [181, 181]]

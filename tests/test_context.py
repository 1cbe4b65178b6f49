"""The explicit context: built once per request, read by every metric, nothing read behind it."""
from datetime import date

import pytest

from analysis.context import Context
from analysis.filters import Filters
from analysis.metrics import stats
from analysis.metrics.registry import METRICS, metrics_json
from analysis.metrics.usage import usage_by_csm
from analysis.metrics.versions import version_rates
from analysis.settings import Settings


def test_build_resolves_the_settings_and_the_catalogue_once(demo_store, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_WINDOW_MONTHS", "6")
    ctx = Context.build(demo_store)
    monkeypatch.setenv("PLAYBOOK_IMPACT_WINDOW_MONTHS", "3")
    assert ctx.settings.window_months == 6 and ctx.filters == Filters()
    assert "at_risk" in ctx.catalog["playbook_id"].tolist()
    narrowed = ctx.with_filters(playbook_id="at_risk")
    assert narrowed.filters == Filters(playbook_id="at_risk")
    assert narrowed.catalog is ctx.catalog and narrowed.settings is ctx.settings
    assert Context.build(demo_store, catalog=False).catalog is None


def test_a_context_at_alpha_0_10_gives_90_percent_intervals_without_the_environment(
        demo_store, monkeypatch):
    monkeypatch.delenv("PLAYBOOK_IMPACT_ALPHA", raising=False)
    ctx = Context.build(demo_store, settings=Settings().replace(alpha=0.10))
    versions = version_rates(ctx)
    for row in versions.head(5).to_dict("records"):
        expected = stats.wilson(row["successes"], row["n"], 0.10)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(
            (expected.ci_low, expected.ci_high), abs=1e-12)
    csms = usage_by_csm(ctx)
    uncertain = [v for v in csms["verdict"] if "CI runs from" in v]
    assert uncertain and all("90% CI" in v for v in uncertain)
    # The same metric at the declared defaults gives the wider 95% intervals.
    wide = version_rates(Context.build(demo_store, settings=Settings()))
    assert (wide["ci_high"] - wide["ci_low"] >= versions["ci_high"] - versions["ci_low"]).all()


def test_metrics_json_reports_the_settings_it_was_given(demo_store, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_ALPHA", "0.2")  # not read: the settings are passed
    result = metrics_json(demo_store, Filters(date_from=date(2025, 1, 1)),
                          Settings().replace(alpha=0.10))
    assert result["settings"]["alpha"] == 0.10
    assert result["settings"] == Settings().replace(alpha=0.10).reported()


def test_metrics_that_never_read_the_catalogue_run_without_one(demo_store):
    bare = Context.build(demo_store, settings=Settings(), catalog=False)
    for metric in METRICS:
        if not metric.reads_catalog:
            assert metric.json(bare) is not None

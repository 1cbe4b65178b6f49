"""AppTests of the Before/after and Followers pages: they render the analysis, and say what to
import when the database is empty."""
from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.metrics.before_after import before_after
from analysis.filters import Filters
from analysis.metrics.followers import followers_effect
from analysis.present import format as fmt
from tests.builders import (ctx, app_database, computed_first, messages, metric_values, page,
                            run_page, shown_levels)
from tests.test_followers import _insert_accounts, _insert_runs, simulated_runs

BEFORE_AFTER = page("before_after")
FOLLOWERS = page("followers")
# An undefined playbook, so the test does not depend on what playbooks/ holds: the catalogue
# introduces it on its first run's opened_on.
PLAYBOOK, SCENARIO, INTRO = "zz_rescue_play", "zz_rescue", date(2024, 7, 1)


def _fill(store) -> None:
    """300 confounded playbook runs after INTRO, and 200 runs of the scenario before it."""
    accounts, runs = simulated_runs(n=300, seed=5)
    runs["playbook_id"], runs["scenario"] = PLAYBOOK, SCENARIO
    runs["run_id"] = [f"after{i}" for i in range(len(runs))]
    runs["opened_on"] = [INTRO + timedelta(days=i % 300) for i in range(len(runs))]
    rng = np.random.default_rng(3)
    baseline = pd.DataFrame({
        "run_id": [f"before{i}" for i in range(200)], "scenario": SCENARIO,
        "account_id": accounts["account_id"][:200],
        "opened_on": [INTRO - timedelta(days=1 + i) for i in range(200)], "status": "closed",
        "outcome": np.where(rng.random(200) < 0.3, "success", "failure")})
    _insert_accounts(store, accounts["account_id"], accounts["segment"])
    _insert_runs(store, pd.concat([runs, baseline], ignore_index=True))


@pytest.fixture
def data_db(tmp_path, monkeypatch):
    return app_database(tmp_path / "data.duckdb", monkeypatch, _fill)


def _expected(frame_fn, path) -> pd.Series:
    """The analysis row for PLAYBOOK, computed before the page opens the database."""
    return computed_first(path, frame_fn).set_index("playbook_id").loc[PLAYBOOK]


def test_before_after_page_shows_the_analysis(data_db):
    row = _expected(lambda s: before_after(ctx(s, Filters())), data_db)
    at = run_page(BEFORE_AFTER, ba_playbook=PLAYBOOK)
    assert row["before_n"] == 200 and row["after_n"] == 300
    metrics = metric_values(at)
    assert metrics["Success rate before"] == f"{row['before_rate']:.1%}"
    assert metrics["Success rate after"] == f"{row['after_rate']:.1%}"
    shown = [m for m in at.metric if m.label == "Success rate after"][0]
    assert f"{row['after_successes']:,} of 300 outcomes" in shown.proto.help
    # "Could it be chance?" is the p the verdict rests on (its design's), the plain test's
    # only in the help.
    assert metrics["Could it be chance?"] == fmt.p_value(row["effect_p_value"])
    chance = [m for m in at.metric if m.label == "Could it be chance?"][0]
    assert f"plain before-vs-after test ({row['test']})" in chance.proto.help
    table = at.dataframe[-1].value  # the design's effect and q beside the plain figures
    assert {"Effect", "Chance (adjusted)", "Change"} <= set(table.columns)
    texts = messages(at)
    assert row["verdict"] in texts
    charts = [e for e in at.get("plotly_chart")]
    assert len(charts) == 3
    # The monthly chart marks the introduction date.
    spec = json.loads(charts[1].proto.spec)
    assert any(a.get("text") == "introduced" for a in spec["layout"]["annotations"])


def test_before_after_page_shows_the_demo_rollout(demo_db):
    # The demo's playbook rolled out team by team: its verdict and the design it rests on.
    from analysis.demo import PLANTED
    playbook = PLANTED["rollout_playbook"]
    row = before_after(ctx(demo_db, Filters())).set_index("playbook_id").loc[playbook]
    assert row["effect_method"] == "difference_in_differences"
    at = run_page(BEFORE_AFTER, ba_playbook=playbook)
    assert row["verdict"] in [e.value for e in at.success]
    assert any(c.value.startswith("Verdict from a difference in differences over the rollout: "
                                  "each of the teams'") for c in at.caption)


def test_a_time_series_short_of_data_suggests_dating_the_rollout(demo_db):
    # The demo has three teams; a playbook whose time series cannot settle its verdict is
    # told what would (analysis.present.designs.pilot_tip), one that can is not.
    frame = before_after(ctx(demo_db, Filters()))
    its = frame[frame["effect_method"] == "interrupted_time_series"]
    short = its[its["claim"] == "not_enough_data"]["playbook_id"].iloc[0]
    at = run_page(BEFORE_AFTER, ba_playbook=short)
    assert any(c.value.startswith("💡 If teams took this playbook up") for c in at.caption)
    settled = frame[frame["claim"] == "improved"]["playbook_id"].iloc[0]
    at = run_page(BEFORE_AFTER, ba_playbook=settled)
    assert not any(c.value.startswith("💡") for c in at.caption)


def test_followers_page_shows_the_analysis(data_db):
    row = _expected(lambda s: followers_effect(ctx(s, Filters())), data_db)
    at = run_page(FOLLOWERS, fl_playbook=PLAYBOOK)
    metrics = metric_values(at)
    assert metrics["Followers' success rate"] == f"{row['followers_rate']:.1%}"
    assert metrics["Non-followers' success rate"] == f"{row['non_followers_rate']:.1%}"
    assert metrics["Adjusted difference"] == fmt.points_text(row["adjusted_diff"])
    texts = messages(at)
    assert row["verdict"] in texts
    # Bars, forest plot and the balance plot.
    assert len(at.get("plotly_chart")) == 3
    # The table carries the effect the verdict rests on beside the descriptive figures.
    table = at.dataframe[-1].value
    assert {"Effect", "Verdict's chance (adjusted)", "Adjusted difference"} <= set(table.columns)


def test_followers_page_threshold_slider(data_db):
    row = _expected(lambda s: followers_effect(ctx(s, Filters()), 0.5), data_db)
    at = run_page(FOLLOWERS, fl_playbook=PLAYBOOK)
    at.slider(key="fl_threshold").set_value(0.5).run()
    assert not at.exception
    metrics = metric_values(at)
    # 3 of 6 steps done is adherence 0.5: at this threshold every run follows.
    assert row["non_followers_n"] == 0
    assert metrics["Non-followers' success rate"] == "—"


def test_empty_database_says_what_to_import(empty_db):
    for page, table in ((BEFORE_AFTER, "playbook_runs"), (FOLLOWERS, "playbook_runs")):
        at = AppTest.from_file(page, default_timeout=60).run()
        assert not at.exception
        assert any(table in info.value for info in at.info)
        assert not at.metric


def test_interval_labels_name_the_alpha_in_use(data_db, alpha_level):
    row = _expected(lambda s: before_after(ctx(s, Filters())), data_db)
    at = run_page(BEFORE_AFTER, ba_playbook=PLAYBOOK)
    assert shown_levels(at) == {alpha_level}
    # The label sits next to the interval computed at that level.
    shown = [m for m in at.metric if m.label == "Success rate after"][0]
    assert (f"{alpha_level}% CI {row['after_ci_low']:.1%} to {row['after_ci_high']:.1%}"
            in shown.proto.help)
    at = run_page(FOLLOWERS, fl_playbook=PLAYBOOK)
    assert shown_levels(at) == {alpha_level}

"""AppTests of the Before/after and Followers pages: they render the analysis, and say what to
import when the database is empty."""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.before_after import before_after
from analysis.filters import Filters
from analysis.followers import followers_effect
from analysis.store import Store
from tests.test_followers import _insert_accounts, _insert_runs, simulated_runs

ROOT = Path(__file__).resolve().parent.parent
BEFORE_AFTER = str(ROOT / "pages" / "before_after.py")
FOLLOWERS = str(ROOT / "pages" / "followers.py")
# An undefined playbook, so the test does not depend on what playbooks/ holds: the catalogue
# introduces it on its first run's opened_on.
PLAYBOOK, SCENARIO, INTRO = "zz_rescue_play", "zz_rescue", date(2024, 7, 1)


@pytest.fixture
def empty_db(tmp_path, monkeypatch):
    path = tmp_path / "empty.duckdb"
    Store(path).close()
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(path))
    return path


@pytest.fixture
def data_db(tmp_path, monkeypatch):
    """300 confounded playbook runs after INTRO, and 200 runs of the scenario before it."""
    path = tmp_path / "data.duckdb"
    store = Store(path)
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
    store.close()
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(path))
    return path


def _run(path: str, **widgets) -> AppTest:
    at = AppTest.from_file(path, default_timeout=60)
    at.run()
    for key, value in widgets.items():
        at.selectbox(key=key).set_value(value)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _expected(frame_fn, path) -> pd.Series:
    """The analysis row, computed before the page opens (and caches) the database."""
    with Store(path) as store:
        return frame_fn(store).set_index("playbook_id").loc[PLAYBOOK]


def test_before_after_page_shows_the_analysis(data_db):
    row = _expected(lambda s: before_after(s, Filters()), data_db)
    at = _run(BEFORE_AFTER, ba_playbook=PLAYBOOK)
    assert row["before_n"] == 200 and row["after_n"] == 300
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Success rate before"] == f"{row['before_rate']:.1%}"
    assert metrics["Success rate after"] == f"{row['after_rate']:.1%}"
    shown = [m for m in at.metric if m.label == "Success rate after"][0]
    assert f"{row['after_successes']:,} of 300 outcomes" in shown.proto.help
    texts = [e.value for e in (*at.success, *at.info, *at.error)]
    assert row["verdict"] in texts
    charts = [e for e in at.get("plotly_chart")]
    assert len(charts) == 3
    # The monthly chart marks the introduction date.
    spec = json.loads(charts[1].proto.spec)
    assert any(a.get("text") == "introduced" for a in spec["layout"]["annotations"])


def test_followers_page_shows_the_analysis(data_db):
    row = _expected(lambda s: followers_effect(s, Filters()), data_db)
    at = _run(FOLLOWERS, fl_playbook=PLAYBOOK)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Followers' success rate"] == f"{row['followers_rate']:.1%}"
    assert metrics["Non-followers' success rate"] == f"{row['non_followers_rate']:.1%}"
    assert metrics["Adjusted difference"] == f"{row['adjusted_diff'] * 100:+.1f} points"
    texts = [e.value for e in (*at.success, *at.info, *at.error)]
    assert row["verdict"] in texts
    # Bars, forest plot and the balance plot.
    assert len(at.get("plotly_chart")) == 3


def test_followers_page_threshold_slider(data_db):
    row = _expected(lambda s: followers_effect(s, Filters(), 0.5), data_db)
    at = _run(FOLLOWERS, fl_playbook=PLAYBOOK)
    at.slider(key="fl_threshold").set_value(0.5).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    # 3 of 6 steps done is adherence 0.5: at this threshold every run follows.
    assert row["non_followers_n"] == 0
    assert metrics["Non-followers' success rate"] == "—"


def test_empty_database_says_what_to_import(empty_db):
    for page, table in ((BEFORE_AFTER, "playbook_runs"), (FOLLOWERS, "playbook_runs")):
        at = AppTest.from_file(page, default_timeout=60).run()
        assert not at.exception
        assert any(table in info.value for info in at.info)
        assert not at.metric

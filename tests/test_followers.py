"""Followers vs non-followers: adherence, naive rates, the adjusted estimators, fallbacks, JSON."""
from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from analysis import followers as fl
from analysis.filters import Filters
from analysis.followers import balance, closed_runs, followers_effect, followers_json

@pytest.fixture(autouse=True)
def no_definitions(monkeypatch):
    """Only playbooks seen in the runs, whatever playbooks/ holds today."""
    empty = pd.DataFrame({"playbook_id": pd.Series(dtype=object)})
    monkeypatch.setattr(fl, "playbook_catalog", lambda store, folder=None: empty)


RUN_COLUMNS = ["run_id", "scenario", "playbook_id", "account_id", "csm_id", "opened_on",
               "status", "steps_total", "steps_completed", "outcome", "health_at_open",
               "arr_at_open"]


def _insert_runs(store, frame: pd.DataFrame) -> None:
    frame = frame.copy()
    for column in RUN_COLUMNS:
        if column not in frame:
            frame[column] = None
    if frame["run_id"].isna().all():
        frame["run_id"] = [f"run{i}" for i in range(len(frame))]
    store.register("new_runs", frame[RUN_COLUMNS])
    store.execute(f"INSERT INTO playbook_runs ({', '.join(RUN_COLUMNS)}) "
                  "SELECT * FROM new_runs")
    store.unregister("new_runs")


def _insert_accounts(store, ids, segments) -> None:
    frame = pd.DataFrame({"account_id": list(ids), "segment": list(segments)})
    store.register("new_accounts", frame)
    store.execute("INSERT INTO accounts (account_id, segment) SELECT * FROM new_accounts")
    store.unregister("new_accounts")


def _cells(rows) -> pd.DataFrame:
    """Runs from (account_id, followed, success, count) cells: 5 steps, all done or 2 done."""
    out = []
    for account, followed, success, count in rows:
        out += [{"account_id": account, "steps_completed": 5 if followed else 2,
                 "outcome": "success" if success else "failure"}] * count
    frame = pd.DataFrame(out)
    frame["scenario"] = frame["playbook_id"] = "at_risk"
    frame["opened_on"], frame["status"], frame["steps_total"] = date(2025, 1, 6), "closed", 5
    frame["csm_id"] = "c1"  # one CSM handles every run
    return frame


def _no_nan(obj) -> None:
    json.dumps(obj, allow_nan=False)


def test_adherence_from_counts_or_steps_and_what_is_left_out(store):
    _insert_runs(store, pd.DataFrame([
        # run_id, playbook, status, total, completed, outcome
        dict(run_id="r1", playbook_id="p", status="closed", steps_total=5, steps_completed=4,
             outcome="success"),                                   # 0.8: a follower (edge)
        dict(run_id="r2", playbook_id="p", status="closed", steps_total=10, steps_completed=7,
             outcome="failure"),                                   # 0.7
        dict(run_id="r3", playbook_id="p", status="closed", outcome="success"),  # from steps
        dict(run_id="r4", playbook_id="p", status="closed", steps_total=0, outcome="success"),
        dict(run_id="r5", playbook_id="p", status="open", steps_total=4, steps_completed=4),
        dict(run_id="r6", playbook_id=None, status="closed", steps_total=4, steps_completed=4,
             outcome="success"),                                   # no playbook
        dict(run_id="r7", playbook_id="p", status=None, steps_total=4, steps_completed=1,
             outcome="failure"),                                   # status derived: closed
    ]).assign(scenario="s", account_id="a", opened_on=date(2025, 1, 1)))
    store.execute("INSERT INTO run_steps (run_id, step_id, status) VALUES "
                  "('r3', '1', 'done'), ('r3', '2', 'done'), ('r3', '3', 'skipped'),"
                  "('r3', '4', 'done'), ('r3', '5', 'done')")
    runs = closed_runs(store).sort_values("adherence")
    # r7 (1/4), r2 (7/10), r1 (4/5) and r3 (4 of 5 steps done); r4-r6 are left out.
    assert runs["adherence"].round(4).tolist() == [0.25, 0.7, 0.8, 0.8]
    assert runs["success"].tolist() == [0, 0, 1, 1]
    assert runs["follower"].tolist() == [False, False, True, True]
    row = followers_effect(store).iloc[0]
    assert (row["runs"], row["followers_n"], row["followers_successes"]) == (4, 2, 2)
    assert (row["non_followers_n"], row["non_followers_successes"]) == (2, 0)
    assert row["method"] == "naive"  # no covariate at all
    assert row["adjusted_diff"] is None
    assert row["naive_diff"] == 1.0
    assert row["p_value"] == row["naive_p_value"]


def test_threshold_changes_who_follows(store):
    _insert_runs(store, _cells([("a", True, True, 3), ("a", False, False, 3)]))
    assert followers_effect(store, threshold=0.4).iloc[0]["followers_n"] == 6
    assert followers_effect(store).iloc[0]["followers_n"] == 3


def test_stratified_by_segment_matches_mantel_haenszel_by_hand(store):
    _insert_accounts(store, ["s", "e"], ["SMB", "Enterprise"])
    # SMB: followers 3/4, non-followers 2/6; Enterprise: followers 4/5, non-followers 1/5.
    _insert_runs(store, _cells([("s", True, True, 3), ("s", True, False, 1),
                                ("s", False, True, 2), ("s", False, False, 4),
                                ("e", True, True, 4), ("e", True, False, 1),
                                ("e", False, True, 1), ("e", False, False, 4)]))
    row = followers_effect(store).iloc[0]
    assert row["method"] == "stratified"  # 20 runs < min_runs_adjusted (30)
    assert row["covariates"] == "segment"
    # MH weights n1·n0/N: SMB 2.4, Enterprise 2.5; RD = (2.4·(3/4 − 2/6) + 2.5·(4/5 − 1/5)) / 4.9
    assert np.isclose(row["adjusted_diff"], 2.5 / 4.9)
    # Greenland & Robins (1985) variance: Σ (a·b·n0³ + c·d·n1³) / (n1·n0·N²) / (Σ w)²
    #   SMB (3·1·216 + 2·4·64) / 2400 = 0.483333; Enterprise (4·1·125 + 1·4·125) / 2500 = 0.4
    se = math.sqrt((0.483333333 + 0.4) / 4.9 ** 2)
    assert np.isclose(row["adjusted_ci_low"], 2.5 / 4.9 - 1.959964 * se, atol=1e-5)
    assert np.isclose(row["adjusted_ci_high"], 2.5 / 4.9 + 1.959964 * se, atol=1e-5)
    assert (row["runs_adjusted"], row["trimmed"]) == (20, 0)
    # The naive difference: 7/9 vs 3/11.
    assert np.isclose(row["naive_diff"], 7 / 9 - 3 / 11)
    table = balance(store, None, "at_risk")
    assert set(table["covariate"]) == {"segment: Enterprise", "segment: SMB"}
    # Mantel–Haenszel weighting balances segment exactly.
    assert np.allclose(table["smd_after"].astype(float), 0, atol=1e-12)


def simulated_runs(n=4000, effect=0.13, seed=11) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Confounded runs: healthier, larger, non-SMB accounts are followed more AND saved more;
    following adds exactly `effect` to every run's success probability."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(["Enterprise", "Mid-Market", "SMB"], n, p=[0.2, 0.3, 0.5])
    health = np.clip(rng.normal(55, 15, n), 0, 100)
    log_arr = rng.normal(10.5, 0.8, n) + np.where(segment == "Enterprise", 1.0, 0.0)
    z = (health - 55) / 15
    logit = -0.2 + 1.2 * z + 0.5 * (log_arr - 10.7) + np.where(segment == "SMB", -0.4, 0.3)
    followed = rng.random(n) < 1 / (1 + np.exp(-logit))
    base = 0.30 + 0.12 * z + 0.05 * (log_arr - 10.7) + np.where(segment == "SMB", -0.05, 0.03)
    success = rng.random(n) < np.clip(base + effect * followed, 0.01, 0.99)
    accounts = pd.DataFrame({"account_id": [f"A{i}" for i in range(n)], "segment": segment})
    runs = pd.DataFrame({
        "account_id": accounts["account_id"], "scenario": "at_risk", "playbook_id": "at_risk",
        "csm_id": "c1", "opened_on": date(2025, 3, 3), "status": "closed", "steps_total": 6,
        "steps_completed": np.where(followed, 6, 3),
        "outcome": np.where(success, "success", "failure"),
        "health_at_open": health, "arr_at_open": np.expm1(log_arr)})
    return accounts, runs


def test_ipw_recovers_the_true_effect_where_the_naive_difference_does_not(store):
    accounts, runs = simulated_runs()
    _insert_accounts(store, accounts["account_id"], accounts["segment"])
    _insert_runs(store, runs)
    row = followers_effect(store).iloc[0]
    assert row["method"] == "ipw"
    assert row["covariates"] == "health, ARR, segment"
    assert row["naive_diff"] > 0.20  # confounded: far above the true 0.13
    assert abs(row["adjusted_diff"] - 0.13) < 0.04
    assert row["adjusted_ci_low"] < 0.13 < row["adjusted_ci_high"]
    assert row["max_smd_before"] > 0.5 and row["max_smd_after"] < 0.1
    assert row["verdict"].startswith("Followers did better:")
    assert "adjusted for health, ARR, segment by propensity weighting" in row["verdict"]
    table = balance(store, None, "at_risk")
    assert list(table.columns) == ["covariate", "smd_before", "smd_after"]
    assert (table["smd_after"].abs() < table["smd_before"].abs()).all()
    _no_nan(followers_json(store))


def test_smd_by_hand():
    x = pd.DataFrame({"h": [1.0, 3.0, 2.0, 6.0]})
    t = np.array([True, True, False, False])
    # means 2 vs 4; variances 2 and 8 -> pooled sd √5
    assert np.isclose(fl.smd(x, t)["h"], -2 / math.sqrt(5))
    # weights 3:1 on the followers move their mean to 1.5
    assert np.isclose(fl.smd(x, t, np.array([3, 1, 1, 1]))["h"], -2.5 / math.sqrt(5))


def test_trim_bounds():
    assert fl.trim_bounds(np.array([0.5]), 0.05) == (0.05, 0.95)
    with pytest.raises(ValueError):
        fl.trim_bounds(np.array([0.5]), 0.7)
    # Well-overlapping propensities need no trimming under Crump's rule.
    assert fl.trim_bounds(np.linspace(0.2, 0.8, 50), "crump") == (0.0, 1.0)
    e = np.linspace(0.001, 0.999, 999)
    low, high = fl.trim_bounds(e, "crump")
    # The bound satisfies its definition: γ = 1/(α(1 − α)) <= 2·E[g | g <= γ], g = 1/(e(1 − e)).
    g = 1 / (e * (1 - e))
    gamma = 1 / (low * high)
    assert gamma <= 2 * g[g <= gamma + 1e-9].mean() + 1e-9
    assert 0.01 < low < 0.2 and np.isclose(high, 1 - low)


def test_all_followed_all_successful_and_empty(store):
    assert followers_effect(store).empty and followers_json(store) == []
    _insert_runs(store, _cells([("a", True, True, 12)]))
    row = followers_effect(store).iloc[0]
    assert row["verdict"] == "No comparison: all 12 runs were followed (adherence ≥ 80%)"
    assert row["non_followers_rate"] is None and row["naive_diff"] is None
    _no_nan(followers_json(store))


def test_every_run_successful_on_both_sides(store):
    _insert_accounts(store, ["s", "e"], ["SMB", "Enterprise"])
    _insert_runs(store, _cells([("s", True, True, 20), ("s", False, True, 20),
                                ("e", True, True, 20), ("e", False, True, 20)]))
    row = followers_effect(store).iloc[0]
    assert row["naive_diff"] == 0
    # Nothing varies, so nothing is adjusted (and no interval could come from zero variance).
    assert row["method"] == "naive" and row["adjusted_diff"] is None
    assert row["verdict"].startswith("Not enough data: about")
    _no_nan(followers_json(store))


def test_period_and_segment_filters(store):
    _insert_accounts(store, ["s", "e"], ["SMB", "Enterprise"])
    runs = _cells([("s", True, True, 3), ("e", False, False, 2)])
    runs.loc[runs.index[-1], "opened_on"] = date(2026, 1, 5)
    _insert_runs(store, runs)
    assert followers_effect(store).iloc[0]["runs"] == 5
    assert followers_effect(store, Filters(date_to=date(2025, 12, 31))).iloc[0]["runs"] == 4
    assert followers_effect(store, Filters(segment="SMB")).iloc[0]["runs"] == 3
    assert followers_effect(store, Filters(playbook_id="other")).empty


def test_json_shape(store):
    _insert_runs(store, _cells([("a", True, True, 3), ("a", True, False, 1),
                                ("a", False, True, 1), ("a", False, False, 3)]))
    [item] = followers_json(store)
    assert {"playbook_id", "threshold", "followers", "non_followers", "naive_diff",
            "adjusted_diff", "adjusted_ci_low", "adjusted_ci_high", "p_value", "method",
            "verdict"} <= set(item)
    assert item["threshold"] == 0.8 and item["method"] == "naive"
    assert item["followers"]["n"] == 4 and item["followers"]["successes"] == 3
    assert item["non_followers"]["rate"] == 0.25
    assert item["verdict"].startswith("Not enough data")
    _no_nan(item)


# -- the demo data's planted truths -----------------------------------------------------------
@pytest.fixture
def demo(request):
    pytest.importorskip("analysis.demo")
    try:
        return request.getfixturevalue("demo_store")
    except pytest.FixtureLookupError:
        pytest.skip("the demo_store fixture is not in conftest yet")


def test_demo_recovers_the_planted_follower_effect(demo):
    from analysis.demo import PLANTED
    truth = PLANTED["follower_effect"]
    after = Filters(date_from=date(2024, 7, 1), date_to=date(2025, 6, 30))
    row = followers_effect(demo, after).set_index("playbook_id").loc["at_risk"]
    assert 0.52 <= row["followers_rate"] <= 0.64
    assert row["method"] == "ipw"
    assert abs(row["adjusted_diff"] - truth) < abs(row["naive_diff"] - truth)
    assert row["adjusted_ci_low"] <= truth <= row["adjusted_ci_high"]
    _no_nan(followers_json(demo))


def test_too_few_non_followers_to_stratify_falls_back_to_naive(store):
    _insert_accounts(store, ["s", "e"], ["SMB", "Enterprise"])
    # 15 followers, 2 non-followers: below min_runs_adjusted, and 2 < small_cell (5) for the
    # stratified variance, so no adjusted figure is claimed.
    _insert_runs(store, _cells([("s", True, True, 4), ("s", True, False, 4),
                                ("s", False, False, 1), ("e", True, True, 3),
                                ("e", True, False, 4), ("e", False, False, 1)]))
    row = followers_effect(store).iloc[0]
    assert row["method"] == "naive" and row["adjusted_diff"] is None
    assert row["verdict"].startswith("Not enough data")
    _no_nan(followers_json(store))


def test_catalogue_playbooks_without_runs_get_a_row(store):
    _insert_runs(store, _cells([("a", True, True, 2), ("a", False, False, 2)]))
    catalog = pd.DataFrame({"playbook_id": ["at_risk", "renewal"]})
    frame = followers_effect(store, catalog=catalog).set_index("playbook_id")
    assert list(frame.index) == ["at_risk", "renewal"]
    renewal = frame.loc["renewal"]
    assert renewal["runs"] == 0 and renewal["followers_rate"] is None
    assert renewal["verdict"] == "No data: no closed runs with step data"
    assert [r["playbook_id"] for r in followers_json(store, Filters(playbook_id="renewal"),
                                                     catalog)] == ["renewal"]
    _no_nan(followers_json(store, None, catalog))

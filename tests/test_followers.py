"""Followers vs non-followers: adherence, naive rates, the adjusted estimators, fallbacks, JSON."""
from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from analysis.metrics import followers as fl
from analysis.filters import Filters
from analysis.metrics.compare import compare_proportions, thresholds
from analysis.metrics.followers import balance, followers_effect, followers_json
from analysis.settings import Settings
from tests import builders

# No catalogue: only the playbooks of the runs, whatever playbooks/ holds today.
NO_DEFINITIONS = pd.DataFrame({"playbook_id": pd.Series(dtype=object)})
THRESHOLD = Settings().follower_threshold
ADJUSTMENT = fl.adjustment(Settings())  # propensity_trim, alpha, ... as declared


def ctx(store, filters=None, catalog=NO_DEFINITIONS, **settings):
    """A request on `store` whose catalogue has no definitions (unless one is given)."""
    return builders.ctx(store, filters, catalog=catalog, **settings)


def closed_runs(store, filters=None, threshold=THRESHOLD):
    return fl.closed_runs(store, filters, threshold)


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
    row = followers_effect(ctx(store)).iloc[0]
    assert (row["runs"], row["followers_n"], row["followers_successes"]) == (4, 2, 2)
    assert (row["non_followers_n"], row["non_followers_successes"]) == (2, 0)
    assert row["method"] == "naive"  # no covariate at all
    assert row["adjusted_diff"] is None
    assert row["naive_diff"] == 1.0
    assert row["p_value"] == row["naive_p_value"]


def test_threshold_changes_who_follows(store):
    _insert_runs(store, _cells([("a", True, True, 3), ("a", False, False, 3)]))
    assert followers_effect(ctx(store), threshold=0.4).iloc[0]["followers_n"] == 6
    assert followers_effect(ctx(store)).iloc[0]["followers_n"] == 3


def test_stratified_by_segment_matches_mantel_haenszel_by_hand(store):
    _insert_accounts(store, ["s", "e"], ["SMB", "Enterprise"])
    # SMB: followers 3/4, non-followers 2/6; Enterprise: followers 4/5, non-followers 1/5.
    _insert_runs(store, _cells([("s", True, True, 3), ("s", True, False, 1),
                                ("s", False, True, 2), ("s", False, False, 4),
                                ("e", True, True, 4), ("e", True, False, 1),
                                ("e", False, True, 1), ("e", False, False, 4)]))
    row = followers_effect(ctx(store)).iloc[0]
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
    table = balance(ctx(store, None), "at_risk")
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
    row = followers_effect(ctx(store)).iloc[0]
    assert row["method"] == "ipw"
    assert row["covariates"] == "health, ARR, segment"
    assert row["naive_diff"] > 0.20  # confounded: far above the true 0.13
    assert abs(row["adjusted_diff"] - 0.13) < 0.04
    assert row["adjusted_ci_low"] < 0.13 < row["adjusted_ci_high"]
    assert row["max_smd_before"] > 0.5 and row["max_smd_after"] < 0.1
    assert "adjusted for health, ARR, segment by propensity weighting" in row["verdict"]
    assert row["more_needed"] is None and row["p_value"] < 0.05
    # These steps carry no completion dates: whether a run was followed may follow how it was
    # going (issue 15), so the adjusted difference is reported as an association, never as
    # "followers did better" (DESIGN.md, "Effects and claims").
    assert row["claim"] == "association_only"
    assert row["verdict"].startswith("Association only: 51% vs 23%")
    assert row["effect_method"] == "association" and row["effect_estimate"] == row["adjusted_diff"]
    table = balance(ctx(store, None), "at_risk")
    assert list(table.columns) == ["covariate", "smd_before", "smd_after"]
    assert (table["smd_after"].abs() < table["smd_before"].abs()).all()
    _no_nan(followers_json(ctx(store)))


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
    assert followers_effect(ctx(store)).empty and followers_json(ctx(store)) == []
    _insert_runs(store, _cells([("a", True, True, 12)]))
    row = followers_effect(ctx(store)).iloc[0]
    assert row["verdict"] == "No comparison: all 12 runs were followed (adherence ≥ 80%)"
    assert row["non_followers_rate"] is None and row["naive_diff"] is None
    _no_nan(followers_json(ctx(store)))


def test_every_run_successful_on_both_sides(store):
    _insert_accounts(store, ["s", "e"], ["SMB", "Enterprise"])
    _insert_runs(store, _cells([("s", True, True, 20), ("s", False, True, 20),
                                ("e", True, True, 20), ("e", False, True, 20)]))
    row = followers_effect(ctx(store)).iloc[0]
    assert row["naive_diff"] == 0
    # Nothing varies, so nothing is adjusted (and no interval could come from zero variance).
    assert row["method"] == "naive" and row["adjusted_diff"] is None
    # Changed by the sizing rule of analysis.metrics.compare: 40/40 against 40/40 has a
    # Newcombe interval of about ±9 points, which already rules out a 10-point difference, so
    # the answer is "no clear difference" rather than "not enough data".
    assert row["naive_ci_low"] > -0.1 and row["naive_ci_high"] < 0.1
    # No completion dates on the steps: whatever the comparison says is an association, and
    # more_needed belongs to the claim shown: no count of runs turns an association into a
    # claim (the comparison's 0 stood beside it before).
    assert row["claim"] == "association_only"
    assert row["more_needed"] is None
    assert row["verdict"].startswith("Association only: 100% vs 100% (0 points naive")
    _no_nan(followers_json(ctx(store)))


def test_period_and_segment_filters(store):
    _insert_accounts(store, ["s", "e"], ["SMB", "Enterprise"])
    runs = _cells([("s", True, True, 3), ("e", False, False, 2)])
    runs.loc[runs.index[-1], "opened_on"] = date(2026, 1, 5)
    _insert_runs(store, runs)
    assert followers_effect(ctx(store)).iloc[0]["runs"] == 5
    assert followers_effect(ctx(store, Filters(date_to=date(2025, 12, 31)))).iloc[0]["runs"] == 4
    assert followers_effect(ctx(store, Filters(segment="SMB"))).iloc[0]["runs"] == 3
    assert followers_effect(ctx(store, Filters(playbook_id="other"))).empty


def test_json_shape(store):
    _insert_runs(store, _cells([("a", True, True, 3), ("a", True, False, 1),
                                ("a", False, True, 1), ("a", False, False, 3)]))
    [item] = followers_json(ctx(store))
    assert {"playbook_id", "threshold", "followers", "non_followers", "naive_diff",
            "adjusted_diff", "adjusted_ci_low", "adjusted_ci_high", "p_value", "method",
            "verdict"} <= set(item)
    assert item["threshold"] == 0.8 and item["method"] == "naive"
    assert item["followers"]["n"] == 4 and item["followers"]["successes"] == 3
    assert item["non_followers"]["rate"] == 0.25
    assert item["verdict"].startswith("Not enough data")
    _no_nan(item)


# -- the demo data's planted truths -----------------------------------------------------------
def test_demo_recovers_the_planted_follower_effect(demo_store):
    from analysis.demo import PLANTED
    truth = PLANTED["follower_effect"]
    after = Filters(date_from=date(2024, 7, 1), date_to=date(2025, 6, 30))
    row = followers_effect(ctx(demo_store, after)).set_index("playbook_id").loc["at_risk"]
    assert 0.52 <= row["followers_rate"] <= 0.64
    assert row["method"] == "ipw"
    assert abs(row["adjusted_diff"] - truth) < abs(row["naive_diff"] - truth)
    assert row["adjusted_ci_low"] <= truth <= row["adjusted_ci_high"]
    _no_nan(followers_json(ctx(demo_store)))


def test_too_few_non_followers_to_stratify_falls_back_to_naive(store):
    _insert_accounts(store, ["s", "e"], ["SMB", "Enterprise"])
    # 15 followers, 2 non-followers: below min_runs_adjusted, and 2 < small_cell (5) for the
    # stratified variance, so no adjusted figure is claimed.
    _insert_runs(store, _cells([("s", True, True, 4), ("s", True, False, 4),
                                ("s", False, False, 1), ("e", True, True, 3),
                                ("e", True, False, 4), ("e", False, False, 1)]))
    row = followers_effect(ctx(store)).iloc[0]
    assert row["method"] == "naive" and row["adjusted_diff"] is None
    assert row["verdict"].startswith("Not enough data")
    _no_nan(followers_json(ctx(store)))


def test_catalogue_playbooks_without_runs_get_a_row(store):
    _insert_runs(store, _cells([("a", True, True, 2), ("a", False, False, 2)]))
    catalog = pd.DataFrame({"playbook_id": ["at_risk", "renewal"]})
    frame = followers_effect(ctx(store, catalog=catalog)).set_index("playbook_id")
    assert list(frame.index) == ["at_risk", "renewal"]
    renewal = frame.loc["renewal"]
    assert renewal["runs"] == 0 and renewal["followers_rate"] is None
    assert renewal["verdict"] == "No data: no closed runs with step data"
    renewal_only = ctx(store, Filters(playbook_id="renewal"), catalog=catalog)
    assert [r["playbook_id"] for r in followers_json(renewal_only)] == ["renewal"]
    _no_nan(followers_json(ctx(store, None, catalog=catalog)))


# -- the SQL data path and the numpy estimators -------------------------------------------------
def test_run_arrays_move_numbers_and_code_the_text(store):
    _insert_accounts(store, ["s", "e", "x"], ["SMB", "Enterprise", None])
    _insert_runs(store, pd.DataFrame([
        dict(run_id="r1", playbook_id="b", account_id="s", steps_total=4, steps_completed=3,
             outcome="success", health_at_open=40.0, arr_at_open=1000.0),
        dict(run_id="r2", playbook_id="a", account_id="e", steps_total=5, steps_completed=5,
             outcome="failure", health_at_open=None, arr_at_open=250.0),
        dict(run_id="r3", playbook_id="a", account_id="x", outcome="success",
             health_at_open=70.0),                                  # adherence from its steps
        dict(run_id="r4", playbook_id="a", account_id="nobody", steps_total=2,
             steps_completed=1, outcome="success"),                 # an account not on file
        dict(run_id="r5", playbook_id="c", account_id="s", outcome="failure"),  # no steps at all
    ]).assign(scenario="s", opened_on=date(2025, 1, 1), status="closed"))
    store.execute("INSERT INTO run_steps (run_id, step_id, status) VALUES "
                  "('r3', '1', 'done'), ('r3', '2', 'skipped'), ('r3', '3', 'done'),"
                  "('r3', '4', 'done')")
    runs = fl.run_arrays(store, None, THRESHOLD)
    # "c" has a closed run but no adherence: it is coded, and has no rows.
    assert runs.playbook_ids == ("a", "b", "c") and runs.segments == ("Enterprise", "SMB")
    got = sorted(zip((runs.playbook_ids[p] for p in runs.playbook), runs.success.tolist(),
                     runs.adherence.tolist(), runs.follower.tolist(),
                     np.nan_to_num(runs.health, nan=-1).tolist(),
                     np.nan_to_num(runs.arr, nan=-1).tolist(), runs.segment.tolist()))
    assert got == [("a", 0, 1.0, True, -1.0, 250.0, 0),       # r2: Enterprise is code 0
                   ("a", 1, 0.5, False, -1.0, -1.0, -1),      # r4: unknown account, no segment
                   ("a", 1, 0.75, False, 70.0, -1.0, -1),     # r3: 3 of 4 steps done
                   ("b", 1, 0.75, False, 40.0, 1000.0, 1)]    # r1: SMB is code 1
    groups = runs.by_playbook()
    assert sorted(groups) == ["a", "b"] and len(groups["a"]) == 3 and len(groups["b"]) == 1
    frame = closed_runs(store)
    assert frame["segment"].isna().sum() == 2
    assert sorted(frame["segment"].dropna()) == ["Enterprise", "SMB"]
    assert sorted(fl.run_arrays(store, Filters(playbook_id="b"), THRESHOLD).playbook_ids) == ["b"]


def test_sql_covariates_equal_a_pandas_notebook_on_the_demo(demo_store):
    # The same runs and covariates computed the long way: whole tables into pandas.
    runs = demo_store.query("SELECT * FROM playbook_runs")
    steps = demo_store.query("SELECT run_id, status FROM run_steps")
    accounts = demo_store.query("SELECT account_id, segment FROM accounts")
    closed = runs[runs["playbook_id"].notna() & runs["outcome"].isin(["success", "failure"])
                  & runs["status"].fillna("closed").eq("closed")].copy()
    per_run = steps.assign(done=steps["status"].eq("done")).groupby("run_id")["done"]
    from_steps = closed["run_id"].map(per_run.sum() / per_run.size())
    counted = (closed["steps_total"] > 0) & closed["steps_completed"].notna()
    closed["adherence"] = np.where(counted, closed["steps_completed"] / closed["steps_total"],
                                   from_steps)
    closed = closed.dropna(subset=["adherence"]).merge(accounts, on="account_id", how="left")
    groups = fl.run_arrays(demo_store, None, THRESHOLD).by_playbook()
    assert sorted(groups) == sorted(closed["playbook_id"].unique())
    for pid, mine in groups.items():
        theirs = closed[closed["playbook_id"] == pid]
        follower = theirs["adherence"] >= 0.8
        assert (int(mine.follower.sum()), int(mine.success[mine.follower].sum())) == \
            (int(follower.sum()), int(theirs.loc[follower, "outcome"].eq("success").sum()))
        expected = np.column_stack([
            theirs["health_at_open"].to_numpy(float),
            np.log1p(theirs["arr_at_open"].clip(lower=0).to_numpy(float)),
            pd.get_dummies(theirs["segment"], prefix="segment", prefix_sep=": ", dtype=float)])
        cov = fl._covariates(mine)
        assert cov.names[:2] == ("health_at_open", "log_arr_at_open")
        assert list(cov.names[2:]) == [f"segment: {s}" for s in sorted(theirs["segment"].unique())]
        assert cov.model_columns == (0, 1, *range(3, len(cov.names)))  # first level dropped
        # Rows come in no set order: compare them sorted.
        order = lambda m: m[np.lexsort(m.T[::-1])]  # noqa: E731
        np.testing.assert_allclose(order(cov.balance), order(expected), rtol=1e-12)


def test_weighted_difference_matches_statsmodels_wls_hc1():
    import statsmodels.api as sm
    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.4).astype(float)
    t = rng.random(500) < 0.3
    w = rng.uniform(0.2, 3.0, 500)
    # Reference: WLS of y on [1, t] with HC1 errors (normal interval, as in the estimator).
    fit = sm.WLS(y, sm.add_constant(t.astype(float)), weights=w).fit(cov_type="HC1")
    diff, se, low, high, p = fl.weighted_difference(y, t, w, alpha=0.05)
    assert np.isclose(diff, fit.params[1], rtol=1e-12)
    assert np.isclose(se, fit.bse[1], rtol=1e-12)
    assert np.allclose([low, high], fit.conf_int(0.05)[1], rtol=1e-12)
    assert np.isclose(p, fit.pvalues[1], rtol=1e-9)


def test_smd_and_pooled_sd_take_arrays_as_frames():
    rng = np.random.default_rng(5)
    x = pd.DataFrame({"h": rng.normal(50, 10, 200), "d": (rng.random(200) < 0.5) * 1.0})
    t = rng.random(200) < 0.4
    w = rng.uniform(0.5, 2.0, 200)
    # pandas' own ddof=1 variances, by hand
    pooled = np.sqrt((x[t].var() + x[~t].var()) / 2)
    assert np.allclose(fl.pooled_sd(x, t), pooled) and np.allclose(fl.pooled_sd(x.to_numpy(), t),
                                                                   pooled.to_numpy())
    by_hand = ((x[t].mul(w[t], axis=0).sum() / w[t].sum())
               - (x[~t].mul(w[~t], axis=0).sum() / w[~t].sum())) / pooled
    assert np.allclose(fl.smd(x, t, w), by_hand)
    assert np.allclose(fl.smd(x.to_numpy(), t, w), by_hand.to_numpy())
    assert np.isnan(fl.pooled_sd(x.iloc[:3], np.array([True, False, False]))).all()


def test_adjusted_effect_from_a_frame_or_arrays_is_the_same(store):
    accounts, runs = simulated_runs(n=1500, seed=4)
    _insert_accounts(store, accounts["account_id"], accounts["segment"])
    _insert_runs(store, runs)
    from_frame = fl.adjusted_effect(closed_runs(store), **ADJUSTMENT)
    from_arrays = fl.adjusted_effect(fl.run_arrays(store, None, THRESHOLD), **ADJUSTMENT)
    assert from_frame.method == from_arrays.method == "ipw"
    assert np.isclose(from_frame.diff, from_arrays.diff, rtol=1e-9)
    assert (from_frame.runs_used, from_frame.trimmed) == (from_arrays.runs_used,
                                                          from_arrays.trimmed)
    pd.testing.assert_frame_equal(from_frame.balance, from_arrays.balance, rtol=1e-9)


# -- the propensity model: numpy Newton vs statsmodels -------------------------------------------
def _statsmodels_fit(t: np.ndarray, exog: np.ndarray):
    """What ipw_effect did before logit_fit: statsmodels' Logit, None when it raises or does
    not converge; else (params, predicted probabilities)."""
    import warnings

    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.Logit(t.astype(float), exog, check_rank=False).fit(disp=0, maxiter=200)
    except (PerfectSeparationError, np.linalg.LinAlgError, ValueError):
        return None
    if not fit.mle_retvals.get("converged", False):
        return None
    return fit.params, fit.predict(exog)


def _assert_same_fit(t, exog):
    mine, reference = fl.logit_fit(t, exog), _statsmodels_fit(t, exog)
    assert (mine is None) == (reference is None)
    if mine is not None:
        np.testing.assert_allclose(mine[0], reference[0], rtol=0, atol=1e-8)
        np.testing.assert_allclose(mine[1], reference[1], rtol=0, atol=1e-10)
    return mine


def test_logit_fit_matches_statsmodels_on_the_demo_playbooks(demo_store):
    compared = 0
    for runs in fl.run_arrays(demo_store, None, THRESHOLD).by_playbook().values():
        cov = fl._covariates(runs)
        complete = ~np.isnan(cov.balance).any(axis=1)
        if not cov.names or runs.follower[complete].all() or not runs.follower[complete].any():
            continue
        exog = np.column_stack([np.ones(complete.sum()), cov.model[complete]])
        compared += _assert_same_fit(runs.follower[complete], exog) is not None
    assert compared >= 5  # the demo's playbooks with enough runs of both kinds


def test_logit_fit_matches_statsmodels_near_and_at_separation():
    x = np.arange(20, dtype=float)
    exog = np.column_stack([np.ones(20), x])
    # Nearly separated (one pair swapped across the cut): a finite, steep fit.
    t = x >= 10
    t[9], t[10] = True, False
    params, _ = _assert_same_fit(t, exog)
    assert params[1] > 0.5
    # Perfectly separated: no finite maximum; the coefficients grow at every Newton step and
    # the 200 iterations run out (statsmodels: converged False). Both give no fit.
    assert _assert_same_fit(x >= 10, exog) is None
    # A covariate that copies the constant: the final Hessian is singular (statsmodels raises
    # LinAlgError inverting it); no fit either way.
    assert _assert_same_fit(t, np.column_stack([exog, np.ones(20)])) is None


def test_logit_fit_by_hand():
    # One binary covariate: the MLE reproduces each group's share exactly.
    # Group x=0: 1 follower of 4 -> logit(1/4) = log(1/3); x=1: 3 of 4 -> log(3).
    exog = np.column_stack([np.ones(8), [0, 0, 0, 0, 1, 1, 1, 1]])
    t = np.array([1, 0, 0, 0, 1, 1, 1, 0], dtype=bool)
    params, p = fl.logit_fit(t, exog)
    np.testing.assert_allclose(params, [math.log(1 / 3), math.log(3) - math.log(1 / 3)],
                               atol=1e-9)
    np.testing.assert_allclose(p, [0.25] * 4 + [0.75] * 4, atol=1e-12)


def test_an_adjusted_difference_is_sized_from_its_own_standard_error():
    # 60/100 vs 40/100: the naive difference is a direction (Newcombe interval clear of 0).
    # The adjusted one, −3 to +18 points on 600 runs (normal: diff ± 1.959964 · se), is not,
    # and its sizing is its own: se = 0.21 / (2 · 1.959964) = 0.053572 against the
    # 0.10 / (1.959964 + 0.841621) = 0.035694 that 80% power at 10 points asks for.
    naive = compare_proportions(60, 100, 40, 100, **thresholds(Settings()))
    assert naive.claim == "improved"
    adj = fl.Adjusted("ipw", 0.075, -0.03, 0.18, 0.16, runs_used=600, df=math.inf)
    judged = fl.judge(naive, adj)
    se, target = 0.21 / (2 * 1.959964), 0.10 / (1.959964 + 0.841621)
    expected = math.ceil(600 * (se / target) ** 2 - 600)  # 751.58
    assert judged.claim == "not_enough_data" and judged.more_needed == expected == 752
    assert judged.effect.method == "ipw" and judged.effect.df == math.inf


def test_a_landmark_claim_is_sized_from_the_landmark_effect(store):
    # Failing runs abandoned part-way (bench/calibrate): whole-run adherence makes followers
    # look far better (naive and adjusted differences clear of 0: old more_needed None); the
    # landmark design, which the claim rests on, cannot tell, and more_needed is its sizing:
    # the jackknife interval on t(CSMs − 1) over the runs it kept.
    from bench.calibrate.world import load_tables
    from bench.calibrate.worlds_people import _followers_org
    load_tables(store, _followers_org(np.random.default_rng(1), 300, 0.0, abandon=True,
                                      step_dates=True)[0])
    row = next(r for r in followers_json(ctx(store)) if r["playbook_id"] == "at_risk")
    assert row["naive_p_value"] < 0.001 and row["adjusted_ci_low"] > 0
    assert row["effect"]["method"] == "landmark_ipw_cluster"
    assert row["claim"] == "not_enough_data"
    landmark = row["landmark"]
    assert landmark["csms"] == 20
    t_975, t_80 = 2.093024, 0.860951  # R: qt(0.975, 19), qt(0.8, 19)
    se = (row["effect"]["ci_high"] - row["effect"]["ci_low"]) / (2 * t_975)
    kept = landmark["followers"] + landmark["non_followers"]
    expected = math.ceil(kept * (se * (t_975 + t_80) / 0.10) ** 2 - kept)
    assert row["more_needed"] == expected > 0
    # The words follow: the landmark's sizing, not the comparison's.
    assert row["verdict"].endswith(
        f"about {expected:,} more runs would be needed to detect a 10-point change")

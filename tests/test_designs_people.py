"""The effect designs of the people sections (analysis/metrics/designs/: landmark, spread,
ramp), checked against published references or independent computations."""
from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.meta_analysis import combine_effects

from analysis.filters import Filters
from analysis.metrics.claims import Claim
from analysis.metrics.designs import landmark, ramp, spread
from analysis.metrics.consistency import bootstrap_settings
from analysis.metrics.followers import followers_json
from analysis.settings import Settings
from tests.builders import ctx
from bench.calibrate.world import load_tables

BOOTSTRAP = bootstrap_settings(Settings())  # the declared samples, seed and alpha


# -- spread: DerSimonian–Laird tau --------------------------------------------------------------
def test_tau_matches_statsmodels_dersimonian_laird():
    renewed = np.array([8, 13, 19, 7, 30, 22])
    decided = np.array([10, 20, 20, 10, 40, 25])
    pooled = renewed.sum() / decided.sum()
    # statsmodels: random-effects meta-analysis of the rates with binomial variances.
    reference = combine_effects(renewed / decided, pooled * (1 - pooled) / decided,
                                method_re="dl")
    assert spread.tau_dl(renewed, decided) ** 2 == pytest.approx(reference.tau2, rel=1e-9)
    # Rows of a 2-D input are independent windows.
    both = spread.tau_dl(np.vstack([renewed, renewed]), np.vstack([decided, decided]))
    assert both == pytest.approx([math.sqrt(reference.tau2)] * 2)


def test_tau_is_zero_when_rates_differ_by_noise_only_and_for_a_pure_window():
    # Q below its degrees of freedom: no spread beyond binomial noise.
    assert spread.tau_dl([8, 9, 8, 9], [10, 10, 10, 10]) == 0.0
    assert spread.tau_dl([10, 20], [10, 20]) == 0.0          # everyone renewed everything
    assert math.isnan(spread.tau_dl([5], [10]))


def _csms(rates, n, prefix="c"):
    return {f"{prefix}{i}": (int(round(r * n)), n) for i, r in enumerate(rates)}


def test_spread_effect_claims_a_clear_narrowing_and_keeps_degenerate_resamples():
    before = _csms(np.linspace(0.55, 1.0, 10), 100)
    after = _csms([0.85, 0.86] * 5, 100)
    result = spread.spread_effect(before, after, samples=2000, seed=1, alpha=0.05)
    assert result.paired_csms == 10
    assert result.tau_after == 0.0 and result.tau_before > 0.1
    assert result.effect.estimate == 0.0 and result.effect.ci_high < 1
    assert result.claim == Claim.NARROWER
    # The reversed comparison: tau_before = 0 in every resample is a ratio of +inf, kept;
    # the upper bound is open (None), never a huge finite number.
    reverse = spread.spread_effect(after, before, samples=2000, seed=1, alpha=0.05)
    assert reverse.claim == Claim.WIDER
    assert reverse.effect.estimate is None and reverse.effect.ci_high is None


def test_spread_effect_needs_enough_csms_for_a_claim():
    before = _csms([0.6, 0.95, 0.7], 100)
    after = _csms([0.85, 0.86, 0.85], 100)
    result = spread.spread_effect(before, after, **BOOTSTRAP)
    assert result.claim == Claim.NOT_ENOUGH_DATA
    assert result.effect.ci_low is None and result.effect.ci_high is None


def test_spread_effect_bootstrap_pairs_csms_across_windows():
    rng = np.random.default_rng(4)
    rates = rng.uniform(0.6, 0.95, 12)
    before = _csms(rates, 40)
    after = {**_csms(rates[:10], 40), "new": (30, 40)}
    result = spread.spread_effect(before, after, samples=500, seed=2, alpha=0.05)
    assert result.paired_csms == 10
    # Same true rates, same books: no claim, and the interval straddles the estimate.
    assert result.claim == Claim.NO_CLEAR_CHANGE
    assert result.effect.ci_low <= result.effect.estimate <= result.effect.ci_high


# -- landmark: the followers effect ---------------------------------------------------------
def test_fit_matches_statsmodels_wls_with_csm_dummies_and_a_jackknife_by_hand():
    rng = np.random.default_rng(11)
    n, groups = 240, 8
    clusters = rng.integers(0, groups, n)
    t = rng.random(n) < 0.5
    x = rng.normal(size=(n, 2))
    y = (rng.random(n) < 0.4 + 0.1 * t + 0.05 * x[:, 0]).astype(float)
    w = rng.uniform(0.5, 2.0, n)
    estimate, se, df = landmark._fit(y, t, x, clusters, w)

    def wls(mask):
        g = pd.factorize(clusters[mask])[0]
        dummies = (g[:, None] == np.arange(1, g.max() + 1)[None, :]).astype(float)
        exog = np.column_stack([np.ones(mask.sum()), t[mask], x[mask], dummies])
        return sm.WLS(y[mask], exog, weights=w[mask]).fit().params[1]

    everyone = np.ones(n, bool)
    assert estimate == pytest.approx(wls(everyone), abs=1e-10)
    # CR3 jackknife by brute force: refit without each CSM.
    left_out = np.array([wls(clusters != g) for g in range(groups)])
    jackknife = math.sqrt((groups - 1) / groups * ((left_out - estimate) ** 2).sum())
    assert se == pytest.approx(jackknife, rel=1e-8)
    assert df == groups - 1


def _run(run_id, opened, closed, outcome, csm="c1", steps=()):
    """A closed run and its steps as (due day, completed day or None) after opening."""
    opened_on = date(2025, 1, 1) + timedelta(days=opened)
    run = {"run_id": run_id, "scenario": "at_risk", "playbook_id": "save", "account_id": "a1",
           "csm_id": csm, "opened_on": opened_on,
           "closed_on": opened_on + timedelta(days=closed), "status": "closed",
           "steps_total": len(steps), "steps_completed": sum(c is not None for _, c in steps),
           "outcome": outcome, "health_at_open": 50.0, "arr_at_open": 1000.0}
    rows = [{"run_id": run_id, "step_id": f"s{j}", "due_on": opened_on + timedelta(days=due),
             "completed_on": None if done is None else opened_on + timedelta(days=done),
             "status": "skipped" if done is None else "done"}
            for j, (due, done) in enumerate(steps)]
    return run, rows


def test_landmark_runs_counts_steps_due_and_done_by_the_landmark(store):
    runs, steps = zip(*[
        # Due by day 30: 10, 20, 30 (the 45 does not count); done by day 30: 10 and 20 (the
        # step due on 30 was done on 31).
        _run("r1", 0, 60, "success", steps=[(10, 9), (20, 20), (30, 31), (45, 40)]),
        # Closed on day 30: not open at the landmark.
        _run("r2", 5, 30, "failure", steps=[(10, None), (20, None)]),
    ])
    load_tables(store, {"playbook_runs": pd.DataFrame(list(runs)),
                        "run_steps": pd.DataFrame([r for rows in steps for r in rows]),
                        "accounts": pd.DataFrame({"account_id": ["a1"], "segment": ["SMB"]})})
    frame = landmark.landmark_runs(store, None, landmark_days=30)
    frame = frame.set_index(frame["success"].map({1: "r1", 0: "r2"}))
    assert frame.loc["r1", "due_by_landmark"] == 3 and frame.loc["r1", "done_by_landmark"] == 2
    assert bool(frame.loc["r1", "open_at_landmark"])
    assert not bool(frame.loc["r2", "open_at_landmark"])
    assert frame.loc["r1", "segment"] == "SMB"
    assert landmark.has_step_dates(frame)


def _organisation(rng, step_dates: bool, effect: float = 0.0):
    from bench.calibrate.worlds_people import _followers_org
    return _followers_org(rng, 900, effect, abandon=True, step_dates=step_dates)[0]


def test_followers_abandonment_trap_is_not_claimed_with_step_dates(store):
    # Failing runs abandoned part-way: the whole-run adherence says followers did much better;
    # the landmark design, reading adherence at day 30 among runs still open, does not.
    load_tables(store, _organisation(np.random.default_rng(3), step_dates=True))
    row = next(r for r in followers_json(ctx(store, Filters())) if r["playbook_id"] == "at_risk")
    assert row["naive_diff"] > 0.3
    assert row["effect"]["method"] == landmark.METHOD
    assert abs(row["effect"]["estimate"]) < 0.08
    assert row["claim"] in ("no_clear_change", "not_enough_data")
    assert row["landmark"]["landmark_days"] == 30 and row["landmark"]["csms"] == 20
    assert row["landmark"]["runs"] < row["runs"]  # runs closed before day 30 are left out


def test_followers_without_step_dates_are_an_association_only(store):
    load_tables(store, _organisation(np.random.default_rng(3), step_dates=False))
    row = next(r for r in followers_json(ctx(store, Filters())) if r["playbook_id"] == "at_risk")
    assert row["claim"] == "association_only"
    assert row["effect"]["method"] == "association"
    assert row["effect"]["estimate"] == pytest.approx(row["adjusted_diff"])


def test_landmark_size_rules_apply_after_trimming():
    # 40 runs, 4 CSMs: fewer CSMs than MIN_CSMS, whatever the difference.
    rng = np.random.default_rng(0)
    n = 40
    frame = pd.DataFrame({
        "playbook_id": "p", "csm_id": [f"c{i % 4}" for i in range(n)],
        "success": (np.arange(n) % 2 == 0).astype(int), "health_at_open": rng.uniform(0, 100, n),
        "arr_at_open": 1000.0, "segment": None, "due_by_landmark": 4,
        "done_by_landmark": np.where(np.arange(n) % 2 == 0, 4, 1), "open_at_landmark": True,
        "dated_steps": 4, "completed_dates": 4})
    result = landmark.landmark_effect(frame, threshold=0.8,
                                      **landmark.landmark_settings(Settings()))
    assert result.claim == Claim.NOT_ENOUGH_DATA and result.csms == 4
    # More runs from the same four CSMs would not do: no count of runs to report.
    assert result.missing is None
    # Six CSMs, 24 runs of which 6 followed: short of 30 runs (6) and of 10 followers (4); a
    # follower added counts towards the 30 too, so 6 more runs, 4 of them followed, do it.
    n = 24
    frame = frame.iloc[:n].assign(csm_id=[f"c{i % 6}" for i in range(n)],
                                  done_by_landmark=np.where(np.arange(n) < 6, 4, 1),
                                  success=(np.arange(n) % 3 == 0).astype(int))
    result = landmark.landmark_effect(frame, threshold=0.8,
                                      **landmark.landmark_settings(Settings()))
    assert (result.claim, result.followers, result.non_followers) == (
        Claim.NOT_ENOUGH_DATA, 6, 18)
    assert result.missing == max(30 - 24, 10 - 6) == 6


# -- ramp: thinned last-N rule and the log-rank comparison ----------------------------------
# Freireich et al. (1963) remission weeks, 6-MP vs placebo (Gehan 1965; "+" = censored).
SIX_MP = "6,6,6,6+,7,9+,10,10+,11+,13,16,17+,19+,20+,22,23,25+,32+,32+,34+,35+".split(",")
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


def test_logrank_z_matches_the_published_chi_square():
    days = [float(x.rstrip("+")) for x in SIX_MP] + [float(x) for x in PLACEBO]
    events = [not x.endswith("+") for x in SIX_MP] + [True] * len(PLACEBO)
    placebo = np.array([False] * len(SIX_MP) + [True] * len(PLACEBO))
    z = ramp.logrank_z(days, events, placebo)[0]
    # Log-rank chi-square 16.79 (Kleinbaum & Klein, Survival Analysis, ch. 2; R survdiff).
    assert z ** 2 == pytest.approx(16.79, abs=0.005)
    assert z > 0  # placebo relapses sooner: the higher hazard


def _ramp_frame(days_before, days_after, ramped_before=None, ramped_after=None):
    rows = []
    for cohort, days, ramped in (("before", days_before, ramped_before),
                                 ("after", days_after, ramped_after)):
        for i, d in enumerate(days):
            rows.append({"cohort": cohort, "days": d,
                         "ramped": True if ramped is None else ramped[i]})
    return pd.DataFrame(rows)


def test_ramp_effect_faster_slower_and_small_cohorts():
    fast = _ramp_frame([150, 170, 180, 190, 200, 210, 220, 240],
                       [60, 70, 80, 90, 95, 100, 110, 120])
    result = ramp.ramp_effect(fast, {"before": 195.0, "after": 92.5}, samples=999, seed=1,
                              alpha=0.05)
    assert result.claim == Claim.FASTER
    assert result.effect.estimate == pytest.approx(92.5 / 195)
    # 8 v 8 with no overlap: the permutation p is about 2 / C(16, 8) (both tails) or less.
    assert result.effect.p_value < 0.01
    slow = _ramp_frame([60, 70, 80, 90, 95, 100, 110, 120],
                       [150, 170, 180, 190, 200, 210, 220, 240])
    assert ramp.ramp_effect(slow, {"before": 92.5, "after": 195.0},
                            **BOOTSTRAP).claim == Claim.SLOWER
    few = _ramp_frame([150, 170, 180], [60, 70, 80])
    assert ramp.ramp_effect(few, {"before": 170.0, "after": 70.0},
                            **BOOTSTRAP).claim == Claim.NOT_ENOUGH_DATA


def test_permutation_p_agrees_with_an_exhaustive_enumeration():
    # 5 v 5 without censoring: enumerate all C(10, 5) = 252 labellings.
    from itertools import combinations
    days = np.array([20, 35, 50, 65, 80, 40, 55, 90, 100, 120], dtype=float)
    events = np.ones(10, bool)
    labels = np.array([False] * 5 + [True] * 5)
    observed = abs(ramp.logrank_z(days, events, labels)[0])
    every = np.zeros((252, 10), bool)
    for row, chosen in enumerate(combinations(range(10), 5)):
        every[row, list(chosen)] = True
    exact = np.mean(np.abs(ramp.logrank_z(days, events, every)) >= observed - 1e-12)
    frame = _ramp_frame(days[:5], days[5:])
    result = ramp.ramp_effect(frame, {"before": 50.0, "after": 90.0}, samples=20000, seed=5,
                              alpha=0.05)
    assert result.effect.p_value == pytest.approx(exact, abs=0.015)


def test_thinning_equalises_volume_and_the_last_n_window():
    # Two CSMs hired the same day; b has four times a's renewals. The common volume is the
    # smaller of the two, a's; b keeps each renewal with probability 1/4, drawn by `draw`.
    hire, last = date(2024, 1, 1), date(2024, 12, 31)
    rows = []
    for csm, count in (("a", 10), ("b", 40)):
        for i in range(count):
            rows.append({"csm_id": csm, "hire_date": hire, "end_date": None,
                         "renewal_date": hire + timedelta(days=5 + 9 * i * 10 // count),
                         "renewed": 1, "draw": (i + 0.5) / count})
    frame = pd.DataFrame(rows)
    result = ramp.derived_ramp_dates(frame, target=0.9, last_day=last, last_n=5).set_index(
        "csm_id")
    days = (last - hire).days
    volume_a, volume_b = 10 / days, 40 / days
    assert result.loc["a", "keep_probability"] == 1.0
    assert result.loc["b", "keep_probability"] == pytest.approx(volume_a / volume_b) == 0.25
    # b's draws are (i + 0.5)/40: those below 0.25 are kept, the first 10 renewals.
    assert result.loc["b", "kept"] == 10 and result.loc["a", "kept"] == 10
    # Every renewal renewed: the fifth kept renewal completes the first window.
    assert result.loc["a", "ramped_on"] == hire + timedelta(days=5 + 9 * 4)


def test_left_before_ramp_counts_only_leavers_who_had_not_ramped():
    last = date(2025, 6, 30)
    frame = pd.DataFrame({
        "cohort": ["before", "before", "after", "after"],
        "ramped": [False, True, False, False],
        "censored_at": [date(2024, 1, 1), None, last, date(2025, 1, 1)]})
    assert ramp.left_before_ramp(frame, last) == {"before": 1, "after": 1}


def test_fit_leaves_out_a_covariate_the_csm_effects_absorb():
    # Each CSM's book is one segment: the segment dummy is constant within CSMs, so the CSM
    # effects absorb it; the fit equals the fit without it (statsmodels, CSM dummies).
    rng = np.random.default_rng(5)
    n, groups = 200, 6
    clusters = rng.integers(0, groups, n)
    t = rng.random(n) < 0.5
    health = rng.normal(size=n)
    segment = (clusters % 2).astype(float)
    y = (rng.random(n) < 0.3 + 0.2 * t).astype(float)
    w = np.ones(n)
    estimate, se, df = landmark._fit(y, t, np.column_stack([health, segment]), clusters, w)
    dummies = (clusters[:, None] == np.arange(1, groups)[None, :]).astype(float)
    exog = np.column_stack([np.ones(n), t, health, dummies])
    assert estimate == pytest.approx(sm.WLS(y, exog, weights=w).fit().params[1], abs=1e-10)

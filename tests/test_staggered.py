"""Difference-in-differences over a staggered rollout (analysis.metrics.designs.staggered and
designs.rollouts), and before/after resting on it when a `rollouts` export dates adoptions."""
from __future__ import annotations

import io
import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import dataclasses

from analysis.settings import Settings
from analysis.filters import Filters
from analysis.metrics.before_after import before_after, before_after_json
from analysis.metrics.claims import Claim
from analysis.metrics.designs import rollouts, staggered
from analysis.metrics.designs.assess import assess
from analysis.present.designs import design_note
from tests.builders import ctx

INTRO = date(2024, 7, 1)
CATALOG = pd.DataFrame([{"playbook_id": "at_risk", "name": "At risk", "scenario": "at_risk",
                         "outcome_metric": "success_rate", "introduced_on": INTRO}])


def _cells(groups, months, rate, n=100.0, clusters=1):
    """Exact cells: groups = {group: adopted month or NaN}; rate(group, month) -> true rate;
    successes are rate · n exactly (fractional successes are fine for the estimator)."""
    rows = [{"group": g, "month": t, "n": n / clusters,
             "successes": rate(g, t) * n / clusters, "adopted": a}
            for g, a in groups.items() for t in months for c in range(clusters)]
    return pd.DataFrame(rows, columns=staggered.CELL_COLUMNS)


def test_two_groups_exact_linear_data_give_the_planted_step():
    # Group a adopts in month 24, b never; both drift 1 point a month from different levels.
    groups = {"a": 24.0, "b": math.nan}
    fit = staggered.did_effect(_cells(groups, range(36), lambda g, t: (
        (30 if g == "a" else 50) + t + (10 if g == "a" and t >= 24 else 0)) / 100))
    # The classic 2x2 difference of means over the same months, computed by hand:
    # a: pre months 0..23 average 30 + 11.5, post 24..35 average 30 + 29.5 + 10;
    # b: 50 + 11.5 and 50 + 29.5. (41.5 → 69.5) − (61.5 → 79.5) = 28 − 18 = 10 points.
    assert fit.effect.method == "difference_in_differences"
    assert fit.effect.estimate == pytest.approx(0.10, abs=1e-12)
    assert (fit.treated, fit.groups, fit.adopted) == (1200, 2, 1)


def test_heterogeneous_staggered_effects_average_over_treated_outcomes():
    """Effects growing with time since rollout, three cohorts: the estimate is the mean of the
    true effects over the treated outcomes (a naive two-way fixed effects regression, using
    groups already treated as comparisons, is biased here)."""
    groups = {"a": 12.0, "b": 16.0, "c": 20.0, "d": math.nan}
    level = {"a": 0.2, "b": 0.3, "c": 0.4, "d": 0.5}
    sizes = {"a": 50.0, "b": 80.0, "c": 120.0, "d": 60.0}

    def effect(g, t):
        a = groups[g]
        return 0.02 * (t - a + 1) if not math.isnan(a) and t >= a else 0.0

    frames = [_cells({g: a}, range(30), lambda g, t: level[g] + 0.004 * t + effect(g, t),
                     n=sizes[g]) for g, a in groups.items()]
    fit = staggered.did_effect(pd.concat(frames, ignore_index=True), window_months=12)
    treated = [(sizes[g], effect(g, t)) for g, a in groups.items() if not math.isnan(a)
               for t in range(30) if 0 <= t - a < 12]
    expected = sum(n * e for n, e in treated) / sum(n for n, _ in treated)
    assert fit.effect.estimate == pytest.approx(expected, abs=1e-12)
    assert fit.treated == sum(n for n, _ in treated)


def test_months_just_before_a_rollout_are_left_out():
    # A dip in the two months before a's rollout (it was picked after a bad spell): left out,
    # the step is read against the months before the dip.
    groups = {"a": 24.0, "b": math.nan}
    cells = _cells(groups, range(36), lambda g, t: 0.4 - (0.1 if g == "a" and t in (22, 23)
                                                          else 0.0)
                   + (0.05 if g == "a" and t >= 24 else 0.0))
    assert staggered.did_effect(cells, exclude_months=2).effect.estimate == \
        pytest.approx(0.05, abs=1e-12)
    assert staggered.did_effect(cells, exclude_months=0).effect.estimate > 0.05


def test_the_last_group_without_a_never_adopter_is_a_comparison_only():
    groups = {"a": 6.0, "b": 12.0}
    fit = staggered.did_effect(_cells(groups, range(24), lambda g, t: 0.4 + (
        0.1 if t >= groups[g] else 0)))
    # b's months from 12 on have no untreated group to compare with; a's months 6..11 do.
    assert fit.treated == 600 and fit.effect.estimate == pytest.approx(0.1, abs=1e-12)


def test_binomial_floor_of_a_two_by_two():
    """Two groups, two months: residuals are all 0 (the model is saturated), so the interval
    rests on the binomial variance, p(1 − p)/n of each side's pooled rate."""
    cells = pd.DataFrame([("a", 0, 100, 40, 1.0), ("a", 1, 100, 60, 1.0),
                          ("b", 0, 100, 50, math.nan), ("b", 1, 100, 55, math.nan)],
                         columns=staggered.CELL_COLUMNS)
    fit = staggered.did_effect(cells, min_outcomes=50)
    assert fit.effect.estimate == pytest.approx(0.60 - 0.40 - (0.55 - 0.50))
    se = math.sqrt(0.6 * 0.4 / 100 + 0.4 * 0.6 / 100 + 2 * 0.525 * 0.475 / 100)
    assert fit.effect.ci_high - fit.effect.estimate == pytest.approx(1.959964 * se, rel=1e-5)


def _assess_on(fit):
    """The before/after claim resting on `fit`, with 100 decided outcomes each side of the
    introduction and the after window long over."""
    window = {"playbook_id": "p", "metric": "success_rate", "introduced_on": INTRO,
              "window_start": date(2023, 7, 1), "window_end": date(2025, 7, 1)}
    monthly = pd.DataFrame({"month": [-1, 0], "n": [100, 100], "successes": [50, 50],
                            "pending": [0, 0]})
    return assess(window, monthly, date(2026, 6, 30), 1, Settings(), fit)


def test_a_wide_rollout_interval_is_sized_from_its_own_standard_error():
    # The two-by-two above: +15 points on 400 outcomes (100 treated, 300 compared), an
    # interval from about −4 to +34 points. Whatever variance the design used, its interval
    # is estimate ± q · se on the reference it carries, so the standard error reads back,
    # and 80% power at 10 points takes se · (q + q_0.8) / 0.10 squared times the outcomes.
    cells = pd.DataFrame([("a", 0, 100, 40, 1.0), ("a", 1, 100, 60, 1.0),
                          ("b", 0, 100, 50, math.nan), ("b", 1, 100, 55, math.nan)],
                         columns=staggered.CELL_COLUMNS)
    fit = staggered.did_effect(cells, min_outcomes=30)
    effect = fit.effect
    reference = sps.t(effect.df)  # df = inf: the normal
    q, q_power = reference.ppf(0.975), reference.ppf(0.8)
    se = (effect.ci_high - effect.ci_low) / (2 * q)
    assert fit.outcomes == 400
    expected = math.ceil(400 * (se * (q + q_power) / 0.10) ** 2 - 400)
    found = _assess_on(fit)
    assert found.claim == Claim.NOT_ENOUGH_DATA and found.effect.method == staggered.METHOD
    assert found.missing == expected > 0
    assert found.why.endswith(f"about {expected:,} more outcomes would be needed to detect one")


def test_too_few_rollout_outcomes_give_the_rules_shortfall():
    # 10 treated outcomes (a's month 12) where the comparison needs 30 on each side.
    groups = {"a": 12.0, "b": math.nan}
    fit = staggered.did_effect(_cells(groups, range(13), lambda g, t: 0.4, n=10))
    assert fit.treated == 10 and fit.comparison >= 30
    found = _assess_on(fit)
    assert found.claim == Claim.NOT_ENOUGH_DATA and found.missing == 30 - 10


def test_too_few_outcomes_say_why():
    groups = {"a": 12.0, "b": math.nan}
    fit = staggered.did_effect(_cells(groups, range(13), lambda g, t: 0.4, n=10))
    assert fit.effect is None
    assert fit.why.startswith("10 decided outcomes after a rollout")


def test_the_design_applies_from_two_adoption_months_or_a_never_adopter():
    def cells(adopted):
        return pd.DataFrame({"group": list(adopted), "adopted": list(adopted.values())})
    assert rollouts.applies(cells({"a": 1.0, "b": 2.0}))
    assert rollouts.applies(cells({"a": 1.0, "b": math.nan}))
    assert not rollouts.applies(cells({"a": 1.0, "b": 1.0}))
    assert not rollouts.applies(cells({"a": math.nan, "b": math.nan}))


# -- before/after rests on it -----------------------------------------------------------------
def _organisation(store, step: float = 0.10, rollouts_rows=(("East", INTRO),)):
    """Two teams of two CSMs, 100 runs a team a month from two years before INTRO to a year
    after, each team's rate drifting a point a month from its own level; East gets `step`
    from its rollout."""
    store.execute("INSERT INTO csms (csm_id, team) VALUES ('e1', 'East'), ('e2', 'East'), "
                  "('w1', 'West'), ('w2', 'West')")
    store.execute("INSERT INTO accounts (account_id, csm_id, segment) VALUES "
                  "('ae1', 'e1', 'SMB'), ('ae2', 'e2', 'SMB'), ('aw1', 'w1', 'Enterprise'), "
                  "('aw2', 'w2', 'Enterprise')")
    rows = []
    for month in pd.date_range(pd.Timestamp(INTRO) - pd.DateOffset(months=24), periods=36,
                               freq="MS"):
        t = (month.year - INTRO.year) * 12 + month.month - INTRO.month
        for team, level in (("e", 30), ("w", 50)):
            wins = level + 24 + t + (round(step * 100) if team == "e" and t >= 0 else 0)
            for i in range(100):
                rows.append({"run_id": f"{team}{month.date()}-{i}", "scenario": "at_risk",
                             "playbook_id": "at_risk" if team == "e" and t >= 0 else None,
                             "account_id": f"a{team}{i % 2 + 1}", "csm_id": f"{team}{i % 2 + 1}",
                             "opened_on": month.date(), "closed_on": month.date(),
                             "status": "closed", "outcome": "success" if i < wins else "failure"})
    store.register("new_runs", pd.DataFrame(rows))
    store.execute("INSERT INTO playbook_runs BY NAME SELECT * FROM new_runs")
    store.unregister("new_runs")
    for team, day in rollouts_rows:
        store.execute("INSERT INTO rollouts (playbook_id, team, rolled_out_on) VALUES (?, ?, ?)",
                      ["at_risk", team, day])


def test_before_after_rests_on_the_rollout_when_one_is_dated(store):
    _organisation(store)
    row = before_after(ctx(store, Filters(), as_of="2026-01-31", catalog=CATALOG)).iloc[0]
    item = before_after_json(ctx(store, Filters(), as_of="2026-01-31", catalog=CATALOG))[0]
    assert row["effect_method"] == staggered.METHOD
    assert row["effect_estimate"] == pytest.approx(0.10, abs=1e-9)
    assert row["claim"] == Claim.IMPROVED
    assert "+10 points after each rollout against the teams or segments not yet using it" \
        in row["verdict"]
    assert item["effect"]["method"] == "difference_in_differences"
    assert item["claim"] == "improved"
    # Treated: East's 12 months from its rollout. Comparison: East's 22 months before it (the
    # two just before left out) and West's 36.
    # East's runs carry the playbook from its rollout on, West's never: nothing to warn of.
    assert item["rollout"] == {"group_kind": "team", "groups": 2, "adopted_groups": 1,
                               "treated_outcomes": 1200, "comparison_outcomes": 5800,
                               "warnings": [], "groups_adding_nothing": [],
                               "runs_in_comparison": []}
    # The descriptive keys of DESIGN.md are all still there.
    assert {"playbook_id", "metric", "introduced_on", "before", "after", "diff",
            "diff_ci_low", "diff_ci_high", "p_value", "verdict", "effect", "claim"} <= set(item)


def test_without_rollouts_or_with_one_adoption_month_it_is_the_time_series(store):
    _organisation(store, rollouts_rows=())
    item = before_after_json(ctx(store, Filters(), as_of="2026-01-31", catalog=CATALOG))[0]
    assert item["effect"]["method"] == "interrupted_time_series" and item["rollout"] is None
    # Both teams rolled out the same month: nobody to compare with.
    store.execute("INSERT INTO rollouts VALUES ('at_risk', 'east', NULL, ?), "
                  "('at_risk', 'West', NULL, ?)", [INTRO, date(2024, 7, 20)])
    item = before_after_json(ctx(store, Filters(), as_of="2026-01-31", catalog=CATALOG))[0]
    assert item["effect"]["method"] == "interrupted_time_series"


def test_a_team_filter_leaves_one_group_and_the_time_series(store):
    _organisation(store)
    item = before_after_json(ctx(store, Filters(team="East"), as_of="2026-01-31",
                                 catalog=CATALOG))[0]
    assert item["effect"]["method"] == "interrupted_time_series"


def test_too_early_still_names_the_rollout_design(store):
    _organisation(store)
    item = before_after_json(ctx(store, Filters(), as_of="2025-03-31", catalog=CATALOG))[0]
    assert item["claim"] == "too_early"
    assert item["effect"] == {"method": "difference_in_differences", "estimate": None,
                              "ci_low": None, "ci_high": None, "p_value": None,
                              "q_value": None}


def test_segments_group_by_the_accounts_segment(store):
    _organisation(store, rollouts_rows=())
    store.execute("INSERT INTO rollouts (playbook_id, segment, rolled_out_on) "
                  "VALUES ('at_risk', 'smb ', ?)", [INTRO])
    item = before_after_json(ctx(store, Filters(), as_of="2026-01-31", catalog=CATALOG))[0]
    assert item["rollout"]["group_kind"] == "segment"
    assert item["effect"]["estimate"] == pytest.approx(0.10, abs=1e-9)


def test_the_design_note_says_what_it_assumes():
    values = dataclasses.asdict(Settings.resolve())
    note = design_note("difference_in_differences", "improved", values, "segment")
    assert note.startswith("Verdict from a difference in differences over the rollout")
    assert "segments not yet using it" in note and "same points month to month" in note
    assert design_note("interrupted_time_series", "improved", values).startswith(
        "Verdict from an interrupted time series")
    assert design_note(None, None, values) is None


def test_calibration_world_shapes():
    from bench.calibrate.worlds_rollouts import WORLDS
    tables, overrides = WORLDS[0].build(np.random.default_rng(1))
    assert set(tables) == {"csms", "accounts", "playbook_runs", "rollouts"}
    assert tables["rollouts"]["team"].tolist() == ["North", "South", "East", "West", "Central"]
    assert overrides == {}


def test_the_page_says_which_design_and_what_it_assumes(tmp_path, monkeypatch):
    from tests.builders import app_database, messages, page, run_page
    monkeypatch.setenv("PLAYBOOK_IMPACT_AS_OF", "2026-01-31")
    app_database(tmp_path / "rollouts.duckdb", monkeypatch, _organisation)
    at = run_page(page("before_after"), ba_playbook="at_risk")
    assert any(m.startswith("Improved:") and "after each rollout" in m for m in messages(at))
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Verdict from a difference") and "teams not yet using it" in c
               for c in captions)
    assert not at.warning  # nothing the rollout leaves out


def _three_teams(noise_sd: float, seed: int = 7) -> pd.DataFrame:
    """Teams a (rolling out in month 12), b (18) and c (never), 30 months of 100 outcomes at
    a drifting 40%, each cell's rate off by a normal draw of SD `noise_sd`."""
    rng = np.random.default_rng(seed)
    groups = {"a": 12.0, "b": 18.0, "c": math.nan}
    rows = [{"group": g, "month": t, "n": 100.0, "adopted": a,
             "successes": float(rng.binomial(100, np.clip(0.4 + 0.005 * t
                                                          + rng.normal(0, noise_sd), 0, 1)))}
            for g, a in groups.items() for t in range(30)]
    return pd.DataFrame(rows, columns=staggered.CELL_COLUMNS)


def _numeric_weights(cells: pd.DataFrame, fit) -> np.ndarray:
    """Each cell's weight in the estimate per success, by adding one success to it."""
    weights = []
    for i in range(len(cells)):
        bumped = cells.copy()
        bumped.loc[i, "successes"] += 1.0
        weights.append(staggered.did_effect(bumped, window_months=12).effect.estimate
                       - fit.effect.estimate)
    return np.array(weights)


def _binomial_rate(cells: pd.DataFrame, treated: pd.Series) -> np.ndarray:
    """Each cell's group rate, its treated (12-month window) and untreated cells pooled apart."""
    counted = cells[treated & (cells["month"] - cells["adopted"] < 12)]
    untreated = cells[~treated]
    pooled = untreated.groupby("group")["successes"].sum() / untreated.groupby("group")["n"].sum()
    pooled_treated = counted.groupby("group")["successes"].sum() / counted.groupby("group")["n"].sum()
    return np.where(treated, cells["group"].map(pooled_treated), cells["group"].map(pooled))


def test_without_spells_the_interval_is_the_binomial_variance_of_the_imputation():
    """Cells no noisier than binomial noise: the estimate is the imputation estimator (a
    statsmodels WLS of the untreated cell rates on group and month indicators, weights n, each
    treated outcome's gap to it) and the interval its binomial variance, each cell's weight
    found by differentiating the estimate numerically, with t on the untreated cells' residual
    degrees of freedom."""
    import statsmodels.api as sm

    cells = _three_teams(noise_sd=0.0)
    fit = staggered.did_effect(cells, window_months=12)
    treated = cells["adopted"].notna() & (cells["month"] >= cells["adopted"])
    untreated = cells[~treated]
    x = pd.get_dummies(untreated["group"]).join(
        pd.get_dummies(untreated["month"], prefix="m").iloc[:, 1:]).to_numpy(float)
    wls = sm.WLS((untreated["successes"] / untreated["n"]).to_numpy(), x,
                 weights=untreated["n"].to_numpy()).fit()
    # untreated cells (90 less a's 18 months and b's 12) − (3 groups + 30 months − 1)
    assert wls.df_resid == 90 - 18 - 12 - (3 + 29) == fit.effect.df
    # c's levels and the month effects give each treated cell its counterfactual.
    level = dict(zip(["a", "b", "c"], wls.params[:3]))
    month = {0: 0.0, **{m: b for m, b in zip(range(1, 30), wls.params[3:])}}
    window = cells[treated & (cells["month"] - cells["adopted"] < 12)]
    counterfactual = window["group"].map(level) + window["month"].map(month)
    expected = float((window["successes"] / window["n"] - counterfactual).mean())
    assert fit.effect.estimate == pytest.approx(expected, abs=1e-10)

    weights = _numeric_weights(cells, fit)
    rate = _binomial_rate(cells, treated)
    se = math.sqrt(float(np.sum(weights ** 2 * cells["n"] * rate * (1 - rate))))
    half = fit.effect.ci_high - fit.effect.estimate
    assert half == pytest.approx(sps.t.ppf(0.975, wls.df_resid) * se, rel=1e-6)
    assert fit.effect.floor_variance == 0  # all of it sampling noise


def test_spells_in_the_teams_months_enter_the_estimate_and_its_variance(monkeypatch):
    """Given spells (tau2, rho), the estimate is generalised least squares with a parameter
    for each treated cell (statsmodels' GLS with the covariance written out: n-weighted
    binomial noise at the pooled rate plus tau2 rho^|t - s| within a team), the n-weighted
    mean of those parameters; its variance that of the same weights under each cell's own
    binomial noise plus the spells, the weights found numerically."""
    import statsmodels.api as sm

    from analysis.metrics.designs import spells

    given = spells.Spells(0.0008, 0.6)
    monkeypatch.setattr(spells, "fit", lambda *args, **kwargs: given)
    cells = _three_teams(noise_sd=0.03)
    fit = staggered.did_effect(cells, window_months=12)
    treated = cells["adopted"].notna() & (cells["month"] >= cells["adopted"])
    kept = cells[~treated | (cells["month"] - cells["adopted"] < 12)].reset_index(drop=True)
    inside = treated[~treated | (cells["month"] - cells["adopted"] < 12)].to_numpy()
    x = pd.get_dummies(kept["group"]).join(
        pd.get_dummies(kept["month"], prefix="m").iloc[:, 1:]).to_numpy(float)
    x = np.column_stack([x, np.eye(len(kept))[:, inside]])
    n = kept["n"].to_numpy(float)
    overall = float(kept["successes"].sum() / n.sum())
    same = kept["group"].to_numpy()[:, None] == kept["group"].to_numpy()[None, :]
    lag = np.abs(kept["month"].to_numpy(float)[:, None] - kept["month"].to_numpy(float)[None, :])
    between = np.where(same, given.tau2 * given.rho ** lag, 0.0)
    gls = sm.GLS((kept["successes"] / n).to_numpy(), x,
                 sigma=np.diag(overall * (1 - overall) / n) + between).fit()
    steps = gls.params[-inside.sum():]
    assert fit.effect.estimate == pytest.approx(np.average(steps, weights=n[inside]), abs=1e-9)

    weights = _numeric_weights(cells, fit) * cells["n"].to_numpy()  # per cell rate
    rate = _binomial_rate(cells, treated)
    on = np.abs(weights) > 0
    same = cells["group"].to_numpy()[:, None] == cells["group"].to_numpy()[None, :]
    lag = np.abs(cells["month"].to_numpy(float)[:, None] - cells["month"].to_numpy(float)[None, :])
    between = np.where(same, given.tau2 * given.rho ** lag, 0.0)
    cov = np.diag(rate * (1 - rate) / cells["n"].to_numpy()) + between
    se = math.sqrt(float(weights[on] @ cov[np.ix_(on, on)] @ weights[on]))
    # The spells' part, which more outcomes in the same months would not shrink.
    assert fit.effect.floor_variance == pytest.approx(
        float(weights[on] @ between[np.ix_(on, on)] @ weights[on]), rel=1e-5)
    half = fit.effect.ci_high - fit.effect.estimate
    assert half == pytest.approx(sps.t.ppf(0.975, fit.effect.df) * se, rel=1e-5)
    assert 1 <= fit.effect.df <= 90 - 18 - 12 - (3 + 29)


# -- what the design leaves out or reads wrongly (designs.rollout_gaps) -----------------------
AS_OF = "2026-01-31"


def _team(store, team: str, first: str, last: str, rolled_out_on: date,
          carries_from: date | None = None):
    """A team of one CSM (its id the team in lower case) with 20 at_risk runs a month from
    month `first` to `last` (8 of them succeed), dated rolled_out_on by the rollouts; its runs
    carry the playbook from `carries_from` (default: the rollout) on."""
    csm = team.lower()
    store.execute("INSERT INTO csms (csm_id, team) VALUES (?, ?)", [csm, team])
    carries_from = carries_from or rolled_out_on
    rows = [{"run_id": f"{csm}{month.date()}-{i}", "scenario": "at_risk",
             "playbook_id": "at_risk" if month.date() >= carries_from else None,
             "account_id": f"a{csm}", "csm_id": csm, "opened_on": month.date(),
             "closed_on": month.date(), "status": "closed",
             "outcome": "success" if i < 8 else "failure"}
            for month in pd.date_range(first, last, freq="MS") for i in range(20)]
    store.register("team_runs", pd.DataFrame(rows))
    store.execute("INSERT INTO playbook_runs BY NAME SELECT * FROM team_runs")
    store.unregister("team_runs")
    store.execute("INSERT INTO rollouts (playbook_id, team, rolled_out_on) VALUES (?, ?, ?)",
                  ["at_risk", team, rolled_out_on])


def _item(store, **settings) -> dict:
    return before_after_json(ctx(store, Filters(), as_of=AS_OF, catalog=CATALOG,
                                 **{"its_exclude_months": 2, **settings}))[0]


def test_a_rollout_that_leaves_its_team_no_month_before_it_is_said_to_add_nothing(store):
    _organisation(store)
    alone = _item(store)
    # North rolled out half a year before its first run; Central in the month of its first
    # runs (which carry the playbook from that month's first day, 19 days early); South's only
    # earlier runs are in the two months just before its rollout, which the design leaves out.
    _team(store, "North", "2024-01-01", "2025-06-01", date(2023, 7, 1))
    _team(store, "Central", "2024-01-01", "2025-06-01", date(2024, 1, 20),
          carries_from=date(2024, 1, 1))
    _team(store, "South", "2024-05-01", "2025-06-01", date(2024, 7, 15))
    item = _item(store)
    rollout = item["rollout"]
    assert rollout["groups_adding_nothing"] == [
        {"group": "North", "rolled_out_on": "2023-07-01", "first_outcome_month": "2024-01",
         "reason": "rolled_out_before_first_outcome"},
        {"group": "Central", "rolled_out_on": "2024-01-20", "first_outcome_month": "2024-01",
         "reason": "rolled_out_before_first_outcome"},
        {"group": "South", "rolled_out_on": "2024-07-15", "first_outcome_month": "2024-05",
         "reason": "earlier_outcomes_left_out"}]
    tail = "with no month before the rollout to compare it with, it adds nothing to the comparison."
    assert rollout["warnings"] == [
        f"North rolled out on 2023-07-01, before its first outcome in the data (January 2024): "
        f"{tail}",
        f"Central rolled out on 2024-01-20, in the month of its first outcome in the data "
        f"(January 2024): {tail}",
        "South rolled out on 2024-07-15, and its only outcomes before then (from May 2024) "
        "fall in the 2 months just before the rollout, which the design leaves out: with no "
        "earlier month left to compare it with, it adds nothing to the comparison."]
    # Nothing indeed: the estimate and the outcomes it rests on are those of East and West.
    assert rollout["groups"] == 5 and rollout["adopted_groups"] == 4
    for key in ("treated_outcomes", "comparison_outcomes"):
        assert rollout[key] == alone["rollout"][key]
    assert item["effect"]["estimate"] == pytest.approx(alone["effect"]["estimate"], abs=1e-12)
    assert item["claim"] == alone["claim"] == "improved"
    # Central's runs opened before its rollout date but in its month: treated, not counted.
    assert rollout["runs_in_comparison"] == []


def _carry(store, where: str) -> None:
    store.execute(f"UPDATE playbook_runs SET playbook_id = 'at_risk' WHERE {where}")


def _count(store, where: str) -> int:
    return store.scalar(f"SELECT count(*) FROM playbook_runs WHERE playbook_id = 'at_risk' "
                        f"AND {where}")


def test_runs_carrying_the_playbook_where_the_design_reads_no_use_are_counted(store):
    from analysis.present.export import to_safe_csv
    _organisation(store)
    clean = _item(store)
    number = "CAST(split_part(run_id, '-', 4) AS INTEGER)"  # i of run "<team><day>-<i>"
    # West has no rollout row yet uses it in 2025; East used it in 2023, and in the two
    # months just before its rollout (2024-07-01), which the design leaves out.
    _carry(store, f"csm_id LIKE 'w%' AND opened_on >= DATE '2025-01-01' AND {number} < 10")
    _carry(store, f"csm_id LIKE 'e%' AND year(opened_on) = 2023 AND {number} < 4")
    _carry(store, f"csm_id LIKE 'e%' AND opened_on >= DATE '2024-05-01' "
                  f"AND opened_on < DATE '2024-07-01' AND {number} < 10")
    # A run whose CSM is on no team: its group is unknown, as its outcome's is.
    store.execute("INSERT INTO playbook_runs (run_id, scenario, playbook_id, account_id, "
                  "csm_id, opened_on, status, outcome) VALUES ('x1', 'at_risk', 'at_risk', "
                  "'ax', 'x9', DATE '2023-03-01', 'closed', 'success')")
    west = _count(store, "csm_id LIKE 'w%'")
    east = _count(store, "csm_id LIKE 'e%' AND opened_on < DATE '2024-05-01'")
    dip = _count(store, "csm_id LIKE 'e%' AND opened_on >= DATE '2024-05-01' "
                        "AND opened_on < DATE '2024-07-01'")
    assert (west, east, dip) == (60, 48, 20)

    item = _item(store)
    assert item["rollout"]["runs_in_comparison"] == [
        {"group": "West", "runs": west, "rolled_out_on": None},
        {"group": "East", "runs": east, "rolled_out_on": "2024-07-01"}]
    sentence = (f"{west + east} runs carrying the playbook opened while the design reads their "
                f"teams as not yet using it (West: {west}, which has no rollout row for it; "
                f"East: {east}, before its rollout on 2024-07-01): they sit in the comparison, "
                "which pulls the estimated effect toward zero (or past it).")
    assert item["rollout"]["warnings"] == [sentence]
    assert item["rollout"]["groups_adding_nothing"] == []
    # Said, not acted on: the claim and the estimate are the design's.
    assert item["claim"] == clean["claim"] and item["effect"] == clean["effect"]
    # The CSV of the page carries the sentences as JSON.
    frame = before_after(ctx(store, Filters(), as_of=AS_OF, catalog=CATALOG,
                             its_exclude_months=2))
    read = pd.read_csv(io.BytesIO(to_safe_csv(frame)), encoding="utf-8-sig")
    assert json.loads(read["rollout_warnings"].iloc[0]) == [sentence]

    # With no months left out before a rollout, East's runs of May and June 2024 are in the
    # comparison too (and now outnumber West's): the design's own months are the only slack.
    item = _item(store, its_exclude_months=0)
    assert item["rollout"]["runs_in_comparison"] == [
        {"group": "East", "runs": east + dip, "rolled_out_on": "2024-07-01"},
        {"group": "West", "runs": west, "rolled_out_on": None}]


def test_one_run_in_one_team_is_said_in_the_singular(store):
    _organisation(store)
    _carry(store, "run_id = 'w2024-01-01-0'")
    assert _item(store)["rollout"]["warnings"] == [
        "1 run carrying the playbook opened while the design reads its team as not yet using "
        "it (West: 1, which has no rollout row for it): it sits in the comparison, which pulls "
        "the estimated effect toward zero (or past it)."]


def _organisation_with_gaps(store):
    _organisation(store)
    _carry(store, "csm_id = 'w1' AND opened_on >= DATE '2025-01-01'")
    _team(store, "North", "2024-01-01", "2025-06-01", date(2023, 7, 1))


def test_the_page_and_the_review_pack_say_what_the_rollout_leaves_out(tmp_path, monkeypatch):
    from analysis.present.report import build_review, render_html
    from pages.common import md_text
    from tests.builders import app_database, computed_first, messages, page, run_page
    monkeypatch.setenv("PLAYBOOK_IMPACT_AS_OF", AS_OF)
    path = app_database(tmp_path / "gaps.duckdb", monkeypatch, _organisation_with_gaps)
    warnings = computed_first(path, lambda s: before_after_json(
        ctx(s, Filters(), catalog=CATALOG))[0]["rollout"]["warnings"])
    assert len(warnings) == 2 and warnings[0].startswith("North rolled out on 2023-07-01")
    catalog = CATALOG.assign(category="situational", defined=True, current_version=None)
    html = computed_first(path, lambda s: render_html(build_review(
        ctx(s, Filters(), catalog=catalog), "2025Q2")))
    for warning in warnings:
        assert f'<p class="warning">{warning}</p>' in html
    at = run_page(page("before_after"), ba_playbook="at_risk")
    # One warning box under the design's caption, each sentence as written.
    assert [w.value for w in at.warning] == ["\n\n".join(md_text(w) for w in warnings)]
    assert any(c.value.startswith("Verdict from a difference") for c in at.caption)

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from analysis.metrics import proficiency
from analysis.filters import Filters
from analysis.metrics.claims import Claim
from analysis.metrics.proficiency import (km_curves, km_from_durations, proficiency_json,
                                  proficiency_summary, ramp_days, veteran_rates)
from tests.builders import ctx

# Freireich et al. (1963), Blood 21:699, remission times in weeks of leukaemia patients on 6-MP
# versus placebo, as tabulated by Gehan (1965), Biometrika 52:203 ("+" = censored).
SIX_MP = "6,6,6,6+,7,9+,10,10+,11+,13,16,17+,19+,20+,22,23,25+,32+,32+,34+,35+".split(",")
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


def _freireich():
    days = [float(x.rstrip("+")) for x in SIX_MP] + [float(x) for x in PLACEBO]
    events = [not x.endswith("+") for x in SIX_MP] + [True] * len(PLACEBO)
    cohort = ["6-MP"] * len(SIX_MP) + ["placebo"] * len(PLACEBO)
    return days, events, cohort


def test_freireich_reference_values():
    km = km_from_durations(*_freireich(), alpha=0.05)
    # Log-rank chi-square 16.79 (1 df), p = 4.17e-5: Kleinbaum & Klein, Survival Analysis
    # (3rd ed., ch. 2) on these data; R: survdiff(Surv(time, cens) ~ treat, data = MASS::gehan).
    assert km.chi_square == pytest.approx(16.79, abs=0.005)
    assert km.p_value == pytest.approx(4.17e-5, rel=0.01)
    cohorts = km.cohorts.set_index("cohort")
    # Median remission 23 weeks on 6-MP, 8 weeks on placebo (same sources; R: survfit(...)).
    assert cohorts.loc["6-MP", "median_days"] == 23
    assert cohorts.loc["placebo", "median_days"] == 8
    assert cohorts.loc["6-MP", "ramped"] == 9 and cohorts.loc["placebo", "ramped"] == 21
    # The upper band of the 6-MP curve never falls to 0.5: that bound is not reached.
    assert cohorts.loc["6-MP", "ci_high"] is None
    assert cohorts.loc["6-MP", "ci_low"] <= 23
    assert cohorts.loc["placebo", "ci_low"] <= 8 <= cohorts.loc["placebo", "ci_high"]


def test_freireich_curve_is_product_limit_by_hand():
    km = km_from_durations(*_freireich(), alpha=0.05)
    six = km.curves[km.curves.cohort == "6-MP"].set_index("days")
    # Product-limit by hand: 21 at risk at week 6 (3 events), 17 at week 7 (1), 15 at 10 (1),
    # 12 at 13 (1), 11 at 16 (1), 7 at 22 (1), 6 at 23 (1).
    expected = np.cumprod([18 / 21, 16 / 17, 14 / 15, 11 / 12, 10 / 11, 6 / 7, 5 / 6])
    for week, value in zip([6, 7, 10, 13, 16, 22, 23], expected):
        assert six.loc[week, "survival"] == pytest.approx(value)
    assert six.loc[0, "survival"] == 1 and six.loc[0, "at_risk"] == 21
    assert six.loc[13, "at_risk"] == 12 and six.loc[23, "at_risk"] == 6
    assert (six["ci_low"] <= six["survival"]).all() and (six["survival"] <= six["ci_high"]).all()


def test_km_rejects_bad_input_and_handles_no_events():
    with pytest.raises(ValueError, match="same length"):
        km_from_durations([1, 2], [True], ["a", "a"], alpha=0.05)
    with pytest.raises(ValueError, match="not negative"):
        km_from_durations([-1], [True], ["a"], alpha=0.05)
    km = km_from_durations([30, 40, 50], [False, False, False], ["before", "after", "after"],
                           ("before", "after"), alpha=0.05)
    assert km.p_value is None and km.chi_square is None
    assert list(km.cohorts["median_days"]) == [None, None]
    assert (km.curves["survival"] == 1).all()


# -- tracked ramp dates ---------------------------------------------------------------------
LAUNCH = date(2024, 7, 1)


def _seed_tracked(store):
    store.execute("""
        INSERT INTO csms (csm_id, name, team, hire_date, end_date, ramped_on) VALUES
        ('b1', 'Bea', 'East', DATE '2023-01-01', NULL, DATE '2023-07-01'),
        ('b2', 'Bob', 'East', DATE '2023-03-01', NULL, DATE '2023-09-27'),
        ('b3', 'Bus', 'West', DATE '2023-06-01', DATE '2023-10-01', NULL),
        ('a1', 'Ann', 'East', DATE '2024-08-01', NULL, DATE '2024-11-08'),
        ('a2', 'Abe', 'West', DATE '2024-09-01', NULL, NULL),
        ('a3', 'Amy', 'West', DATE '2024-07-01', NULL, DATE '2024-10-01'),
        ('x1', 'Xan', 'West', NULL, NULL, NULL)
    """)
    # The data's last date: 2025-06-30.
    store.execute("INSERT INTO renewals VALUES ('r1', 'acc', 'a1', DATE '2025-06-30', "
                  "'renewed', NULL, NULL)")


def test_tracked_ramp_days(store):
    _seed_tracked(store)
    ramp = ramp_days(ctx(store, None), LAUNCH).set_index("csm_id")
    assert set(ramp.index) == {"b1", "b2", "b3", "a1", "a2", "a3"}  # x1 has no hire date
    assert (ramp["method"] == "ramped_on").all()
    assert ramp.loc["b1", "days"] == 181 and ramp.loc["b1", "ramped"]
    assert ramp.loc["b2", "days"] == 210
    # Not ramped: censored at the end date, or at the data's last date.
    assert not ramp.loc["b3", "ramped"] and ramp.loc["b3", "days"] == 122
    assert ramp.loc["b3", "censored_at"] == date(2023, 10, 1)
    assert ramp.loc["a2", "days"] == (date(2025, 6, 30) - date(2024, 9, 1)).days == 302
    assert ramp.loc["a3", "cohort"] == "after"  # hired on launch day
    assert ramp.loc["b1", "cohort"] == "before"
    assert pd.isna(ramp.loc["b1", "censored_at"])


def test_tracked_summary_medians_and_faster_pct(store):
    _seed_tracked(store)
    result = proficiency_summary(ctx(store, None), LAUNCH)
    cohorts = result.cohorts.set_index("cohort")
    # Before: 122 censored, 181 and 210 ramped -> S(181) = 1 - 1/2 = 0.5, the median.
    # After: 92 and 99 ramped, 302 censored -> S(92) = 2/3, S(99) = 1/3: median 99.
    assert cohorts.loc["before", "median_days"] == 181
    assert cohorts.loc["after", "median_days"] == 99
    assert cohorts.loc["before", "csms"] == 3 and cohorts.loc["before", "ramped"] == 2
    assert result.faster_pct == pytest.approx(1 - 99 / 181)
    # Three CSMs a side prove nothing: no claim, whatever the medians say.
    assert result.claim == Claim.NOT_ENOUGH_DATA
    assert result.verdict.startswith("Not enough CSMs to compare ramp times")
    assert "median 99 days" in result.verdict
    curves = km_curves(result.ramp, 0.05)
    pd.testing.assert_frame_equal(curves, result.curves)
    payload = proficiency_json(ctx(store, None), LAUNCH)
    json.dumps(payload, allow_nan=False)
    assert payload["launch_date"] == "2024-07-01" and payload["method"] == "ramped_on"
    assert [c["cohort"] for c in payload["cohorts"]] == ["before", "after"]
    assert payload["cohorts"][1]["median_days"] == 99
    assert payload["faster_pct"] == pytest.approx(1 - 99 / 181)
    assert payload["claim"] == "not_enough_data"
    assert payload["effect"]["estimate"] == pytest.approx(99 / 181)
    # b3 left on 2023-10-01 without ramping; a2 is still there, not ramped yet.
    assert [c["left_before_ramp"] for c in payload["cohorts"]] == [1, 0]


def test_team_filter_restricts_roster(store):
    _seed_tracked(store)
    ramp = ramp_days(ctx(store, Filters(team="West")), LAUNCH)
    assert set(ramp["csm_id"]) == {"b3", "a2", "a3"}


def test_all_censored_gives_no_median_and_no_nan(store):
    store.execute("""
        INSERT INTO csms (csm_id, hire_date, ramped_on) VALUES
        ('t0', DATE '2020-01-01', DATE '2020-05-01'),
        ('c1', DATE '2025-01-01', NULL), ('c2', DATE '2025-02-01', NULL),
        ('c3', DATE '2023-01-01', NULL)
    """)
    store.execute("INSERT INTO renewals VALUES ('r1', 'acc', 'c1', DATE '2025-06-30', "
                  "'renewed', NULL, NULL)")
    result = proficiency_summary(ctx(store, None), LAUNCH)
    cohorts = result.cohorts.set_index("cohort")
    assert cohorts.loc["after", "median_days"] is None
    assert result.faster_pct is None
    assert result.verdict.startswith("The median ramp of CSMs hired on or after launch is not "
                                     "known yet: only 0 of 2 have ramped")
    json.dumps(proficiency_json(ctx(store, None), LAUNCH), allow_nan=False)


def test_empty_store_and_one_csm(store):
    empty = proficiency_summary(ctx(store, None), LAUNCH)
    assert empty.ramp.empty and empty.curves.empty
    assert empty.method == "derived" and empty.target_rate is None
    assert empty.verdict.startswith("No ramp target")
    json.dumps(proficiency_json(ctx(store, None), LAUNCH), allow_nan=False)
    store.execute("INSERT INTO csms (csm_id, hire_date, ramped_on) VALUES "
                  "('solo', DATE '2024-08-01', DATE '2024-10-01')")
    one = proficiency_summary(ctx(store, None), LAUNCH)
    assert one.verdict.startswith("Not enough CSMs: 0 hired before launch and 1 on or after")
    assert one.p_value is None
    payload = proficiency_json(ctx(store, None), LAUNCH)
    json.dumps(payload, allow_nan=False)
    assert payload["cohorts"][1]["median_days"] == 61


def test_no_launch_date(store, monkeypatch):
    monkeypatch.setattr(proficiency, "resolve_launch", lambda store, launch: launch)
    result = proficiency_summary(ctx(store, None), None)
    assert result.verdict.startswith("No program launch date")
    assert proficiency_json(ctx(store, None))["launch_date"] is None


# -- derived ramp dates ---------------------------------------------------------------------
def _renewal_rows(csm, dated_outcomes):
    return [{"renewal_id": f"{csm}-{i}", "account_id": "acc", "csm_id": csm,
             "renewal_date": day, "outcome": outcome}
            for i, (day, outcome) in enumerate(dated_outcomes)]


def _monthly(csm, first: date, renewed: int, total: int):
    days = pd.date_range(first, periods=total, freq="7D").date
    return _renewal_rows(csm, [(d, "renewed" if i < renewed else "churned")
                               for i, d in enumerate(days)])


def _seed_derived(store):
    store.execute("""
        INSERT INTO csms (csm_id, name, hire_date, end_date) VALUES
        ('v1', 'Vet One', DATE '2020-01-01', NULL), ('v2', 'Vet Two', DATE '2020-01-01', NULL),
        ('v3', 'Vet Three', DATE '2020-01-01', NULL), ('v4', 'Newish', DATE '2023-06-01', NULL),
        ('n1', 'Nia', DATE '2024-01-01', NULL), ('n2', 'Ned', DATE '2024-02-01', DATE '2024-09-30'),
        ('n3', 'Noa', DATE '2024-03-15', NULL)
    """)
    rows = (_monthly("v1", date(2023, 12, 1), 8, 10) + _monthly("v2", date(2023, 12, 1), 9, 10)
            + _monthly("v3", date(2023, 12, 1), 7, 10)
            # v4 has not passed a year of tenure in these renewals: not a veteran.
            + _monthly("v4", date(2024, 1, 1), 0, 10))
    d = date
    rows += _renewal_rows("n1", [
        # 90 days before 2024-04-15: outside the trailing window that ends on 2024-04-15.
        (d(2024, 1, 16), "churned"), (d(2024, 1, 20), "churned"), (d(2024, 2, 1), "renewed"),
        (d(2024, 2, 10), "renewed"), (d(2024, 3, 1), "renewed"), (d(2024, 3, 20), "renewed"),
        (d(2024, 4, 15), "renewed")])
    rows += _renewal_rows("n2", [(d(2024, 3, 1) + pd.Timedelta(days=10 * i).to_pytimedelta(),
                                  "renewed" if i % 2 else "churned") for i in range(12)])
    rows += _renewal_rows("n3", [
        (d(2024, 3, 1), "renewed"),  # before the hire date: ignored
        (d(2024, 4, 1), "renewed"), (d(2024, 4, 5), "renewed"), (d(2024, 4, 10), "renewed"),
        (d(2024, 4, 20), "renewed"), (d(2024, 5, 1), "renewed")])
    frame = pd.DataFrame(rows)
    store.register("new_renewals", frame)
    store.execute("INSERT INTO renewals (renewal_id, account_id, csm_id, renewal_date, outcome) "
                  "SELECT renewal_id, account_id, csm_id, renewal_date, outcome FROM new_renewals")
    store.unregister("new_renewals")
    # A run sets the data's last date to 2024-12-31.
    store.execute("INSERT INTO playbook_runs (run_id, scenario, account_id, opened_on) VALUES "
                  "('run1', 'renewal', 'acc', DATE '2024-12-31')")


def test_veteran_target(store):
    _seed_derived(store)
    veterans = veteran_rates(ctx(store))
    assert list(veterans["csm_id"]) == ["v1", "v2", "v3"]
    assert list(veterans["rate"]) == pytest.approx([0.8, 0.9, 0.7])
    assert proficiency_summary(ctx(store, None), date(2024, 3, 1)).target_rate == pytest.approx(0.8)


def test_derived_ramp_dates_by_hand(store):
    _seed_derived(store)
    last_five = ctx(store, None, ramp_last_renewals=5)
    ramp = ramp_days(last_five, date(2024, 3, 1)).set_index("csm_id")
    # Veterans were hired before the renewal data begins (2023-12-01): their ramp is unseen.
    assert set(ramp.index) == {"n1", "n2", "n3"}
    assert (ramp["method"] == "derived").all()
    # Volumes since hire up to the last day (2024-12-31) or leaving: n1 7 renewals in 365
    # days, n2 12 in 242, n3 5 in 291 (its 03-01 renewal predates the hire). Each has the five
    # renewals a window needs; the common volume is the smallest, n3's.
    volume = {"n1": 7 / 365, "n2": 12 / 242, "n3": 5 / 291}
    common = 5 / 291
    keep = {c: min(1.0, common / v) for c, v in volume.items()}
    assert keep["n3"] == 1.0 and keep["n2"] == pytest.approx(0.3465, abs=1e-4)
    renewals = store.query("SELECT renewal_id, csm_id, renewal_date, outcome, "
                           "cast(hash(renewal_id) % 4294967296 AS DOUBLE) / 4294967296 AS u "
                           "FROM renewals WHERE csm_id IN ('n1', 'n2', 'n3') "
                           "ORDER BY csm_id, renewal_date, renewal_id")
    hires = {"n1": date(2024, 1, 1), "n2": date(2024, 2, 1), "n3": date(2024, 3, 15)}
    for csm, rows in renewals.groupby("csm_id"):
        # Plain loop: keep a renewal when its lottery number is under the CSM's keep share,
        # then the first five kept in a row with a rate >= 0.8 (target: the veterans' median).
        window, expected = [], None
        for row in rows.itertuples():
            if row.renewal_date.date() < hires[csm] or row.u >= keep[csm]:
                continue
            window = (window + [row.outcome == "renewed"])[-5:]
            if len(window) == 5 and sum(window) / 5 >= 0.8:
                expected = row.renewal_date.date()
                break
        assert ramp.loc[csm, "ramped_on"] == expected, csm
    # n3 keeps every renewal: the fifth since hire, all renewed, on 2024-05-01.
    assert ramp.loc["n3", "ramped_on"] == date(2024, 5, 1) and ramp.loc["n3", "days"] == 47
    # n2 renews every other deal (0.5), never ramps, and left on 2024-09-30.
    assert not ramp.loc["n2", "ramped"] and ramp.loc["n2", "days"] == 242
    assert ramp.loc["n1", "cohort"] == "before" and ramp.loc["n3", "cohort"] == "after"
    result = proficiency_summary(last_five, date(2024, 3, 1))
    assert result.method == "derived"
    assert result.cohorts.set_index("cohort").loc["after", "median_days"] == 47


def test_derived_last_renewals_is_a_setting(store):
    _seed_derived(store)
    # n3 has five renewals since hire: a window of six is never filled.
    ramp = ramp_days(ctx(store, None, ramp_last_renewals=6), date(2024, 3, 1)).set_index(
        "csm_id")
    assert not ramp.loc["n3", "ramped"]


def test_recovers_planted_ramp_on_demo(demo_store):
    from analysis.demo import PLANTED
    store = demo_store
    result = proficiency_summary(ctx(store, None), LAUNCH)
    assert result.method == "ramped_on"
    assert 0.35 <= result.faster_pct <= 0.55
    assert result.p_value < 0.05
    cohorts = result.cohorts.set_index("cohort")
    for cohort in ("before", "after"):
        planted = PLANTED[f"ramp_median_{cohort}_days"]
        assert cohorts.loc[cohort, "ci_low"] <= planted <= cohorts.loc[cohort, "ci_high"]
        assert cohorts.loc[cohort, "ramped"] == PLANTED[f"ramp_csms_{cohort}"]
    assert result.verdict.startswith("New hires ramp")
    json.dumps(proficiency_json(ctx(store, None), LAUNCH), allow_nan=False)


def test_median_at_exactly_one_half():
    # 74 ramps on days 1..74: S(37) = 37/74 = 0.5 exactly, so the median is day 37 however
    # the product of (1 − d/n) rounds.
    km = km_from_durations(range(1, 75), [True] * 74, ["c"] * 74, alpha=0.05)
    assert km.cohorts.loc[0, "median_days"] == 37

import json
import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analysis.metrics import consistency
from analysis.metrics.consistency import (bootstrap_sd_ratio, consistency_json, consistency_summary,
                                  csm_renewal_rates)
from analysis.filters import Filters
from analysis.metrics.claims import Claim
from tests.builders import ctx

LAUNCH = date(2024, 7, 1)

# (csm, team, renewed, decided) per window; c5 has too few renewals before launch to count.
BEFORE = [("c1", "East", 8, 10), ("c2", "East", 13, 20), ("c3", "West", 19, 20),
          ("c4", "West", 7, 10), ("c5", "West", 4, 5)]
AFTER = [("c1", "East", 17, 20), ("c2", "East", 9, 10), ("c3", "West", 16, 20),
         ("c4", "West", 11, 13), ("c5", "West", 12, 14)]


def _rows(csm, renewed, decided, first_day):
    return [{"renewal_id": f"{csm}-{first_day}-{i}", "account_id": "a1", "csm_id": csm,
             "renewal_date": first_day + timedelta(days=i),
             "outcome": "renewed" if i < renewed else "churned"}
            for i in range(decided)]


def _insert(store, rows):
    frame = pd.DataFrame(rows)
    store.register("new_renewals", frame)
    store.execute("INSERT INTO renewals (renewal_id, account_id, csm_id, renewal_date, outcome) "
                  "SELECT renewal_id, account_id, csm_id, renewal_date, outcome FROM new_renewals")
    store.unregister("new_renewals")


def _seed(store):
    store.execute("INSERT INTO csms (csm_id, name, team) VALUES ('c1', 'Ada', 'East'), "
                  "('c2', 'Bo', 'East'), ('c3', 'Cy', 'West'), ('c4', 'Di', 'West'), "
                  "('c5', 'Ed', 'West')")
    rows = []
    for csm, _, k, n in BEFORE:
        rows += _rows(csm, k, n, date(2023, 8, 1))
    for csm, _, k, n in AFTER:
        rows += _rows(csm, k, n, date(2024, 9, 1))
    # Outside both windows, or without a CSM: never counted.
    rows += [{"renewal_id": "old", "account_id": "a1", "csm_id": "c1",
              "renewal_date": date(2023, 6, 30), "outcome": "churned"},
             {"renewal_id": "late", "account_id": "a1", "csm_id": "c1",
              "renewal_date": date(2025, 7, 1), "outcome": "churned"},
             {"renewal_id": "nobody", "account_id": "a1", "csm_id": None,
              "renewal_date": date(2024, 1, 5), "outcome": "churned"}]
    _insert(store, rows)


def _expected_rates(spec, team=None):
    return np.array([k / n for _, t, k, n in spec if n >= 10 and team in (None, t)])


def test_per_csm_rates_windows_and_wilson(store):
    _seed(store)
    rates = csm_renewal_rates(ctx(store, None), LAUNCH)
    assert list(rates.columns) == ["csm_id", "name", "period", "n", "renewed", "rate", "ci_low",
                                   "ci_high", "counted"]
    before = rates[rates.period == "before"].set_index("csm_id")
    after = rates[rates.period == "after"].set_index("csm_id")
    # The 2023-06-30 and 2025-07-01 churns fall outside the windows.
    assert before.loc["c1", "n"] == 10 and before.loc["c1", "renewed"] == 8
    assert after.loc["c1", "n"] == 20 and after.loc["c1", "renewed"] == 17
    assert before.loc["c1", "name"] == "Ada"
    assert not before.loc["c5", "counted"] and before.loc["c4", "counted"]
    assert after.loc["c5", "counted"]
    # Wilson score interval for 8/10 by its formula: (p + z²/2n ± z√(p(1−p)/n + z²/4n²)) / (1 + z²/n).
    z, p, n = sps.norm.ppf(0.975), 0.8, 10
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert before.loc["c1", "ci_low"] == pytest.approx((centre - half) / (1 + z * z / n))
    assert before.loc["c1", "ci_high"] == pytest.approx((centre + half) / (1 + z * z / n))
    assert before.loc["c1", "ci_low"] == pytest.approx(0.4902, abs=1e-4)


def test_spread_figures_equal_numpy_on_known_rates(store):
    _seed(store)
    result = consistency_summary(ctx(store, None), LAUNCH)
    spread = result.spread.set_index("period")
    for period, spec in (("before", BEFORE), ("after", AFTER)):
        rates = _expected_rates(spec)
        row = spread.loc[period]
        assert row["csms"] == len(rates)
        assert row["min"] == pytest.approx(rates.min())
        assert row["max"] == pytest.approx(rates.max())
        assert row["range"] == pytest.approx(rates.max() - rates.min())
        q1, q3 = np.percentile(rates, [25, 75])
        assert row["iqr"] == pytest.approx(q3 - q1)
        assert row["sd"] == pytest.approx(np.std(rates, ddof=1))
        # Noise SD by hand: pooled rate over counted CSMs, then sqrt(mean p(1-p)/n_i).
        ks = np.array([k for _, _, k, n in spec if n >= 10])
        ns = np.array([n for _, _, k, n in spec if n >= 10])
        pooled = ks.sum() / ns.sum()
        noise = math.sqrt(np.mean(pooled * (1 - pooled) / ns))
        assert row["noise_sd"] == pytest.approx(noise)
        assert row["excess_sd"] == pytest.approx(math.sqrt(max(row["sd"] ** 2 - noise ** 2, 0)))
    # Before: 0.8, 0.65, 0.95, 0.7 -> range 0.30, IQR = 0.8375 - 0.6875 = 0.15.
    assert spread.loc["before", "range"] == pytest.approx(0.30)
    assert spread.loc["before", "iqr"] == pytest.approx(0.15)
    assert result.sd_ratio == pytest.approx(spread.loc["after", "sd"] / spread.loc["before", "sd"])


def test_brown_forsythe_is_levene_median(store):
    _seed(store)
    result = consistency_summary(ctx(store, None), LAUNCH)
    expected = sps.levene(_expected_rates(BEFORE), _expected_rates(AFTER), center="median")
    assert result.p_value == pytest.approx(expected.pvalue)


def test_bootstrap_interval_contains_estimate_and_repeats(store):
    _seed(store)
    first = consistency_summary(ctx(store, None), LAUNCH)
    second = consistency_summary(ctx(store, None), LAUNCH)
    assert first.sd_ratio_ci_low <= first.sd_ratio <= first.sd_ratio_ci_high
    assert (first.sd_ratio_ci_low, first.sd_ratio_ci_high) == \
        (second.sd_ratio_ci_low, second.sd_ratio_ci_high)
    other_seed = bootstrap_sd_ratio(_expected_rates(BEFORE), _expected_rates(AFTER),
                                    samples=2000, seed=1, alpha=0.05)
    assert other_seed != (first.sd_ratio_ci_low, first.sd_ratio_ci_high)


def test_bootstrap_is_percentile_of_resampled_ratios():
    # Independent loop implementation of the same resampling scheme and random stream.
    before, after = np.array([0.6, 0.7, 0.9, 0.95]), np.array([0.8, 0.82, 0.85, 0.9])
    rng = np.random.default_rng(7)
    b_idx = rng.integers(0, 4, (500, 4))
    a_idx = rng.integers(0, 4, (500, 4))
    ratios = []
    for a, b in zip(a_idx, b_idx):
        sd_a, sd_b = np.std(after[a], ddof=1), np.std(before[b], ddof=1)
        # Degenerate resamples stay in: x / 0 is +inf, 0 / 0 is 1 (no spread either side).
        if sd_b < 1e-9:
            ratios.append(1.0 if sd_a < 1e-9 else math.inf)
        else:
            ratios.append(sd_a / sd_b)
    ratios = sorted(ratios)
    # Percentile as the order statistic at ceil(q·B) (inverse of the empirical CDF).
    expected = (ratios[math.ceil(0.025 * 500) - 1], ratios[math.ceil(0.975 * 500) - 1])
    assert bootstrap_sd_ratio(before, after, samples=500, seed=7, alpha=0.05) == \
        pytest.approx(expected)


def test_bootstrap_keeps_near_zero_sd_resamples_unbounded():
    # Three CSMs, two with the same rate: resamples drawing only those have an SD of ~1e-17,
    # not 0. Kept as ratios of +inf, they leave the upper bound open (None), never 2e14.
    before = np.array([0.1 + 0.2, 0.3, 0.9])
    after = np.array([0.5, 0.6, 0.7])
    low, high = bootstrap_sd_ratio(before, after, samples=4000, seed=3, alpha=0.05)
    assert high is None or high < 1e3
    assert low is not None and low < 1


def test_team_filter_restricts_csms(store):
    _seed(store)
    result = consistency_summary(ctx(store, Filters(team="West")), LAUNCH)
    assert set(result.rates["csm_id"]) == {"c3", "c4", "c5"}
    spread = result.spread.set_index("period")
    assert spread.loc["before", "csms"] == 2  # c5 has 5 renewals: not counted
    assert result.sd_ratio is None and result.p_value is None
    assert result.verdict.startswith("Not enough CSMs: 2 before and 3 after")


def test_period_filter_does_not_move_windows(store):
    _seed(store)
    narrow = consistency_summary(ctx(store, Filters(date_from=date(2024, 7, 1))), LAUNCH)
    whole = consistency_summary(ctx(store, None), LAUNCH)
    pd.testing.assert_frame_equal(narrow.spread, whole.spread)


def test_verdict_follows_the_claim_and_few_csms_claim_nothing(store):
    # Four and five counted CSMs: whatever the SD ratio's interval says, too few for a claim.
    _seed(store)
    result = consistency_summary(ctx(store, None), LAUNCH)
    assert result.claim == Claim.NOT_ENOUGH_DATA
    assert result.verdict.startswith("Not enough CSMs to judge the spread: 4 before and 5 after")
    sd_before = 100 * np.std(_expected_rates(BEFORE), ddof=1)
    assert f"from {sd_before:.1f}" in result.verdict
    payload = consistency_json(ctx(store, None), LAUNCH)
    assert payload["claim"] == "not_enough_data"
    assert payload["effect"]["method"] == "dl_tau_ratio_bootstrap"


def test_clear_narrowing_and_noise_verdict(store):
    # Ten CSMs spread 55..100% before; after, every CSM at 85–86%: narrower, and what is left
    # is smaller than binomial noise on 100 renewals each.
    store.execute("INSERT INTO csms (csm_id) SELECT 'k' || i FROM range(10) t(i)")
    rows = []
    for i in range(10):
        rows += _rows(f"k{i}", 55 + 5 * i, 100, date(2023, 7, 10))
        rows += _rows(f"k{i}", 85 + i % 2, 100, date(2024, 7, 10))
    _insert(store, rows)
    result = consistency_summary(ctx(store, None), LAUNCH)
    assert result.sd_ratio_ci_high < 1
    assert result.claim == Claim.NARROWER and result.effect.ci_high < 1
    assert result.verdict.startswith("Narrower: SD fell from")
    assert "range 55–100% before, 85–86% after" in result.verdict
    assert "Most of the remaining spread is what chance alone produces" in result.verdict


def test_empty_store_and_one_csm(store):
    empty = consistency_summary(ctx(store, None), LAUNCH)
    assert empty.rates.empty and list(empty.spread["csms"]) == [0, 0]
    assert empty.verdict.startswith("Not enough CSMs: 0 before and 0 after")
    payload = consistency_json(ctx(store, None), LAUNCH)
    json.dumps(payload, allow_nan=False)
    assert payload["before"]["sd"] is None and payload["sd_ratio"] is None
    _insert(store, _rows("solo", 9, 12, date(2024, 1, 1)) + _rows("solo", 10, 12, date(2025, 1, 1)))
    one = consistency_summary(ctx(store, None), LAUNCH)
    spread = one.spread.set_index("period")
    assert spread.loc["before", "csms"] == 1 and pd.isna(spread.loc["before", "sd"])
    assert spread.loc["before", "min"] == pytest.approx(0.75)
    assert one.rates.loc[0, "name"] == "solo"  # not on the roster: the id stands in
    json.dumps(consistency_json(ctx(store, None), LAUNCH), allow_nan=False)


def test_no_launch_date(store, monkeypatch):
    monkeypatch.setattr(consistency, "resolve_launch", lambda store, launch: launch)
    result = consistency_summary(ctx(store, None), None)
    assert result.launch_date is None and result.rates.empty
    assert result.verdict.startswith("No program launch date")
    assert consistency_json(ctx(store, None))["launch_date"] is None


def test_json_keys_and_values(store):
    _seed(store)
    payload = consistency_json(ctx(store, None), LAUNCH)
    json.dumps(payload, allow_nan=False)
    for key in ("metric", "launch_date", "before", "after", "sd_ratio", "sd_ratio_ci_low",
                "sd_ratio_ci_high", "p_value", "verdict", "effect", "claim"):
        assert key in payload
    assert payload["metric"] == "renewal_rate" and payload["launch_date"] == "2024-07-01"
    assert set(payload["before"]) >= {"csms", "min", "max", "range", "iqr", "sd"}
    assert payload["before"]["csms"] == 4
    assert payload["after"]["sd"] == pytest.approx(np.std(_expected_rates(AFTER), ddof=1))


def test_recovers_planted_narrowing_on_demo(demo_store):
    from analysis.demo import PLANTED
    store = demo_store
    result = consistency_summary(ctx(store, None), LAUNCH)
    assert result.sd_ratio < PLANTED["sd_ratio_max"]
    assert result.sd_ratio_ci_low <= result.sd_ratio <= result.sd_ratio_ci_high < 1
    # The claim rests on the spread beyond binomial noise (tau), not on raw rates.
    assert result.claim == Claim.NARROWER and result.effect.ci_high < 1
    assert result.verdict.startswith("Narrower")
    spread = result.spread.set_index("period")
    # The planted per-CSM ranges are true rates; observed ones carry binomial noise.
    low, high = PLANTED["csm_renewal_range_after"]
    assert low - 0.05 <= spread.loc["after", "min"] and spread.loc["after", "max"] <= high + 0.05
    assert spread.loc["after", "range"] < spread.loc["before", "range"]
    json.dumps(consistency_json(ctx(store, None), LAUNCH), allow_nan=False)

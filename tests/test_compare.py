"""The one comparison of two proportions: published reference values, the coherence of a claim
with the p-value beside it, the minimum n, and sizing at any base rate."""
import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from analysis.metrics import stats
from analysis.metrics.claims import Claim, Effect
from analysis.metrics.compare import (EFFECT_COLUMNS, Comparison, compare_proportions, decide,
                                      direction, effect_columns, effect_of_row, thresholds)
from analysis.settings import Settings

SETTINGS = dict(alpha=0.05, lift=0.10, small_cell=5, min_n=20)


# -- reference values -------------------------------------------------------------------------
@pytest.mark.parametrize("k, n, low, high", [
    # Newcombe (1998), Stat Med 17:857-872, Table I, method 3 (Wilson score, no continuity
    # correction).
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718)])
def test_wilson_sides_match_newcombe_1998_table_1(k, n, low, high):
    cmp = compare_proportions(k, n, 10, 20, **SETTINGS)
    assert (cmp.a.n, cmp.a.successes, cmp.a.rate) == (n, k, k / n)
    assert round(cmp.a.ci_low, 4) == low and round(cmp.a.ci_high, 4) == high


@pytest.mark.parametrize("s1, n1, s2, n2, low, high", [
    # Newcombe (1998), Stat Med 17:873-890, Table II, method 10 (hybrid score interval of the
    # difference), examples (a)-(h). (a) is 0.8 − 0.6 = 0.2000.
    (56, 70, 48, 80, 0.0524, 0.3339), (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062), (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775), (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000), (10, 10, 0, 10, 0.6075, 1.0000)])
def test_difference_matches_newcombe_1998_table_2(s1, n1, s2, n2, low, high):
    cmp = compare_proportions(s1, n1, s2, n2, **SETTINGS)
    assert cmp.diff == pytest.approx(s1 / n1 - s2 / n2)
    assert round(cmp.diff_ci_low, 4) == low and round(cmp.diff_ci_high, 4) == high


def test_fisher_exact_on_small_tables_matches_r():
    # R: fisher.test(matrix(c(3, 1, 1, 3), nrow = 2))$p.value = 0.4857 (the tea-tasting table
    # of R's ?fisher.test, two-sided). Expected cells are 2 < small_cell, so Fisher is used.
    cmp = compare_proportions(3, 4, 1, 4, **SETTINGS)
    assert cmp.test == "fisher_exact"
    assert round(cmp.p_value, 4) == 0.4857


def test_z_test_on_large_tables_is_pearsons_chi_square():
    # The pooled two-proportion z-test is Pearson's chi-square without continuity correction
    # (R: prop.test(c(500, 350), c(1000, 1000), correct = FALSE)).
    cmp = compare_proportions(500, 1000, 350, 1000, **SETTINGS)
    table = [[500, 500], [350, 650]]
    reference = sps.chi2_contingency(table, correction=False)[1]
    assert cmp.test == "z_test"
    assert cmp.p_value == pytest.approx(reference, rel=1e-9)


def test_alpha_sets_every_interval():
    wide = compare_proportions(56, 70, 48, 80, **{**SETTINGS, "alpha": 0.01})
    narrow = compare_proportions(56, 70, 48, 80, **SETTINGS)
    assert wide.diff_ci_low < narrow.diff_ci_low and wide.diff_ci_high > narrow.diff_ci_high
    assert wide.a.ci_low < narrow.a.ci_low and wide.alpha == 0.01
    _, low, high = stats.newcombe_diff(56, 70, 48, 80, 0.01)
    assert (wide.diff_ci_low, wide.diff_ci_high) == (low, high)


# -- the claim --------------------------------------------------------------------------------
def test_directional_claims_on_large_samples():
    up = compare_proportions(500, 1000, 350, 1000, **SETTINGS)
    down = compare_proportions(350, 1000, 500, 1000, **SETTINGS)
    assert up.claim is Claim.IMPROVED and up.more_needed is None
    assert down.claim is Claim.WORSE and down.more_needed is None


def test_no_directional_claim_beside_a_p_value_at_or_above_alpha():
    """Every small table of a grid: a directional claim only when its interval excludes 0 in
    the claim's direction and the p shown beside it is below alpha."""
    sizes = (4, 7, 10, 15, 20)
    held_back = 0
    for n_a in sizes:
        for n_b in sizes:
            for s_a in range(n_a + 1):
                for s_b in range(n_b + 1):
                    cmp = compare_proportions(s_a, n_a, s_b, n_b, **{**SETTINGS, "min_n": 0})
                    if cmp.claim.is_directional:
                        assert cmp.p_value < 0.05, (s_a, n_a, s_b, n_b)
                        assert (cmp.diff_ci_low > 0 if cmp.claim is Claim.IMPROVED
                                else cmp.diff_ci_high < 0), (s_a, n_a, s_b, n_b)
                    held_back += cmp.excludes_zero and not cmp.claim.is_directional
    # The rule bites: Newcombe alone would have claimed on these tables (the issue's
    # "Improved" next to Fisher's p = 0.17 is one kind).
    assert held_back > 0


def test_an_interval_clear_of_zero_beside_fishers_p_is_no_claim():
    # 0/4 vs 3/4: the Newcombe interval lies below 0, but Fisher's p = 1/7 = 0.143.
    cmp = compare_proportions(0, 4, 3, 4, **{**SETTINGS, "min_n": 0})
    assert cmp.diff_ci_high < 0 and cmp.test == "fisher_exact"
    assert cmp.p_value == pytest.approx(1 / 7)
    assert cmp.claim is Claim.NOT_ENOUGH_DATA and cmp.more_needed > 0


def test_direction_needs_both_halves_of_the_rule():
    assert direction(0.01, 0.2, 0.01, 0.05) is Claim.IMPROVED
    assert direction(-0.2, -0.01, 0.01, 0.05) is Claim.WORSE
    assert direction(0.01, 0.2, 0.05, 0.05) is None     # p not below alpha
    assert direction(-0.01, 0.2, 0.001, 0.05) is None   # interval holds 0
    assert direction(0.01, 0.2, None, 0.05) is None     # no test, no claim


def test_a_side_below_the_minimum_makes_no_claim():
    few = compare_proportions(10, 10, 0, 10, **SETTINGS)
    assert few.diff_ci_low > 0 and few.p_value < 0.001
    assert few.claim is Claim.NOT_ENOUGH_DATA and few.more_needed >= 20
    enough = compare_proportions(10, 10, 0, 10, **{**SETTINGS, "min_n": 10})
    assert enough.claim is Claim.IMPROVED


def test_thresholds_come_from_the_request_settings_not_the_environment(monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_MIN_OUTCOMES_PER_SIDE", "5")
    assert compare_proportions(10, 10, 0, 10, **thresholds(Settings())).min_n == 30
    resolved = Settings.resolve()
    assert compare_proportions(10, 10, 0, 10, **thresholds(resolved)).claim is Claim.IMPROVED
    assert thresholds(resolved) == {"alpha": 0.05, "lift": 0.1, "small_cell": 5, "min_n": 5}


def test_an_empty_side():
    cmp = compare_proportions(5, 8, 0, 0, **SETTINGS)
    assert cmp.b.rate is None and cmp.diff is None and cmp.p_value is None
    assert cmp.claim is Claim.NOT_ENOUGH_DATA and cmp.more_needed > 0
    assert cmp.effect == Effect("newcombe_difference")


# -- sizing -----------------------------------------------------------------------------------
def _fleiss(p0: float, p1: float, alpha=0.05, power=0.8) -> float:
    """Fleiss, Statistical Methods for Rates and Proportions (1981), eq. 3.14 without the
    continuity correction, written out independently of stats.py."""
    z_a, z_b = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(power)
    pbar = (p0 + p1) / 2
    return ((z_a * math.sqrt(2 * pbar * (1 - pbar))
             + z_b * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1))) / (p1 - p0)) ** 2


@pytest.mark.parametrize("base, targets, expected", [
    (0.5, (0.6, 0.4), 388),    # both directions exist and need the same n
    (0.3, (0.4, 0.2), 356),    # the rise towards 0.5 needs more than the fall
    (0.7, (0.8, 0.6), 356),    # the fall towards 0.5 needs more: sized for it
    (0.9, (0.8,), 199),        # a rise to 100% does not exist: sized for the fall
    (0.985, (0.885,), 95),     # not for a "rise" to the 99% cap (a 0.5-point change)
])
def test_sizing_at_any_base_rate(base, targets, expected):
    reference = math.ceil(max(_fleiss(base, t) for t in targets))
    assert reference == expected
    assert stats.n_per_group_for_lift(base, 0.10, 0.05) == expected


def test_the_issue_case_197_of_200_vs_198_of_200_is_no_clear_change():
    # Issue 15: this asked for 15,100 more outcomes although the interval rules out 10 points.
    cmp = compare_proportions(198, 200, 197, 200, **SETTINGS)
    assert -0.1 < cmp.diff_ci_low and cmp.diff_ci_high < 0.1
    assert cmp.claim is Claim.NO_CLEAR_CHANGE and cmp.more_needed == 0


@pytest.mark.parametrize("base_n, base_s, n, s, claim", [
    (400, 200, 400, 205, Claim.NO_CLEAR_CHANGE),   # 0.5: 400 per side ≥ 388
    (100, 50, 100, 52, Claim.NOT_ENOUGH_DATA),     # 0.5: 288 + 288 short
    (200, 180, 200, 182, Claim.NO_CLEAR_CHANGE),   # 0.9: 200 ≥ 199
    (60, 54, 60, 55, Claim.NOT_ENOUGH_DATA),       # 0.9: interval wider than ±10 points
    (200, 197, 200, 198, Claim.NO_CLEAR_CHANGE),   # 0.985: 200 ≥ 95
    (40, 39, 40, 39, Claim.NOT_ENOUGH_DATA),       # 0.975: 40 < 95 and interval ±10+ points
])
def test_sizing_claims_at_base_rates_half_nine_tenths_and_98_5(base_n, base_s, n, s, claim):
    cmp = compare_proportions(s, n, base_s, base_n, **SETTINGS)
    assert cmp.claim is claim
    if claim is Claim.NOT_ENOUGH_DATA:
        needed = stats.n_per_group_for_lift(base_s / base_n, 0.10, 0.05)
        assert cmp.more_needed == max(needed - n, 0) + max(needed - base_n, 0)
    else:
        assert cmp.more_needed == 0


def test_more_needed_is_zero_once_the_interval_rules_out_the_lift():
    assert stats.more_needed(0.5, 100, 100, 0.10, 0.05) == 576
    assert stats.more_needed(0.5, 100, 100, 0.10, 0.05, interval=(-0.09, 0.08)) == 0
    assert stats.more_needed(0.5, 100, 100, 0.10, 0.05, interval=(-0.09, 0.11)) == 576
    # ... but never below the minimum per side.
    assert stats.more_needed(0.5, 10, 30, 0.10, 0.05, interval=(-0.09, 0.08), min_n=20) == 10


def test_decide_returns_the_claim_and_what_is_missing():
    args = dict(n_a=500, n_b=500, base_rate=0.5, alpha=0.05, lift=0.1, min_n=20)
    assert decide(0.05, 0.15, 0.001, **args) == (Claim.IMPROVED, None)
    assert decide(-0.05, 0.05, 0.9, **args) == (Claim.NO_CLEAR_CHANGE, 0)
    assert decide(-0.05, 0.05, 0.9, **{**args, "n_a": 50, "n_b": 50}) == (Claim.NO_CLEAR_CHANGE, 0)
    claim, missing = decide(-0.15, 0.15, 0.9, **{**args, "n_a": 50, "n_b": 50})
    assert claim is Claim.NOT_ENOUGH_DATA and missing == 2 * (388 - 50)


# -- shape ------------------------------------------------------------------------------------
def test_effect_and_row_are_json_ready():
    cmp = compare_proportions(56, 70, 48, 80, **SETTINGS)
    assert isinstance(cmp, Comparison)
    assert cmp.effect == Effect("newcombe_difference", cmp.diff, cmp.diff_ci_low,
                                cmp.diff_ci_high, cmp.p_value, None)
    row = cmp.as_dict()
    json.dumps(row, allow_nan=False)
    assert row["a_n"] == 70 and row["b_successes"] == 48 and row["claim"] == "improved"
    assert row["effect"]["method"] == "newcombe_difference"
    columns = effect_columns(cmp.effect)
    assert tuple(columns) == EFFECT_COLUMNS
    assert effect_of_row(columns) == cmp.effect
    assert effect_of_row({**columns, "effect_estimate": np.nan}).estimate is None
    with pytest.raises(AttributeError):
        cmp.claim = Claim.WORSE  # frozen

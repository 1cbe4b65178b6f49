"""Wilson intervals: the scalar and vectorised forms against statsmodels and a published value."""
import math

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.metrics import stats


def test_wilson_published_reference():
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I example: 81 of 263 gives the
    # Wilson 95% interval 0.2553 to 0.3662.
    p = stats.wilson(81, 263, alpha=0.05)
    assert (p.n, p.successes) == (263, 81)
    assert p.rate == pytest.approx(81 / 263)
    assert round(p.ci_low, 4) == 0.2553
    assert round(p.ci_high, 4) == 0.3662


def test_wilson_arrays_match_statsmodels_and_scalar():
    rng = np.random.default_rng(7)
    n = np.concatenate([[1, 2, 5, 263, 10_000], rng.integers(1, 5_000, 200)])
    k = np.concatenate([[0, 2, 3, 81, 9_999], [rng.integers(0, m + 1) for m in n[5:]]])
    for alpha in (0.05, 0.1, 0.01):
        rate, low, high = stats.wilson_arrays(k, n, alpha)
        ref_low, ref_high = proportion_confint(k, n, alpha=alpha, method="wilson")
        np.testing.assert_allclose(rate, k / n, rtol=0, atol=1e-15)
        np.testing.assert_allclose(low, ref_low, rtol=0, atol=1e-12)
        np.testing.assert_allclose(high, ref_high, rtol=0, atol=1e-12)
        for i in range(0, len(n), 23):
            single = stats.wilson(k[i], n[i], alpha)
            assert single.ci_low == pytest.approx(ref_low[i], abs=1e-12)
            assert single.ci_high == pytest.approx(ref_high[i], abs=1e-12)


def test_wilson_arrays_edges():
    rate, low, high = stats.wilson_arrays([0, 4, 0], [4, 4, 0], 0.05)
    # All-failure and all-success samples touch 0 and 1; an empty sample has no rate.
    assert (rate[0], low[0]) == (0.0, 0.0)
    assert (rate[1], high[1]) == (1.0, 1.0)
    # 0 of 4: upper bound z²/(n+z²) with z = 1.959963984540054 (closed form at k = 0).
    z2 = 1.959963984540054 ** 2
    assert high[0] == pytest.approx(z2 / (4 + z2), abs=1e-12)
    assert np.isnan(rate[2]) and np.isnan(low[2]) and np.isnan(high[2])
    assert stats.wilson(0, 0, 0.05) == stats.Proportion(0, 0, None, None, None)
    empty = stats.wilson_arrays([], [], 0.05)
    assert all(len(a) == 0 for a in empty)
    with pytest.raises(ValueError):
        stats.wilson_arrays([5], [4], 0.05)
    with pytest.raises(ValueError):
        stats.wilson(-1, 4, 0.05)


@pytest.mark.parametrize("alpha, label", [
    (0.05, "95%"), (0.1, "90%"), (0.01, "99%"), (0.005, "99.5%"), (0.001, "99.9%"),
    (0.025, "97.5%"), (0.2, "80%"),
])
def test_confidence_label_names_the_level(alpha, label):
    assert stats.confidence_label(alpha) == label


def test_statistics_take_alpha_explicitly_and_never_read_the_environment(monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_ALPHA", "0.1")
    assert stats.confidence_label(0.05) == "95%"
    assert stats.wilson(81, 263, 0.05) == stats.wilson(81, 263, alpha=0.05)
    with pytest.raises(TypeError):
        stats.confidence_label()  # no hidden default: the caller says which level


@pytest.mark.parametrize("alpha", [0, 1, -0.05, 1.5])
def test_confidence_label_refuses_an_alpha_outside_0_1(alpha):
    with pytest.raises(ValueError, match="between 0 and 1"):
        stats.confidence_label(alpha)


def test_more_needed_adds_each_groups_shortfall():
    from analysis.metrics.stats import more_needed, n_per_group_for_lift
    needed = n_per_group_for_lift(0.5, 0.10, 0.05)
    # Fleiss' formula at p0 = 0.5, p1 = 0.6, alpha 0.05, power 0.8 gives 388 per group.
    assert needed == 388
    assert more_needed(0.5, 100, 300, 0.10, 0.05) == (388 - 100) + (388 - 300)
    assert more_needed(0.5, 500, 300, 0.10, 0.05) == 88  # a group with enough adds nothing
    assert more_needed(0.5, 388, 400, 0.10, 0.05) == 0


def test_shortfall_adds_what_each_count_lacks():
    assert stats.shortfall([12, 40], 30) == 18
    assert stats.shortfall([0, 0], 30) == 60
    assert stats.shortfall([30, 31], 30) == 0


def test_design_more_needed_by_hand_on_a_normal_reference():
    # An effect read on the normal (df = inf): interval −3 to +18 points at 95% on 600
    # outcomes. qnorm(0.975) = 1.959964, qnorm(0.8) = 0.841621 (R).
    se = (0.18 - -0.03) / (2 * 1.959964)                  # 0.053572
    target = 0.10 / (1.959964 + 0.841621)                 # 0.035694: 80% power at 10 points
    expected = math.ceil(600 * (se / target) ** 2 - 600)  # 751.58 -> 752
    assert expected == 752
    assert stats.design_more_needed(-0.03, 0.18, math.inf, 600, alpha=0.05, lift=0.10) == 752


def test_design_more_needed_by_hand_on_a_t_reference():
    # The time series' t on 31 df: qt(0.975, 31) = 2.039513, qt(0.8, 31) = 0.853370 (R).
    se = 0.24 / (2 * 2.039513)
    expected = math.ceil(340 * (se * (2.039513 + 0.853370) / 0.10) ** 2 - 340)  # 645.03
    assert expected == 646
    assert stats.design_more_needed(-0.02, 0.22, 31, 340, alpha=0.05, lift=0.10) == 646
    # Doubling the outcomes at the same interval doubles what is missing, plus the doubling
    # itself: the standard error is taken to scale as 1/sqrt(outcomes).
    assert stats.design_more_needed(-0.02, 0.22, 31, 680, alpha=0.05, lift=0.10) == \
        math.ceil(680 * (se * (2.039513 + 0.853370) / 0.10) ** 2 - 680)


def test_design_more_needed_leaves_the_spells_variance_alone():
    # The normal-reference example above, a third of whose variance (se² = 0.002870) is month
    # deviations in spells that more outcomes in the same months do not shrink: only the
    # other two thirds scale as 1/outcomes, so 600 · (se² − f) / (target² − f) in all.
    se = (0.18 - -0.03) / (2 * 1.959964)
    target = 0.10 / (1.959964 + 0.841621)
    floor = se ** 2 / 3                                   # 0.000957 < target² = 0.001274
    expected = math.ceil(600 * (se ** 2 - floor) / (target ** 2 - floor) - 600)
    assert expected == 3017  # against 752 with no spells
    assert stats.design_more_needed(-0.03, 0.18, math.inf, 600, alpha=0.05, lift=0.10,
                                    floor_variance=floor) == expected
    assert not stats.beyond_more_outcomes(-0.03, 0.18, math.inf, floor, alpha=0.05, lift=0.10)
    # Half of it is spells: 0.001435 ≥ target², so no count of outcomes in the same months
    # gives 80% power; only more months would.
    half = se ** 2 / 2
    assert stats.design_more_needed(-0.03, 0.18, math.inf, 600, alpha=0.05, lift=0.10,
                                    floor_variance=half) is None
    assert stats.beyond_more_outcomes(-0.03, 0.18, math.inf, half, alpha=0.05, lift=0.10)
    assert not stats.beyond_more_outcomes(-0.03, 0.18, math.inf, 0.0, alpha=0.05, lift=0.10)


def test_design_more_needed_is_zero_with_the_power_and_none_without_a_reference():
    # se 0.03 < 0.10 / 2.8016 = 0.0357: the design already has 80% power for 10 points.
    low, high = 0.05 - 1.959964 * 0.03, 0.05 + 1.959964 * 0.03
    assert stats.design_more_needed(low, high, math.inf, 500, alpha=0.05, lift=0.10) == 0
    assert stats.design_more_needed(None, 0.2, math.inf, 500, alpha=0.05, lift=0.10) is None
    # Newcombe's interval is not estimate ± q · se: no reference, nothing to size.
    assert stats.design_more_needed(-0.1, 0.2, None, 500, alpha=0.05, lift=0.10) is None
    with pytest.raises(ValueError, match="lift"):
        stats.design_more_needed(-0.1, 0.2, math.inf, 500, alpha=0.05, lift=0)


def test_more_needed_takes_a_designs_sizing_in_place_of_the_two_proportions():
    # The "already ruled out" test and the minimum per group still apply.
    assert stats.more_needed(0.5, 100, 300, 0.10, 0.05, sized=752) == 752
    assert stats.more_needed(0.5, 10, 300, 0.10, 0.05, sized=5, min_n=30) == 20
    assert stats.more_needed(0.5, 100, 300, 0.10, 0.05, interval=(-0.05, 0.05), sized=752) == 0

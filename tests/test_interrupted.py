"""The interrupted time series: the hand IRLS against statsmodels, the effect on the
probability scale, months that run in spells, and the claim rules."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.metrics.claims import Claim, Effect
from scipy import stats as sps

from analysis.metrics.designs.interrupted import METHOD, _fit_binomial, claim, its_effect


def _expit(x):
    return 1 / (1 + np.exp(-x))


def _noiseless(b0=-0.5, b1=0.02, b2=0.4, months=range(-24, 12), n=1000.0):
    t = np.array(list(months), dtype=float)
    p = _expit(b0 + b1 * t + b2 * (t >= 0))
    return pd.DataFrame({"month": t.astype(int), "n": n, "successes": n * p})


def _jittered(by=12.0, b0=-0.5, b1=0.02, b2=0.4, months=range(-24, 12), n=1000.0):
    """The noiseless series with successes moved ±`by` month by month: a Pearson χ² above 0
    (about by² / 240 per month at n = 1000, p ≈ 0.4), while the fit stays close to
    (b0, b1, b2)."""
    series = _noiseless(b0, b1, b2, months, n)
    series["successes"] += np.where(np.arange(len(series)) % 2 == 0, by, -by)
    return series


def test_a_series_gives_back_its_step_on_the_probability_scale():
    fit = its_effect(_jittered(by=5.0), alpha=0.05, min_months=6)
    # By hand: the mean over months 0..11 of expit(-0.5 + 0.02 t + 0.4) - expit(-0.5 + 0.02 t).
    t = np.arange(12.0)
    expected = np.mean(_expit(-0.1 + 0.02 * t) - _expit(-0.5 + 0.02 * t))
    assert fit.effect.method == METHOD
    assert fit.effect.estimate == pytest.approx(expected, abs=2e-3)
    assert fit.effect.ci_low < expected < fit.effect.ci_high
    assert fit.effect.p_value < 1e-6
    # Without the jitter the fit is exact: the same step to 1e-9.
    assert its_effect(_noiseless(), alpha=0.05, min_months=6).effect.estimate == pytest.approx(expected, abs=1e-9)


def _binomial_glm(series):
    """statsmodels' binomial GLM of the same series (the reference): (params, bse)."""
    import statsmodels.api as sm

    t = series["month"].to_numpy(float)
    x = np.column_stack([np.ones_like(t), t, (t >= 0).astype(float)])
    n = series["n"].to_numpy(float)
    result = sm.GLM(series["successes"].to_numpy(float) / n, x,
                    family=sm.families.Binomial(), var_weights=n).fit()
    return result.params, result.bse


def _in_spells(seed=7, sd=0.0, rho=0.0):
    """36 months (24 before), ~80 outcomes each, logit deviations of SD `sd` that run in
    spells of lag-1 correlation `rho`."""
    rng = np.random.default_rng(seed)
    t = np.arange(-24, 12)
    u = np.empty(len(t))
    u[0] = rng.normal(0, sd)
    for i in range(1, len(t)):
        u[i] = rho * u[i - 1] + rng.normal(0, sd * np.sqrt(1 - rho ** 2))
    n = rng.poisson(80, len(t)).astype(float)
    p = _expit(-0.3 + 0.01 * t + 0.3 * (t >= 0) + u)
    return pd.DataFrame({"month": t, "n": n, "successes": rng.binomial(n.astype(int), p)})


def test_hand_irls_matches_statsmodels_glm():
    series = _in_spells(sd=0.25)
    x = np.column_stack([np.ones(len(series)), series["month"], series["month"] >= 0]
                        ).astype(float)
    beta = _fit_binomial(x, series["successes"].to_numpy(float), series["n"].to_numpy(float))
    params, _ = _binomial_glm(series)
    assert np.allclose(beta, params, atol=1e-8)


def test_months_no_noisier_than_binomial_give_the_binomial_glm_and_its_interval():
    # ±12 on n = 1000 month by month is less than binomial noise: no spells are found, and the
    # effect is the binomial GLM's, its step's p-value on t with the residual 33 df.
    series = _jittered(by=12.0)
    fit = its_effect(series, alpha=0.05, min_months=6)
    params, bse = _binomial_glm(series)
    assert fit.effect.df == 33 and fit.effect.floor_variance == 0
    assert fit.effect.p_value == pytest.approx(2 * sps.t.sf(params[2] / bse[2], 33), rel=1e-6)
    t = np.arange(12.0)
    assert fit.effect.estimate == pytest.approx(np.mean(
        _expit(params[0] + params[1] * t + params[2]) - _expit(params[0] + params[1] * t)),
        abs=1e-8)


def test_months_in_spells_widen_the_interval_and_cost_degrees_of_freedom():
    # The same step, months off the line by spells (SD 0.3 logit, lag-1 correlation 0.7):
    # the REML spells widen the interval beyond the binomial GLM's and Satterthwaite's df
    # (tests/test_spells.py) fall below the 33 residual months.
    series = _in_spells(sd=0.3, rho=0.7)
    fit = its_effect(series, alpha=0.05, min_months=6)
    params, bse = _binomial_glm(series)
    binomial_p = 2 * sps.t.sf(abs(params[2]) / bse[2], 33)
    assert fit.effect.df < 33
    assert fit.effect.p_value > binomial_p
    # The part of the interval more outcomes in the same months would not shrink: what the
    # spells add to the binomial variance (stats.design_more_needed sizes around it).
    half = (fit.effect.ci_high - fit.effect.ci_low) / 2
    se = half / sps.t.ppf(0.975, fit.effect.df)
    assert 0 < fit.effect.floor_variance < se ** 2


def test_too_few_months_and_excluded_months():
    series = _noiseless(months=range(-5, 12))
    fit = its_effect(series, alpha=0.05, min_months=6)
    assert fit.effect is None
    assert fit.why == ("5 months with outcomes before the introduction and 12 after; the time "
                       "series needs 6 on each side")
    # Excluding the two months before the introduction leaves 4 of the 6 needed.
    assert "4 months with outcomes before" in its_effect(_noiseless(months=range(-6, 12)),
                                                         alpha=0.05, min_months=6,
                                                         exclude_months=2).why
    # A trend that breaks only in the excluded months does not move the estimate.
    series = _noiseless()
    dipped = series.copy()
    dipped.loc[dipped["month"].between(-2, -1), "successes"] *= 0.5
    fit = {"alpha": 0.05, "min_months": 6, "exclude_months": 2}
    assert its_effect(dipped, **fit).effect.estimate == pytest.approx(
        its_effect(series, **fit).effect.estimate, abs=1e-9)


def test_all_successes_cannot_be_fitted():
    series = pd.DataFrame({"month": range(-12, 12), "n": 10, "successes": 10})
    fit = its_effect(series, alpha=0.05, min_months=6)
    assert fit.effect is None and "cannot be fitted" in fit.why


@pytest.mark.parametrize("effect, expected", [
    (Effect(METHOD, 0.12, 0.04, 0.20, 0.003), Claim.IMPROVED),
    (Effect(METHOD, -0.12, -0.20, -0.04, 0.003), Claim.WORSE),
    # significant alone, but not across the family
    (Effect(METHOD, 0.12, 0.04, 0.20, 0.003, q_value=0.07), Claim.NOT_ENOUGH_DATA),
    # interval excludes 0 but the test disagrees: no claim
    (Effect(METHOD, 0.05, 0.001, 0.099, 0.051), Claim.NO_CLEAR_CHANGE),
    (Effect(METHOD, 0.01, -0.05, 0.07, 0.7), Claim.NO_CLEAR_CHANGE),
    (Effect(METHOD, 0.01, -0.12, 0.14, 0.8), Claim.NOT_ENOUGH_DATA),
    (None, Claim.NOT_ENOUGH_DATA),
])
def test_claim_rules(effect, expected):
    assert claim(effect, alpha=0.05, lift=0.10) == expected

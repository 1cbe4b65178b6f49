"""The interrupted time series: the hand IRLS against statsmodels, the effect on the
probability scale, the quasi-binomial scale, and the claim rules."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.metrics.claims import Claim, Effect
from analysis.metrics.designs.interrupted import (METHOD, _fit_binomial, claim, its_effect,
                                                  fit_with_statsmodels)


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


def test_hand_irls_matches_statsmodels_glm_with_pearson_scale():
    # Overdispersed months (a month effect on the logit), so the Pearson scale exceeds 1 and
    # the two must agree on it; statsmodels' GLM(Binomial, var_weights=n).fit(scale='X2').
    rng = np.random.default_rng(7)
    t = np.arange(-24, 12)
    n = rng.poisson(80, len(t)).astype(float)
    p = _expit(-0.3 + 0.01 * t + 0.3 * (t >= 0) + rng.normal(0, 0.25, len(t)))
    series = pd.DataFrame({"month": t, "n": n, "successes": rng.binomial(n.astype(int), p)})
    x = np.column_stack([np.ones(len(t)), t, (t >= 0)]).astype(float)
    beta, cov, df = _fit_binomial(x, series["successes"].to_numpy(float), n)
    params, bse = fit_with_statsmodels(series)
    assert np.allclose(beta, params, atol=1e-8)
    assert np.allclose(np.sqrt(np.diag(cov)), bse, rtol=1e-6)
    assert df == len(t) - 3


def _binomial_cov_and_pearson(series):
    x = np.column_stack([np.ones(len(series)), series["month"],
                         series["month"] >= 0]).astype(float)
    s, n = series["successes"].to_numpy(float), series["n"].to_numpy(float)
    beta, cov, df = _fit_binomial(x, s, n)
    mu = _expit(x @ beta)
    binomial = np.linalg.inv((x.T * (n * mu * (1 - mu))) @ x)
    return cov, binomial, np.sum((s - n * mu) ** 2 / (n * mu * (1 - mu))), df


def test_the_scale_is_the_pearson_chi_square_over_df_both_ways():
    # Quasi-likelihood (R's quasibinomial): binomial covariance times Pearson χ²/df, whether
    # that is above 1 or below; ±12 on n = 1000 is underdispersed (about 0.6).
    series = _jittered(by=12.0)
    cov, binomial, pearson, df = _binomial_cov_and_pearson(series)
    assert df == 33 and 0.5 < pearson / df < 0.7
    assert np.allclose(cov, binomial * pearson / 33, rtol=1e-6)
    params, bse = fit_with_statsmodels(series)  # statsmodels' scale='X2' is not floored either
    assert np.allclose(np.sqrt(np.diag(cov)), bse, rtol=1e-6)


def test_a_near_perfect_fit_keeps_the_scale_binomial_months_could_give():
    # ±1 on n = 1000: Pearson χ²/df about 0.004, far below anything sampled outcomes give.
    # The floor is χ²_33's 0.1% quantile / 33; Wilson–Hilferty puts that quantile at
    # 33 (1 − 2/297 + z √(2/297))³ = 13.35 with z = −3.0902, within 0.1 of the exact 13.43.
    cov, binomial, pearson, df = _binomial_cov_and_pearson(_jittered(by=1.0))
    assert pearson / df < 0.01
    scale = cov[2, 2] / binomial[2, 2]
    assert 33 * scale == pytest.approx(13.355, abs=0.1)
    assert np.allclose(cov, binomial * scale, rtol=1e-9)


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

"""Interrupted time series: the level change of a monthly success rate at an introduction date.

The before/after effect (DESIGN.md, "Effects and claims"). A plain before-vs-after comparison
reads any secular drift as an effect: a rate that creeps up half a point a month differs by six
points between two adjacent 12-month windows although nothing happened at the introduction.
The design here fits the monthly series of both windows with a binomial GLM

    logit p(month) = b0 + b1 · month + b2 · after(month)

(month counted from the introduction, after = 1 from the introduction on; the months before
reach back `its_pre_months`, 24 by default, as far as the data goes), so the pre-trend b1
is estimated and the effect is the step b2 the series takes at the introduction, reported on
the probability scale: the mean over the after months of p(with the step) − p(without it).
Months may differ from one another more than binomial noise says (seasons, staffing), so the
standard errors are quasi-binomial (McCullagh & Nelder 1989, §9.2; R's `quasibinomial`): the
binomial covariance scaled by the Pearson χ²/df, with a t reference on the residual degrees of
freedom, which accounts for the scale being estimated. The scale is not floored at 1: under
plain binomial months a floor at 1 only widens the interval (4 to 5 points of power for a
15-point step at ~300 outcomes a side in bench/calibrate, and false claims 3.6% instead of
5% two-sided). It is floored at `SCALE_FLOOR_QUANTILE` of its own sampling distribution
(χ²_df quantile / df, about 0.39 for 31 df): sampled outcomes go below that once in a
thousand series, so a series that does is rounded or constructed data whose near-perfect
fit says nothing about the noise.

What the design assumes: without the playbook the monthly rate would have gone on along a
straight line on the logit scale through the fitted months; nothing else changed in the month
the playbook arrived; months are independent given the line (overdispersion allowed, serial
correlation not: months that run in spells draw false claims above the 5% target,
CALIBRATION.md "What neither design survives yet"). The price of the trend is power: the step is an extrapolation of the
pre-trend, so its variance is about 2.9 times a plain before-vs-after difference's with 24
months before (2 left out) and 12 after (CALIBRATION.md, "Why the before/after time series
needs ...").

The months just before an introduction are left out of the fit (`exclude_months`): a playbook
is often introduced *because* the last quarter went badly, and those months would drag the
pre-trend down and make the ordinary recovery look like an effect (regression to the mean).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.metrics.claims import Claim, Effect

METHOD = "interrupted_time_series"
# The lowest quasi-binomial scale taken from the data, as a quantile of the Pearson χ²/df
# binomial months give (see the module docstring).
SCALE_FLOOR_QUANTILE = 0.001


@dataclass(frozen=True)
class SeriesFit:
    """What the design gives for one series: the effect (None when it cannot be estimated),
    when it cannot, why (one sentence), and the decided outcomes of the months it fitted."""
    effect: Effect | None
    why: str | None = None
    outcomes: int = 0


def its_effect(series: pd.DataFrame, alpha: float, min_months: int,
               exclude_months: int = 0) -> SeriesFit:
    """The level change at the introduction, from a monthly series.

    Parameters
    ----------
    series : DataFrame
        One row per month with `month` (integer months from the introduction: −12 … −1 before,
        0 … 11 after), `n` (decided outcomes) and `successes`. Months with n = 0 are ignored.
    alpha : float
        1 − confidence level of the interval (the alpha setting).
    min_months : int
        Months with outcomes each side needs (after `exclude_months` are left out) before a
        trend and a step can be told apart (the its_min_months setting).
    exclude_months : int
        Months just before the introduction (month −exclude_months … −1) left out of the fit
        (the its_exclude_months setting; 0 leaves none out).

    Returns
    -------
    SeriesFit whose effect has method "interrupted_time_series", estimate = mean over the after
    months of the fitted rate minus the rate the pre-trend alone predicts (a proportion, e.g.
    0.12 = 12 points), its Wald interval by the delta method (t on the residual degrees of
    freedom, carried as the effect's `df`) and the p-value of the step coefficient; effect
    None and `why` when a side has too few months. `outcomes`: the decided outcomes of the
    months fitted.
    """
    frame = series[(series["n"] > 0) & ~series["month"].between(-exclude_months, -1)]
    before = int((frame["month"] < 0).sum())
    after = int((frame["month"] >= 0).sum())
    if before < min_months or after < min_months:
        return SeriesFit(None, f"{before} months with outcomes before the introduction and "
                               f"{after} after; the time series needs {min_months} on each side")
    n = frame["n"].to_numpy(float)
    s = frame["successes"].to_numpy(float)
    t = frame["month"].to_numpy(float)
    post = (t >= 0).astype(float)
    x = np.column_stack([np.ones_like(t), t, post])
    beta, cov, scale_df = _fit_binomial(x, s, n)
    if beta is None:
        return SeriesFit(None, "the monthly series cannot be fitted (every month all successes "
                               "or all failures)")
    estimate, gradient = _mean_step(x, beta, post)
    se_rate = float(np.sqrt(gradient @ cov @ gradient))
    se_step = float(np.sqrt(cov[2, 2]))
    q = sps.t.ppf(1 - alpha / 2, scale_df)
    p_value = float(2 * sps.t.sf(abs(beta[2]) / se_step, scale_df)) if se_step > 0 else 1.0
    return SeriesFit(Effect(METHOD, float(estimate), float(estimate - q * se_rate),
                            float(estimate + q * se_rate), p_value, df=float(scale_df)),
                     outcomes=int(n.sum()))


def _fit_binomial(x: np.ndarray, s: np.ndarray, n: np.ndarray):
    """Binomial GLM by iteratively reweighted least squares.

    Returns (beta, covariance, df): the covariance is quasi-binomial (the binomial one times
    the Pearson χ²/df, never below χ²_df's SCALE_FLOOR_QUANTILE / df), df the residual
    degrees of freedom. (None, None,
    None) when the fit does not converge (a separated series).
    """
    # statsmodels' GLM(Binomial) gives the same coefficients; a hand IRLS on three columns is
    # ten times faster, which the calibration benchmark's thousands of fits need. Equivalence
    # with statsmodels is tested.
    y = s / n
    p0 = np.clip((s.sum() + 0.5) / (n.sum() + 1), 1e-6, 1 - 1e-6)
    beta = np.array([math.log(p0 / (1 - p0)), 0.0, 0.0])
    for _ in range(50):
        eta = x @ beta
        mu = 1 / (1 + np.exp(-eta))
        w = n * mu * (1 - mu)
        if np.any(w <= 1e-10):
            return None, None, None
        z = eta + (y - mu) / (mu * (1 - mu))
        xtw = x.T * w
        try:
            new = np.linalg.solve(xtw @ x, xtw @ z)
        except np.linalg.LinAlgError:
            return None, None, None
        if not np.all(np.isfinite(new)) or np.max(np.abs(new)) > 30:
            return None, None, None
        done = np.max(np.abs(new - beta)) < 1e-10
        beta = new
        if done:
            break
    mu = 1 / (1 + np.exp(-(x @ beta)))
    w = n * mu * (1 - mu)
    cov = np.linalg.inv((x.T * w) @ x)
    df = max(len(n) - x.shape[1], 1)
    pearson = float(np.sum((s - n * mu) ** 2 / (n * mu * (1 - mu))))
    floor = sps.chi2.ppf(SCALE_FLOOR_QUANTILE, df) / df
    return beta, cov * max(pearson / df, floor), df


def _mean_step(x: np.ndarray, beta: np.ndarray, post: np.ndarray):
    """Mean over the after months of expit(xβ) − expit(xβ − b2), and its gradient in β."""
    after = post > 0
    xa = x[after]
    with_step = 1 / (1 + np.exp(-(xa @ beta)))
    without = 1 / (1 + np.exp(-(xa @ beta - beta[2])))
    estimate = float(np.mean(with_step - without))
    d_with = (with_step * (1 - with_step))[:, None] * xa
    xa0 = xa.copy()
    xa0[:, 2] = 0.0
    d_without = (without * (1 - without))[:, None] * xa0
    return estimate, (d_with - d_without).mean(axis=0)


def claim(effect: Effect | None, alpha: float, lift: float,
          better: Claim = Claim.IMPROVED, worse: Claim = Claim.WORSE) -> Claim:
    """The claim an effect supports.

    Directional (`better` / `worse`) only when the interval excludes 0 and the p-value is below
    alpha, and — once the effect has been adjusted for multiplicity — its q-value too; otherwise
    NO_CLEAR_CHANGE when the interval is narrow enough to rule out a change of `lift` either way,
    else NOT_ENOUGH_DATA.
    """
    if effect is None or effect.estimate is None or effect.ci_low is None:
        return Claim.NOT_ENOUGH_DATA
    significant = (effect.p_value is not None and effect.p_value < alpha
                   and (effect.q_value is None or effect.q_value < alpha))
    if significant and effect.ci_low > 0:
        return better
    if significant and effect.ci_high < 0:
        return worse
    if effect.ci_low > -lift and effect.ci_high < lift:
        return Claim.NO_CLEAR_CHANGE
    return Claim.NOT_ENOUGH_DATA


def fit_with_statsmodels(series: pd.DataFrame):
    """The same model through statsmodels' GLM (Binomial, scale='X2'): (params, bse).

    The reference the hand IRLS is tested against.
    """
    import statsmodels.api as sm

    t = series["month"].to_numpy(float)
    x = np.column_stack([np.ones_like(t), t, (t >= 0).astype(float)])
    n = series["n"].to_numpy(float)
    # Proportions with var_weights = n: statsmodels 0.15 computes scale='X2' on the
    # proportions when endog is the (successes, failures) pair, which shrinks the standard
    # errors about tenfold; with var_weights it is the Pearson χ²/df of the counts.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sm.GLM(series["successes"].to_numpy(float) / n, x,
                        family=sm.families.Binomial(), var_weights=n).fit(scale="X2")
    return result.params, result.bse

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
Months differ from one another by more than binomial noise (seasons, staffing), and a good or
bad stretch often lasts several months in a row. The model allows both: month deviations of
variance tau2 on the logit scale with lag-1 correlation rho (an AR(1) series), fitted by REML
beside the binomial noise the counts fix (designs.spells), the coefficients by penalised
quasi-likelihood (Breslow & Clayton 1993), and the step's t reference on Satterthwaite's
degrees of freedom, which count what estimating tau2 and rho from one series costs. Among
the methods Turner et al. compared on simulated series (2021, BMC Med Res Methodol 21:181),
REML underestimated the autocorrelation least and was preferred from 12 points on, though
every method's intervals came out too narrow on short series; the Satterthwaite df are the
allowance for that here, and the calibration measures what is left. Months no noisier
than binomial noise give tau2 = 0, the binomial GLM itself and t on the residual months.
An ordinary quasi-binomial scale (the interval until this round) reads spells as independent
months and made 7.5-8% false claims a direction when a stretch lasts about a quarter
(CALIBRATION.md, ba_spells_long).

What the design assumes: without the playbook the monthly rate would have gone on along a
straight line on the logit scale through the fitted months, up to deviations that die away
(rho < 1: a spell ends); nothing else changed in the month the playbook arrived. The price
of the trend is power: the step is an extrapolation of the pre-trend, so its variance is
about 2.9 times a plain before-vs-after difference's with 24 months before (2 left out) and
12 after (CALIBRATION.md, "Why the before/after time series needs ..."); allowing for spells
costs some more.

The months just before an introduction are left out of the fit (`exclude_months`): a playbook
is often introduced *because* the last quarter went badly, and those months would drag the
pre-trend down and make the ordinary recovery look like an effect (regression to the mean).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.metrics.claims import Claim, Effect
from analysis.metrics.designs import spells

METHOD = "interrupted_time_series"


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
    0.12 = 12 points), its Wald interval by the delta method (t on Satterthwaite's degrees of
    freedom, or the residual months' without spells, carried as the effect's `df`) and the
    p-value of the step coefficient; effect
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
    beta = _fit_binomial(x, s, n)
    if beta is None:
        return SeriesFit(None, "the monthly series cannot be fitted (every month all successes "
                               "or all failures)")
    beta, cov, df, binomial = _fit_in_spells(x, s, n, t, beta)
    estimate, gradient = _mean_step(x, beta, post)
    se_rate = float(np.sqrt(gradient @ cov @ gradient))
    # What more outcomes in the same months would not shrink: the variance beyond the
    # binomial GLM's at the same fit (designs.spells; stats.design_more_needed).
    floor = 0.0 if binomial is None else max(se_rate ** 2 - float(gradient @ binomial @ gradient),
                                             0.0)
    se_step = float(np.sqrt(cov[2, 2]))
    q = sps.t.ppf(1 - alpha / 2, df)
    p_value = float(2 * sps.t.sf(abs(beta[2]) / se_step, df)) if se_step > 0 else 1.0
    return SeriesFit(Effect(METHOD, float(estimate), float(estimate - q * se_rate),
                            float(estimate + q * se_rate), p_value, df=float(df),
                            floor_variance=floor),
                     outcomes=int(n.sum()))


def _fit_binomial(x: np.ndarray, s: np.ndarray, n: np.ndarray) -> np.ndarray | None:
    """Binomial GLM by iteratively reweighted least squares: the coefficients, or None when
    the fit does not converge (a separated series)."""
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
            return None
        z = eta + (y - mu) / (mu * (1 - mu))
        xtw = x.T * w
        try:
            new = np.linalg.solve(xtw @ x, xtw @ z)
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(new)) or np.max(np.abs(new)) > 30:
            return None
        done = np.max(np.abs(new - beta)) < 1e-10
        beta = new
        if done:
            return beta
    return beta


def _fit_in_spells(x: np.ndarray, s: np.ndarray, n: np.ndarray, t: np.ndarray,
                   beta: np.ndarray, rounds: int = 6):
    """The GLM with month deviations that may run in spells, from the binomial fit `beta`.

    Penalised quasi-likelihood (Breslow & Clayton 1993, JASA 88:9): on the working response
    z = η + (y − μ)/(μ(1 − μ)), whose binomial variance is 1/(nμ(1 − μ)), the spells' tau2 and
    rho are fitted by REML (designs.spells) and b by generalised least squares, in turn until
    both settle. With tau2 = 0 this is the binomial GLM itself. Returns (b, covariance of b,
    degrees of freedom: Satterthwaite's for the step when tau2 > 0, never above the residual
    months − 3, and the binomial covariance of b at the same fit without the spells: None
    when no spells were found, the covariance then being that one).
    """
    y = s / n
    found = spells.NONE
    for round_ in range(rounds):
        for _ in range(50):
            z, d = _working(x, beta, y, n)
            new, cov = spells.gls(z, x, d, t, None, found)
            done = np.max(np.abs(new - beta)) < 1e-9
            beta = new
            if done:
                break
        z, d = _working(x, beta, y, n)
        refit = spells.fit(z, x, d, t, start=found if round_ else None)
        settled = (abs(refit.tau2 - found.tau2) <= 1e-6 * float(np.median(d))
                   and abs(refit.rho - found.rho) <= 1e-4)
        found = refit
        if settled:
            break
    beta, cov = spells.gls(z, x, d, t, None, found)
    df = float(max(len(n) - x.shape[1], 1))
    by_spells = spells.satterthwaite(z, x, d, t, None, found,
                                     lambda f: spells.gls(z, x, d, t, None, f)[1][2, 2])
    binomial = None if found == spells.NONE else np.linalg.inv((x.T / d) @ x)
    return beta, cov, (df if by_spells is None else max(min(df, by_spells), 1.0)), binomial


def _working(x: np.ndarray, beta: np.ndarray, y: np.ndarray, n: np.ndarray):
    """The working response and its binomial variance at `beta`."""
    eta = x @ beta
    mu = 1 / (1 + np.exp(-eta))
    return eta + (y - mu) / (mu * (1 - mu)), 1 / (n * mu * (1 - mu))


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

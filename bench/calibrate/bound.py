"""How much power a before/after time series can have at all: the step's standard error from
the binomial GLM's information matrix at the true rates, with no noise in the fit.

The interrupted time series (analysis/metrics/designs/interrupted.py) estimates the level
change at the introduction beyond a pre-trend. With the trend unknown, the step is an
extrapolation, and its variance is fixed by the design (months before and after, the months
left out, outcomes a month), not by the estimator: the fitted step is the efficient estimate
in that model (the inverse information is the Cramér–Rao bound), so no estimate that stays
unbiased under an unknown linear drift has a smaller variance with the same data. The power
this gives, a normal approximation to the t test on the fit's residual degrees of freedom, is
what the calibration's planted worlds can reach at best; CALIBRATION.md prints it beside
what they measure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from analysis.metrics.designs.interrupted import _mean_step

POWER = 0.80


@dataclass(frozen=True)
class StepBound:
    """The best a time series can do for one design.

    se          standard error of the step (points of probability, as a proportion)
    plain_se    standard error of the plain before-vs-after difference of the 12-month sides
    z           effect / se
    power       chance of a directional claim at alpha (two-sided, t on df)
    df          the fit's residual degrees of freedom (months − 3)
    side_for_80 outcomes a 12-month side needs for 80% power (same months, more per month)
    """
    se: float
    plain_se: float
    z: float
    power: float
    df: int
    side_for_80: float

    @property
    def variance_ratio(self) -> float:
        return (self.se / self.plain_se) ** 2


def step_bound(before: float, after: float, per_month: float, pre_months: int = 24,
               post_months: int = 12, exclude_months: int = 2, side_months: int = 12,
               alpha: float = 0.05) -> StepBound:
    """The step's information bound for a flat rate `before` that steps to `after` at the
    introduction, `per_month` decided outcomes every month, `pre_months` months before (the
    `exclude_months` just before the introduction left out) and `post_months` after."""
    t = np.array([m for m in range(-pre_months, post_months)
                  if not -exclude_months <= m <= -1], float)
    post = (t >= 0).astype(float)
    x = np.column_stack([np.ones_like(t), t, post])
    logit = np.log([before / (1 - before), after / (1 - after)])
    beta = np.array([logit[0], 0.0, logit[1] - logit[0]])
    p = 1 / (1 + np.exp(-(x @ beta)))
    information = (x.T * (per_month * p * (1 - p))) @ x
    effect, gradient = _mean_step(x, beta, post)
    se = float(np.sqrt(gradient @ np.linalg.inv(information) @ gradient))
    side = per_month * side_months
    plain_se = float(np.sqrt(before * (1 - before) / side + after * (1 - after) / side))
    df = len(t) - x.shape[1]
    q = float(sps.t.ppf(1 - alpha / 2, df))
    z = effect / se
    power = float(sps.norm.cdf(z - q) + sps.norm.cdf(-z - q))
    side_for_80 = side * ((q + sps.norm.ppf(POWER)) / z) ** 2
    return StepBound(se, plain_se, float(z), power, int(df), float(side_for_80))

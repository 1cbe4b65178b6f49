"""Shared statistics: proportion intervals, two-proportion tests, sample sizes (of two
proportions and of any design's effect), p-value adjustment.

Every function returns plain floats (None where undefined) so results go straight into JSON:
a rate with no observations is None, never NaN. Levels and thresholds (`alpha`, `lift`,
`small_cell`) are arguments: callers pass their request's settings, nothing is read here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict
from functools import lru_cache

import numpy as np
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep


def _clean(x) -> float | None:
    """A finite float, or None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Proportion:
    """n trials, `successes` of them, the rate and its Wilson interval."""
    n: int
    successes: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def confidence_label(alpha: float) -> str:
    """The confidence level 1 − alpha as a label: "95%" for 0.05, "99.5%" for 0.005.

    Parameters
    ----------
    alpha : float
        The alpha the intervals were computed with (the request's `alpha` setting).

    Returns
    -------
    str : the level in percent, without a trailing ".0".
    """
    alpha = float(alpha)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    # Rounding first drops float noise such as 1 − 0.1 = 0.8999999999999999.
    return f"{round(100 * (1 - alpha), 6):g}%"


# The power every sample size aims for: a true change of the size asked about is detected this
# often.
POWER = 0.8


@lru_cache(maxsize=32)
def _z(alpha: float) -> float:
    """Two-sided normal critical value; cached because norm.isf costs more than the interval."""
    return float(sps.norm.isf(alpha / 2))


def wilson_arrays(successes, n, alpha: float):
    """Vectorised Wilson score intervals for many proportions at once.

    The closed form of Wilson (1927), written in the same order of operations as statsmodels'
    `proportion_confint(method="wilson")` (so both agree to rounding) and clipped to [0, 1].

    Parameters
    ----------
    successes, n : array-like of non-negative integers, same length (successes <= n).
    alpha : float
        1 − confidence level.

    Returns
    -------
    (rate, ci_low, ci_high) : three float64 ndarrays; NaN where n is 0.
    """
    k = np.asarray(successes, dtype=float)
    nobs = np.asarray(n, dtype=float)
    if k.shape != nobs.shape:
        raise ValueError(f"successes and n differ in shape: {k.shape} vs {nobs.shape}")
    if ((k < 0) | (nobs < 0) | (k > nobs)).any():
        raise ValueError("successes must lie in 0..n")
    crit = _z(float(alpha))
    crit2 = crit ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        nobs = np.where(nobs > 0, nobs, np.nan)  # an empty sample has no rate, not 0/0 noise
        rate = k / nobs
        denom = 1 + crit2 / nobs
        center = (rate + crit2 / (2 * nobs)) / denom
        dist = crit * np.sqrt(rate * (1.0 - rate) / nobs + crit2 / (4.0 * nobs ** 2)) / denom
        low, high = np.clip(center - dist, 0, 1), np.clip(center + dist, 0, 1)
    return rate, low, high


def wilson(successes: int, n: int, alpha: float) -> Proportion:
    """Rate with a Wilson score interval; an empty sample has rate and interval None."""
    successes, n = int(successes), int(n)
    if successes < 0 or n < 0 or successes > n:
        raise ValueError(f"successes must lie in 0..n, got {successes} of {n}")
    if n == 0:
        return Proportion(0, 0, None, None, None)
    rate, low, high = wilson_arrays([successes], [n], alpha)
    return Proportion(n, successes, successes / n, _clean(low[0]), _clean(high[0]))


def newcombe_diff(s1: int, n1: int, s0: int, n0: int, alpha: float):
    """Difference p1 − p0 with Newcombe's hybrid score interval (method 10, Newcombe 1998).

    Returns (diff, ci_low, ci_high); all None when either side is empty.
    """
    if n1 == 0 or n0 == 0:
        return None, None, None
    low, high = confint_proportions_2indep(s1, n1, s0, n0, method="newcomb", compare="diff",
                                           alpha=alpha)
    return s1 / n1 - s0 / n0, _clean(low), _clean(high)


def two_proportion_p(s1: int, n1: int, s0: int, n0: int, small_cell: int):
    """Two-sided p-value for p1 = p0: Fisher's exact test when an expected cell count is small,
    else the pooled two-proportion z-test. Returns (p_value, test_name); (None, None) if empty."""
    if n1 == 0 or n0 == 0:
        return None, None
    table = np.array([[s1, n1 - s1], [s0, n0 - s0]])
    total = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    if (expected < small_cell).any():
        return _clean(sps.fisher_exact(table).pvalue), "fisher_exact"
    pooled = (s1 + s0) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    z = (s1 / n1 - s0 / n0) / se
    return _clean(2 * sps.norm.sf(abs(z))), "z_test"


def _n_for(p0: float, p1: float, z_a: float, z_b: float) -> float:
    """Fleiss' per-group n (no continuity correction) to tell p1 from p0."""
    pbar = (p0 + p1) / 2
    return ((z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1)))
            / (p1 - p0)) ** 2


def n_per_group_for_lift(base_rate: float | None, lift: float, alpha: float,
                         power: float = POWER) -> int:
    """Outcomes needed in each group to detect a change of `lift` from `base_rate`.

    Fleiss' formula for the two-sided two-proportion z-test without continuity correction. A
    change may go either way, so the answer is the larger n of the two directions that stay
    inside [1%, 99%]: 0.5 -> 0.6 and 0.5 -> 0.4 alike, but from 0.985 only the drop to 0.885
    exists (sizing a "rise" to the 99% cap asked for a 0.5-point change, thousands of outcomes).

    Parameters
    ----------
    base_rate : float or None
        The rate changes are measured from (None: 0.5, the most demanding base).
    lift : float
        The change to detect, a fraction (the min_detectable_lift setting).
    alpha : float
        Two-sided significance level (the alpha setting).
    power : float
        Probability of detecting a true change of `lift`.

    Returns
    -------
    int : outcomes per group, rounded up.
    """
    lift, alpha = float(lift), float(alpha)
    if not lift > 0:
        raise ValueError(f"lift must be positive, got {lift}")
    low_cap, high_cap = 0.01, 0.99
    p0 = 0.5 if base_rate is None else min(max(float(base_rate), low_cap), high_cap)
    # A tolerance so 0.9 + 0.1 (0.9999999999999999 or 1.0) is judged the same either way.
    targets = [p1 for p1 in (p0 + lift, p0 - lift) if low_cap - 1e-9 <= p1 <= high_cap + 1e-9]
    if not targets:  # a lift too large for either direction: size the largest change there is
        targets = [high_cap if p0 <= 0.5 else low_cap]
    z_a, z_b = _z(alpha), float(sps.norm.ppf(power))
    return int(math.ceil(max(_n_for(p0, p1, z_a, z_b) for p1 in targets)))


def more_needed(base_rate: float | None, n_a: int, n_b: int, lift: float, alpha: float, *,
                interval: tuple | None = None, min_n: int = 0, power: float = POWER,
                sized: int | None = None) -> int:
    """Outcomes still missing, over both groups, before the comparison can tell whether a
    change of `lift` happened (0 = enough).

    Enough means either each group holds `n_per_group_for_lift` outcomes, or the interval of
    the difference already lies strictly inside (−lift, +lift): the data then rule out a change
    of that size whatever the power calculation says (197/200 vs 198/200 needs no more
    outcomes to say "no 10-point change"). Either way each group needs at least `min_n`.

    Parameters
    ----------
    base_rate : float or None
        Rate of the reference group (b: before, previous version, non-followers).
    n_a, n_b : int
        Outcomes in each group.
    lift, alpha, power : see `n_per_group_for_lift`.
    interval : (low, high), optional
        The difference's confidence interval; None skips the "already ruled out" test.
    min_n : int
        Outcomes each group needs before any claim.
    sized : int, optional
        The outcomes a design's own effect still needs (`design_more_needed`), when the
        interval is that effect's rather than the two proportions': it replaces the
        two-proportion sizing (the "already ruled out" test and `min_n` still apply).

    Returns
    -------
    int : outcomes missing over both groups; each group short of its target adds its shortfall.
    """
    lift = float(lift)
    floor = shortfall((n_a, n_b), min_n)
    low, high = interval if interval is not None else (None, None)
    if low is not None and high is not None and -lift < low and high < lift:
        return floor
    if sized is not None:
        return max(int(sized), floor)
    needed = n_per_group_for_lift(base_rate, lift, alpha, power)
    return max(max(needed - n_a, 0) + max(needed - n_b, 0), floor)


def shortfall(counts, least: int) -> int:
    """Outcomes missing before every count in `counts` reaches `least`: the sum of each one's
    shortfall (0 when all are there). What a count rule ("30 outcomes on each side") still
    asks for."""
    return sum(max(int(least) - int(c), 0) for c in counts)


def design_more_needed(ci_low: float | None, ci_high: float | None, df: float | None,
                       outcomes: int, *, alpha: float, lift: float,
                       power: float = POWER, floor_variance: float | None = None) -> int | None:
    """Outcomes still missing, over both sides, before a design's effect has `power` to detect
    a change of `lift` at `alpha` (0 = it has).

    The one sizing rule of every effect a claim rests on (the before/after time series and
    difference-in-differences, designs.assess; the followers' landmark and adjusted
    differences). It reads the effect's standard error back from its interval, which each
    design builds as estimate ± q · se with q the 1 − alpha/2 quantile of its reference
    distribution (Student's t on `df` degrees of freedom, the normal for df = inf), so it
    works whatever variance the design used:

        se = (ci_high − ci_low) / (2 q),   se_target = lift / (q + t_df(power))

    (the usual power approximation: a true change of `lift` is found when the estimate lands
    beyond q standard errors, which it does with probability `power` once
    lift / se >= q + t_df(power); the far tail is ignored).

    Assumption: more outcomes arrive spread as the current ones are (the same share in every
    month, group and side) and at a fixed number of months and clusters, so the reference
    keeps its degrees of freedom and the sampling part of the variance scales as 1/outcomes:
    with `floor_variance` f the part that does not (month deviations in spells), reaching
    se_target takes outcomes · (se² − f) / (se_target² − f) outcomes in all, and none will
    when f ≥ se_target² (`beyond_more_outcomes`); f = 0 gives outcomes · (se / se_target)².

    Parameters
    ----------
    ci_low, ci_high : float or None
        The effect's interval at 1 − alpha.
    df : float or None
        Degrees of freedom of the interval's t reference (math.inf: normal); None when the
        design did not build its interval that way (then there is nothing to size).
    outcomes : int
        Decided outcomes the effect rests on (every side and month the design reads).
    alpha : float
        The level the interval was built at, and the test's (the alpha setting).
    lift : float
        The change to detect (the min_detectable_lift setting).
    power : float
        Probability of detecting a true change of `lift`.
    floor_variance : float or None
        The part of se² more outcomes would not shrink (Effect.floor_variance).

    Returns
    -------
    int or None : outcomes missing over both sides, rounded up (0 when the effect already has
    the power); None when the interval, its reference or the outcomes are unknown, or when no
    number of outcomes in the same months would do (`beyond_more_outcomes`).
    """
    lift, alpha, outcomes = float(lift), float(alpha), int(outcomes)
    if not lift > 0:
        raise ValueError(f"lift must be positive, got {lift}")
    sizes = _se_and_target(ci_low, ci_high, df, alpha, lift, power)
    if sizes is None or outcomes <= 0:
        return None
    se, target = sizes
    floor = min(float(floor_variance or 0.0), se ** 2)
    if floor >= target ** 2:
        return None if se > target else 0
    # The tolerance keeps float noise (1200.0000000001) from asking for one outcome more.
    needed = outcomes * (se ** 2 - floor) / (target ** 2 - floor) - outcomes
    return max(int(math.ceil(needed - 1e-9)), 0)


def beyond_more_outcomes(ci_low: float | None, ci_high: float | None, df: float | None,
                         floor_variance: float | None, *, alpha: float, lift: float,
                         power: float = POWER) -> bool:
    """True when no number of outcomes in the same months would give the design `power` to
    detect `lift`: the part of its variance more outcomes do not shrink (floor_variance,
    month deviations in spells) already exceeds the target (design_more_needed); only more
    months would."""
    sizes = _se_and_target(ci_low, ci_high, df, float(alpha), float(lift), power)
    if sizes is None or not floor_variance:
        return False
    se, target = sizes
    return se > target and min(float(floor_variance), se ** 2) >= target ** 2


def _se_and_target(ci_low, ci_high, df, alpha: float, lift: float, power: float):
    """(standard error read back from the interval, the one `power` at `lift` needs); None
    when the interval or its reference is unknown."""
    if ci_low is None or ci_high is None or df is None:
        return None
    reference = sps.t(float(df))
    q = float(reference.ppf(1 - alpha / 2))
    se = (float(ci_high) - float(ci_low)) / (2 * q)
    return se, lift / (q + float(reference.ppf(power)))


def benjamini_hochberg(p_values) -> list[float | None]:
    """Benjamini–Hochberg adjusted p-values; None entries stay None and are not counted."""
    values = [None if p is None or (isinstance(p, float) and math.isnan(p)) else float(p)
              for p in p_values]
    present = [p for p in values if p is not None]
    if not present:
        return values
    adjusted = iter(multipletests(present, method="fdr_bh")[1])
    return [None if p is None else _clean(next(adjusted)) for p in values]

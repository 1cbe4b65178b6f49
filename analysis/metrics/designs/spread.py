"""Between-CSM spread beyond binomial noise, and whether it changed (the consistency effect).

A CSM's observed renewal rate mixes their true rate with binomial noise, and the noise shrinks
as their book grows: books growing from 12 to 40 renewals narrow the raw spread although
nobody changed. So the spread is estimated as tau, the SD of the CSMs' *true* rates: the
DerSimonian–Laird (1986) method-of-moments estimate of a random-effects model on per-CSM rates,
each with the binomial variance p̄(1 − p̄)/n_i of the window's pooled rate p̄. The effect is
tau_after / tau_before with a percentile bootstrap over CSMs: a CSM counted in both windows is
drawn with both (paired), CSMs counted in one window only are drawn within that window.

Degenerate resamples are kept, not dropped: tau_before = 0 with tau_after > 0 is a ratio of
+inf, both 0 a ratio of 1 (no spread beyond noise on either side). A claim needs at least
`MIN_CSMS_FOR_CLAIM` counted CSMs in each window: with fewer, a bootstrap over CSMs cannot
see the tails of the spread and its interval is too short.

What the design assumes: the CSMs are the units sampled (a bootstrap over them stands for
another set of CSMs), each CSM's renewals in a window are independent draws at their own true
rate, and the binomial noise of a rate is that of the window's pooled rate. It does not assume
the true rates are normal: a parametric bootstrap under "same spread" that does (true rates
normal, binomial renewals per CSM, the paired correlation estimated) raised power on
bench/calibrate's consistency_halved by 5 to 8 points (simulated), but drew 5.5–6.7% false
claims a direction when true rates were heavy-tailed (t with 3 df) and re-ranked between
windows, so the nonparametric bootstrap with CLAIM_ALPHA_SHARE stays. What a test can find is
bounded by the CSMs more than by the method: with 25 CSMs of ~60 renewals a window and the
true-rate SD halving from 8 to 4 points, the paired Pitman–Morgan test of the observed rates
(equal books, so the noise cancels) finds it 58% of the time, against 78% with 40 CSMs and 87%
with 50 (2,000 simulated organisations each).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.metrics.claims import Claim, Effect

METHOD = "dl_tau_ratio_bootstrap"
# Measured by bench/calibrate (worlds_people.py): with fewer CSMs the percentile interval of a
# variance ratio undercovers.
MIN_CSMS_FOR_CLAIM = 8
# The percentile bootstrap of a variance ratio over 10-20 CSMs errs a little more often than
# its level says (bench/calibrate: ~5.5% false claims at a nominal 5% with books growing from
# 12 to 40 renewals); a claim therefore also needs the bootstrap p below this share of alpha.
CLAIM_ALPHA_SHARE = 0.5
# A tau below this (a rate SD of 1e-9) is zero: floating-point residue, not spread.
_ZERO = 1e-9


@dataclass(frozen=True)
class SpreadEffect:
    """tau per window (SD of true rates, a fraction), their ratio with its interval, the claim."""
    tau_before: float | None
    tau_after: float | None
    effect: Effect
    claim: Claim
    paired_csms: int


def tau_dl(renewed, n, resampled: bool = False) -> np.ndarray | float:
    """DerSimonian–Laird between-CSM SD of true rates.

    Parameters
    ----------
    renewed, n : per-CSM renewed and decided counts; 1-D (one window) or 2-D (one row per
        resample, CSMs along the last axis).
    resampled : the rows are bootstrap resamples of m CSMs: Q is scaled by m / (m − 1). A
        resample drawn with replacement repeats CSMs, noise and all, so its dispersion Q
        shrinks by (m − 1)/m on average while the noise subtracted from it (m − 1) does not.

    Returns
    -------
    tau (a float for 1-D input, an array with one value per row otherwise); NaN with fewer
    than two CSMs, 0 when the pooled rate is 0 or 1 (no binomial variance, no spread).
    """
    k = np.asarray(renewed, dtype=float)
    n = np.asarray(n, dtype=float)
    one = k.ndim == 1
    k, n = np.atleast_2d(k), np.atleast_2d(n)
    m = k.shape[-1]
    if m < 2:
        out = np.full(k.shape[0], np.nan)
        return float(out[0]) if one else out
    pooled = k.sum(axis=-1, keepdims=True) / n.sum(axis=-1, keepdims=True)
    var_unit = pooled * (1 - pooled)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = n / var_unit                                   # 1 / (p̄(1 − p̄)/n_i)
        rate = k / n
        q = (w * (rate - pooled) ** 2).sum(axis=-1)        # the weighted mean of rates is p̄
        if resampled:
            q = q * m / (m - 1)
        c = w.sum(axis=-1) - (w ** 2).sum(axis=-1) / w.sum(axis=-1)
        tau2 = np.maximum((q - (m - 1)) / c, 0.0)
    tau = np.where(var_unit[:, 0] > 0, np.sqrt(tau2), 0.0)
    return float(tau[0]) if one else tau


def _ratio(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """after / before with degenerate cases: 0/0 → 1, x/0 → +inf."""
    after = np.where(after < _ZERO, 0.0, after)
    before = np.where(before < _ZERO, 0.0, before)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = after / before
    out = np.where(before == 0, np.where(after == 0, 1.0, np.inf), out)
    return out


def _draw(rng, size: int, samples: int) -> np.ndarray:
    return rng.integers(0, size, (samples, size)) if size else np.empty((samples, 0), int)


def spread_effect(before: dict, after: dict, *, samples: int, seed: int,
                  alpha: float) -> SpreadEffect:
    """tau_after / tau_before with a paired bootstrap interval over CSMs, and its claim.

    Parameters
    ----------
    before, after : {csm_id: (renewed, decided)} of the CSMs counted in each window.
    samples, seed : bootstrap resamples and the generator's seed (settings bootstrap_samples,
        random_seed).
    alpha : 1 − the interval's level (setting alpha).

    Returns
    -------
    SpreadEffect: effect.estimate is the ratio (None when tau_before is 0), ci_low / ci_high
    its percentile interval (None for an unbounded end), p_value the bootstrap's two-sided
    share of resamples on the other side of 1; claim NARROWER / WIDER when the interval
    excludes 1, NOT_ENOUGH_DATA with fewer than MIN_CSMS_FOR_CLAIM CSMs in a window.
    """
    samples = int(samples)
    paired = sorted(set(before) & set(after))
    only_b = sorted(set(before) - set(after))
    only_a = sorted(set(after) - set(before))
    counts = {w: np.array([data[c] for c in ids], dtype=float).reshape(-1, 2)
              for w, data, ids in (("pb", before, paired), ("pa", after, paired),
                                   ("b", before, only_b), ("a", after, only_a))}
    tau_b = tau_dl(*np.vstack([counts["pb"], counts["b"]]).T) if len(before) >= 2 else None
    tau_a = tau_dl(*np.vstack([counts["pa"], counts["a"]]).T) if len(after) >= 2 else None
    if min(len(before), len(after)) < MIN_CSMS_FOR_CLAIM:
        estimate = None
        if tau_a is not None and tau_b is not None and tau_b >= _ZERO:
            estimate = tau_a / tau_b
        return SpreadEffect(tau_b, tau_a, Effect(METHOD, estimate), Claim.NOT_ENOUGH_DATA,
                            len(paired))
    rng = np.random.default_rng(seed)
    i_p, i_b, i_a = (_draw(rng, len(ids), samples) for ids in (paired, only_b, only_a))

    def resampled(pair_part, own_part, own_index):
        stacked = np.concatenate([pair_part[i_p], own_part[own_index]], axis=1)
        return tau_dl(stacked[..., 0], stacked[..., 1], resampled=True)

    ratios = _ratio(resampled(counts["pa"], counts["a"], i_a),
                    resampled(counts["pb"], counts["b"], i_b))
    estimate = float(_ratio(np.array([tau_a]), np.array([tau_b]))[0])
    low, high = np.quantile(ratios, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
    p = min(1.0, 2 * min(np.mean(ratios < 1), np.mean(ratios > 1)) + np.mean(ratios == 1))
    if high < 1 and p < CLAIM_ALPHA_SHARE * alpha:
        claim = Claim.NARROWER
    elif low > 1 and p < CLAIM_ALPHA_SHARE * alpha:
        claim = Claim.WIDER
    else:
        claim = Claim.NO_CLEAR_CHANGE
    effect = Effect(METHOD, _finite(estimate), _finite(low), _finite(high), _finite(p))
    return SpreadEffect(tau_b, tau_a, effect, claim, len(paired))


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None

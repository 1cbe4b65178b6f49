"""A ramp rule that volume alone cannot trigger, and the proficiency effect and claim.

The old derived rule ("the trailing 90-day renewal rate reaches the target on at least 5
renewals") is a volume detector: twice the renewals reach 5 in a window sooner, and look at
the rate twice as often, so a hire with a bigger book ramps sooner by chance alone.

The rule here judges every CSM on the same evidence:
1. Thinning to a common volume. Each CSM's renewals since hire are kept with probability
   min(1, v0 / v_i), v_i being the CSM's decided renewals per day since hire and v0 the
   smallest v_i among the CSMs compared who have at least N renewals (fewer never fill a
   window, whatever their volume); the draw is a fixed hash of the renewal id, so the
   result repeats. A CSM with a bigger book then has, in expectation, the same number of
   renewals per month as everyone else: no more looks, no shorter windows.
2. The rate over the last N kept decided renewals (setting ramp_last_renewals) reaches the
   target: the ramp date is the date of the renewal that completes the first such window.

The claim compares the cohorts' ramp times with the log-rank statistic, its p-value from
permutations of the cohort labels (Kaplan–Meier curves, the ratio of medians as the
estimate): FASTER / SLOWER when the test rejects at alpha / 2 (see CLAIM_ALPHA_SHARE), in the
direction of its statistic; NOT_ENOUGH_DATA with fewer than MIN_CSMS_PER_COHORT
CSMs in a cohort or no ramp at all. The explicit ramped_on path uses the same comparison.

What the design assumes: hires of the two cohorts are exchangeable apart from the programme
(the permutation test's null), the veterans' median rate is a target that did not move with the
launch (an organisation-wide rise in renewals reads as a faster ramp), and a ramp shows as a
first window of N kept renewals at the target. That window is a coarse, noisy signal: with 24
renewals a year the tenth renewal comes about five months after hire, later than a 40%-faster
hire (median 108 days against 180) has ramped, and a hire whose final rate is three points
above the target fills a 9-of-10 window by chance as much as by skill. The evidence itself is
thin there: over their first 180 days 14 hires a cohort decide ~170 renewals, and a 40%-faster
ramp (a 25-point deficit closing over 108 days instead of 180) lifts that rate by about 5
points, z ≈ 1.1. A tenure-stratified comparison of the cohorts' renewal rates over their first
180 days (residuals from the pooled rate per tenure month, summed per CSM, cohort labels
permuted) finds bench/calibrate's proficiency_faster 14% of the time (the rule here 12.5%) and
keeps proficiency_volume at 2% a direction; with 40 hires a cohort and 48 renewals a year it
finds 55% (200 simulated organisations) where the rule finds 24.5% (proficiency_faster_large) —
a lead worth following if "faster ramp" may come to mean "closer to the veterans earlier in
tenure" (it would also need the veterans of the same months as a control for organisation-wide
change); at 14 hires a cohort no rule reaches 80%.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from analysis.filters import Filters
from analysis.metrics.claims import Claim, Effect
from analysis.scope import scoped
from analysis.store import Store

METHOD = "km_median_ratio_logrank_permutation"
# A claim needs the permutation p below this share of alpha. Cohorts of a dozen hires, the
# later one followed for a shorter time, are not quite exchangeable: at p < alpha the
# proficiency_volume world of bench/calibrate drew 6.5% false claims, at p < alpha / 2 about 3%.
CLAIM_ALPHA_SHARE = 0.5
# With fewer hires a side the log-rank test's normal approximation is no guide.
MIN_CSMS_PER_COHORT = 5
# The quantile of per-CSM volumes every CSM is thinned down to: the least active CSM who could
# ramp at all (last_n renewals since hire). A higher quantile leaves the CSMs below it with
# less evidence than the rest, slower to fill a window: 6.5% false 'faster' claims at the
# lower quartile in bench/calibrate's proficiency_volume, 4% at the minimum.
COMMON_VOLUME_QUANTILE = 0.0


@dataclass(frozen=True)
class RampEffect:
    effect: Effect
    claim: Claim


def renewals_since_hire(store: Store, filters: Filters | None = None,
                        since: date | None = None) -> pd.DataFrame:
    """Decided renewals of CSMs with a hire date (hired on or after `since`), dated on or
    after the hire date, in date order per CSM.

    Returns
    -------
    DataFrame with csm_id, hire_date, end_date, renewal_date, renewed (0/1), draw (a number in
    [0, 1) fixed by the renewal id: the thinning lottery).
    """
    renewals_sql, params = scoped("decided_renewals", filters, period=False)
    csms_sql, csm_params = scoped("csms", filters)
    hired_since = "and c.hire_date >= ?" if since else ""
    return store.query(f"""
        with decided as (
            select renewal_id, csm_id, renewal_date,
                   cast(renewed as integer) as renewed
            from {renewals_sql} r
            where csm_id is not null
        ),
        final as (
            select d.csm_id, c.hire_date, c.end_date, d.renewal_date, d.renewed,
                   -- hash() is fixed for a value: the same renewal is always kept or not
                   cast(hash(d.renewal_id) % 4294967296 as double) / 4294967296 as draw,
                   d.renewal_id
            from decided d join {csms_sql} c on c.csm_id = d.csm_id
            where c.hire_date is not null and d.renewal_date >= c.hire_date {hired_since}
        )
        select * from final order by csm_id, renewal_date, renewal_id
    """, [*params, *csm_params, *([since] if since else [])])


def derived_ramp_dates(renewals: pd.DataFrame, target: float, last_day: date,
                       last_n: int) -> pd.DataFrame:
    """Each CSM's ramp date under the thinned last-N rule (see the module docstring).

    Parameters
    ----------
    renewals : `renewals_since_hire`
    target : the renewal rate a ramped CSM reaches
    last_day : the data's last date (where a CSM still employed stops being observed)
    last_n : renewals in the window (setting ramp_last_renewals)

    Returns
    -------
    DataFrame with csm_id, ramped_on (None when never), renewals (decided since hire),
    kept (after thinning), keep_probability.
    """
    last_n = int(last_n)
    columns = ["csm_id", "ramped_on", "renewals", "kept", "keep_probability"]
    if renewals.empty:
        return pd.DataFrame(columns=columns)
    hire = pd.to_datetime(renewals["hire_date"])
    end = pd.to_datetime(renewals["end_date"]).fillna(pd.Timestamp(last_day))
    end = end.where(end < pd.Timestamp(last_day), pd.Timestamp(last_day))
    observed = ((end - hire).dt.days.clip(lower=1)).groupby(renewals["csm_id"]).first()
    counts = renewals.groupby("csm_id").size()
    volume = counts / observed
    able = volume[counts >= last_n]
    common = float(np.quantile(able if len(able) else volume, COMMON_VOLUME_QUANTILE))
    keep_probability = np.minimum(1.0, common / volume)
    # Rows arrive ordered by CSM then date: each CSM's kept renewals are one slice.
    csm = renewals["csm_id"].to_numpy(dtype=object)
    kept = renewals["draw"].to_numpy() < keep_probability.reindex(csm).to_numpy()
    renewed = renewals["renewed"].to_numpy(dtype=float)[kept]
    dates = renewals["renewal_date"].to_numpy()[kept]
    ids, starts = np.unique(csm[kept], return_index=True)
    order = np.argsort(starts)  # by position, whatever order the ids sort in
    ids, starts = ids[order], starts[order]
    bounds = dict(zip(ids, zip(starts, [*starts[1:], len(renewed)])))
    rows = []
    for name in keep_probability.index:
        lo, hi = bounds.get(name, (0, 0))
        rows.append({"csm_id": name,
                     "ramped_on": _first_window(renewed[lo:hi], dates[lo:hi], target, last_n),
                     "renewals": int(counts[name]), "kept": int(hi - lo),
                     "keep_probability": float(keep_probability[name])})
    return pd.DataFrame(rows, columns=columns)


def _first_window(renewed: np.ndarray, dates: np.ndarray, target: float, last_n: int):
    """The date completing the first run of `last_n` renewals whose rate reaches `target`."""
    if len(renewed) < last_n:
        return None
    totals = np.convolve(renewed, np.ones(last_n), mode="valid")  # window ending at i + N − 1
    hits = np.flatnonzero(totals / last_n >= target - 1e-12)
    if not len(hits):
        return None
    return pd.Timestamp(dates[hits[0] + last_n - 1]).date()


def logrank_z(days, ramped, after) -> np.ndarray:
    """Log-rank z statistics of the after cohort against the rest, one per row of `after`.

    Parameters
    ----------
    days, ramped : durations and events of every CSM (1-D, length n)
    after : bool labels, 1-D (one statistic) or 2-D (P label vectors, e.g. permutations)

    Returns
    -------
    z = (O − E) / sqrt(V) of the after cohort's ramps, summed over distinct ramp days
    (Mantel 1966 with the hypergeometric variance); positive when the after cohort ramps
    at a higher rate than expected. scipy.stats.logrank gives the same z (its statistic,
    after as the first sample) for one label vector.
    """
    days = np.asarray(days, dtype=float)
    ramped = np.asarray(ramped, dtype=bool)
    labels = np.atleast_2d(np.asarray(after, dtype=float))
    event_days = np.unique(days[ramped])
    at_risk = (days[None, :] >= event_days[:, None]).astype(float)        # (U, n)
    events = ((days[None, :] == event_days[:, None]) & ramped[None, :]).astype(float)
    n_t, d_t = at_risk.sum(axis=1), events.sum(axis=1)
    share = labels @ at_risk.T / n_t                                       # (P, U)
    observed = labels @ events.T
    expected = d_t * share
    variance = d_t * share * (1 - share) * (n_t - d_t) / np.maximum(n_t - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (observed - expected).sum(axis=1) / np.sqrt(variance.sum(axis=1))
    return z


def ramp_effect(ramp: pd.DataFrame, medians: dict, *, alpha: float, samples: int,
                seed: int) -> RampEffect:
    """Log-rank comparison of the cohorts' ramp times (`proficiency.ramp_days` frame), its
    p-value from permuting the cohort labels over CSMs.

    The asymptotic log-rank p errs on the bold side with a dozen hires a cohort (6% false
    claims at a nominal 5% in bench/calibrate's proficiency_same); the permutation p is
    exact under the null that the cohorts' ramp times are exchangeable.

    Returns
    -------
    RampEffect: effect.estimate = median_after / median_before (None while a median is
    unknown), p_value the permutation p (bootstrap_samples permutations); claim FASTER /
    SLOWER when p < CLAIM_ALPHA_SHARE · alpha, in the direction of the log-rank statistic
    (the after cohort
    ramping at a higher rate than expected = FASTER), NOT_ENOUGH_DATA with fewer than
    MIN_CSMS_PER_COHORT CSMs in a cohort or no ramp, else NO_CLEAR_CHANGE.
    """
    samples = int(samples)
    before, after = medians.get("before"), medians.get("after")
    estimate = after / before if before and after is not None else None
    sizes = ramp.groupby("cohort").size() if len(ramp) else pd.Series(dtype=int)
    ramped = ramp["ramped"].to_numpy(dtype=bool) if len(ramp) else np.zeros(0, bool)
    if (min(sizes.get("before", 0), sizes.get("after", 0)) < MIN_CSMS_PER_COHORT
            or not ramped.any()):
        return RampEffect(Effect(METHOD, _finite(estimate)), Claim.NOT_ENOUGH_DATA)
    days = ramp["days"].to_numpy(dtype=float)
    labels = (ramp["cohort"] == "after").to_numpy()
    z = float(logrank_z(days, ramped, labels)[0])
    rng = np.random.default_rng(seed)
    permuted = rng.permuted(np.broadcast_to(labels, (samples, len(labels))), axis=1)
    null = logrank_z(days, ramped, permuted)
    p = float((1 + np.sum(np.abs(null) >= abs(z) - 1e-12)) / (1 + samples))
    claim = Claim.NO_CLEAR_CHANGE
    if math.isfinite(z) and p < CLAIM_ALPHA_SHARE * alpha:
        claim = Claim.FASTER if z > 0 else Claim.SLOWER
    return RampEffect(Effect(METHOD, _finite(estimate), p_value=_finite(p)), claim)


def left_before_ramp(ramp: pd.DataFrame, last_day: date | None) -> dict[str, int]:
    """CSMs per cohort who left (censored at an end date before the data's last date)
    without ramping."""
    out = {"before": 0, "after": 0}
    if ramp.empty or last_day is None:
        return out
    left = ~ramp["ramped"].astype(bool) & ramp["censored_at"].map(
        lambda d: d is not None and not pd.isna(d) and d < last_day)
    for cohort, count in ramp[left].groupby("cohort").size().items():
        out[cohort] = int(count)
    return out


def _finite(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None

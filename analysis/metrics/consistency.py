"""Consistency across CSMs: did per-CSM renewal rates bunch closer together after launch?

DESIGN.md "Consistency across CSMs": each CSM's renewal rate (renewals by the renewal's
csm_id, renewed / decided) in the 12 months before versus the 12 months after the program
launch, counting CSMs with at least `min_renewals_per_csm` decided renewals in that window.
The spread of those rates (min, max, range, IQR, SD) is compared with an SD ratio
(after / before, below 1 = narrower), a bootstrap interval for it, and a Brown–Forsythe test.

Rates, SDs and ranges are fractions (0.05 = 5 points); verdicts speak in points.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.context import Context
from analysis.jsonable import clean
from analysis.metrics.claims import Claim, Effect
from analysis.metrics.designs.spread import METHOD as SPREAD_METHOD
from analysis.metrics.designs.spread import MIN_CSMS_FOR_CLAIM, SpreadEffect, spread_effect
from analysis.playbooks.launch import program_launch_date
from analysis.present import format as fmt
from analysis.scope import scoped
from analysis.metrics.stats import confidence_label, wilson_arrays

PERIODS = ("before", "after")
# Fewer CSMs than this in a period and neither an SD nor a test of it means much.
MIN_CSMS = 3

RATE_COLUMNS = ["csm_id", "name", "period", "n", "renewed", "rate", "ci_low", "ci_high",
                "counted"]
SPREAD_COLUMNS = ["period", "csms", "min", "max", "range", "iqr", "sd", "mean", "pooled_rate",
                  "noise_sd", "excess_sd"]


@dataclass(frozen=True)
class Consistency:
    """Everything the consistency page and `metrics --json` show.

    rates: one row per CSM and period (see `csm_renewal_rates`); spread: one row per period
    (see `spread_by_period`); sd_ratio and its interval are after / before.
    """
    launch_date: date | None
    window_start: date | None
    window_end: date | None
    rates: pd.DataFrame
    spread: pd.DataFrame
    sd_ratio: float | None
    sd_ratio_ci_low: float | None
    sd_ratio_ci_high: float | None
    p_value: float | None
    verdict: str
    # The effect the claim rests on: tau (SD of true rates beyond binomial noise) after / before.
    spread_effect: SpreadEffect | None = None

    @property
    def effect(self) -> Effect:
        return self.spread_effect.effect if self.spread_effect else Effect(SPREAD_METHOD)

    @property
    def claim(self) -> Claim:
        return self.spread_effect.claim if self.spread_effect else Claim.NOT_ENOUGH_DATA


def add_months(day: date, months: int) -> date:
    """The same day `months` calendar months later (earlier if negative), clipped to month end."""
    return (pd.Timestamp(day) + pd.DateOffset(months=months)).date()


def resolve_launch(ctx: Context, launch: date | None) -> date | None:
    """`launch` when given, else the program launch date (the launch_date setting, else the
    catalogue's first introduction)."""
    if launch is not None:
        return launch
    return program_launch_date(ctx.catalog, ctx.settings.launch_date)


def _finite(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def csm_renewal_rates(ctx: Context, launch: date | None = None) -> pd.DataFrame:
    """Each CSM's renewal rate in the window before and the window after launch
    (`window_months` each side; the filters' segment and team apply, not their period).

    Returns
    -------
    DataFrame with columns
        csm_id, name (roster name, else the id), period ("before" | "after"),
        n (decided renewals), renewed, rate, ci_low, ci_high (Wilson),
        counted (n >= min_renewals_per_csm: the CSM counts in that period's spread).
    Empty (with these columns) when there is no launch date or no renewal in either window.
    """
    launch = resolve_launch(ctx, launch)
    if launch is None:
        return pd.DataFrame(columns=RATE_COLUMNS)
    s = ctx.settings
    months = int(s.window_months)
    renewals_sql, params = scoped("decided_renewals", ctx.filters, period=False)
    # The filters' period is ignored on purpose: the windows are fixed around the launch.
    frame = ctx.store.query(f"""
        with decided as (
            select csm_id, renewal_date, renewed
            from {renewals_sql} r
            where csm_id is not null
              and renewal_date >= ? and renewal_date < ?
        ),
        per_csm as (
            select csm_id,
                   case when renewal_date < ? then 'before' else 'after' end as period,
                   count(*) as n,
                   count(*) filter (where renewed) as renewed
            from decided
            group by all
        ),
        final as (
            select p.csm_id, coalesce(c.name, p.csm_id) as name, p.period, p.n, p.renewed
            from per_csm p left join csms c on c.csm_id = p.csm_id
        )
        select * from final order by period desc, csm_id
    """, [*params, add_months(launch, -months), add_months(launch, months), launch])
    if frame.empty:
        return pd.DataFrame(columns=RATE_COLUMNS)
    frame["n"] = frame["n"].astype(int)
    frame["renewed"] = frame["renewed"].astype(int)
    frame["rate"], frame["ci_low"], frame["ci_high"] = wilson_arrays(frame["renewed"], frame["n"],
                                                                     s.alpha)
    frame["counted"] = frame["n"] >= int(s.min_renewals_per_csm)
    return frame[RATE_COLUMNS].reset_index(drop=True)


def spread_of(rates, n) -> dict:
    """Spread statistics of one period's counted per-CSM rates (fractions).

    noise_sd is the SD binomial noise alone would give if every CSM had the pooled rate p̄:
    sqrt(mean_i p̄(1−p̄)/n_i); excess_sd = sqrt(max(sd² − noise_sd², 0)) is the spread left
    once that noise is taken out. Values that need more CSMs than there are come back None.
    """
    rates = np.asarray(rates, dtype=float)
    n = np.asarray(n, dtype=float)
    k = len(rates)
    out = dict(csms=k, min=None, max=None, range=None, iqr=None, sd=None, mean=None,
               pooled_rate=None, noise_sd=None, excess_sd=None)
    if k == 0:
        return out
    q1, q3 = np.percentile(rates, [25, 75])  # numpy's default is linear interpolation
    pooled = float((rates * n).sum() / n.sum())
    noise = math.sqrt(float(np.mean(pooled * (1 - pooled) / n)))
    out.update(min=float(rates.min()), max=float(rates.max()),
               range=float(rates.max() - rates.min()), iqr=float(q3 - q1),
               mean=float(rates.mean()), pooled_rate=pooled, noise_sd=noise)
    if k >= 2:
        sd = float(np.std(rates, ddof=1))
        out.update(sd=sd, excess_sd=math.sqrt(max(sd ** 2 - noise ** 2, 0.0)))
    return out


def spread_by_period(rates: pd.DataFrame) -> pd.DataFrame:
    """One row per period with the spread of its counted CSMs (columns: SPREAD_COLUMNS)."""
    rows = []
    for period in PERIODS:
        part = rates[(rates["period"] == period) & rates["counted"].astype(bool)]
        rows.append({"period": period, **spread_of(part["rate"], part["n"])})
    return pd.DataFrame(rows, columns=SPREAD_COLUMNS)


def bootstrap_sd_ratio(before, after, *, samples: int, seed: int,
                       alpha: float) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of SD(after) / SD(before), resampling CSMs in each period
    (`samples` resamples drawn from `seed`: the bootstrap_samples and random_seed settings).

    A resample whose before-SD is 0 (every draw the same rate; floating-point residue below
    1e-9 counts as 0) has a ratio of +inf, or of 1 when the after-SD is 0 too: kept, never
    dropped, so the interval cannot be cut short. Returns (ci_low, ci_high), None for an
    unbounded end or when fewer than two CSMs are in a period.
    """
    before, after = np.asarray(before, float), np.asarray(after, float)
    if len(before) < 2 or len(after) < 2:
        return None, None
    samples = int(samples)
    rng = np.random.default_rng(seed)
    sd_before = before[rng.integers(0, len(before), (samples, len(before)))].std(axis=1, ddof=1)
    sd_after = after[rng.integers(0, len(after), (samples, len(after)))].std(axis=1, ddof=1)
    zero_before, zero_after = sd_before < 1e-9, sd_after < 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(zero_before, np.where(zero_after, 1.0, np.inf),
                          np.where(zero_after, 0.0, sd_after) / sd_before)
    low, high = np.quantile(ratios, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
    return _finite(low), _finite(high)


def _points(x: float | None) -> str:
    return "?" if x is None else f"{100 * x:.1f}"


def _percent_range(row) -> str:
    return f"{100 * row['min']:.0f}–{100 * row['max']:.0f}%"


def _verdict(spread: pd.DataFrame, launch, ratio, low, high,
             effect: SpreadEffect | None, settings) -> str:
    if launch is None:
        return ("No program launch date: define a playbook in the library or set launch_date, "
                "so there is a before and an after to compare.")
    before, after = (spread.set_index("period").loc[p] for p in PERIODS)
    need = int(settings.min_renewals_per_csm)
    n_before, n_after = int(before["csms"]), int(after["csms"])
    if n_before < MIN_CSMS or n_after < MIN_CSMS:
        return (f"Not enough CSMs: {n_before} before and {n_after} after launch have "
                f"at least {need} decided renewals in their window; at least {MIN_CSMS} are "
                "needed in each to compare the spread.")
    if ratio is None:
        return ("Every counted CSM had the same renewal rate before launch, so the ratio of "
                "spreads is not defined.")
    level = confidence_label(settings.alpha)
    interval = "—" if low is None and high is None else f"{_ratio_text(low)}–{_ratio_text(high)}"
    figures = (f"SD {{}} from {_points(before['sd'])} to {_points(after['sd'])} points; "
               f"range {_percent_range(before)} before, {_percent_range(after)} after "
               f"(SD ratio {ratio:.2f}, {level} CI {interval}).")
    claim = effect.claim if effect is not None else Claim.NOT_ENOUGH_DATA
    tau = (f" Beyond binomial noise the spread of true rates went from "
           f"{_points(effect.tau_before)} to {_points(effect.tau_after)} points"
           if effect is not None else "")
    moved = "fell" if ratio < 1 else "rose"
    if claim == Claim.NARROWER:
        text = ("Narrower: " + figures.format("fell") + tau
                + f" (ratio {level} CI {_ratio_text(effect.effect.ci_low)}–"
                  f"{_ratio_text(effect.effect.ci_high)}, below 1; "
                  f"{fmt.p_value(effect.effect.p_value)}).")
    elif claim == Claim.WIDER:
        text = ("Wider: " + figures.format("rose") + tau
                + f" (ratio {level} CI {_ratio_text(effect.effect.ci_low)}–"
                  f"{_ratio_text(effect.effect.ci_high)}, above 1; "
                  f"{fmt.p_value(effect.effect.p_value)}).")
    elif claim == Claim.NOT_ENOUGH_DATA:
        text = (f"Not enough CSMs to judge the spread: {n_before} before and {n_after} after "
                f"have at least {need} decided renewals; at least {MIN_CSMS_FOR_CLAIM} are "
                f"needed in each for a claim. SD {moved} from {_points(before['sd'])} to "
                f"{_points(after['sd'])} points.")
    else:
        text = ("No clear change in spread: " + figures.format(moved) + tau
                + ". Once binomial noise is taken out, chance alone could explain the "
                  "difference (the ratio's interval includes 1).")
    sd, noise = _finite(after["sd"]), _finite(after["noise_sd"])
    if sd is not None and noise is not None and sd <= noise:
        text += (" Most of the remaining spread is what chance alone produces with books this "
                 f"size (binomial noise SD {_points(noise)} points).")
    return text


def _ratio_text(x: float | None) -> str:
    return "∞" if x is None else f"{x:.2f}"


def bootstrap_settings(settings) -> dict:
    """The keyword arguments of the bootstraps (`bootstrap_sd_ratio`, `spread_effect`) from a
    request's settings: samples, seed, alpha."""
    return {"samples": settings.bootstrap_samples, "seed": settings.random_seed,
            "alpha": settings.alpha}


def consistency_summary(ctx: Context, launch: date | None = None) -> Consistency:
    """Per-CSM renewal rates before and after launch, their spread, SD ratio, test, verdict
    (`launch` None: the program launch date; the context's segment and team filters apply).

    Returns
    -------
    Consistency with `rates` (csm_renewal_rates), `spread` (one row per period: csms, min, max,
    range, iqr, sd, mean, pooled_rate, noise_sd, excess_sd), sd_ratio = sd_after / sd_before
    with a bootstrap percentile interval, p_value of the Brown–Forsythe test
    (scipy.stats.levene with center="median") on the counted rates (all descriptive), and
    `spread_effect` (designs/spread.py: tau, the SD of true rates beyond binomial noise, after
    / before with a paired bootstrap over CSMs) whose `claim` the verdict follows.
    """
    launch, s = resolve_launch(ctx, launch), ctx.settings
    rates = csm_renewal_rates(ctx, launch)
    spread = spread_by_period(rates)
    months = int(s.window_months)
    window = (add_months(launch, -months), add_months(launch, months)) if launch else (None, None)
    counted = {p: rates.loc[(rates["period"] == p) & rates["counted"].astype(bool), "rate"]
               .to_numpy(float) for p in PERIODS}
    ratio = low = high = p_value = None
    if all(len(counted[p]) >= MIN_CSMS for p in PERIODS):
        sd_before, sd_after = (spread.set_index("period").loc[p, "sd"] for p in PERIODS)
        ratio = _finite(sd_after / sd_before) if sd_before > 0 else None
        low, high = bootstrap_sd_ratio(counted["before"], counted["after"],
                                       **bootstrap_settings(s))
        p_value = _finite(sps.levene(counted["before"], counted["after"], center="median").pvalue)
    effect = (spread_effect(*(_counts_by_csm(rates, p) for p in PERIODS),
                            **bootstrap_settings(s)) if launch else None)
    verdict = _verdict(spread, launch, ratio, low, high, effect, s)
    return Consistency(launch, *window, rates, spread, ratio, low, high, p_value, verdict,
                       effect)


def _counts_by_csm(rates: pd.DataFrame, period: str) -> dict:
    """{csm_id: (renewed, decided)} of the CSMs counted in one period."""
    part = rates[(rates["period"] == period) & rates["counted"].astype(bool)]
    return {c: (int(k), int(n)) for c, k, n in zip(part["csm_id"], part["renewed"], part["n"])}


def _period_json(row) -> dict:
    keys = ["csms", "min", "max", "range", "iqr", "sd", "mean", "noise_sd", "excess_sd"]
    # A row of the spread frame is float throughout; the count goes back to an integer.
    return {k: int(row[k]) if k == "csms" else row[k] for k in keys}


def consistency_json(ctx: Context, launch: date | None = None) -> dict:
    """The `consistency` key of `metrics --json` (DESIGN.md), JSON-ready: None, never NaN."""
    result = consistency_summary(ctx, launch)
    spread = result.spread.set_index("period")
    return clean({
        "metric": "renewal_rate",
        "launch_date": result.launch_date,
        "window_start": result.window_start,
        "window_end": result.window_end,
        "min_renewals_per_csm": int(ctx.settings.min_renewals_per_csm),
        "before": _period_json(spread.loc["before"]),
        "after": _period_json(spread.loc["after"]),
        "sd_ratio": result.sd_ratio,
        "sd_ratio_ci_low": result.sd_ratio_ci_low,
        "sd_ratio_ci_high": result.sd_ratio_ci_high,
        "p_value": result.p_value,
        "verdict": result.verdict,
        "effect": result.effect.to_json(),
        "claim": str(result.claim),
        "tau_before": result.spread_effect.tau_before if result.spread_effect else None,
        "tau_after": result.spread_effect.tau_after if result.spread_effect else None,
    })

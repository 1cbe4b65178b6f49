"""Time to proficiency: do CSMs hired after the program launch ramp faster?

DESIGN.md "Time to proficiency". A CSM's ramp is the days from hire_date to:
- `ramped_on`, when the roster tracks it (if any CSM has one, a blank means "not ramped yet");
- otherwise the date the rate over the CSM's last `ramp_last_renewals` decided renewals first
  reaches the target, every CSM's renewals thinned to a common volume first so that a bigger
  book cannot ramp anyone sooner (analysis/metrics/designs/ramp.py). The target is the median
  of the veterans' rates, a veteran's rate being renewed / decided over the renewals they
  handled when their tenure exceeded `veteran_tenure_days`, for CSMs with at least
  `min_renewals_per_csm` such renewals.
CSMs who have not ramped are censored at their end_date or the data's last date. Cohorts are
hired before versus on or after launch; Kaplan–Meier curves, medians with intervals, a log-rank
test and faster_pct = 1 − median_after / median_before (a fraction) compare them; the claim
rests on the log-rank test (designs/ramp.py), and CSMs who left before ramping are counted.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Sequence
import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.context import Context
from analysis.metrics.consistency import bootstrap_settings, resolve_launch
from analysis.filters import Filters
from analysis.jsonable import clean, records
from analysis.metrics.claims import Claim, Effect
from analysis.metrics.designs import ramp as ramp_design
from analysis.present import format as fmt
from analysis.scope import scoped
from analysis.metrics.stats import confidence_label
from analysis.store import Store

COHORTS = ("before", "after")
RAMP_COLUMNS = ["csm_id", "name", "hire_date", "cohort", "ramped", "ramped_on", "days",
                "method", "censored_at"]
CURVE_COLUMNS = ["cohort", "days", "survival", "ci_low", "ci_high", "at_risk"]
COHORT_COLUMNS = ["cohort", "csms", "ramped", "median_days", "ci_low", "ci_high"]


@dataclass(frozen=True)
class KaplanMeier:
    """Kaplan–Meier estimates per cohort and a log-rank comparison of the first two.

    curves: cohort, days, survival (share not yet ramped), ci_low, ci_high (log-log band),
    at_risk (still not ramped and not censored just before `days`); one row at day 0 then one
    per distinct time. cohorts: cohort, csms, ramped (events), median_days (first day survival
    <= 0.5, None if never), ci_low, ci_high (first days the band's lower / upper edge <= 0.5).
    """
    curves: pd.DataFrame
    cohorts: pd.DataFrame
    chi_square: float | None
    p_value: float | None


@dataclass(frozen=True)
class Proficiency:
    """What the proficiency page and `metrics --json` show (see proficiency_summary)."""
    launch_date: date | None
    method: str | None           # "ramped_on" | "derived" | None (no launch)
    target_rate: float | None    # derived method only
    veterans: pd.DataFrame       # derived method: the rates the target is the median of
    ramp: pd.DataFrame
    curves: pd.DataFrame
    cohorts: pd.DataFrame
    faster_pct: float | None
    p_value: float | None
    verdict: str
    effect: Effect | None = None
    claim: Claim = Claim.NOT_ENOUGH_DATA


def _finite(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _first_at_or_below_half(times: np.ndarray, values: np.ndarray) -> float | None:
    # A survival of exactly one half (37 of 74 left) must count, whatever the last bit says.
    hits = np.flatnonzero(values <= 0.5 + 1e-12)
    return float(times[hits[0]]) if len(hits) else None


def _one_cohort(label: str, days: np.ndarray, events: np.ndarray, alpha: float):
    """Curve rows and the summary row of one cohort."""
    summary = {"cohort": label, "csms": len(days), "ramped": int(events.sum()),
               "median_days": None, "ci_low": None, "ci_high": None}
    if len(days) == 0:
        return [], summary
    start = {"cohort": label, "days": 0.0, "survival": 1.0, "ci_low": 1.0, "ci_high": 1.0,
             "at_risk": len(days)}
    if not events.any():
        # Nobody ramped: the estimate stays at 1 up to the last follow-up.
        end = dict(start, days=float(days.max()), at_risk=int((days >= days.max()).sum()))
        return [start, end], summary
    fit = sps.ecdf(sps.CensoredData(uncensored=days[events], right=days[~events])).sf
    times, survival = fit.quantiles, fit.probabilities
    with warnings.catch_warnings():
        # scipy warns where the band is undefined (survival 0); handled just below.
        warnings.simplefilter("ignore", RuntimeWarning)
        band = fit.confidence_interval(1 - alpha, method="log-log")
    # The log-log band is undefined where survival is 0; the estimate itself stands in there.
    low = np.where(np.isnan(band.low.probabilities), survival, band.low.probabilities)
    high = np.where(np.isnan(band.high.probabilities), survival, band.high.probabilities)
    at_risk = (days[None, :] >= times[:, None]).sum(axis=1)
    rows = [start] + [
        {"cohort": label, "days": float(t), "survival": float(s), "ci_low": float(lo),
         "ci_high": float(hi), "at_risk": int(r)}
        for t, s, lo, hi, r in zip(times, survival, low, high, at_risk)]
    summary.update(median_days=_first_at_or_below_half(times, survival),
                   ci_low=_first_at_or_below_half(times, low),
                   ci_high=_first_at_or_below_half(times, high))
    return rows, summary


def km_from_durations(days, ramped, cohort, cohorts: Sequence[str] | None = None, *,
                      alpha: float) -> KaplanMeier:
    """Kaplan–Meier curves and medians per cohort, and a log-rank test of the first two.

    Parameters
    ----------
    days : durations (days from hire to ramp, or to censoring)
    ramped : True where the duration ended in a ramp (an event), False where censored
    cohort : the cohort label of each duration
    cohorts : labels to report, in order (default: the sorted distinct labels)
    alpha : 1 − the level of the log-log bands and the medians' intervals

    Returns
    -------
    KaplanMeier (curves, cohorts, chi_square, p_value); the test needs exactly two cohorts,
    each non-empty, and at least one event, else chi_square and p_value are None.
    """
    days = np.asarray(days, dtype=float)
    ramped = np.asarray(ramped, dtype=bool)
    cohort = np.asarray(cohort, dtype=object)
    if not (len(days) == len(ramped) == len(cohort)):
        raise ValueError("days, ramped and cohort must have the same length")
    if (days < 0).any() or np.isnan(days).any():
        raise ValueError("durations must be known and not negative")
    labels = list(cohorts) if cohorts is not None else sorted(set(cohort.tolist()))
    curve_rows, summary_rows, samples = [], [], []
    for label in labels:
        mask = cohort == label
        rows, summary = _one_cohort(label, days[mask], ramped[mask], alpha)
        curve_rows += rows
        summary_rows.append(summary)
        samples.append(sps.CensoredData(uncensored=days[mask & ramped],
                                        right=days[mask & ~ramped]))
    chi_square = p_value = None
    if len(labels) == 2 and all(s["csms"] for s in summary_rows) and ramped.any():
        test = sps.logrank(samples[0], samples[1])
        chi_square, p_value = _finite(test.statistic ** 2), _finite(test.pvalue)
    return KaplanMeier(pd.DataFrame(curve_rows, columns=CURVE_COLUMNS),
                       pd.DataFrame(summary_rows, columns=COHORT_COLUMNS, dtype=object),
                       chi_square, p_value)


def km_curves(frame: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Kaplan–Meier curves of a `ramp_days` frame: cohort, days, survival, ci_low, ci_high
    (the band at 1 − alpha), at_risk (survival = share of the cohort not yet ramped)."""
    return km_from_durations(frame["days"], frame["ramped"], frame["cohort"], COHORTS,
                             alpha=alpha).curves


def _data_dates(store: Store) -> tuple[date | None, date | None]:
    """First and last date the data covers (renewals and runs, as the period filter's range),
    whatever the filters; a roster without either ends on its latest date."""
    row = store.query("""
        with dates as (
            select min(renewal_date) as lo, max(renewal_date) as hi from renewals
            union all select min(opened_on), max(opened_on) from playbook_runs
        ),
        roster as (
            select greatest(max(hire_date), max(end_date), max(ramped_on)) as hi from csms
        )
        select min(lo) as first_day, coalesce(max(hi), (select hi from roster)) as last_day
        from dates
    """).iloc[0]
    return tuple(None if pd.isna(v) else pd.Timestamp(v).date()
                 for v in (row["first_day"], row["last_day"]))


def _decided_sql(filters: Filters | None):
    """Decided renewals with a CSM, within the filters' segment and team (not period)."""
    sql, params = scoped("decided_renewals", filters, period=False)
    return (f"(select csm_id, renewal_date, cast(renewed as integer) as renewed "
            f"from {sql} r where csm_id is not null)",
            params)


def veteran_rates(ctx: Context) -> pd.DataFrame:
    """Renewal rates of veterans (within the context's segment and team), which set the
    derived ramp target (their median).

    Returns
    -------
    DataFrame with csm_id, n, renewed, rate: over each CSM's decided renewals dated more than
    `veteran_tenure_days` after their hire_date, for CSMs with at least
    `min_renewals_per_csm` such renewals.
    """
    decided, params = _decided_sql(ctx.filters)
    csms_sql, csm_params = scoped("csms", ctx.filters)
    frame = ctx.store.query(f"""
        select d.csm_id, count(*) as n, sum(d.renewed) as renewed
        from {decided} d join {csms_sql} c on c.csm_id = d.csm_id
        where c.hire_date is not null and date_diff('day', c.hire_date, d.renewal_date) > ?
        group by d.csm_id
        having count(*) >= ?
        order by d.csm_id
    """, [*params, *csm_params, int(ctx.settings.veteran_tenure_days),
          int(ctx.settings.min_renewals_per_csm)])
    frame["n"] = frame["n"].astype(int)
    frame["renewed"] = frame["renewed"].astype(int)
    frame["rate"] = frame["renewed"] / frame["n"]
    return frame[["csm_id", "n", "renewed", "rate"]]


def _tracked(store: Store) -> bool:
    # The roster as a whole says whether the org tracks ramp dates, whatever the filters.
    return bool(store.scalar("select count(ramped_on) from csms"))


def _roster(store: Store, filters, launch: date, last_day: date, ramp_sql: str,
            ramp_params: list, since: date | None) -> pd.DataFrame:
    """CSMs with a hire date (hired on or after `since`), their cohort and ramp or censoring."""
    csms_sql, params = scoped("csms", filters)
    hired_since = "and c.hire_date >= ?" if since else ""
    frame = store.query(f"""
        with ramps as ({ramp_sql}),
        final as (
            select c.csm_id, coalesce(c.name, c.csm_id) as name, c.hire_date,
                   case when c.hire_date < ? then 'before' else 'after' end as cohort,
                   r.ramped_on,
                   case when r.ramped_on is null then least(coalesce(c.end_date, ?), ?)
                   end as censored_at
            from {csms_sql} c left join ramps r on r.csm_id = c.csm_id
            where c.hire_date is not null {hired_since}
        )
        select *, date_diff('day', hire_date, coalesce(ramped_on, censored_at)) as days
        from final
        order by hire_date, csm_id
    """, [*ramp_params, launch, last_day, last_day, *params, *([since] if since else [])])
    # Dates before the hire date (a hire after the data ends) say nothing about a ramp.
    frame = frame[frame["days"] >= 0].reset_index(drop=True)
    frame["ramped"] = frame["ramped_on"].notna()
    frame["days"] = frame["days"].astype(int)
    for column in ("hire_date", "ramped_on", "censored_at"):
        # One row per CSM: plain dates (None when missing) read better in tables and JSON.
        frame[column] = pd.Series([None if pd.isna(v) else pd.Timestamp(v).date()
                                   for v in frame[column]], index=frame.index, dtype=object)
    return frame


def ramp_days(ctx: Context, launch: date | None = None,
              target: float | None = None) -> pd.DataFrame:
    """Days from hire to ramp (or to censoring) for every CSM with a hire date (`launch` None:
    the program launch date; `target` None: the veterans' median rate).

    Returns
    -------
    DataFrame with csm_id, name, hire_date, cohort ("before" if hired before launch, else
    "after"), ramped (bool), ramped_on (the ramp date, tracked or derived), days, method
    ("ramped_on" | "derived"), censored_at (end_date or the data's last date; None if ramped).
    With the derived method only CSMs hired since the renewal data begins are included (an
    earlier ramp is not in the data), and the frame is empty when there is no target.
    """
    launch, store, filters = resolve_launch(ctx, launch), ctx.store, ctx.filters
    first_day, last_day = _data_dates(store)
    if launch is None or last_day is None:
        return pd.DataFrame(columns=RAMP_COLUMNS)
    if _tracked(store):
        method, since = "ramped_on", None
        ramp_sql, ramp_params = "select csm_id, ramped_on from csms", []
    else:
        method, since = "derived", first_day
        if target is None:
            veterans = veteran_rates(ctx)
            target = float(np.median(veterans["rate"])) if len(veterans) else None
        if target is None:
            return pd.DataFrame(columns=RAMP_COLUMNS)
        ramps = ramp_design.derived_ramp_dates(
            ramp_design.renewals_since_hire(store, filters, since), target, last_day,
            ctx.settings.ramp_last_renewals)
        ramp_sql, ramp_params = _dates_sql(ramps[ramps["ramped_on"].notna()])
    frame = _roster(store, filters, launch, last_day, ramp_sql, ramp_params, since)
    frame["method"] = method
    return frame[RAMP_COLUMNS]


def _dates_sql(ramps: pd.DataFrame):
    """(csm_id, ramped_on) rows as an inline table of bound values."""
    if ramps.empty:
        return "select null::varchar as csm_id, null::date as ramped_on where false", []
    rows = ", ".join(["(?, cast(? as date))"] * len(ramps))
    return (f"select * from (values {rows}) as v(csm_id, ramped_on)",
            [v for pair in zip(ramps["csm_id"], ramps["ramped_on"]) for v in pair])


def _days(x) -> str:
    return "not reached" if x is None else f"{x:.0f}"


def _verdict(km: KaplanMeier, faster: float | None, launch, method, target,
             claim: Claim, settings, p_value: float | None = None) -> str:
    if launch is None:
        return ("No program launch date: define a playbook in the library or set launch_date, "
                "so hires can be split into before and after.")
    if method == "derived" and target is None:
        return (f"No ramp target: no CSM with over {settings.veteran_tenure_days} "
                f"days of tenure has {settings.min_renewals_per_csm} decided renewals. "
                "Add hire dates, or a ramped_on column to the roster.")
    rows = km.cohorts.set_index("cohort")
    before, after = rows.loc["before"], rows.loc["after"]
    if not before["csms"] or not after["csms"]:
        return (f"Not enough CSMs: {before['csms']} hired before launch and {after['csms']} on "
                "or after it have a hire date; both cohorts are needed to compare ramp times.")
    for label, row in (("after", after), ("before", before)):
        if row["median_days"] is None:
            when = "on or after" if label == "after" else "before"
            return (f"The median ramp of CSMs hired {when} launch is not known yet: only "
                    f"{row['ramped']} of {row['csms']} have ramped, fewer than half.")
    level = confidence_label(settings.alpha)
    # The p the claim rests on (CSMs reshuffled between cohorts), as people read it.
    p_text = "p not defined" if p_value is None else fmt.p_value(p_value)
    figures = (f"median {_days(after['median_days'])} days for CSMs hired on or after launch "
               f"({level} CI {_days(after['ci_low'])}–{_days(after['ci_high'])}, "
               f"{after['csms']} CSMs) vs {_days(before['median_days'])} before "
               f"(CI {_days(before['ci_low'])}–{_days(before['ci_high'])}, "
               f"{before['csms']} CSMs); {p_text}.")
    if claim == Claim.NOT_ENOUGH_DATA:
        return (f"Not enough CSMs to compare ramp times: at least "
                f"{ramp_design.MIN_CSMS_PER_COHORT} hires a cohort are needed; "
                + figures[0].lower() + figures[1:])
    if faster is None or faster == 0:
        text = "No difference in ramp time: " + figures
    elif faster > 0:
        text = f"New hires ramp {100 * faster:.0f}% faster: " + figures
    else:
        text = f"New hires ramp {100 * -faster:.0f}% slower: " + figures
    if claim not in (Claim.FASTER, Claim.SLOWER):
        text += " The difference could be chance."
    return text


def proficiency_summary(ctx: Context, launch: date | None = None) -> Proficiency:
    """Ramp times of CSMs hired before versus on or after launch (`launch` None: the program
    launch date; the context's segment and team filters apply).

    Returns
    -------
    Proficiency with `ramp` (ramp_days), `curves` (km_curves), `cohorts` (cohort, csms, ramped,
    median_days, ci_low, ci_high), faster_pct = 1 − median_after / median_before (None when a
    median is unknown), the log-rank p_value, the method, the derived target_rate and the
    veterans it came from, and a verdict.
    """
    launch, store, s = resolve_launch(ctx, launch), ctx.store, ctx.settings
    method = ("ramped_on" if _tracked(store) else "derived") if launch else None
    veterans = veteran_rates(ctx) if method == "derived" else \
        pd.DataFrame(columns=["csm_id", "n", "renewed", "rate"])
    target = float(np.median(veterans["rate"])) if len(veterans) else None
    ramp = ramp_days(ctx, launch, target) if launch else \
        pd.DataFrame(columns=RAMP_COLUMNS)
    km = km_from_durations(ramp["days"].astype(float), ramp["ramped"].astype(bool),
                           ramp["cohort"], COHORTS, alpha=s.alpha)
    medians = km.cohorts.set_index("cohort")["median_days"]
    faster = None
    if medians["before"] and medians["after"] is not None:
        faster = _finite(1 - medians["after"] / medians["before"])
    design = ramp_design.ramp_effect(ramp, medians.to_dict(), **bootstrap_settings(s))
    left = ramp_design.left_before_ramp(ramp, _data_dates(store)[1])
    cohorts = km.cohorts.assign(left_before_ramp=[left[c] for c in km.cohorts["cohort"]])
    verdict = _verdict(km, faster, launch, method, target, design.claim, s,
                       design.effect.p_value)
    return Proficiency(launch, method, target, veterans, ramp, km.curves, cohorts, faster,
                       km.p_value, verdict, design.effect, design.claim)


def proficiency_json(ctx: Context, launch: date | None = None) -> dict:
    """The `proficiency` key of `metrics --json` (DESIGN.md), JSON-ready: None, never NaN."""
    result = proficiency_summary(ctx, launch)
    return clean({
        "launch_date": result.launch_date,
        "method": result.method,
        "target_rate": result.target_rate,
        "cohorts": records(result.cohorts, [*COHORT_COLUMNS, "left_before_ramp"]),
        "faster_pct": result.faster_pct,
        "p_value": result.p_value,
        "verdict": result.verdict,
        "effect": (result.effect or Effect(ramp_design.METHOD)).to_json(),
        "claim": str(result.claim),
    })

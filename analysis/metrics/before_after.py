"""Before / after: each playbook's outcome metric in the months before its introduction
against the months after.

A playbook names its outcome metric. `renewal_rate` is renewed / decided renewals by
renewal_date; `success_rate` is success / closed runs of the playbook's *scenario* by opened_on,
with or without a playbook attached, so the baseline exists and the after side measures what
introducing the playbook did for the whole team.

Windows are calendar months around `introduced_on`: before = [introduced − window_months,
introduced), after = [introduced, introduced + window_months). Segment and team filters apply;
the period filter does NOT move the windows (they are fixed by the introduction date, and a
period that cut one side off would make the comparison meaningless).
"""
from __future__ import annotations

import math
import uuid

import pandas as pd

from analysis import settings

from analysis.metrics import stats
from analysis.playbooks.catalog import introduction_notes, playbook_catalog
from analysis.filters import Filters
from analysis.scope import scoped
from analysis.store import Store, quote_ident

SIDES = ("before", "after")
COLUMNS = [
    "playbook_id", "name", "metric", "introduced_on", "window_start", "window_end",
    *(f"{side}_{col}" for side in SIDES
      for col in ("n", "successes", "rate", "ci_low", "ci_high")),
    "diff", "diff_ci_low", "diff_ci_high", "p_value", "p_value_adjusted", "test", "verdict",
]
SERIES_COLUMNS = ["month", "side", "n", "successes", "rate", "ci_low", "ci_high"]


# -- windows ----------------------------------------------------------------------------------
def playbook_windows(catalog: pd.DataFrame, filters: Filters | None = None,
                     months: int | None = None) -> pd.DataFrame:
    """One row per playbook: playbook_id, name, metric, scenario, introduced_on, window_start,
    window_end (dates; the window is [window_start, window_end)), sorted by playbook_id.

    Playbooks without an introduction date are left out; Filters.playbook_id keeps only that one.
    """
    months = settings.default("window_months") if months is None else int(months)
    if months < 1:
        raise ValueError(f"window_months must be at least 1, got {months}")
    cat = catalog[catalog["introduced_on"].notna()]
    if filters is not None and filters.playbook_id is not None:
        cat = cat[cat["playbook_id"] == filters.playbook_id]
    intro = pd.to_datetime(pd.Series(cat["introduced_on"].tolist(), dtype="object"))
    # DateOffset keeps calendar months: 2024-02-29 − 12 months is 2023-02-28.
    offset = pd.DateOffset(months=months)
    names = cat["name"] if "name" in cat else cat["playbook_id"]
    out = pd.DataFrame({
        "playbook_id": cat["playbook_id"].astype(str).tolist(),
        "name": names.astype(str).tolist(),
        "metric": cat["outcome_metric"].astype(str).tolist(),
        "scenario": cat["scenario"].astype(object).tolist(),
        "introduced_on": [t.date() for t in intro],
        "window_start": [(t - offset).date() for t in intro],
        "window_end": [(t + offset).date() for t in intro],
    })
    unknown = set(out["metric"]) - {"renewal_rate", "success_rate"}
    if unknown:
        raise ValueError(f"unknown outcome metric(s) {sorted(unknown)}: "
                         "use renewal_rate or success_rate")
    return out.sort_values("playbook_id", ignore_index=True)


def _outcome_counts(store: Store, filters: Filters | None, windows: pd.DataFrame,
                    by_month: bool) -> pd.DataFrame:
    """n and successes per playbook and side (and month), all playbooks in one query."""
    columns = ["playbook_id", "side", *(["month"] if by_month else []), "n", "successes"]
    if windows.empty:
        return pd.DataFrame(columns=columns)
    renewals_sql, renewals_params = scoped("renewals", filters, period=False)
    runs_sql, runs_params = scoped("playbook_runs", filters, period=False)
    view = f"before_after_windows_{uuid.uuid4().hex}"
    month = ", date_trunc('month', o.day)::DATE AS month" if by_month else ""
    sql = f"""
        WITH windows AS (
            -- Renewals count for a renewal_rate playbook whatever its scenario: key them ''
            -- so the join below is one equality on (metric, scenario).
            SELECT playbook_id, metric,
                   CASE WHEN metric = 'renewal_rate' THEN '' ELSE scenario END AS scenario,
                   CAST(introduced_on AS DATE) AS introduced_on,
                   CAST(window_start AS DATE) AS window_start,
                   CAST(window_end AS DATE) AS window_end
            FROM {quote_ident(view)}
        ),
        outcomes AS (
            -- a renewal is decided on its renewal_date
            SELECT 'renewal_rate' AS metric, '' AS scenario, renewal_date AS day,
                   outcome = 'renewed' AS success
            FROM {renewals_sql} r
            WHERE outcome IN ('renewed', 'churned')
            UNION ALL
            -- a run counts once closed with an outcome, on the day it opened
            SELECT 'success_rate', scenario, opened_on, outcome = 'success'
            FROM {runs_sql} q
            WHERE outcome IN ('success', 'failure') AND coalesce(status, 'closed') = 'closed'
        ),
        final AS (
            SELECT w.playbook_id,
                   CASE WHEN o.day < w.introduced_on THEN 'before' ELSE 'after' END AS side
                   {month},
                   count(*) AS n,
                   count(*) FILTER (WHERE o.success) AS successes
            FROM windows w
            JOIN outcomes o
              ON o.metric = w.metric AND o.scenario = w.scenario
             AND o.day >= w.window_start AND o.day < w.window_end
            GROUP BY ALL
        )
        SELECT * FROM final ORDER BY ALL
    """
    store.register(view, windows)
    try:
        counts = store.query(sql, [*renewals_params, *runs_params])
    finally:
        store.unregister(view)
    return counts[columns]


# -- verdicts ---------------------------------------------------------------------------------
def percent(x: float) -> str:
    """A rate as whole percent: 0.354 -> "35%"."""
    return f"{x:.0%}"


def points(x: float) -> str:
    """Percentage points with their sign ("+15", "−4"); a value just off zero keeps a decimal
    ("+0.2") so an interval's bound never hides which side of zero it lies on."""
    value = x * 100
    text = f"{abs(value):.1f}" if 0 < abs(value) < 0.5 else f"{abs(round(value))}"
    return "0" if text == "0" else (f"+{text}" if value > 0 else f"−{text}")


def verdict(before: stats.Proportion, after: stats.Proportion, diff, low, high,
            months: int | None = None, lift: float | None = None,
            alpha: float | None = None) -> str:
    """A plain-language verdict on one before/after comparison.

    A confidence interval that excludes zero gives Improved / Worse; one that includes zero gives
    "No clear change" when each side already holds the outcomes needed to detect a
    `min_detectable_lift` change, else "Not enough data" with how many more are needed.
    """
    months = settings.default("window_months") if months is None else months
    lift = settings.default("min_detectable_lift") if lift is None else lift
    alpha = settings.default("alpha") if alpha is None else alpha
    if before.n == 0 and after.n == 0:
        return f"No data: no outcomes in the {months} months before or after introduction"
    if before.n == 0:
        return f"No baseline: no outcomes in the {months} months before introduction"
    if after.n == 0:
        return f"Too early: no outcomes yet in the {months} months since introduction"
    level = f"{stats.confidence_label(alpha)} CI"
    change = (f"{percent(before.rate)} → {percent(after.rate)} ({points(diff)} points, {level} "
              f"{points(low)} to {points(high)})")
    if low > 0:
        return f"Improved: {change}"
    if high < 0:
        return f"Worse: {change}"
    missing = stats.more_needed(before.rate, before.n, after.n, lift, alpha)
    if missing:
        return (f"Not enough data: about {missing} more outcomes needed to detect a "
                f"{round(lift * 100)}-point change ({percent(before.rate)} → "
                f"{percent(after.rate)}, n = {before.n} before and {after.n} after)")
    return f"No clear change: {change}"


def _compare(row: dict, counts: dict, months: int) -> dict:
    """The comparison of one playbook as a flat dict of COLUMNS; `counts` maps a side to
    (successes, n)."""
    sides = {side: stats.wilson(*counts.get(side, (0, 0))) for side in SIDES}
    b, a = sides["before"], sides["after"]
    diff, low, high = stats.newcombe_diff(a.successes, a.n, b.successes, b.n)
    p_value, test = stats.two_proportion_p(a.successes, a.n, b.successes, b.n)
    out = {k: row[k] for k in ("playbook_id", "name", "metric", "introduced_on",
                               "window_start", "window_end")}
    for side, prop in sides.items():
        out.update({f"{side}_{k}": v for k, v in prop.as_dict().items()})
    out.update(diff=diff, diff_ci_low=low, diff_ci_high=high, p_value=p_value, test=test,
               verdict=verdict(b, a, diff, low, high, months))
    return out


# -- public -----------------------------------------------------------------------------------
def before_after(store: Store, filters: Filters | None = None,
                 catalog: pd.DataFrame | None = None) -> pd.DataFrame:
    """Outcome metric before and after each playbook's introduction.

    Parameters
    ----------
    store : Store
    filters : Filters, optional
        Segment and team restrict the renewals and runs counted; playbook_id keeps one playbook;
        the period is ignored (the windows are fixed by the introduction date).
    catalog : DataFrame, optional
        The playbook catalogue (analysis.playbooks.catalog.playbook_catalog(store) when None).

    Returns
    -------
    DataFrame, one row per playbook, sorted by playbook_id:
        playbook_id, name, metric ("renewal_rate" | "success_rate"), introduced_on,
        window_start, window_end (dates; before = [window_start, introduced_on),
        after = [introduced_on, window_end)),
        before_n, before_successes, before_rate, before_ci_low, before_ci_high (Wilson),
        after_n, ... the same for the after window,
        diff (after − before), diff_ci_low, diff_ci_high (Newcombe hybrid score),
        p_value (Fisher exact when a cell is small, else two-proportion z), p_value_adjusted
        (Benjamini–Hochberg across the playbooks shown), test, verdict (plain text).
        Rates and bounds are None when a side has no outcomes.
    """
    months = settings.default("window_months")
    catalog = playbook_catalog(store) if catalog is None else catalog
    windows = playbook_windows(catalog, filters, months)
    counts = _outcome_counts(store, filters, windows, by_month=False)
    by_playbook: dict[str, dict] = {}
    for rec in counts.itertuples(index=False):  # at most two rows per playbook
        by_playbook.setdefault(rec.playbook_id, {})[rec.side] = (int(rec.successes), int(rec.n))
    rows = [_compare(row, by_playbook.get(row["playbook_id"], {}), months)
            for row in windows.to_dict("records")]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["p_value_adjusted"] = stats.benjamini_hochberg(frame["p_value"].tolist())
    return frame.astype(object).where(frame.notna(), None)


def monthly_series(store: Store, filters: Filters | None, playbook_id: str,
                   catalog: pd.DataFrame | None = None) -> pd.DataFrame:
    """Month by month outcome rate of one playbook's metric across both windows.

    Returns
    -------
    DataFrame with month (first day, a date), side ("before" | "after"), n, successes, rate,
    ci_low, ci_high (Wilson); only months with outcomes, in order. Empty when the playbook is
    unknown.
    """
    catalog = playbook_catalog(store) if catalog is None else catalog
    windows = playbook_windows(catalog, (filters or Filters()).with_(playbook_id=playbook_id))
    counts = _outcome_counts(store, filters, windows, by_month=True)
    if counts.empty:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    props = [stats.wilson(s, n) for s, n in zip(counts["successes"], counts["n"])]
    series = pd.DataFrame({
        "month": [pd.Timestamp(m).date() for m in counts["month"]],
        "side": counts["side"].tolist(),
        "n": [p.n for p in props],
        "successes": [p.successes for p in props],
        "rate": [p.rate for p in props],
        "ci_low": [p.ci_low for p in props],
        "ci_high": [p.ci_high for p in props],
    })
    return series.sort_values("month", ignore_index=True)


def _side_json(row: dict, side: str) -> dict:
    return {k: row[f"{side}_{k}"] for k in ("n", "successes", "rate", "ci_low", "ci_high")}


def before_after_json(store: Store, filters: Filters | None = None,
                      catalog: pd.DataFrame | None = None) -> list[dict]:
    """The `before_after` key of `metrics --json`: one dict per playbook, None for missing
    values, dates as ISO strings."""
    catalog = playbook_catalog(store) if catalog is None else catalog
    frame = before_after(store, filters, catalog)
    # Which date the windows rest on, and why when the definition and the data disagree.
    notes = introduction_notes(catalog)
    out = []
    for row in frame.to_dict("records"):
        out.append({
            "playbook_id": row["playbook_id"],
            "metric": row["metric"],
            "introduced_on": row["introduced_on"].isoformat(),
            "window_start": row["window_start"].isoformat(),
            "window_end": row["window_end"].isoformat(),
            "before": _side_json(row, "before"),
            "after": _side_json(row, "after"),
            **{k: _json_value(row[k]) for k in ("diff", "diff_ci_low", "diff_ci_high",
                                                 "p_value", "p_value_adjusted", "test",
                                                 "verdict")},
            **notes.get(row["playbook_id"], {}),
        })
    return out


def _json_value(value):
    """A JSON-safe scalar: text as is, numbers as finite floats, anything missing as None."""
    if value is None or isinstance(value, str):
        return value
    value = float(value)
    return value if math.isfinite(value) else None

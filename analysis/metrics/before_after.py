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

import pandas as pd

from analysis.context import Context
from analysis.metrics import stats
from analysis.metrics.claims import more_needed_for
from analysis.metrics.compare import compare_proportions, thresholds
from analysis.metrics.designs import (assess as design, horizon, rollout_gaps, rollouts,
                                      staggered)
from analysis.metrics.designs.multiplicity import adjust_frame
from analysis.playbooks.catalog import introduction_notes
from analysis.filters import Filters
from analysis.scope import scoped
from analysis.store import Store

SIDES = ("before", "after")
COLUMNS = [
    "playbook_id", "name", "metric", "introduced_on", "window_start", "window_end",
    *(f"{side}_{col}" for side in SIDES
      for col in ("n", "successes", "rate", "ci_low", "ci_high")),
    "diff", "diff_ci_low", "diff_ci_high", "p_value", "p_value_adjusted", "test", "verdict",
    "more_needed",
]
SERIES_COLUMNS = ["month", "side", "n", "successes", "rate", "ci_low", "ci_high"]


# -- windows ----------------------------------------------------------------------------------
def playbook_windows(catalog: pd.DataFrame, filters: Filters | None, months: int) -> pd.DataFrame:
    """One row per playbook: playbook_id, name, metric, scenario, introduced_on, window_start,
    window_end (dates; the window is [window_start, window_end), `months` (the window_months
    setting) each side of introduced_on), sorted by playbook_id.

    Playbooks without an introduction date are left out; Filters.playbook_id keeps only that one.
    """
    months = int(months)
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
    renewals_sql, renewals_params = scoped("decided_renewals", filters, period=False)
    runs_sql, runs_params = scoped("closed_runs", filters, period=False)
    month = ", date_trunc('month', o.day)::DATE AS month" if by_month else ""
    outcomes = f"""
            -- a renewal is decided on its renewal_date
            SELECT 'renewal_rate' AS metric, '' AS scenario, renewal_date AS day,
                   renewed AS success
            FROM {renewals_sql} r
            UNION ALL
            -- a run counts once closed, on the day it opened
            SELECT 'success_rate', scenario, opened_on, succeeded
            FROM {runs_sql} q"""
    selected = f"""CASE WHEN o.day < w.introduced_on THEN 'before' ELSE 'after' END AS side
                   {month},
                   count(*) AS n,
                   count(*) FILTER (WHERE o.success) AS successes"""
    counts = horizon.outcomes_by_window(store, windows, outcomes, selected,
                                        [*renewals_params, *runs_params])
    return counts[columns]


def _compare(row: dict, counts: dict, settings) -> dict:
    """The comparison of one playbook as a flat dict of COLUMNS; `counts` maps a side to
    (successes, n)."""
    (s_b, n_b), (s_a, n_a) = (counts.get(side, (0, 0)) for side in SIDES)
    cmp = compare_proportions(s_a, n_a, s_b, n_b, **thresholds(settings))
    out = {k: row[k] for k in ("playbook_id", "name", "metric", "introduced_on",
                               "window_start", "window_end")}
    for side, prop in (("before", cmp.b), ("after", cmp.a)):
        out.update({f"{side}_{k}": v for k, v in prop.as_dict().items()})
    # more_needed belongs to the claim, which rests on the design (_with_design), not on this
    # plain comparison.
    out.update(diff=cmp.diff, diff_ci_low=cmp.diff_ci_low, diff_ci_high=cmp.diff_ci_high,
               p_value=cmp.p_value, test=cmp.test, more_needed=None)
    return out


# -- public -----------------------------------------------------------------------------------
def before_after(ctx: Context) -> pd.DataFrame:
    """Outcome metric before and after each playbook's introduction.

    Parameters
    ----------
    ctx : Context
        Its filters' segment and team restrict the renewals and runs counted; playbook_id keeps
        one playbook; the period is ignored (the windows are fixed by the introduction date).
        Its catalogue gives the playbooks and introductions, its settings the windows
        (window_months), horizon, alpha and claim thresholds.

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
        (Benjamini–Hochberg across the playbooks shown), test, verdict (plain text, from the
        claim), then the effect design's columns (designs.assess.ROW_COLUMNS): claim,
        effect_method, effect_estimate, effect_ci_low, effect_ci_high, effect_p_value
        (interrupted time series: the level change at the introduction beyond the pre-trend;
        difference_in_differences when a `rollouts` export dates two or more adoptions of
        the playbook by team or segment: the change after each group's rollout against the
        groups not yet using it, designs.staggered), pending_before, pending_after (outcomes
        inside their horizon), ready_on, why, more_needed (for the claim shown, from the
        design it rests on, designs.assess: under not_enough_data the decided outcomes
        missing over both sides, i.e. the shortfall of the count rule that decided, else the
        outcomes the effect needs for 80% power to detect a change of min_detectable_lift
        (stats.design_more_needed; None when neither can be said: too few months, a series
        that cannot be fitted); 0 for no_clear_change; None for a directional claim and
        too_early), then rollout_group_kind ('team' | 'segment'), rollout_groups,
        rollout_adopted, rollout_treated, rollout_comparison (designs.staggered.RolloutFit),
        rollout_warnings (tuple of sentences), rollout_groups_adding_nothing,
        rollout_runs_in_comparison (tuples of dicts; designs.rollout_gaps): all None under
        the time series.
        Rates and bounds are None when a side has no outcomes.
    """
    s = ctx.settings
    windows = playbook_windows(ctx.catalog, ctx.filters, s.window_months)
    counts = _outcome_counts(ctx.store, ctx.filters, windows, by_month=False)
    by_playbook: dict[str, dict] = {}
    for rec in counts.itertuples(index=False):  # at most two rows per playbook
        by_playbook.setdefault(rec.playbook_id, {})[rec.side] = (int(rec.successes), int(rec.n))
    rows = [_compare(row, by_playbook.get(row["playbook_id"], {}), s)
            for row in windows.to_dict("records")]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["p_value_adjusted"] = stats.benjamini_hochberg(frame["p_value"].tolist())
    frame = _with_design(ctx, windows, frame)
    return frame.astype(object).where(frame.notna(), None)


def _with_design(ctx: Context, windows: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Adds the design's columns (designs.assess.ROW_COLUMNS: claim, the effect, pending,
    ready_on, why), rewrites `verdict` from the claim, adjusts the claims shown together
    (multiplicity.adjust_frame) and gives each final claim its `more_needed`."""
    store, s = ctx.store, ctx.settings
    as_of = horizon.data_as_of(store, s.as_of)
    fit = horizon.fit_windows(windows, s.its_pre_months, s.window_months)
    monthly = horizon.matured_monthly(store, ctx.filters, fit, as_of, s.outcome_horizon_days)
    runs = horizon.runs_per_playbook(store)
    fits, gaps = _rollout_fits(ctx, windows, as_of)
    found = [design.assess(window, monthly[monthly["playbook_id"] == window["playbook_id"]],
                           as_of, runs.get(window["playbook_id"], 0), s,
                           fits.get(window["playbook_id"]))
             for window in windows.to_dict("records")]
    flat = pd.DataFrame([a.to_row() for a in found], columns=design.ROW_COLUMNS,
                        index=frame.index)
    rolled = pd.DataFrame([{**fits[pid].to_row(), **gaps[pid].to_row()} if pid in fits
                           else {**staggered.NO_ROLLOUT, **rollout_gaps.NO_ROLLOUT}
                           for pid in windows["playbook_id"]],
                          columns=[*staggered.ROW_COLUMNS, *rollout_gaps.ROW_COLUMNS],
                          index=frame.index)
    frame = pd.concat([frame, flat, rolled], axis=1)
    frame["verdict"] = [design.verdict_text(a.claim, before, after, a.effect, a.why)
                        for a, before, after
                        in zip(found, frame["before_rate"], frame["after_rate"])]
    frame = adjust_frame(frame, s.alpha)
    # After the adjustment: a direction it reduced to not_enough_data is sized like any other.
    frame["more_needed"] = [more_needed_for(claim, a.missing)
                            for claim, a in zip(frame["claim"], found)]
    return frame


def _rollout_fits(ctx: Context, windows: pd.DataFrame, as_of
                  ) -> tuple[dict[str, staggered.RolloutFit], dict[str, rollout_gaps.RolloutGaps]]:
    """The difference-in-differences of each playbook rolled out group by group (a `rollouts`
    export), by playbook_id (designs.rollouts), and what each leaves out or reads wrongly
    (designs.rollout_gaps), for the same playbooks."""
    s = ctx.settings
    pre_months = max(s.its_pre_months, s.window_months)
    cells = rollouts.rollout_cells(ctx.store, ctx.filters, windows, as_of,
                                   s.outcome_horizon_days, pre_months, s.window_months)
    fits = rollouts.rollout_fits(cells, s.alpha, s.min_outcomes_per_side,
                                 s.its_exclude_months, s.window_months)
    # Only playbooks resting on the design: most organisations pay no extra query.
    gaps = rollout_gaps.rollout_gaps(ctx.store, ctx.filters,
                                     windows[windows["playbook_id"].isin(list(fits))], cells,
                                     as_of, pre_months, s.window_months, s.its_exclude_months)
    return fits, gaps


def monthly_series(ctx: Context, playbook_id: str) -> pd.DataFrame:
    """Month by month outcome rate of one playbook's metric across both windows (the filters'
    segment and team apply, not their playbook).

    Returns
    -------
    DataFrame with month (first day, a date), side ("before" | "after"), n, successes, rate,
    ci_low, ci_high (Wilson); only months with outcomes, in order. Empty when the playbook is
    unknown.
    """
    windows = playbook_windows(ctx.catalog, ctx.filters.with_(playbook_id=playbook_id),
                               ctx.settings.window_months)
    counts = _outcome_counts(ctx.store, ctx.filters, windows, by_month=True)
    if counts.empty:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    alpha = ctx.settings.alpha
    props = [stats.wilson(s, n, alpha) for s, n in zip(counts["successes"], counts["n"])]
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


def before_after_json(ctx: Context) -> list[dict]:
    """The `before_after` key of `metrics --json`: one dict per playbook, None for missing
    values, dates as ISO strings."""
    frame = before_after(ctx)
    # Which date the windows rest on, and why when the definition and the data disagree.
    notes = introduction_notes(ctx.catalog)
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
            **design.json_from_row(row),  # effect, claim, pending, ready_on, why
            "rollout": _rollout_json(row),
            "more_needed": None if row["more_needed"] is None else int(row["more_needed"]),
            **notes.get(row["playbook_id"], {}),
        })
    return out


def _rollout_json(row: dict) -> dict | None:
    """The groups the difference-in-differences compared (None under the time series), and
    what it leaves out or reads wrongly (designs.rollout_gaps): `warnings`, one plain sentence
    each, `groups_adding_nothing` [{group, rolled_out_on, first_outcome_month, reason}] and
    `runs_in_comparison` [{group, runs, rolled_out_on (None: no rollout row)}]."""
    if row.get("rollout_group_kind") is None:
        return None
    return {"group_kind": row["rollout_group_kind"],
            **{key: int(row[column]) for key, column in (
                ("groups", "rollout_groups"), ("adopted_groups", "rollout_adopted"),
                ("treated_outcomes", "rollout_treated"),
                ("comparison_outcomes", "rollout_comparison"))},
            **{key: [*(row.get(column) or ())] for key, column in (
                ("warnings", "rollout_warnings"),
                ("groups_adding_nothing", "rollout_groups_adding_nothing"),
                ("runs_in_comparison", "rollout_runs_in_comparison"))}}


def _json_value(value):
    """A JSON-safe scalar: text as is, numbers as finite floats, anything missing as None."""
    if value is None or isinstance(value, str):
        return value
    value = float(value)
    return value if math.isfinite(value) else None

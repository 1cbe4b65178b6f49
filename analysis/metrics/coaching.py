"""Coaching: where a playbook's steps are skipped or late, per CSM, so a manager can tell a bad
step (everyone skips it, and skipping it goes with failed runs) from a CSM who needs coaching
(skips or runs late far more than the rest of the team).

Everything comes from `run_steps` joined to the playbook's runs in scope. A step is late when it
was completed after its due date, or is still open past its due date on the data's last day;
steps without a due date (or skipped, or done without a completion date) have no lateness.
"""
from __future__ import annotations

import pandas as pd

from analysis.context import Context
from analysis.metrics import stats
from analysis.scope import scoped

# Below this many steps a CSM's rate is too noisy to single out (a 95% Wilson interval on 20
# steps is still about ±20 points wide), so no flag is raised on fewer.
MIN_STEPS_TO_FLAG = 20
MEASURES = {"skip": ("skipped", "steps"), "late": ("late", "late_n")}


# Shared CTEs: one row per step of the playbook's runs in scope ({runs}, bound to the playbook
# id), with its CSM, the run's outcome, and whether it was skipped / late as of the data's last
# day (the last run opened or step completed).
_STEP_ROWS = """
        with runs as (select run_id, csm_id, outcome from {runs} r where playbook_id = ?),
        as_of as (
            select greatest(coalesce((select max(opened_on) from playbook_runs), DATE '1900-01-01'),
                            coalesce((select max(completed_on) from run_steps), DATE '1900-01-01'))
                   as day
        ),
        steps as (
            select s.step_id, r.run_id, r.csm_id, r.outcome,
                   s.status = 'skipped' as skipped,
                   case when s.due_on is null or s.status = 'skipped' then null
                        when s.completed_on is not null then s.completed_on > s.due_on
                        when s.status = 'done' then null
                        else s.due_on < (select day from as_of) end as late
            from run_steps s join runs r using (run_id)
        )
"""


def _order(frame: pd.DataFrame) -> pd.DataFrame:
    """Steps in their playbook order (the number in step_id, then the id)."""
    number = pd.to_numeric(frame["step_id"].str.extract(r"(\d+)")[0], errors="coerce")
    return (frame.assign(_n=number).sort_values(["_n", "step_id"], na_position="last")
            .drop(columns="_n").reset_index(drop=True))


def _rates(frame: pd.DataFrame, alpha: float) -> pd.DataFrame:
    for measure, (events, n) in MEASURES.items():
        rate, low, high = stats.wilson_arrays(frame[events], frame[n], alpha)
        frame[f"{measure}_rate"], frame[f"{measure}_ci_low"], frame[f"{measure}_ci_high"] = \
            rate, low, high
    return frame


def step_csm_matrix(ctx: Context, playbook_id: str) -> pd.DataFrame:
    """Skip and lateness rates of each step of a playbook, per CSM (within the context's
    filters).

    Returns
    -------
    DataFrame, one row per (step_id, csm_id) in step order then CSM name: step_id, csm_id,
    name (the roster's, else the id), steps (step rows), skipped, skip_rate, skip_ci_low,
    skip_ci_high, late_n (steps with a lateness: a due date and done with a date, or open),
    late, late_rate, late_ci_low, late_ci_high. Rates are NaN where their n is 0; intervals
    are Wilson at the `alpha` setting. Runs without a CSM are left out.
    """
    runs_sql, params = scoped("playbook_runs", ctx.filters)
    frame = ctx.store.query(_STEP_ROWS.format(runs=runs_sql) + """
        select st.step_id, st.csm_id,
               coalesce(nullif(trim(c.name), ''), st.csm_id) as name,
               count(*) as steps, count(*) filter (where skipped) as skipped,
               count(late) as late_n, count(*) filter (where late) as late
        from steps st left join csms c using (csm_id)
        where st.csm_id is not null
        group by all
    """, [*params, playbook_id])
    frame = _order(frame.sort_values(["name", "csm_id"]))
    counts = ["steps", "skipped", "late_n", "late"]
    frame[counts] = frame[counts].astype("int64")
    return _rates(frame, ctx.settings.alpha)


def separating_steps(ctx: Context, playbook_id: str) -> pd.DataFrame:
    """The steps whose skipping goes with failed runs: skip rate in failed closed runs against
    skip rate in successful ones.

    Returns
    -------
    DataFrame, one row per step, largest difference first: step_id, success_n,
    success_skipped, success_skip_rate, failure_n, failure_skipped, failure_skip_rate,
    diff (failure − success skip rate), diff_ci_low, diff_ci_high (Newcombe's hybrid score
    interval), p_value, test (Fisher's exact or the z-test), separates (True when the
    interval excludes zero). Only closed runs with an outcome of success or failure count.
    """
    runs_sql, params = scoped("closed_runs", ctx.filters)
    s = ctx.settings
    counts = ctx.store.query(_STEP_ROWS.format(runs=runs_sql) + """
        select step_id,
               count(*) filter (where outcome = 'success') as success_n,
               count(*) filter (where outcome = 'success' and skipped) as success_skipped,
               count(*) filter (where outcome = 'failure') as failure_n,
               count(*) filter (where outcome = 'failure' and skipped) as failure_skipped
        from steps
        group by step_id
    """, [*params, playbook_id])
    rows = []
    for r in counts.to_dict("records"):  # one row per step of one playbook: a handful
        s_n, s_k, f_n, f_k = (int(r[k]) for k in ("success_n", "success_skipped", "failure_n",
                                                   "failure_skipped"))
        diff, low, high = stats.newcombe_diff(f_k, f_n, s_k, s_n, s.alpha)
        p, test = stats.two_proportion_p(f_k, f_n, s_k, s_n, s.small_cell)
        rows.append({"step_id": r["step_id"], "success_n": s_n, "success_skipped": s_k,
                     "success_skip_rate": s_k / s_n if s_n else None,
                     "failure_n": f_n, "failure_skipped": f_k,
                     "failure_skip_rate": f_k / f_n if f_n else None,
                     "diff": diff, "diff_ci_low": low, "diff_ci_high": high,
                     "p_value": p, "test": test,
                     "separates": low is not None and (low > 0 or high < 0)})
    columns = ["step_id", "success_n", "success_skipped", "success_skip_rate", "failure_n",
               "failure_skipped", "failure_skip_rate", "diff", "diff_ci_low", "diff_ci_high",
               "p_value", "test", "separates"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("diff", ascending=False, na_position="last",
                             key=lambda d: d.astype(float)).reset_index(drop=True)


def csm_differences(matrix: pd.DataFrame, alpha: float,
                    min_steps: int = MIN_STEPS_TO_FLAG) -> pd.DataFrame:
    """Each CSM's skip and lateness rates over all the playbook's steps against the rest of
    the team's, from a `step_csm_matrix` frame.

    A CSM is flagged when they have at least `min_steps` steps for the measure and their own
    Wilson interval (at `alpha`) lies entirely above ("more") or below ("less") the rate of
    the other CSMs in view; with fewer steps the flag says "too few".

    Returns
    -------
    DataFrame, one row per (csm_id, measure) sorted by measure then rate (highest first):
    csm_id, name, measure ("skip" / "late"), n, events, rate, ci_low, ci_high, team_n,
    team_events, team_rate (the other CSMs pooled), flag ("more", "less", "in line",
    "too few").
    """
    columns = ["csm_id", "name", "measure", "n", "events", "rate", "ci_low", "ci_high",
               "team_n", "team_events", "team_rate", "flag"]
    if matrix.empty:
        return pd.DataFrame(columns=columns)
    per_csm = matrix.groupby(["csm_id", "name"], as_index=False)[
        ["steps", "skipped", "late_n", "late"]].sum()
    frames = []
    for measure, (events, n) in MEASURES.items():
        part = pd.DataFrame({"csm_id": per_csm["csm_id"], "name": per_csm["name"],
                             "measure": measure, "n": per_csm[n], "events": per_csm[events]})
        part["rate"], part["ci_low"], part["ci_high"] = stats.wilson_arrays(
            part["events"], part["n"], alpha)
        part["team_n"] = part["n"].sum() - part["n"]
        part["team_events"] = part["events"].sum() - part["events"]
        part["team_rate"] = part["team_events"] / part["team_n"].where(part["team_n"] > 0)
        part["flag"] = [_flag(*r, min_steps) for r in zip(
            part["n"], part["ci_low"], part["ci_high"], part["team_rate"])]
        frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    return (out.sort_values(["measure", "rate"], ascending=[False, False], na_position="last")
            .reset_index(drop=True)[columns])


def _flag(n, low, high, team_rate, min_steps: int) -> str:
    if n < min_steps or pd.isna(team_rate):
        return "too few"
    if low > team_rate:
        return "more"
    if high < team_rate:
        return "less"
    return "in line"


def coaching_view(ctx: Context, playbook_id: str) -> dict:
    """The three frames the coaching view shows for one playbook: 'matrix'
    (`step_csm_matrix`), 'steps' (`separating_steps`), 'csms' (`csm_differences`), the
    'min_steps' a flag needs and the 'alpha' of every interval."""
    matrix = step_csm_matrix(ctx, playbook_id)
    alpha = ctx.settings.alpha
    return {"matrix": matrix, "steps": separating_steps(ctx, playbook_id),
            "csms": csm_differences(matrix, alpha), "min_steps": MIN_STEPS_TO_FLAG,
            "alpha": alpha}

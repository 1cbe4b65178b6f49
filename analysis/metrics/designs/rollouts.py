"""Which playbooks were rolled out group by group, and the difference-in-differences each gets.

A `rollouts` export dates each group's adoption of a playbook: a team (matched to csms.team
of the CSM an outcome belongs to) or a segment (accounts.segment of its account), names
compared with case and spacing ignored. A playbook whose rows name both kinds is analysed by
the kind more of its rows name (a tie: teams). Groups with outcomes that the export does not
name never adopted the playbook: they are a comparison throughout. The design applies when the
groups with outcomes adopted in at least two different months, counting "never" as one
(designs.staggered holds the estimator; this module gathers its cells in SQL, and the export's
rows and the runs carrying each playbook that designs.rollout_gaps checks the fit against).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date

import pandas as pd

from analysis.filters import Filters
from analysis.metrics.designs import staggered
from analysis.metrics.designs.horizon import outcomes_sql, windows_sql
from analysis.scope import scoped
from analysis.store import Store

CELL_COLUMNS = ["playbook_id", "group_kind", *staggered.CELL_COLUMNS]
ADOPTION_COLUMNS = ["playbook_id", "group_kind", "group", "label", "rolled_out_on"]
CARRIED_COLUMNS = ["playbook_id", "group", "label", "month", "runs"]


def rollout_cells(store: Store, filters: Filters | None, windows: pd.DataFrame, as_of: date,
                  horizon_days: int, pre_months: int, window_months: int) -> pd.DataFrame:
    """Decided outcomes per playbook with rollouts, group and calendar month.

    Parameters
    ----------
    windows : DataFrame
        playbook_windows(): playbook_id, metric, scenario, introduced_on, window_start,
        window_end (the metric and scenario say which outcomes are the playbook's).
    as_of, horizon_days : an outcome counts once its horizon has passed by as_of
        (designs.horizon).
    pre_months, window_months : months read before the first rollout and after the last.

    Returns
    -------
    DataFrame playbook_id, group_kind ('team' | 'segment'), group (lower case), month
    (year · 12 + month − 1), n, successes, adopted (the month index of the group's rollout; NaN: never). Outcomes whose
    group is unknown (no CSM team, no account segment) are left out.
    """
    # Most organisations have no rollouts export: skip reading every outcome again.
    if windows.empty or as_of is None or not store.scalar("SELECT count(*) FROM rollouts"):
        return pd.DataFrame(columns=CELL_COLUMNS)
    outcomes, params = outcomes_sql(filters, as_of, horizon_days)
    h = int(horizon_days)
    frame = _with_windows(store, windows, lambda view: _cells_sql(view, outcomes),
                          [*params, int(pre_months), int(window_months), h, as_of, h, as_of])
    frame["adopted"] = frame["adopted"].astype(float)
    return frame[CELL_COLUMNS]


def _rollout_ctes(view: str) -> str:
    """The CTEs every rollout query starts with (after WITH): `windows` (the registered
    playbook_windows() frame), `kinds` (per playbook with rollouts: group_kind, the first and
    last rolled_out_on) and `adoptions` (per playbook and group, lower case: its first
    rolled_out_on and `label`, the group as the export spells it). How the export is read (the
    kind more of a playbook's rows name, names with case and spacing ignored) is the semantic
    layer's `rollout_kinds` and `rollout_adoptions`, which usage's playbook share reads too."""
    return f"""
        windows AS ({windows_sql(view)}),
        kinds AS (
            SELECT playbook_id, group_kind, first_on, last_on FROM rollout_kinds
            WHERE playbook_id IN (SELECT playbook_id FROM windows)
        ),
        adoptions AS (
            SELECT playbook_id, "group" AS grp, label, rolled_out_on FROM rollout_adoptions
            WHERE playbook_id IN (SELECT playbook_id FROM windows)
        )"""


def _cells_sql(view: str, outcomes: str) -> str:
    return f"""
        WITH {_rollout_ctes(view)},
        outcomes AS ({outcomes}),
        labelled AS (
            SELECT w.playbook_id, k.group_kind, o.day, o.success,
                   CASE WHEN k.group_kind = 'team' THEN lower(trim(c.team))
                        ELSE lower(trim(a.segment)) END AS grp
            FROM windows w
            JOIN kinds k USING (playbook_id)
            JOIN outcomes o
              ON o.metric = w.metric AND o.scenario = w.scenario
             AND o.day >= k.first_on - to_months(?::INTEGER)
             AND o.day < k.last_on + to_months(?::INTEGER)
            LEFT JOIN csms c ON c.csm_id = o.csm_id
            LEFT JOIN accounts a ON a.account_id = o.account_id
        ),
        final AS (
            SELECT l.playbook_id, l.group_kind, l.grp AS "group",
                   year(l.day) * 12 + month(l.day) - 1 AS month,
                   count(*) FILTER (WHERE l.day + ?::INTEGER <= ?) AS n,
                   count(*) FILTER (WHERE l.day + ?::INTEGER <= ? AND l.success) AS successes,
                   year(d.rolled_out_on) * 12 + month(d.rolled_out_on) - 1 AS adopted
            FROM labelled l
            LEFT JOIN adoptions d ON d.playbook_id = l.playbook_id AND d.grp = l.grp
            WHERE l.grp IS NOT NULL
            GROUP BY ALL
        )
        SELECT * FROM final WHERE n > 0 ORDER BY ALL
    """


def rollout_adoptions(store: Store, windows: pd.DataFrame) -> pd.DataFrame:
    """Each group's rollout of each playbook of `windows` (playbook_windows() rows).

    Returns
    -------
    DataFrame playbook_id, group_kind, group (lower case, as rollout_cells() names it), label
    (the group as the export spells it), rolled_out_on (a date: the group's first), sorted.
    """
    if windows.empty:
        return pd.DataFrame(columns=ADOPTION_COLUMNS)
    frame = _with_windows(store, windows, _adoptions_sql, [])
    frame["rolled_out_on"] = [pd.Timestamp(d).date() for d in frame["rolled_out_on"]]
    return frame[ADOPTION_COLUMNS]


def runs_with_playbook(store: Store, filters: Filters | None, windows: pd.DataFrame,
                       as_of: date, pre_months: int, window_months: int) -> pd.DataFrame:
    """Runs that carry each playbook of `windows`, per group and month, over the months
    rollout_cells() reads (`pre_months` before the first rollout to `window_months` after
    the last) and opened by `as_of`; the filters' segment, team and CSM apply.

    Returns
    -------
    DataFrame playbook_id, group (lower case, labelled as rollout_cells() labels outcomes: the
    run's CSM's team or its account's segment, by the playbook's group kind), label (the group
    as the roster or accounts spell it), month (year · 12 + month − 1), runs. Runs whose group
    is unknown are left out.
    """
    if windows.empty or as_of is None:
        return pd.DataFrame(columns=CARRIED_COLUMNS)
    runs, params = scoped("playbook_runs", filters, period=False)
    frame = _with_windows(store, windows, lambda view: _carried_sql(view, runs),
                          [*params, int(pre_months), int(window_months), as_of])
    return frame[CARRIED_COLUMNS]


def _adoptions_sql(view: str) -> str:
    return f"""
        WITH {_rollout_ctes(view)},
        final AS (
            SELECT d.playbook_id, k.group_kind, d.grp AS "group", d.label, d.rolled_out_on
            FROM adoptions d JOIN kinds k USING (playbook_id)
        )
        SELECT * FROM final ORDER BY ALL
    """


def _carried_sql(view: str, runs: str) -> str:
    return f"""
        WITH {_rollout_ctes(view)},
        runs AS (SELECT * FROM {runs} q),
        labelled AS (
            SELECT w.playbook_id, q.opened_on,
                   CASE WHEN k.group_kind = 'team' THEN c.team ELSE a.segment END AS spelled
            FROM windows w
            JOIN kinds k USING (playbook_id)
            JOIN runs q
              ON q.playbook_id = w.playbook_id
             AND q.opened_on >= k.first_on - to_months(?::INTEGER)
             AND q.opened_on < k.last_on + to_months(?::INTEGER)
             AND q.opened_on <= ?
            LEFT JOIN csms c ON c.csm_id = q.csm_id
            LEFT JOIN accounts a ON a.account_id = q.account_id
        ),
        final AS (
            SELECT playbook_id, lower(trim(spelled)) AS "group", min(trim(spelled)) AS label,
                   year(opened_on) * 12 + month(opened_on) - 1 AS month, count(*) AS runs
            FROM labelled
            WHERE spelled IS NOT NULL
            GROUP BY playbook_id, "group", month
        )
        SELECT * FROM final ORDER BY ALL
    """


def _with_windows(store: Store, windows: pd.DataFrame, sql: Callable[[str], str],
                  params: list) -> pd.DataFrame:
    """Run the query `sql(view)` with the windows frame registered as `view` while it runs."""
    view = f"rollout_windows_{uuid.uuid4().hex}"
    store.register(view, windows)
    try:
        return store.query(sql(view), params)
    finally:
        store.unregister(view)


def applies(cells: pd.DataFrame) -> bool:
    """True when the groups with outcomes adopted in at least two different months, a group
    that never adopted counting as one: there is someone to compare with."""
    adopted = cells.groupby("group")["adopted"].first()
    return adopted.notna().any() and adopted.fillna(-1).nunique() >= 2


def rollout_fits(cells: pd.DataFrame, alpha: float, min_outcomes: int, exclude_months: int,
                 window_months: int) -> dict[str, staggered.RolloutFit]:
    """The difference-in-differences of every playbook of `cells` (rollout_cells()) the
    design applies to, by playbook_id; playbooks it does not apply to are left out."""
    fits = {}
    for (playbook_id, kind), group in cells.groupby(["playbook_id", "group_kind"]):
        if applies(group):
            fit = staggered.did_effect(group, alpha, min_outcomes, exclude_months,
                                       window_months)
            fits[playbook_id] = replace(fit, group_kind=kind)
    return fits

"""Playbook usage: runs and views per playbook, adherence and playbook share per CSM, step funnels.

Definitions (DESIGN.md "Usage"): a run's adherence and the date its scenario's playbooks
reached it (their first introduction, or the rollout to its team or segment when a `rollouts`
export dates the playbook group by group) come from the semantic layer (`runs_with_adherence`,
`scenario_introductions`, `scenario_rollouts` in analysis/semantic/); a run with no steps has
no adherence and is left out of every mean. Usage counts open runs too.
"""
from __future__ import annotations

import pandas as pd

from analysis import semantic
from analysis.context import Context
from analysis.metrics import stats
from analysis.filters import Filters
from analysis.ingest.names import display_name
from analysis.jsonable import records
from analysis.scope import scoped
from analysis.store import Store

_FREQ = {"M": "month", "Q": "quarter", "Y": "year"}

# DESIGN.md's `usage` keys of `metrics --json`; the extra columns ride along.
PLAYBOOK_KEYS = ("playbook_id", "runs", "views", "csms_using", "mean_adherence")
CSM_KEYS = ("csm_id", "runs", "mean_adherence", "playbook_share", "consistent", "rare")


def runs_with_adherence_sql(filters: Filters | None) -> tuple[str, list]:
    """Scoped runs with their `adherence` (the semantic layer's `runs_with_adherence`); returns
    (subquery sql, params) to be used as `FROM {sql} AS r`."""
    return scoped("runs_with_adherence", filters)


def _playbook_clause(filters: Filters | None, column: str = "playbook_id") -> tuple[str, list]:
    if filters is not None and filters.playbook_id is not None:
        return f" and {column} = ?", [filters.playbook_id]
    return "", []


def playbook_usage(ctx: Context, freq: str = "Q") -> pd.DataFrame:
    """Runs opened and views per playbook per period, within the context's filters.

    Parameters
    ----------
    freq : "M", "Q" or "Y"
        Calendar month, quarter or year.

    Returns
    -------
    DataFrame sorted by period then playbook_id: period (datetime.date, the period's first day),
    playbook_id, runs (opened in the period, open ones included), views.
    """
    if freq not in _FREQ:
        raise ValueError(f"freq must be one of {', '.join(_FREQ)}, got {freq!r}")
    unit, store, filters = _FREQ[freq], ctx.store, ctx.filters
    runs_sql, run_params = scoped("playbook_runs", filters)
    views_sql, view_params = scoped("playbook_views", filters)
    run_pb, run_pb_params = _playbook_clause(filters)
    view_pb, view_pb_params = _playbook_clause(filters)
    frame = store.query(f"""
        with runs as (
            select cast(date_trunc('{unit}', opened_on) as date) as period, playbook_id,
                   count(*) as runs
            from {runs_sql} r
            where playbook_id is not null{run_pb}
            group by all
        ),
        views as (
            select cast(date_trunc('{unit}', viewed_at) as date) as period, playbook_id,
                   count(*) as views
            from {views_sql} v
            where playbook_id is not null{view_pb}
            group by all
        ),
        final as (
            select period, playbook_id, coalesce(runs.runs, 0) as runs,
                   coalesce(views.views, 0) as views
            from runs full outer join views using (period, playbook_id)
        )
        select * from final order by period, playbook_id
    """, [*run_params, *run_pb_params, *view_params, *view_pb_params])
    frame["period"] = pd.to_datetime(frame["period"]).dt.date
    return frame.astype({"runs": "int64", "views": "int64"})


def usage_by_playbook(ctx: Context) -> pd.DataFrame:
    """Usage per playbook over the whole filtered period.

    Every playbook of the catalogue is listed (a defined playbook nobody ran shows 0 runs),
    plus any playbook id seen in runs or views.

    Returns
    -------
    DataFrame sorted by playbook_id: playbook_id, name, runs (open ones included), open_runs,
    views, csms_using (distinct CSMs with a run), mean_adherence (over runs that have steps;
    None when none has), adherence_n (those runs), followed_runs (adherence at or above the
    follower threshold).
    """
    # The per-CSM rollup costs next to nothing once the runs are grouped (see usage_tables).
    return usage_tables(ctx)[0]


def _playbook_rows(frame: pd.DataFrame, catalog: pd.DataFrame,
                   filters: Filters | None) -> pd.DataFrame:
    """The per-playbook aggregate joined to the catalogue, typed and sorted."""
    listed = catalog[["playbook_id", "name"]]
    if filters is not None and filters.playbook_id is not None:
        listed = listed[listed["playbook_id"] == filters.playbook_id]
    frame = listed.merge(frame, on="playbook_id", how="outer")
    counts = ["runs", "open_runs", "views", "csms_using", "adherence_n", "followed_runs"]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    frame["mean_adherence"] = _stable_mean(frame["mean_adherence"])
    frame["name"] = frame["name"].where(frame["name"].notna(),
                                        frame["playbook_id"].map(display_name))
    columns = ["playbook_id", "name", "runs", "open_runs", "views", "csms_using",
               "mean_adherence", "adherence_n", "followed_runs"]
    return frame[columns].sort_values("playbook_id", ignore_index=True)


def usage_by_csm(ctx: Context) -> pd.DataFrame:
    """Usage per CSM: how much of their work went through a playbook, and how closely.

    `runs` counts all the CSM's runs (every scenario, open ones too). `playbook_share` is the
    share of their *eligible* runs that used a playbook. A run is eligible when it opened on or
    after the first date any playbook of its scenario (in the catalogue) reached it: the
    playbook's introduction, or, for a playbook a `rollouts` export dates group by group, the
    rollout to the run's group (its CSM's team or its account's segment, by the kind the
    playbook's rows name). A group the export does not name has not been reached, so its runs
    without a playbook do not count; a run that carries a rolled-out playbook always counts
    (used), wherever and whenever it opened, so no use is hidden. Without a rollouts export
    this is DESIGN.md's rule: on or after the scenario's first playbook's introduction. Mean
    adherence is over their playbook runs that have steps. The playbook filter does not
    narrow these rows: a share is about all playbooks.

    Returns
    -------
    DataFrame sorted by csm_id: csm_id, name, team, runs, playbook_runs, eligible_runs,
    eligible_with_playbook, playbook_share (None with no eligible run), share_ci_low,
    share_ci_high (Wilson), mean_adherence, adherence_n, consistent (share and mean adherence
    both at least `consistent_share`), rare (share below `rare_share`), verdict (plain text,
    saying so when the share's interval straddles a threshold).
    """
    return usage_tables(ctx)[1]


def usage_tables(ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`usage_by_playbook` and `usage_by_csm` from one pass over the runs.

    Reading every run with its adherence (which may group run_steps) is most of the cost of
    either table, so the runs are grouped once into (playbook, CSM) cells of additive counts
    and sums; both tables roll those few thousand cells up. A playbook's distinct CSMs are its cells with a CSM;
    means are sums over counts.

    Returns
    -------
    (by_playbook, by_csm): the frames `usage_by_playbook` and `usage_by_csm` document.
    """
    store, filters, catalog, s = ctx.store, ctx.filters, ctx.catalog, ctx.settings
    # Most organisations have no rollouts export: then no run needs its team or segment.
    by_group = bool(store.scalar("SELECT count(*) FROM rollouts"))
    with semantic.introductions(store, catalog) as intro:
        frame = _usage_cells(store, filters, intro, by_group, s.follower_threshold)
    part = frame.pop("part")
    by_playbook = frame.loc[part == "playbook", ["playbook_id", "runs", "open_runs", "csms_using",
                                                 "mean_adherence", "adherence_n",
                                                 "followed_runs", "views"]]
    by_csm = frame.loc[part == "csm", ["csm_id", "name", "team", "runs", "playbook_runs",
                                       "eligible_runs", "eligible_with_playbook",
                                       "mean_adherence", "adherence_n"]]
    by_csm = by_csm.sort_values("csm_id", ignore_index=True)
    return (_playbook_rows(by_playbook.reset_index(drop=True), catalog, filters),
            _flag_csms(by_csm, s.consistent_share, s.rare_share, s.alpha))


def _eligible_runs_sql(runs_sql: str, intro: semantic.Introductions, by_group: bool) -> str:
    """The scoped runs (`runs_sql`) with playbook_id, csm_id, status, adherence and `eligible`:
    whether the run counts toward its CSM's playbook share (usage_by_csm), by the dates of
    `intro` (semantic.introductions).

    by_group False (no rollouts export): the introduction to everyone alone, DESIGN.md's rule,
    so no run meets its CSM's team or its account's segment."""
    if not by_group:
        return f"""
            select r.playbook_id, r.csm_id, r.status, r.adherence,
                   (i.introduced_on is not null and r.opened_on >= i.introduced_on) as eligible
            from {runs_sql} r left join {intro.to_everyone} i using (scenario)
        """
    # A run is reached on the earliest of its scenario's introduction to everyone, to its CSM's
    # team and to its account's segment (least() skips a NULL: a date that does not apply). The
    # group dates are first spread to the CSMs and accounts of each group, so the runs meet
    # small tables on plain keys and no name is normalised per run. A run carrying a playbook
    # that has rollouts counts wherever and whenever it opened: its use is never hidden.
    return f"""
            with to_groups as materialized (select * from {intro.to_groups}),
            by_csm as (
                select i.scenario, c.csm_id, i.introduced_on
                from to_groups i join csms c on lower(trim(c.team)) = i."group"
                where i.group_kind = 'team'
            ),
            by_account as (
                select i.scenario, a.account_id, i.introduced_on
                from to_groups i join accounts a on lower(trim(a.segment)) = i."group"
                where i.group_kind = 'segment'
            )
            select r.playbook_id, r.csm_id, r.status, r.adherence,
                   coalesce(r.playbook_id in (select playbook_id from rollout_kinds)
                            or r.opened_on >= least(e.introduced_on, t.introduced_on,
                                                    g.introduced_on),
                            false) as eligible
            from {runs_sql} r
            left join {intro.to_everyone} e on e.scenario = r.scenario
            left join by_csm t on t.scenario = r.scenario and t.csm_id = r.csm_id
            left join by_account g on g.scenario = r.scenario and g.account_id = r.account_id
        """


def _usage_cells(store: Store, filters: Filters | None, intro: semantic.Introductions,
                 by_group: bool, threshold: float) -> pd.DataFrame:
    """Per-playbook rows (part 'playbook') and per-CSM rows (part 'csm') in one query;
    `followed_runs` counts runs with adherence at or above `threshold`; `by_group` as
    _eligible_runs_sql takes it."""
    runs_sql, params = runs_with_adherence_sql(filters)
    views_sql, view_params = scoped("playbook_views", filters)
    run_pb, run_pb_params = _playbook_clause(filters)
    view_pb, view_pb_params = _playbook_clause(filters)
    return store.query(f"""
        with runs as ({_eligible_runs_sql(runs_sql, intro, by_group)}),
        cells as materialized (
            select playbook_id, csm_id,
                   count(*) as runs,
                   count(*) filter (where coalesce(status, '') = 'open') as open_runs,
                   count(*) filter (where eligible) as eligible_runs,
                   sum(adherence) as adherence_sum,
                   count(adherence) as adherence_n,
                   count(*) filter (where adherence >= ?) as followed_runs
            from runs group by playbook_id, csm_id
        ),
        by_playbook as (
            select playbook_id,
                   cast(sum(runs) as bigint) as runs,
                   cast(sum(open_runs) as bigint) as open_runs,
                   count(csm_id) as csms_using,
                   sum(adherence_sum) / nullif(sum(adherence_n), 0) as mean_adherence,
                   cast(sum(adherence_n) as bigint) as adherence_n,
                   cast(sum(followed_runs) as bigint) as followed_runs
            from cells where playbook_id is not null{run_pb}
            group by playbook_id
        ),
        by_csm as (
            select csm_id,
                   cast(sum(runs) as bigint) as runs,
                   cast(coalesce(sum(runs) filter (where playbook_id is not null), 0)
                        as bigint) as playbook_runs,
                   cast(sum(eligible_runs) as bigint) as eligible_runs,
                   cast(coalesce(sum(eligible_runs) filter (where playbook_id is not null), 0)
                        as bigint) as eligible_with_playbook,
                   sum(adherence_sum) filter (where playbook_id is not null)
                       / nullif(sum(adherence_n) filter (where playbook_id is not null), 0)
                       as mean_adherence,
                   cast(coalesce(sum(adherence_n) filter (where playbook_id is not null), 0)
                        as bigint) as adherence_n
            from cells where csm_id is not null
            group by csm_id
        ),
        views as (
            select playbook_id, count(*) as views
            from {views_sql} v
            where playbook_id is not null{view_pb}
            group by playbook_id
        )
        select 'playbook' as part, * from by_playbook full outer join views using (playbook_id)
        union all by name
        select 'csm' as part, g.csm_id, c.name, c.team, g.runs, g.playbook_runs,
               g.eligible_runs, g.eligible_with_playbook, g.mean_adherence, g.adherence_n
        from by_csm g left join csms c using (csm_id)
    """, [*params, threshold, *run_pb_params,
          *view_params, *view_pb_params])


def _stable_mean(values: pd.Series) -> pd.Series:
    """Means of adherence rounded to 12 decimals: DuckDB adds in no fixed order, and a mean of
    exactly 0.775 must not come out as 0.7749999999999999 one day (a "77%" verdict) and 0.775
    the next ("78%")."""
    return values.astype(float).round(12)


def _flag_csms(frame: pd.DataFrame, consistent_at: float, rare_below: float,
               alpha: float) -> pd.DataFrame:
    """Add the share with its Wilson interval (at `alpha`) and the consistent / rare flags."""
    frame["playbook_share"], frame["share_ci_low"], frame["share_ci_high"] = stats.wilson_arrays(
        frame["eligible_with_playbook"], frame["eligible_runs"], alpha)
    frame["mean_adherence"] = _stable_mean(frame["mean_adherence"])
    # A missing share or adherence compares False: no evidence makes no one consistent or rare.
    frame["consistent"] = ((frame["playbook_share"] >= consistent_at)
                           & (frame["mean_adherence"] >= consistent_at)).astype(bool)
    frame["rare"] = (frame["playbook_share"] < rare_below).astype(bool)
    counts = ["runs", "playbook_runs", "eligible_runs", "eligible_with_playbook", "adherence_n"]
    frame[counts] = frame[counts].astype("int64")
    frame["verdict"] = [_csm_verdict(row, consistent_at, rare_below, alpha)
                        for row in frame.to_dict("records")]  # one row per CSM, not per run
    columns = ["csm_id", "name", "team", "runs", "playbook_runs", "eligible_runs",
               "eligible_with_playbook", "playbook_share", "share_ci_low", "share_ci_high",
               "mean_adherence", "adherence_n", "consistent", "rare", "verdict"]
    return frame[columns]


def _csm_verdict(row: dict, consistent_at: float, rare_below: float, alpha: float) -> str:
    """Plain words on one CSM, flagging a share whose interval straddles a threshold."""
    n = row["eligible_runs"]
    if n == 0:
        return ("No eligible runs: none in a scenario after its playbook reached them "
                "(its introduction, or its rollout to their team or segment)")
    share = row["playbook_share"]
    kind = ("Consistent user" if row["consistent"] else "Rare user" if row["rare"]
            else "In between")
    adherence = row["mean_adherence"]
    text = (f"{kind}: {share:.0%} of {n} eligible runs used a playbook, mean adherence "
            + ("unknown (no steps recorded)" if pd.isna(adherence) else f"{adherence:.0%}"))
    low, high = row["share_ci_low"], row["share_ci_high"]
    if any(low < t <= high for t in (consistent_at, rare_below)):
        text += (f" (uncertain: the share's {stats.confidence_label(alpha)} CI runs from "
                 f"{low:.0%} to {high:.0%})")
    return text


def step_funnel(ctx: Context, playbook_id: str) -> pd.DataFrame:
    """Where runs of one playbook stall (within the context's filters): each step's done /
    skipped / open counts.

    Returns
    -------
    DataFrame in step order (the number in step_id, then step_id): step_id, runs (runs that
    reached the step, i.e. have a row for it), done, skipped, open, done_rate with its Wilson
    interval (done_ci_low, done_ci_high).
    """
    if not playbook_id:
        raise ValueError("step_funnel needs a playbook_id")
    runs_sql, params = scoped("playbook_runs", ctx.filters)
    frame = ctx.store.query(f"""
        with runs as (select run_id from {runs_sql} r where playbook_id = ?),
        steps as (select s.* from run_steps s where s.run_id in (select run_id from runs)),
        final as (
            select step_id, count(distinct run_id) as runs,
                   count(*) filter (where status = 'done') as done,
                   count(*) filter (where status = 'skipped') as skipped,
                   count(*) filter (where status = 'open' or status is null) as open
            from steps group by step_id
        )
        select * from final
        order by try_cast(regexp_extract(step_id, '[0-9]+') as integer) nulls last, step_id
    """, [*params, playbook_id])
    frame["done_rate"], frame["done_ci_low"], frame["done_ci_high"] = stats.wilson_arrays(
        frame["done"], frame["runs"], ctx.settings.alpha)
    counts = ["runs", "done", "skipped", "open"]
    frame[counts] = frame[counts].astype("int64")
    return frame


def usage_json(ctx: Context) -> dict:
    """The `usage` key of `metrics --json`: {playbooks: [...], csms: [...]}, JSON-ready."""
    playbooks, csms = usage_tables(ctx)
    return {"playbooks": records(playbooks[[*PLAYBOOK_KEYS, "name", "open_runs", "adherence_n"]]),
            "csms": records(csms[[*CSM_KEYS, "name", "team", "eligible_runs",
                                  "share_ci_low", "share_ci_high", "verdict"]])}


def run_totals(ctx: Context) -> dict[str, int]:
    """Every run in the context's view, split by whether it used a playbook.

    Runs without a playbook are a scenario handled the old way (or before its playbook
    existed): they count in the data's totals and serve before/after as the comparison, but
    not in usage.

    Returns
    -------
    dict: runs (all), with_playbook, without_playbook.
    """
    runs_sql, params = scoped("playbook_runs", ctx.filters)
    row = ctx.store.query(f"""
        select count(*) as runs, count(playbook_id) as with_playbook
        from {runs_sql} r
    """, params).iloc[0]
    runs, with_playbook = int(row["runs"]), int(row["with_playbook"])
    return {"runs": runs, "with_playbook": with_playbook,
            "without_playbook": runs - with_playbook}

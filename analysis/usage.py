"""Playbook usage: runs and views per playbook, adherence and playbook share per CSM, step funnels.

Definitions (DESIGN.md "Usage"): a run's adherence is done steps over all its steps in
`run_steps` when the run has step rows, else steps_completed / steps_total; a run with no steps
has no adherence and is left out of every mean. Usage counts open runs too.
"""
from __future__ import annotations

import pandas as pd

from analysis import settings, stats
from analysis.catalog import first_introduction_by_scenario, playbook_catalog
from analysis.filters import Filters
from analysis.jsonable import records
from analysis.scope import scoped
from analysis.store import Store

_FREQ = {"M": "month", "Q": "quarter", "Y": "year"}

# DESIGN.md's `usage` keys of `metrics --json`; the extra columns ride along.
PLAYBOOK_KEYS = ("playbook_id", "runs", "views", "csms_using", "mean_adherence")
CSM_KEYS = ("csm_id", "runs", "mean_adherence", "playbook_share", "consistent", "rare")


def runs_with_adherence_sql(filters: Filters | None) -> tuple[str, list]:
    """Scoped runs with an `adherence` column (None for a run with no steps); returns
    (subquery sql, params) to be used as `FROM {sql} AS r`."""
    runs_sql, params = scoped("playbook_runs", filters)
    # Aggregate run_steps whole and let the left join drop other runs' steps: an `in (select
    # run_id from runs)` semi-join first costs more than it saves (2x slower at 1M runs).
    sql = f"""(
        with steps as (
            select run_id, count(*) as steps, count(*) filter (where status = 'done') as done
            from run_steps
            group by run_id
        )
        select runs.*,
               case when steps.steps > 0 then steps.done / steps.steps
                    when runs.steps_total > 0
                        then least(runs.steps_completed, runs.steps_total) / runs.steps_total
               end as adherence
        from {runs_sql} runs left join steps using (run_id)
    )"""
    return sql, params


def _playbook_clause(filters: Filters | None, column: str = "playbook_id") -> tuple[str, list]:
    if filters is not None and filters.playbook_id is not None:
        return f" and {column} = ?", [filters.playbook_id]
    return "", []


def playbook_usage(store: Store, filters: Filters | None = None, freq: str = "Q") -> pd.DataFrame:
    """Runs opened and views per playbook per period.

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
    unit = _FREQ[freq]
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


def _by_playbook_sql(filters: Filters | None) -> tuple[str, list]:
    """Per-playbook aggregate over the per-run relation `adh` (and the views); (sql, params)."""
    views_sql, view_params = scoped("playbook_views", filters)
    run_pb, run_pb_params = _playbook_clause(filters)
    view_pb, view_pb_params = _playbook_clause(filters)
    sql = f"""
        select * from (
            select playbook_id, count(*) as runs,
                   count(*) filter (where coalesce(status, '') = 'open') as open_runs,
                   count(distinct csm_id) as csms_using,
                   avg(adherence) as mean_adherence,
                   count(adherence) as adherence_n,
                   count(*) filter (where adherence >= ?) as followed_runs
            from adh r
            where playbook_id is not null{run_pb}
            group by playbook_id
        ) runs full outer join (
            select playbook_id, count(*) as views
            from {views_sql} v
            where playbook_id is not null{view_pb}
            group by playbook_id
        ) views using (playbook_id)"""
    params = [settings.default("follower_threshold"), *run_pb_params, *view_params,
              *view_pb_params]
    return sql, params


def _by_csm_sql(catalog: pd.DataFrame) -> tuple[str, list]:
    """Per-CSM aggregate over the per-run relation `adh`; (sql, params)."""
    intro_sql, intro_params = _intro_values(catalog)
    sql = f"""
        select p.csm_id, c.name, c.team, p.* exclude (csm_id) from (
            select csm_id, count(*) as runs,
                   count(playbook_id) as playbook_runs,
                   count(*) filter (where eligible) as eligible_runs,
                   count(playbook_id) filter (where eligible) as eligible_with_playbook,
                   avg(adherence) filter (where playbook_id is not null) as mean_adherence,
                   count(adherence) filter (where playbook_id is not null) as adherence_n
            from (
                select r.*, (i.introduced_on is not null and r.opened_on >= i.introduced_on)
                            as eligible
                from adh r left join {intro_sql} i using (scenario)
                where r.csm_id is not null
            ) runs
            group by csm_id
        ) p left join csms c using (csm_id)"""
    return sql, intro_params


def usage_by_playbook(store: Store, filters: Filters | None = None,
                      catalog: pd.DataFrame | None = None) -> pd.DataFrame:
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
    catalog = playbook_catalog(store) if catalog is None else catalog
    runs_sql, params = runs_with_adherence_sql(filters)
    sql, agg_params = _by_playbook_sql(filters)
    frame = store.query(f"with adh as {runs_sql} {sql}", [*params, *agg_params])
    return _playbook_rows(frame, catalog, filters)


def _playbook_rows(frame: pd.DataFrame, catalog: pd.DataFrame,
                   filters: Filters | None) -> pd.DataFrame:
    """The per-playbook aggregate joined to the catalogue, typed and sorted."""
    listed = catalog[["playbook_id", "name"]]
    if filters is not None and filters.playbook_id is not None:
        listed = listed[listed["playbook_id"] == filters.playbook_id]
    frame = listed.merge(frame, on="playbook_id", how="outer")
    counts = ["runs", "open_runs", "views", "csms_using", "adherence_n", "followed_runs"]
    frame[counts] = frame[counts].fillna(0).astype("int64")
    frame["mean_adherence"] = frame["mean_adherence"].astype(float)
    frame["name"] = frame["name"].where(frame["name"].notna(), frame["playbook_id"])
    columns = ["playbook_id", "name", "runs", "open_runs", "views", "csms_using",
               "mean_adherence", "adherence_n", "followed_runs"]
    return frame[columns].sort_values("playbook_id", ignore_index=True)


def _intro_values(catalog: pd.DataFrame) -> tuple[str, list]:
    """The first playbook introduction per scenario as an inline table (scenario, introduced_on)."""
    first = first_introduction_by_scenario(catalog)
    if first.empty:
        return "(select null::varchar as scenario, null::date as introduced_on where false)", []
    rows = ", ".join(["(?, cast(? as date))"] * len(first))
    params = [v for pair in zip(first["scenario"], first["introduced_on"]) for v in pair]
    return f"(select * from (values {rows}) as v(scenario, introduced_on))", params


def usage_by_csm(store: Store, filters: Filters | None = None,
                 catalog: pd.DataFrame | None = None) -> pd.DataFrame:
    """Usage per CSM: how much of their work went through a playbook, and how closely.

    `runs` counts all the CSM's runs (every scenario, open ones too). `playbook_share` is the
    share of their *eligible* runs that used a playbook, where a run is eligible when its
    scenario has a playbook in the catalogue and it opened on or after that scenario's first
    playbook was introduced. Mean adherence is over their playbook runs that have steps. The
    playbook filter does not narrow these rows: a share is about all playbooks.

    Returns
    -------
    DataFrame sorted by csm_id: csm_id, name, team, runs, playbook_runs, eligible_runs,
    eligible_with_playbook, playbook_share (None with no eligible run), share_ci_low,
    share_ci_high (Wilson), mean_adherence, adherence_n, consistent (share and mean adherence
    both at least `consistent_share`), rare (share below `rare_share`), verdict (plain text,
    saying so when the share's interval straddles a threshold).
    """
    catalog = playbook_catalog(store) if catalog is None else catalog
    runs_sql, params = runs_with_adherence_sql(filters)
    sql, agg_params = _by_csm_sql(catalog)
    frame = store.query(f"with adh as {runs_sql} {sql} order by csm_id", [*params, *agg_params])
    return _flag_csms(frame)


def usage_tables(store: Store, filters: Filters | None = None,
                 catalog: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`usage_by_playbook` and `usage_by_csm` from one pass over the runs.

    Each run's adherence (aggregating run_steps) is most of the cost of either table, so the
    runs are grouped once by GROUPING SETS ((playbook_id), (csm_id)). The aggregates are
    written so one expression serves both sets (mean adherence over playbook runs is the
    plain mean inside a playbook's group).

    Returns
    -------
    (by_playbook, by_csm): the same frames the two functions return.
    """
    catalog = playbook_catalog(store) if catalog is None else catalog
    runs_sql, params = runs_with_adherence_sql(filters)
    intro_sql, intro_params = _intro_values(catalog)
    views_sql, view_params = scoped("playbook_views", filters)
    run_pb, run_pb_params = _playbook_clause(filters)
    view_pb, view_pb_params = _playbook_clause(filters)
    frame = store.query(f"""
        with runs as (
            select r.*, (i.introduced_on is not null and r.opened_on >= i.introduced_on)
                        as eligible
            from {runs_sql} r left join {intro_sql} i using (scenario)
        ),
        groups as materialized (
            select grouping(playbook_id) = 1 as per_csm, playbook_id, csm_id,
                   count(*) as runs,
                   count(*) filter (where coalesce(status, '') = 'open') as open_runs,
                   count(distinct csm_id) as csms_using,
                   count(playbook_id) as playbook_runs,
                   count(*) filter (where eligible) as eligible_runs,
                   count(playbook_id) filter (where eligible) as eligible_with_playbook,
                   avg(adherence) filter (where playbook_id is not null) as mean_adherence,
                   count(adherence) filter (where playbook_id is not null) as adherence_n,
                   count(*) filter (where adherence >= ?) as followed_runs
            from runs group by grouping sets ((playbook_id), (csm_id))
        ),
        views as (
            select playbook_id, count(*) as views
            from {views_sql} v
            where playbook_id is not null{view_pb}
            group by playbook_id
        )
        select 'playbook' as part, * from (
            select playbook_id, runs, open_runs, csms_using, mean_adherence, adherence_n,
                   followed_runs
            from groups where not per_csm and playbook_id is not null{run_pb}
        ) full outer join views using (playbook_id)
        union all by name
        select 'csm' as part, g.csm_id, c.name, c.team, g.runs, g.playbook_runs,
               g.eligible_runs, g.eligible_with_playbook, g.mean_adherence, g.adherence_n
        from groups g left join csms c using (csm_id)
        where g.per_csm and g.csm_id is not null
    """, [*params, *intro_params, settings.default("follower_threshold"), *view_params,
          *view_pb_params, *run_pb_params])
    part = frame.pop("part")
    by_playbook = frame.loc[part == "playbook", ["playbook_id", "runs", "open_runs", "csms_using",
                                                 "mean_adherence", "adherence_n",
                                                 "followed_runs", "views"]]
    by_csm = frame.loc[part == "csm", ["csm_id", "name", "team", "runs", "playbook_runs",
                                       "eligible_runs", "eligible_with_playbook",
                                       "mean_adherence", "adherence_n"]]
    by_csm = by_csm.sort_values("csm_id", ignore_index=True)
    return (_playbook_rows(by_playbook.reset_index(drop=True), catalog, filters),
            _flag_csms(by_csm))


def _flag_csms(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the share with its Wilson interval and the consistent / rare flags."""
    consistent_at = settings.default("consistent_share")
    rare_below = settings.default("rare_share")
    frame["playbook_share"], frame["share_ci_low"], frame["share_ci_high"] = stats.wilson_arrays(
        frame["eligible_with_playbook"], frame["eligible_runs"])
    frame["mean_adherence"] = frame["mean_adherence"].astype(float)
    # A missing share or adherence compares False: no evidence makes no one consistent or rare.
    frame["consistent"] = ((frame["playbook_share"] >= consistent_at)
                           & (frame["mean_adherence"] >= consistent_at)).astype(bool)
    frame["rare"] = (frame["playbook_share"] < rare_below).astype(bool)
    counts = ["runs", "playbook_runs", "eligible_runs", "eligible_with_playbook", "adherence_n"]
    frame[counts] = frame[counts].astype("int64")
    frame["verdict"] = [_csm_verdict(row, consistent_at, rare_below)
                        for row in frame.to_dict("records")]  # one row per CSM, not per run
    columns = ["csm_id", "name", "team", "runs", "playbook_runs", "eligible_runs",
               "eligible_with_playbook", "playbook_share", "share_ci_low", "share_ci_high",
               "mean_adherence", "adherence_n", "consistent", "rare", "verdict"]
    return frame[columns]


def _csm_verdict(row: dict, consistent_at: float, rare_below: float) -> str:
    """Plain words on one CSM, flagging a share whose interval straddles a threshold."""
    n = row["eligible_runs"]
    if n == 0:
        return "No eligible runs: none in a scenario after its first playbook was introduced"
    share = row["playbook_share"]
    kind = ("Consistent user" if row["consistent"] else "Rare user" if row["rare"]
            else "In between")
    adherence = row["mean_adherence"]
    text = (f"{kind}: {share:.0%} of {n} eligible runs used a playbook, mean adherence "
            + ("unknown (no steps recorded)" if pd.isna(adherence) else f"{adherence:.0%}"))
    low, high = row["share_ci_low"], row["share_ci_high"]
    if any(low < t <= high for t in (consistent_at, rare_below)):
        text += f" (uncertain: the share's 95% CI runs from {low:.0%} to {high:.0%})"
    return text


def step_funnel(store: Store, filters: Filters | None, playbook_id: str) -> pd.DataFrame:
    """Where runs of one playbook stall: each step's done / skipped / open counts.

    Returns
    -------
    DataFrame in step order (the number in step_id, then step_id): step_id, runs (runs that
    reached the step, i.e. have a row for it), done, skipped, open, done_rate with its Wilson
    interval (done_ci_low, done_ci_high).
    """
    if not playbook_id:
        raise ValueError("step_funnel needs a playbook_id")
    runs_sql, params = scoped("playbook_runs", filters)
    frame = store.query(f"""
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
        frame["done"], frame["runs"])
    counts = ["runs", "done", "skipped", "open"]
    frame[counts] = frame[counts].astype("int64")
    return frame


def usage_json(store: Store, filters: Filters | None = None,
               catalog: pd.DataFrame | None = None) -> dict:
    """The `usage` key of `metrics --json`: {playbooks: [...], csms: [...]}, JSON-ready."""
    catalog = playbook_catalog(store) if catalog is None else catalog
    playbooks, csms = usage_tables(store, filters, catalog)
    return {"playbooks": records(playbooks[[*PLAYBOOK_KEYS, "name", "open_runs", "adherence_n"]]),
            "csms": records(csms[[*CSM_KEYS, "name", "team", "eligible_runs",
                                  "share_ci_low", "share_ci_high", "verdict"]])}

"""A fixed outcome horizon per run, the data's as-of date, and windows that say why.

An outcome counts once its horizon has passed: a run opened on day d (a renewal falling due on
d) is decided on d + `outcome_horizon_days`, and it is a success only if a success was recorded
by then. Runs whose horizon has not passed by the as-of date are *pending*: reported, never
counted, never failures. The rule removes the bias of reading a half-finished window, where the
quick successes are in and the slow failures are not: every counted run had the same time to
succeed, whatever side of the introduction it opened on. A run still open, closed without an
outcome, or successful only after its horizon counts as not a success.
"""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pandas as pd

from analysis.filters import Filters
from analysis.ingest.names import slugify
from analysis.scope import scoped
from analysis.store import Store, quote_ident

MONTHLY_COLUMNS = ["playbook_id", "month", "n", "successes", "pending"]


def data_as_of(store: Store, chosen: str | date | None) -> date | None:
    """The date the analysis is judged at: `chosen` (the `as_of` setting) when set, else the
    last opened_on, closed_on or renewal_date in the data (unfiltered); None for an empty
    store."""
    if chosen not in (None, ""):
        return pd.Timestamp(chosen).date()
    last = store.query("""
        SELECT max(day) AS day FROM (
            SELECT max(opened_on) AS day FROM playbook_runs
            UNION ALL SELECT max(closed_on) FROM playbook_runs
            UNION ALL SELECT max(renewal_date) FROM renewals
        )
    """)["day"].iloc[0]
    return None if pd.isna(last) else pd.Timestamp(last).date()


def ready_on(window_end: date, horizon_days: int) -> date:
    """The first as-of date on which every outcome of the after window [.., window_end) is
    decided: the last day of the window plus the horizon."""
    return window_end - timedelta(days=1) + timedelta(days=int(horizon_days))


def fit_windows(windows: pd.DataFrame, pre_months: int, window_months: int) -> pd.DataFrame:
    """The windows with window_start moved back to `pre_months` (the its_pre_months setting)
    before the introduction, never later than the before window's start (`window_months`):
    the span the time series is fitted on."""
    months = max(int(pre_months), int(window_months))
    out = windows.copy()
    out["window_start"] = [(pd.Timestamp(d) - pd.DateOffset(months=months)).date()
                           for d in windows["introduced_on"]]
    return out


def windows_sql(view: str) -> str:
    """The body of a `windows` CTE over a registered frame of playbook_windows() rows: one row
    per playbook with its metric, the scenario its outcomes come from ('' for renewal_rate,
    whose renewals count whatever the scenario, so the join is one equality on (metric,
    scenario)), and its introduction and window dates."""
    return f"""
            SELECT playbook_id, metric,
                   CASE WHEN metric = 'renewal_rate' THEN '' ELSE scenario END AS scenario,
                   CAST(introduced_on AS DATE) AS introduced_on,
                   CAST(window_start AS DATE) AS window_start,
                   CAST(window_end AS DATE) AS window_end
            FROM {quote_ident(view)}
        """


def outcomes_by_window(store: Store, windows: pd.DataFrame, outcomes: str, columns: str,
                       params: list) -> pd.DataFrame:
    """Outcomes joined to the windows they fall in, grouped by playbook and `columns`.

    `windows` are playbook_windows() rows, `outcomes` the body of an `outcomes` CTE (metric,
    scenario, day, success), `columns` the select list after w.playbook_id (grouping columns
    and aggregates over `o`, the outcome, and `w`, its window), `params` the query's parameters
    in order. One query; the frame is registered only while it runs."""
    view = f"outcome_windows_{uuid.uuid4().hex}"
    sql = f"""
        WITH windows AS ({windows_sql(view)}),
        outcomes AS ({outcomes}),
        final AS (
            SELECT w.playbook_id, {columns}
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
        return store.query(sql, params)
    finally:
        store.unregister(view)


def outcomes_sql(filters: Filters | None, as_of: date, horizon_days: int
                 ) -> tuple[str, list]:
    """The body of an `outcomes` CTE and its parameters: every outcome the before/after
    metrics read, in scope, up to `as_of`, one row each: metric ('renewal_rate' |
    'success_rate'), scenario ('' for renewals), day (renewal_date or opened_on), success
    (under the horizon rule), account_id, csm_id. Whether its horizon has passed is the
    caller's `day + horizon_days <= as_of`."""
    # The semantic layer's definitions (analysis/semantic): decided renewals, runs with status.
    renewals_sql, renewals_params = scoped("decided_renewals", filters, period=False)
    runs_sql, runs_params = scoped("runs_with_status", filters, period=False)
    sql = f"""
            -- a renewal is decided on its renewal_date
            SELECT 'renewal_rate' AS metric, '' AS scenario, renewal_date AS day,
                   renewed AS success, account_id, csm_id
            FROM {renewals_sql} r
            WHERE renewal_date <= ?
            UNION ALL
            -- every run of the scenario, open or closed: a success only when recorded within
            -- the horizon and by the as-of date (a closed run without closed_on is taken as
            -- closed in time)
            SELECT 'success_rate', scenario, opened_on,
                   coalesce(is_closed AND succeeded
                            AND coalesce(closed_on, opened_on) <= opened_on + ?::INTEGER
                            AND coalesce(closed_on, opened_on) <= ?, false),
                   account_id, csm_id
            FROM {runs_sql} q
            WHERE opened_on <= ?
        """
    h = int(horizon_days)
    # bound in the order the placeholders appear: the SELECT list comes before FROM
    return sql, [*renewals_params, as_of, h, as_of, *runs_params, as_of]


def matured_monthly(store: Store, filters: Filters | None, windows: pd.DataFrame,
                    as_of: date, horizon_days: int) -> pd.DataFrame:
    """Decided outcomes per playbook and month of its windows, under the horizon rule.

    Parameters
    ----------
    windows : DataFrame
        playbook_windows(): playbook_id, metric, scenario, introduced_on, window_start,
        window_end.
    as_of : date
        Outcomes opened after it are not in the data yet; a closing after it has not happened.

    Returns
    -------
    DataFrame playbook_id, month (whole months from introduced_on: −12 … 11), n (outcomes
    whose horizon has passed), successes (of those, a success recorded within the horizon),
    pending (outcomes whose horizon has not passed by as_of). One row per month with any.
    """
    if windows.empty or as_of is None:
        return pd.DataFrame(columns=MONTHLY_COLUMNS)
    outcomes, outcome_params = outcomes_sql(filters, as_of, horizon_days)
    columns = """
                   (year(o.day) - year(w.introduced_on)) * 12
                     + month(o.day) - month(w.introduced_on)
                     - CASE WHEN day(o.day) < day(w.introduced_on) THEN 1 ELSE 0 END AS month,
                   count(*) FILTER (WHERE o.day + ?::INTEGER <= ?) AS n,
                   count(*) FILTER (WHERE o.day + ?::INTEGER <= ? AND o.success) AS successes,
                   count(*) FILTER (WHERE o.day + ?::INTEGER > ?) AS pending"""
    h = int(horizon_days)
    params = [*outcome_params, h, as_of, h, as_of, h, as_of]
    return outcomes_by_window(store, windows, outcomes, columns, params)[MONTHLY_COLUMNS]


def runs_per_playbook(store: Store) -> dict[str, int]:
    """How many runs carry each playbook_id (unfiltered): tells "no runs of this playbook in
    the data" apart from "no outcomes in its windows"."""
    frame = store.query("SELECT playbook_id, count(*) AS n FROM playbook_runs "
                        "WHERE playbook_id IS NOT NULL GROUP BY playbook_id")
    counts: dict[str, int] = {}
    for playbook_id, n in zip(frame["playbook_id"].astype(str), frame["n"].astype(int)):
        # the catalogue keys a playbook seen only in runs by its slug
        for key in {playbook_id, slugify(playbook_id)}:
            counts[key] = counts.get(key, 0) + int(n)
    return counts

"""Success rate per playbook version: did the last revision of a playbook help?"""
from __future__ import annotations

import pandas as pd

from analysis import settings

from analysis.metrics import stats
from analysis.filters import Filters
from analysis.jsonable import records
from analysis.scope import scoped
from analysis.store import Store

JSON_KEYS = ("playbook_id", "version", "n", "successes", "rate", "ci_low", "ci_high")
COLUMNS = (*JSON_KEYS, "first_opened_on", "last_opened_on", "previous_version", "diff",
           "diff_ci_low", "diff_ci_high", "p_value", "verdict")


def _counts(store: Store, filters: Filters | None) -> pd.DataFrame:
    """Closed runs (the semantic layer's `closed_runs`) per playbook and version, versions in
    order of first use."""
    runs_sql, params = scoped("closed_runs", filters)
    playbook = ""
    if filters is not None and filters.playbook_id is not None:
        playbook, params = " and playbook_id = ?", [*params, filters.playbook_id]
    frame = store.query(f"""
        with closed as (
            select playbook_id, playbook_version as version, opened_on, succeeded
            from {runs_sql} r
            where playbook_id is not null and playbook_version is not null{playbook}
        ),
        final as (
            select playbook_id, version, count(*) as n,
                   count(*) filter (where succeeded) as successes,
                   min(opened_on) as first_opened_on, max(opened_on) as last_opened_on
            from closed group by playbook_id, version
        )
        select * from final order by playbook_id, first_opened_on, version
    """, params)
    for column in ("first_opened_on", "last_opened_on"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame.astype({"n": "int64", "successes": "int64"})


def _verdict(current: stats.Proportion, previous: stats.Proportion | None, previous_version,
             diff, low, high) -> str:
    """Plain words on one version against the one before it."""
    lift = settings.default("min_detectable_lift")
    if previous is None:
        return f"First version in the data ({current.n} closed runs)"
    if low is not None and low > 0:
        return f"Better than version {previous_version}: {diff * 100:+.0f} points"
    if high is not None and high < 0:
        return f"Worse than version {previous_version}: {diff * 100:+.0f} points"
    missing = stats.more_needed(previous.rate, previous.n, current.n, lift)
    if missing:
        return (f"Not enough data: about {missing} more runs needed to detect a "
                f"{round(lift * 100)}-point lift over version {previous_version}")
    return f"No clear difference from version {previous_version}"


def _compare(group: pd.DataFrame) -> list[dict]:
    """Each version of one playbook with its Wilson interval and the change from the previous."""
    rows, previous, previous_version = [], None, None
    for row in group.to_dict("records"):
        current = stats.wilson(row["successes"], row["n"])
        diff = low = high = p = None
        if previous is not None:
            diff, low, high = stats.newcombe_diff(current.successes, current.n,
                                                  previous.successes, previous.n)
            p, _ = stats.two_proportion_p(current.successes, current.n,
                                          previous.successes, previous.n)
        rows.append({**row, "rate": current.rate, "ci_low": current.ci_low,
                     "ci_high": current.ci_high, "previous_version": previous_version,
                     "diff": diff, "diff_ci_low": low, "diff_ci_high": high, "p_value": p,
                     "verdict": _verdict(current, previous, previous_version, diff, low, high)})
        previous, previous_version = current, row["version"]
    return rows


def version_rates(store: Store, filters: Filters | None = None) -> pd.DataFrame:
    """Success rate of each playbook version over its closed runs.

    Returns
    -------
    DataFrame, versions of each playbook in order of first use: playbook_id, version, n (closed
    runs with an outcome), successes, rate, ci_low, ci_high (Wilson), first_opened_on,
    last_opened_on, previous_version, diff (rate minus the previous version's), diff_ci_low,
    diff_ci_high (Newcombe), p_value (Fisher when a cell is small, else z), verdict.
    """
    counts = _counts(store, filters)
    rows = [row for _, group in counts.groupby("playbook_id", sort=True)
            for row in _compare(group)]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("rate", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high", "p_value"):
        frame[column] = frame[column].astype(float)
    return frame.astype({"n": "int64", "successes": "int64"})


def versions_json(store: Store, filters: Filters | None = None) -> list[dict]:
    """The `versions` key of `metrics --json`, JSON-ready."""
    return records(version_rates(store, filters),
                   [*JSON_KEYS, "previous_version", "diff", "diff_ci_low", "diff_ci_high",
                    "p_value", "verdict"])

"""Success rate per playbook version: did the last revision of a playbook help?"""
from __future__ import annotations

import pandas as pd

from analysis.context import Context
from analysis.metrics import stats
from analysis.metrics.claims import Claim, Effect
from analysis.metrics.designs.multiplicity import adjust_frame
from analysis.metrics.compare import (EFFECT_COLUMNS, METHOD, compare_proportions,
                                      effect_columns, effect_of_row, thresholds)
from analysis.present import verdicts
from analysis.filters import Filters
from analysis.jsonable import records
from analysis.scope import scoped
from analysis.store import Store

JSON_KEYS = ("playbook_id", "version", "n", "successes", "rate", "ci_low", "ci_high")
COLUMNS = (*JSON_KEYS, "first_opened_on", "last_opened_on", "previous_version", "diff",
           "diff_ci_low", "diff_ci_high", "p_value", "verdict", "claim", *EFFECT_COLUMNS,
           "more_needed")


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


def verdict_context(previous_version, current_version) -> verdicts.Context:
    """How a version is told against the one before it."""
    return verdicts.Context(
        unit="closed runs", a_name=f"on version {current_version}",
        b_name=f"on version {previous_version}", detail=False,
        words={Claim.IMPROVED: f"Better than version {previous_version}",
               Claim.WORSE: f"Worse than version {previous_version}",
               Claim.NO_CLEAR_CHANGE: f"No clear difference from version {previous_version}"})


def _compare(group: pd.DataFrame, settings) -> list[dict]:
    """Each version of one playbook with its Wilson interval and the change from the previous,
    judged by the one comparison (`analysis.metrics.compare`) at the request's settings."""
    rows, previous = [], None
    for row in group.to_dict("records"):
        current = stats.wilson(row["successes"], row["n"], settings.alpha)
        out = {**row, "rate": current.rate, "ci_low": current.ci_low,
               "ci_high": current.ci_high, "previous_version": None, "diff": None,
               "diff_ci_low": None, "diff_ci_high": None, "p_value": None,
               "verdict": f"First version in the data ({current.n} closed runs)",
               # Nothing to compare a first version with.
               "claim": Claim.NOT_ENOUGH_DATA.value,
               **effect_columns(Effect(METHOD)), "more_needed": None}
        if previous is not None:
            cmp = compare_proportions(current.successes, current.n, previous["successes"],
                                      previous["n"], **thresholds(settings))
            out.update(previous_version=previous["version"], diff=cmp.diff,
                       diff_ci_low=cmp.diff_ci_low, diff_ci_high=cmp.diff_ci_high,
                       p_value=cmp.p_value, claim=cmp.claim.value,
                       verdict=verdicts.comparison_sentence(
                           cmp, verdict_context(previous["version"], row["version"])),
                       **effect_columns(cmp.effect), more_needed=cmp.more_needed)
        rows.append(out)
        previous = row
    return rows


def version_rates(ctx: Context) -> pd.DataFrame:
    """Success rate of each playbook version over its closed runs (within the context's
    filters, at its settings).

    Returns
    -------
    DataFrame, versions of each playbook in order of first use: playbook_id, version, n (closed
    runs with an outcome), successes, rate, ci_low, ci_high (Wilson), first_opened_on,
    last_opened_on, previous_version, diff (rate minus the previous version's), diff_ci_low,
    diff_ci_high (Newcombe), p_value (Fisher when a cell is small, else z), verdict, claim (a
    `Claim` value; not_enough_data for a first version), effect_method ... effect_q_value (the
    Newcombe difference as an `Effect`), more_needed (outcomes missing over both versions when
    not enough data).
    """
    counts = _counts(ctx.store, ctx.filters)
    rows = [row for _, group in counts.groupby("playbook_id", sort=True)
            for row in _compare(group, ctx.settings)]
    # The library page's family.
    frame = adjust_frame(pd.DataFrame(rows, columns=list(COLUMNS)), ctx.settings.alpha)
    for column in ("rate", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high", "p_value"):
        frame[column] = frame[column].astype(float)
    return frame.astype({"n": "int64", "successes": "int64", "more_needed": "Int64"})


def versions_json(ctx: Context) -> list[dict]:
    """The `versions` key of `metrics --json`, JSON-ready."""
    frame = version_rates(ctx)
    out = records(frame, [*JSON_KEYS, "previous_version", "diff", "diff_ci_low", "diff_ci_high",
                          "p_value", "verdict", "claim", "more_needed"])
    for item, row in zip(out, frame.to_dict("records")):
        item["effect"] = effect_of_row(row).to_json()
    return out

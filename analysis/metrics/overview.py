"""The overview's headline data: each playbook's effect and verdict, what changed since the
previous quarter, and whether the data is fresh.

Effects come from the same `*_json` functions `metrics --json` prints, so the overview, the
review pack and the JSON never disagree.
"""
from __future__ import annotations

import math

import pandas as pd

from analysis.context import Context
from analysis.metrics.claims import Claim
from analysis.metrics.compare import compare_proportions, direction, thresholds
from analysis.present import verdicts
from analysis.filters import Filters
from analysis.present.quarters import Quarter, last_complete_quarter
from analysis.scope import scoped
from analysis.store import Store

# Effect classes of a difference, from its interval rather than the verdict's wording.
IMPROVED, WORSE, UNCLEAR, NO_DATA = "improved", "worse", "no clear change", "no data"

HEADLINE_COLUMNS = (
    "playbook_id", "name", "category", "defined", "metric", "introduced_on",
    "before_n", "before_rate", "before_ci_low", "before_ci_high",
    "after_n", "after_rate", "after_ci_low", "after_ci_high",
    "diff", "diff_ci_low", "diff_ci_high", "p_value", "verdict", "effect",
    "followers_n", "followers_rate", "followers_ci_low", "followers_ci_high",
    "non_followers_n", "non_followers_rate", "non_followers_ci_low", "non_followers_ci_high",
    "adjusted_diff", "adjusted_ci_low", "adjusted_ci_high", "followers_method",
    "followers_verdict", "claim", "followers_claim",
    "effect_method", "followers_effect_method", "rollout_group_kind", "rollout_warnings",
)


def effect_class(diff, low, high, alpha: float, p_value=None) -> str:
    """'improved' or 'worse' when the interval excludes zero and its test agrees (the rule of
    `analysis.metrics.compare.direction`), 'no data' without an interval, else unclear.

    `p_value` None judges the interval alone (for callers that have no test); the headlines
    use `effect_of_claim` on the section's claim instead.
    """
    if diff is None or low is None or high is None:
        return NO_DATA
    # Without a test, a p of 0 lets the interval decide alone.
    claim = direction(low, high, 0.0 if p_value is None else p_value, alpha)
    return effect_of_claim(claim, diff)


def effect_of_claim(claim, diff) -> str:
    """The effect class of a section's claim: improved / worse for a directional claim (its
    tone), 'no data' without a difference, else 'no clear change'."""
    if diff is None:
        return NO_DATA
    tone = verdicts.claim_tone(claim) if claim is not None and Claim(claim).is_directional else None
    return {"good": IMPROVED, "bad": WORSE}.get(tone, UNCLEAR)


def _rate_columns(prefix: str, side: dict) -> dict:
    """<prefix>_n, _rate, _ci_low, _ci_high of one side of a comparison (n 0 when absent)."""
    return {f"{prefix}_n": side.get("n", 0),
            **{f"{prefix}_{k}": side.get(k) for k in ("rate", "ci_low", "ci_high")}}


def _side(entry: dict | None, key: str) -> dict:
    return (entry or {}).get(key) or {}


def playbook_headlines(ctx: Context) -> pd.DataFrame:
    """One row per playbook of the context's catalogue: before/after effect and followers
    effect.

    Returns
    -------
    DataFrame with HEADLINE_COLUMNS: the before/after rates (n, rate, Wilson interval), the
    difference with its Newcombe interval, p_value and verdict (from before_after_json), the
    `effect` class (improved / worse / no clear change / no data, from the before/after
    `claim`), and the followers' rates, adjusted difference, method and verdict (from
    followers_json); `claim` and `followers_claim` are the two sections' claims (values);
    `rollout_group_kind` and `rollout_warnings` (a tuple of sentences, empty when there are
    none or no rollout design) the before/after JSON's `rollout`. Playbooks the filters leave
    out are not listed; a filter on one playbook lists only it.
    """
    from analysis.metrics.before_after import before_after_json
    from analysis.metrics.designs.multiplicity import adjust_claims
    from analysis.metrics.followers import followers_json

    catalog, filters = ctx.catalog, ctx.filters
    if filters.playbook_id is not None:
        catalog = catalog[catalog["playbook_id"] == filters.playbook_id]
    # The claims shown together on the overview are adjusted together (Benjamini–Hochberg).
    shown = adjust_claims({"before_after": before_after_json(ctx),
                           "followers": followers_json(ctx)}, ctx.settings.alpha)
    effects = {e["playbook_id"]: e for e in shown["before_after"]}
    followers = {f["playbook_id"]: f for f in shown["followers"]}
    rows = []
    for pb in catalog.itertuples(index=False):  # one row per playbook: a dozen, not runs
        e, f = effects.get(pb.playbook_id), followers.get(pb.playbook_id)
        before, after = _side(e, "before"), _side(e, "after")
        fol, non = _side(f, "followers"), _side(f, "non_followers")
        e, f = e or {}, f or {}
        rows.append({
            "playbook_id": pb.playbook_id, "name": pb.name, "category": pb.category,
            "defined": bool(pb.defined), "metric": e.get("metric", pb.outcome_metric),
            "introduced_on": e.get("introduced_on", _iso(pb.introduced_on)),
            **_rate_columns("before", before), **_rate_columns("after", after),
            "diff": e.get("diff"), "diff_ci_low": e.get("diff_ci_low"),
            "diff_ci_high": e.get("diff_ci_high"), "p_value": e.get("p_value"),
            "verdict": e.get("verdict") or "No outcomes in the windows around its introduction.",
            "effect": effect_of_claim(e.get("claim"), e.get("diff")),
            "claim": e.get("claim"),
            **_rate_columns("followers", fol), **_rate_columns("non_followers", non),
            "adjusted_diff": f.get("adjusted_diff"), "adjusted_ci_low": f.get("adjusted_ci_low"),
            "adjusted_ci_high": f.get("adjusted_ci_high"), "followers_method": f.get("method"),
            "followers_verdict": f.get("verdict"), "followers_claim": f.get("claim"),
            # The designs the two claims rest on (analysis.present.designs names them).
            "effect_method": (e.get("effect") or {}).get("method"),
            "followers_effect_method": (f.get("effect") or {}).get("method"),
            "rollout_group_kind": (e.get("rollout") or {}).get("group_kind"),
            # What that rollout design leaves out or reads wrongly, one sentence each.
            "rollout_warnings": tuple((e.get("rollout") or {}).get("warnings") or ()),
        })
    return pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS), dtype=object)


def _iso(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def effect_counts(headlines: pd.DataFrame) -> dict[str, int]:
    """How many playbooks improved, got worse, show no clear change, or have no data."""
    counts = headlines["effect"].value_counts() if len(headlines) else pd.Series(dtype=int)
    return {k: int(counts.get(k, 0)) for k in (IMPROVED, WORSE, UNCLEAR, NO_DATA)}


# -- what changed since the previous quarter ------------------------------------------------

CHANGE_COLUMNS = (
    "measure", "kind", "previous_quarter", "current_quarter",
    "previous_n", "previous_value", "previous_ci_low", "previous_ci_high",
    "current_n", "current_value", "current_ci_low", "current_ci_high",
    "change", "change_ci_low", "change_ci_high", "p_value", "verdict", "claim",
)


def _quarter_sides(store: Store, filters: Filters, current: Quarter) -> dict[str, pd.DataFrame]:
    """Per table, one row per side ('previous' / 'current') with the counts the measures need."""
    previous = current.previous()
    window = filters.with_(date_from=previous.start, date_to=current.end)
    side = "case when cast({col} as date) >= ? then 'current' else 'previous' end"
    out = {}
    runs_sql, p = scoped("playbook_runs", window)
    closed_sql, closed_p = scoped("closed_runs", window)
    out["runs"] = store.query(f"""
        with every_run as (
            select {side.format(col='opened_on')} as side,
                   count(*) as runs,
                   count(playbook_id) as with_playbook
            from {runs_sql} r group by 1
        ),
        closed as (
            select {side.format(col='opened_on')} as side,
                   count(*) as closed,
                   count(*) filter (where succeeded) as successes
            from {closed_sql} c group by 1
        )
        select side, runs, with_playbook, coalesce(closed, 0) as closed,
               coalesce(successes, 0) as successes
        from every_run left join closed using (side)
    """, [current.start, *p, current.start, *closed_p])
    renewals_sql, p = scoped("decided_renewals", window)
    out["renewals"] = store.query(f"""
        select {side.format(col='renewal_date')} as side,
               count(*) as decided,
               count(*) filter (where renewed) as renewed
        from {renewals_sql} r group by 1
    """, [current.start, *p])
    views_sql, p = scoped("playbook_views", window)
    out["views"] = store.query(f"""
        select {side.format(col='viewed_at')} as side, count(*) as views
        from {views_sql} r group by 1
    """, [current.start, *p])
    feedback_sql, p = scoped("feedback", window)
    out["feedback"] = store.query(f"""
        select {side.format(col='submitted_at')} as side, count(rating) as responses,
               avg(rating) as mean_rating, stddev_samp(rating) as sd_rating
        from {feedback_sql} r group by 1
    """, [current.start, *p])
    return {k: v.set_index("side") for k, v in out.items()}


def _get(frame: pd.DataFrame, side: str, column: str, default=0):
    if side not in frame.index:
        return default
    value = frame.at[side, column]
    return default if value is None or pd.isna(value) else value


def _rate_change(measure: str, s0: int, n0: int, s1: int, n1: int, unit: str,
                 settings) -> dict:
    """A rate in both quarters with Wilson intervals, their Newcombe difference, the claim and
    its verdict, by the one comparison (`analysis.metrics.compare`) at the request's settings."""
    cmp = compare_proportions(s1, n1, s0, n0, **thresholds(settings))
    before, after = cmp.b, cmp.a
    return {
        "measure": measure, "kind": "rate",
        "previous_n": n0, "previous_value": before.rate,
        "previous_ci_low": before.ci_low, "previous_ci_high": before.ci_high,
        "current_n": n1, "current_value": after.rate,
        "current_ci_low": after.ci_low, "current_ci_high": after.ci_high,
        "change": cmp.diff, "change_ci_low": cmp.diff_ci_low, "change_ci_high": cmp.diff_ci_high,
        "p_value": cmp.p_value, "claim": cmp.claim.value,
        "verdict": verdicts.comparison_sentence(cmp, _quarter_context(unit)) + ".",
    }


def _quarter_context(unit: str) -> verdicts.Context:
    """How a rate is told quarter against quarter: "Up" / "Down", the quarters named."""
    empty = f"Not enough data: no {unit} in one of the two quarters"
    return verdicts.Context(unit=unit, a_name="this quarter", b_name="the quarter before",
                            words={Claim.IMPROVED: "Up", Claim.WORSE: "Down"},
                            no_data=empty, no_a=empty, no_b=empty)


def _count_change(measure: str, c0: int, c1: int) -> dict:
    change = None if c0 == 0 else c1 / c0 - 1
    if c0 == 0 and c1 == 0:
        verdict = "None in either quarter."
    elif c0 == 0:
        verdict = f"{c1:,} this quarter, none the quarter before."
    else:
        verdict = f"{change:+.0%} ({c0:,} → {c1:,})."
    return {"measure": measure, "kind": "count", "previous_n": c0, "previous_value": c0,
            "current_n": c1, "current_value": c1, "change": change, "verdict": verdict}


def _mean_change(measure: str, n0, m0, sd0, n1, m1, sd1, alpha: float) -> dict:
    """Mean rating per quarter with a t interval of each mean and a Welch test of the change,
    at the confidence level 1 − alpha."""
    from scipy import stats as sps
    # The level every interval follows (the alpha setting), not a fixed 95%.
    upper = 1 - alpha / 2
    row = {"measure": measure, "kind": "mean", "previous_n": int(n0), "current_n": int(n1),
           "previous_value": _finite(m0) if n0 else None,
           "current_value": _finite(m1) if n1 else None}
    for side, n, m, sd in (("previous", n0, m0, sd0), ("current", n1, m1, sd1)):
        if n >= 2 and sd is not None:
            half = sps.t.ppf(upper, n - 1) * sd / math.sqrt(n)
            row[f"{side}_ci_low"], row[f"{side}_ci_high"] = m - half, m + half
    if not (n0 and n1):
        row["verdict"] = ("No ratings in either quarter." if not (n0 or n1) else
                          "Not enough data: no ratings in one of the quarters.")
        return row
    row["change"] = m1 - m0
    row["verdict"] = f"{m0:.2f} → {m1:.2f} out of 5 ({row['change']:+.2f})."
    variance = [sd ** 2 / n for n, sd in ((n0, sd0), (n1, sd1)) if n >= 2 and sd is not None]
    se = math.sqrt(sum(variance)) if len(variance) == 2 else 0.0
    if se > 0:
        df = se ** 4 / ((sd0 ** 2 / n0) ** 2 / (n0 - 1) + (sd1 ** 2 / n1) ** 2 / (n1 - 1))
        half = sps.t.ppf(upper, df) * se
        row["change_ci_low"], row["change_ci_high"] = row["change"] - half, row["change"] + half
        row["p_value"] = _finite(2 * sps.t.sf(abs(row["change"]) / se, df))
    return row


def _finite(x):
    return None if x is None or not math.isfinite(float(x)) else float(x)


def quarter_changes(ctx: Context, quarter: Quarter | None = None) -> pd.DataFrame:
    """What changed between `quarter` (default: the last complete one) and the quarter before.

    The context's segment and team filters apply; the period filter is replaced by the two
    quarters, and the comparison is organisation-wide (the playbook filter does not narrow it).

    Returns
    -------
    DataFrame with CHANGE_COLUMNS, one row per measure: runs opened (count), share of runs
    that used a playbook, run success rate (closed runs by opened date), renewal rate
    (decided renewals by renewal date), playbook views (count), feedback mean rating (1–5).
    Rates carry n and Wilson intervals and the change a Newcombe interval; counts have no
    interval. Empty when the store has no data.
    """
    store, s = ctx.store, ctx.settings
    quarter = quarter or last_complete_quarter(store)
    if quarter is None:
        return pd.DataFrame(columns=list(CHANGE_COLUMNS))
    sides = _quarter_sides(store, ctx.filters, quarter)
    runs, renewals = sides["runs"], sides["renewals"]
    views, feedback = sides["views"], sides["feedback"]
    g = _get
    rows = [
        _count_change("Runs opened", int(g(runs, "previous", "runs")), int(g(runs, "current", "runs"))),
        _rate_change("Runs that used a playbook",
                     int(g(runs, "previous", "with_playbook")), int(g(runs, "previous", "runs")),
                     int(g(runs, "current", "with_playbook")), int(g(runs, "current", "runs")),
                     "runs", s),
        _rate_change("Run success rate",
                     int(g(runs, "previous", "successes")), int(g(runs, "previous", "closed")),
                     int(g(runs, "current", "successes")), int(g(runs, "current", "closed")),
                     "closed runs", s),
        _rate_change("Renewal rate",
                     int(g(renewals, "previous", "renewed")), int(g(renewals, "previous", "decided")),
                     int(g(renewals, "current", "renewed")), int(g(renewals, "current", "decided")),
                     "decided renewals", s),
        _count_change("Playbook views", int(g(views, "previous", "views")),
                      int(g(views, "current", "views"))),
        _mean_change("Feedback mean rating",
                     int(g(feedback, "previous", "responses")), g(feedback, "previous", "mean_rating", None),
                     g(feedback, "previous", "sd_rating", None),
                     int(g(feedback, "current", "responses")), g(feedback, "current", "mean_rating", None),
                     g(feedback, "current", "sd_rating", None), s.alpha),
    ]
    frame = pd.DataFrame(rows, columns=list(CHANGE_COLUMNS), dtype=object)
    frame["previous_quarter"], frame["current_quarter"] = str(quarter.previous()), str(quarter)
    return frame.astype(object).where(frame.notna(), None)

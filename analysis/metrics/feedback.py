"""What CSMs say about the playbooks: survey ratings (1–5) and comments."""
from __future__ import annotations

import math

import pandas as pd
from scipy import stats as sps

from analysis.context import Context
from analysis.filters import Filters
from analysis.jsonable import records
from analysis.scope import scoped

RATINGS = (1, 2, 3, 4, 5)
JSON_KEYS = ("playbook_id", "responses", "mean_rating")


def _playbook_clause(filters: Filters | None, params: list) -> tuple[str, list]:
    if filters is not None and filters.playbook_id is not None:
        return " and playbook_id = ?", [*params, filters.playbook_id]
    return "", params


def _t_interval(mean: float, sd: float, n: int, alpha: float) -> tuple[float | None, ...]:
    """Student-t interval of a mean; None below two ratings (no spread to estimate)."""
    if n < 2 or sd is None or not math.isfinite(sd):
        return None, None
    half = sps.t.ppf(1 - alpha / 2, n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


def feedback_summary(ctx: Context) -> pd.DataFrame:
    """Responses and mean rating per playbook, within the context's filters.

    Returns
    -------
    DataFrame sorted by playbook_id: playbook_id, responses (survey answers, rated or not),
    rated (answers with a rating 1–5), mean_rating (None without ratings), sd, ci_low, ci_high
    (t interval of the mean at the alpha setting; None below two ratings), comments (answers
    with a comment), r1..r5 (how many gave each rating).
    """
    feedback_sql, params = scoped("feedback", ctx.filters)
    playbook, params = _playbook_clause(ctx.filters, params)
    per_rating = ", ".join(f"count(*) filter (where rating = {r}) as r{r}" for r in RATINGS)
    frame = ctx.store.query(f"""
        with answers as (
            select playbook_id, comment,
                   case when rating between 1 and 5 then rating end as rating
            from {feedback_sql} f
            where playbook_id is not null{playbook}
        ),
        final as (
            select playbook_id, count(*) as responses, count(rating) as rated,
                   avg(rating) as mean_rating, stddev_samp(rating) as sd,
                   count(*) filter (where trim(coalesce(comment, '')) <> '') as comments,
                   {per_rating}
            from answers group by playbook_id
        )
        select * from final order by playbook_id
    """, params)
    alpha = ctx.settings.alpha
    bounds = [_t_interval(m, s, n, alpha)
              for m, s, n in zip(frame["mean_rating"], frame["sd"], frame["rated"])]
    frame.insert(5, "ci_low", pd.Series([b[0] for b in bounds], index=frame.index, dtype=float))
    frame.insert(6, "ci_high", pd.Series([b[1] for b in bounds], index=frame.index, dtype=float))
    counts = ["responses", "rated", "comments", *(f"r{r}" for r in RATINGS)]
    frame[counts] = frame[counts].astype("int64")
    frame[["mean_rating", "sd"]] = frame[["mean_rating", "sd"]].astype(float)
    return frame


def recent_comments(ctx: Context, limit: int = 20) -> pd.DataFrame:
    """The newest answers in the context's view that carry a comment.

    Returns
    -------
    DataFrame, newest first, at most `limit` rows: submitted_at (Timestamp), playbook_id,
    csm_id, csm_name, rating, comment.
    """
    if int(limit) < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    feedback_sql, params = scoped("feedback", ctx.filters)
    playbook, params = _playbook_clause(ctx.filters, params)
    return ctx.store.query(f"""
        select f.submitted_at, f.playbook_id, f.csm_id, c.name as csm_name, f.rating,
               trim(f.comment) as comment
        from {feedback_sql} f left join csms c using (csm_id)
        where trim(coalesce(f.comment, '')) <> ''{playbook}
        order by f.submitted_at desc, f.playbook_id
        limit ?
    """, [*params, int(limit)])


def feedback_json(ctx: Context) -> list[dict]:
    """The `feedback` key of `metrics --json`, JSON-ready."""
    return records(feedback_summary(ctx),
                   [*JSON_KEYS, "rated", "ci_low", "ci_high", "comments",
                    *(f"r{r}" for r in RATINGS)])

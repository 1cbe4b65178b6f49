"""Feedback charts: mean rating with its interval, and how the ratings spread."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analysis.present.charts.base import AFTER, interval_error, styled
from analysis.metrics.stats import confidence_label

# 1 (worst) to 5 (best): red through grey to green, colour-blind safe ends.
RATING_COLOURS = ("#D55E00", "#E69F00", "#999999", "#56B4E9", "#009E73")


def _none(values) -> list:
    return [None if pd.isna(v) else float(v) for v in values]


def mean_rating_chart(summary: pd.DataFrame, names: dict | None = None,
                      title: str | None = None, *, alpha: float) -> go.Figure:
    """Mean rating per playbook (1–5) with t-interval bars, from `feedback_summary`.

    `alpha` is the one the summary's intervals were computed with (the request's setting);
    the default title names its level.
    """
    names = names or {}
    rated = summary[summary["rated"] > 0]
    means, lows, highs = (_none(rated[c]) for c in ("mean_rating", "ci_low", "ci_high"))
    fig = go.Figure()
    fig.add_scatter(x=means, y=[names.get(p, p) for p in rated["playbook_id"]], mode="markers",
                    marker=dict(color=AFTER, size=11), name="Mean rating",
                    error_x=interval_error(means, lows, highs),
                    customdata=rated["rated"].tolist(),
                    hovertemplate="%{y}: %{x:.2f} (%{customdata} ratings)<extra></extra>")
    fig.update_xaxes(title="Mean rating (1–5)", range=[0.8, 5.2], dtick=1)
    fig.update_yaxes(autorange="reversed", type="category")
    return styled(fig, title or f"Mean rating with {confidence_label(alpha)} interval",
                  height=max(300, 36 * len(rated) + 140))


def rating_distribution_chart(summary: pd.DataFrame, names: dict | None = None,
                              title: str | None = None) -> go.Figure:
    """Share of each rating per playbook as stacked horizontal bars."""
    names = names or {}
    rated = summary[summary["rated"] > 0]
    labels = [names.get(p, p) for p in rated["playbook_id"]]
    fig = go.Figure()
    for r, colour in zip(range(1, 6), RATING_COLOURS):
        shares = (rated[f"r{r}"] / rated["rated"]).tolist()
        fig.add_bar(x=shares, y=labels, name=f"{r} ★", orientation="h", marker_color=colour,
                    customdata=rated[f"r{r}"].tolist(),
                    hovertemplate="%{y}: %{x:.0%} (%{customdata})<extra></extra>")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="Share of ratings", tickformat=".0%", range=[0, 1])
    fig.update_yaxes(autorange="reversed", type="category")
    return styled(fig, title or "How playbooks are rated", height=max(300, 36 * len(rated) + 140))

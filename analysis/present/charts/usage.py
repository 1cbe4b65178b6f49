"""Usage charts: runs per playbook over time, CSM share versus adherence, step funnels."""
from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go

from analysis.present.periods import is_partial, period_label
from analysis.present.charts.base import ACCENT, AFTER, BAD, BEFORE, GOOD, SEQUENCE, styled


def runs_over_time(usage: pd.DataFrame, value: str = "runs", names: dict | None = None,
                   title: str | None = None, freq: str | None = None,
                   last_date: date | None = None) -> go.Figure:
    """Stacked bars of `value` (runs or views) per playbook per period, from `playbook_usage`.

    With `freq` ("M", "Q", "Y") the periods are labelled ("2026 Q4"), and one the data stops
    inside (`last_date`) is hatched and labelled "(to date)" so it does not read as a drop.
    """
    if value not in ("runs", "views"):
        raise ValueError(f"value must be 'runs' or 'views', got {value!r}")
    names = names or {}
    fig = go.Figure()
    order = sorted(set(usage["period"]))
    for i, (playbook_id, rows) in enumerate(usage.groupby("playbook_id", sort=True)):
        starts = list(rows["period"])
        partial = [bool(freq) and is_partial(p, freq, last_date) for p in starts]
        fig.add_bar(x=[period_label(p, freq, last_date) if freq else p.isoformat()
                       for p in starts],
                    y=rows[value].tolist(), name=names.get(playbook_id, playbook_id),
                    marker_color=SEQUENCE[i % len(SEQUENCE)],
                    marker_pattern_shape=["/" if p else "" for p in partial])
    if freq:
        fig.update_xaxes(categoryorder="array",
                         categoryarray=[period_label(p, freq, last_date) for p in order])
    fig.update_layout(barmode="stack", xaxis_title="Period" if freq else "Period starting",
                      yaxis_title=value.title())
    fig = styled(fig, title or f"{value.title()} per playbook", height=440)
    # A dozen playbooks make a legend too tall for the row above the plot: list it at the side.
    fig.update_layout(legend=dict(orientation="v", yanchor="top", y=1, xanchor="left", x=1.02))
    return fig


def _user_kind(row) -> str:
    if row["consistent"]:
        return "Consistent user"
    if row["rare"]:
        return "Rare user"
    return "In between"


def share_vs_adherence(csms: pd.DataFrame, *, consistent_at: float, rare_below: float,
                       title: str | None = None) -> go.Figure:
    """Each CSM at (playbook share, mean adherence) with the consistent and rare guides (the
    consistent_share and rare_share settings the flags were set with).

    CSMs missing either value have no point (nothing to place them by).
    """
    placed = csms.dropna(subset=["playbook_share", "mean_adherence"])
    fig = go.Figure()
    colours = {"Consistent user": GOOD, "In between": AFTER, "Rare user": BAD}
    kinds = placed.apply(_user_kind, axis=1) if len(placed) else pd.Series(dtype=object)
    for kind, colour in colours.items():
        rows = placed[kinds == kind] if len(placed) else placed
        labels = rows["name"].where(rows["name"].notna(), rows["csm_id"]).astype(str)
        fig.add_scatter(x=rows["playbook_share"].tolist(), y=rows["mean_adherence"].tolist(),
                        mode="markers", name=kind, text=labels.tolist(),
                        customdata=rows["runs"].tolist(), marker=dict(color=colour, size=10),
                        hovertemplate="%{text}<br>share %{x:.0%}, adherence %{y:.0%}"
                                      "<br>%{customdata} runs<extra></extra>")
    for x, label in ((consistent_at, f"consistent ≥ {consistent_at:.0%}"),
                     (rare_below, f"rare < {rare_below:.0%}")):
        fig.add_vline(x=x, line=dict(color=ACCENT if x == rare_below else GOOD, dash="dash"),
                      annotation_text=label, annotation_position="top")
    fig.add_hline(y=consistent_at, line=dict(color=GOOD, dash="dash"))
    fig.update_xaxes(title="Share of eligible runs that used a playbook", range=[-0.02, 1.02],
                     tickformat=".0%")
    fig.update_yaxes(title="Mean adherence", range=[-0.02, 1.02], tickformat=".0%")
    return styled(fig, title or "Playbook share versus adherence per CSM", height=440)


def step_funnel_chart(funnel: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Horizontal stacked bars per step: done, skipped, open (first step on top)."""
    fig = go.Figure()
    steps = funnel["step_id"].astype(str).tolist()
    for column, colour in (("done", GOOD), ("skipped", BAD), ("open", BEFORE)):
        fig.add_bar(y=steps, x=funnel[column].tolist(), name=column.title(), orientation="h",
                    marker_color=colour)
    fig.update_layout(barmode="stack", xaxis_title="Runs")
    fig.update_yaxes(autorange="reversed", type="category")
    return styled(fig, title or "Where runs stall", height=max(300, 40 * len(steps) + 120))

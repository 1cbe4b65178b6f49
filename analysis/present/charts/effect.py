"""Charts of playbook effect: before/after, the monthly series, followers vs non-followers,
naive vs adjusted differences and covariate balance."""
from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go

from analysis.present.periods import TO_DATE, is_partial
from analysis.present.charts.base import (ACCENT, AFTER, BEFORE, interval_error, mark_date,
                                         playbook_labels, styled)

# |SMD| below this is the usual reading of "balanced" (Austin 2009).
BALANCED_SMD = 0.1


def _n_label(n) -> str:
    return f"n = {int(n):,}"


def _bars(labels, rates, lows, highs, ns, colors, title) -> go.Figure:
    fig = go.Figure(go.Bar(
        x=list(labels), y=list(rates), marker_color=list(colors),
        error_y=interval_error(rates, lows, highs),
        text=[_n_label(n) for n in ns], textposition="inside", insidetextanchor="start",
        hovertemplate="%{x}: %{y:.1%}<br>%{text}<extra></extra>",
    ))
    fig = styled(fig, title, percent_y=True)
    fig.update_yaxes(range=[0, 1])
    return fig


def before_after_bars(row: dict | pd.Series, title: str | None = None) -> go.Figure:
    """Before and after rates of one playbook (a row of `before_after`) with Wilson bars."""
    sides = ("before", "after")
    return _bars(
        ["Before", "After"], [row[f"{s}_rate"] for s in sides],
        [row[f"{s}_ci_low"] for s in sides], [row[f"{s}_ci_high"] for s in sides],
        [row[f"{s}_n"] for s in sides], [BEFORE, AFTER], title)


def monthly_series_chart(series: pd.DataFrame, introduced_on: date | None,
                         title: str | None = None, last_date: date | None = None) -> go.Figure:
    """Monthly rate (a `monthly_series` frame) with its Wilson band and the introduction marked;
    a month the data stops inside (`last_date`) gets an open marker labelled "to date"."""
    fig = go.Figure()
    for side, colour in (("before", BEFORE), ("after", AFTER)):
        part = series[series["side"] == side]
        if part.empty:
            continue
        months = [pd.Timestamp(m) for m in part["month"]]
        fig.add_trace(go.Scatter(
            x=months + months[::-1],
            y=list(part["ci_high"]) + list(part["ci_low"])[::-1],
            fill="toself", fillcolor=colour, opacity=0.18, line=dict(width=0),
            hoverinfo="skip", showlegend=False, name=f"{side} interval"))
        fig.add_trace(go.Scatter(
            x=months, y=list(part["rate"]), mode="lines+markers", name=side.capitalize(),
            line=dict(color=colour), customdata=list(part["n"]),
            hovertemplate="%{x|%b %Y}: %{y:.1%} (n = %{customdata})<extra></extra>"))
        partial = [m for m, r in zip(months, part["rate"])
                   if is_partial(m.date(), "M", last_date) and not pd.isna(r)]
        for month in partial:
            fig.add_annotation(x=month, y=float(part.loc[part["month"].map(pd.Timestamp) == month,
                                                         "rate"].iloc[0]),
                               text=TO_DATE, showarrow=True, arrowhead=0, ay=-28,
                               font=dict(color=colour))
    fig = styled(fig, title, percent_y=True)
    fig.update_yaxes(range=[0, 1])
    return mark_date(fig, introduced_on, "introduced")


def follower_bars(row: dict | pd.Series, title: str | None = None) -> go.Figure:
    """Success rate of followers and non-followers of one playbook (a `followers_effect` row)."""
    groups = ("non_followers", "followers")
    return _bars(
        ["Non-followers", "Followers"], [row[f"{g}_rate"] for g in groups],
        [row[f"{g}_ci_low"] for g in groups], [row[f"{g}_ci_high"] for g in groups],
        [row[f"{g}_n"] for g in groups], [BEFORE, AFTER], title)


def effect_forest(frame: pd.DataFrame, title: str | None = None,
                  names: dict | None = None) -> go.Figure:
    """Naive and adjusted follower differences with intervals, one line per playbook (its
    display name from `names` when given)."""
    fig = go.Figure()
    labels = playbook_labels(frame, names)
    for kind, colour, symbol in (("naive", BEFORE, "circle-open"), ("adjusted", AFTER, "circle")):
        diffs = list(frame[f"{kind}_diff"])
        fig.add_trace(go.Scatter(
            x=diffs, y=labels, mode="markers", name=kind.capitalize(),
            marker=dict(color=colour, size=10, symbol=symbol),
            error_x=interval_error(diffs, list(frame[f"{kind}_ci_low"]),
                                   list(frame[f"{kind}_ci_high"])),
            hovertemplate="%{y}: %{x:+.1%}<extra>" + kind + "</extra>"))
    fig.add_vline(x=0, line=dict(color="#444444", width=1))
    fig = styled(fig, title, height=max(260, 60 + 45 * len(frame)))
    fig.update_xaxes(tickformat="+.0%", title="followers − non-followers")
    fig.update_layout(scattermode="group")
    return fig


def balance_plot(balance: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Love plot: standardised mean difference of each covariate before and after adjustment."""
    fig = go.Figure()
    for column, name, colour in (("smd_before", "Before adjustment", BEFORE),
                                 ("smd_after", "After adjustment", AFTER)):
        fig.add_trace(go.Scatter(
            x=list(balance[column]), y=list(balance["covariate"]), mode="markers", name=name,
            marker=dict(color=colour, size=11),
            hovertemplate="%{y}: %{x:.3f}<extra>" + name + "</extra>"))
    for x in (-BALANCED_SMD, BALANCED_SMD):
        fig.add_vline(x=x, line=dict(color=ACCENT, dash="dash", width=1))
    fig.add_vline(x=0, line=dict(color="#444444", width=1))
    fig = styled(fig, title, height=max(260, 60 + 40 * len(balance)))
    fig.update_xaxes(title="standardised mean difference (followers − non-followers)")
    return fig


def before_after_overview(frame: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Before and after rates of every playbook side by side (by name), with Wilson bars."""
    fig = go.Figure()
    labels = playbook_labels(frame)
    for side, colour in (("before", BEFORE), ("after", AFTER)):
        rates = list(frame[f"{side}_rate"])
        fig.add_trace(go.Bar(
            x=labels, y=rates, name=side.capitalize(), marker_color=colour,
            error_y=interval_error(rates, list(frame[f"{side}_ci_low"]),
                                   list(frame[f"{side}_ci_high"])),
            customdata=list(frame[f"{side}_n"]),
            hovertemplate="%{x}: %{y:.1%} (n = %{customdata})<extra>" + side + "</extra>"))
    fig = styled(fig, title, percent_y=True)
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1])
    return fig


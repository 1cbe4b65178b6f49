"""Charts of the overview and the review pack: effects per playbook, quarter against quarter,
and one playbook's rates side by side."""
from __future__ import annotations

from html import escape

import pandas as pd
import plotly.graph_objects as go

from analysis import settings
from analysis.present.charts.base import AFTER, BAD, BEFORE, GOOD, styled, interval_error

# Effect class (analysis.metrics.overview) → colour of its dot.
_EFFECT_COLOURS = {"improved": GOOD, "worse": BAD, "no clear change": BEFORE, "no data": BEFORE}


def _label(text) -> str:
    # Plotly reads a subset of HTML in text; escaping shows names such as "<b>" literally.
    return escape(str(text))


def effect_dots(headlines: pd.DataFrame, title: str | None = "Change since introduction") -> go.Figure:
    """Before/after difference per playbook as a dot with its Newcombe interval; 0 = no change."""
    shown = headlines[headlines["diff"].notna()]
    fig = go.Figure()
    for effect, group in shown.groupby("effect", sort=False):
        fig.add_trace(go.Scatter(
            x=[float(d) for d in group["diff"]], y=[_label(n) for n in group["name"]],
            mode="markers", name=effect, marker=dict(size=11, color=_EFFECT_COLOURS.get(effect, BEFORE)),
            error_x=interval_error(group["diff"].tolist(), group["diff_ci_low"].tolist(),
                                   group["diff_ci_high"].tolist()),
            customdata=[[int(b), int(a)] for b, a in zip(group["before_n"], group["after_n"])],
            hovertemplate="%{y}<br>change %{x:+.0%}<br>n before %{customdata[0]}, "
                          "after %{customdata[1]}<extra></extra>",
        ))
    fig.add_vline(x=0, line=dict(color="#444", width=1))
    fig.update_xaxes(tickformat="+.0%", title="after − before (percentage points)")
    fig.update_yaxes(autorange="reversed")
    return styled(fig, title, height=max(260, 40 + 32 * len(shown)))


def quarter_rates(changes: pd.DataFrame, title: str | None = None) -> go.Figure:
    """The rate measures of `quarter_changes`, previous quarter beside current, with intervals."""
    rates = changes[changes["kind"] == "rate"]
    fig = go.Figure()
    for side, colour in (("previous", BEFORE), ("current", AFTER)):
        label = rates[f"{side}_quarter"].iloc[0] if len(rates) else side
        values = rates[f"{side}_value"].tolist()
        fig.add_trace(go.Bar(
            x=rates["measure"].tolist(), y=values, name=label, marker_color=colour,
            error_y=interval_error(values, rates[f"{side}_ci_low"].tolist(),
                                   rates[f"{side}_ci_high"].tolist()),
            customdata=rates[f"{side}_n"].tolist(),
            hovertemplate="%{x}<br>%{y:.1%} of %{customdata}<extra></extra>",
        ))
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1])
    return styled(fig, title, percent_y=True, height=320)


def playbook_rates(row: pd.Series | dict, title: str | None = None) -> go.Figure:
    """One playbook's before/after rates and its followers/non-followers rates, with intervals.

    `row` is a `playbook_headlines` row (or a dict with the same keys).
    """
    get = row.get
    months = settings.default("window_months")  # the windows the headline rates cover
    bars = [
        (f"{months} months before", get("before_rate"), get("before_ci_low"), get("before_ci_high"),
         get("before_n"), BEFORE),
        (f"{months} months after", get("after_rate"), get("after_ci_low"), get("after_ci_high"),
         get("after_n"), AFTER),
        ("Non-followers", get("non_followers_rate"), get("non_followers_ci_low"),
         get("non_followers_ci_high"), get("non_followers_n"), BEFORE),
        ("Followers", get("followers_rate"), get("followers_ci_low"), get("followers_ci_high"),
         get("followers_n"), GOOD),
    ]
    bars = [b for b in bars if b[1] is not None and not pd.isna(b[1])]
    labels = [b[0] for b in bars]
    rates = [float(b[1]) for b in bars]
    fig = go.Figure(go.Bar(
        x=labels, y=rates, marker_color=[b[5] for b in bars],
        error_y=interval_error(rates, [b[2] for b in bars], [b[3] for b in bars]),
        text=[f"{r:.0%} (n={int(b[4] or 0)})" for r, b in zip(rates, bars)],
        textposition="inside", hovertemplate="%{x}: %{y:.1%}<extra></extra>",
    ))
    fig.update_yaxes(range=[0, 1])
    return styled(fig, title, percent_y=True, height=300)

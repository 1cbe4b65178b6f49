"""Charts of the overview and the review pack: effects per playbook, quarter against quarter,
and one playbook's rates side by side."""
from __future__ import annotations

from html import escape

import pandas as pd
import plotly.graph_objects as go

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


def _bars(question: str, months: int | None = None) -> list[tuple[str, str, str]]:
    """(label, column prefix, colour) of the two sides a question compares: "before_after"
    (the windows of `months` before and after an introduction) or "followers"
    (non-followers, followers)."""
    if question == "before_after":
        return [(f"{months} months before", "before", BEFORE),
                (f"{months} months after", "after", AFTER)]
    if question == "followers":
        return [("Non-followers", "non_followers", BEFORE), ("Followers", "followers", GOOD)]
    raise ValueError(f"question must be 'before_after' or 'followers', got {question!r}")


def _rate(row, prefix: str) -> float | None:
    value = row.get(f"{prefix}_rate")
    return None if value is None or pd.isna(value) else float(value)


def playbook_rates(row: pd.Series | dict, months: int, title: str | None = None,
                   question: str = "before_after") -> go.Figure:
    """One playbook's rates for one question, with intervals: "before_after" (the windows
    before and after its introduction, `months` each: the window_months setting) or
    "followers" (non-followers against followers).

    `row` is a `playbook_headlines` row (or a dict with the same keys). Each bar's rate and n
    sit in its axis label, below the bar, so no label ever meets an interval's whisker.
    """
    get = row.get
    bars = [(label, prefix, colour) for label, prefix, colour in _bars(question, months)
            if _rate(row, prefix) is not None]
    rates = [_rate(row, p) for _, p, _ in bars]
    fig = go.Figure(go.Bar(
        x=[label for label, _, _ in bars], y=rates, marker_color=[c for _, _, c in bars],
        error_y=interval_error(rates, [get(f"{p}_ci_low") for _, p, _ in bars],
                               [get(f"{p}_ci_high") for _, p, _ in bars]),
        customdata=[int(get(f"{p}_n") or 0) for _, p, _ in bars],
        hovertemplate="%{x}: %{y:.1%} (n = %{customdata})<extra></extra>",
    ))
    fig.update_xaxes(tickvals=[label for label, _, _ in bars],
                     ticktext=[f"{label}<br>{r:.0%}, n = {int(get(f'{p}_n') or 0):,}"
                               for (label, p, _), r in zip(bars, rates)])
    fig.update_yaxes(range=[0, 1])
    return styled(fig, title, percent_y=True, height=250)


def rates_by_playbook(headlines: pd.DataFrame, question: str = "before_after",
                      title: str | None = None, months: int | None = None) -> go.Figure:
    """Every playbook's rates for one question in one chart: a pair of bars per playbook (the
    two sides of `playbook_rates`; `months` the before/after windows), with intervals;
    playbooks without a rate are left out."""
    bars = _bars(question, months)
    rows = [r for r in headlines.to_dict("records")
            if any(_rate(r, p) is not None for _, p, _ in bars)]
    names = [_label(r["name"]) for r in rows]
    fig = go.Figure()
    for label, prefix, colour in bars:
        rates = [_rate(r, prefix) for r in rows]
        fig.add_trace(go.Bar(
            x=rates, y=names, orientation="h", name=label, marker_color=colour,
            error_x=interval_error(rates, [r.get(f"{prefix}_ci_low") for r in rows],
                                   [r.get(f"{prefix}_ci_high") for r in rows]),
            customdata=[int(r.get(f"{prefix}_n") or 0) for r in rows],
            hovertemplate="%{y}<br>" + label + ": %{x:.1%} (n = %{customdata})<extra></extra>",
        ))
    fig.update_layout(barmode="group")
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(autorange="reversed")
    return styled(fig, title, height=max(260, 80 + 44 * len(rows)))

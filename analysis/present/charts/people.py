"""Charts of people: per-CSM renewal rates around launch, and how fast new hires ramp."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy import stats as sps

from analysis.present.charts.base import ACCENT, AFTER, BEFORE, styled
from analysis.metrics.stats import confidence_label

COHORT_LABELS = {"before": "Hired before launch", "after": "Hired on or after launch"}
COLOURS = {"before": BEFORE, "after": AFTER}
# Points spread sideways by this much (x units) so CSMs with equal rates stay visible.
_JITTER = 0.16


def _period_labels(months: int) -> dict[str, str]:
    # The analysis' windows are `window_months` long; the labels say so.
    return {"before": f"{months} months before launch", "after": f"{months} months after launch"}


def _z(alpha: float) -> float:
    return float(sps.norm.ppf(1 - alpha / 2))


def _noise_band(fig: go.Figure, x: int, row, show_legend: bool, alpha: float) -> None:
    """Where CSMs' rates would fall (1 − alpha of them) if each had the pooled rate and only
    chance differed."""
    pooled, noise = row.get("pooled_rate"), row.get("noise_sd")
    if pooled is None or noise is None or pd.isna(pooled) or pd.isna(noise):
        return
    z = _z(alpha)
    low, high = max(pooled - z * noise, 0.0), min(pooled + z * noise, 1.0)
    fig.add_trace(go.Scatter(
        x=[x - 0.42, x + 0.42, x + 0.42, x - 0.42, x - 0.42], y=[low, low, high, high, low],
        fill="toself", mode="lines", line=dict(width=0), fillcolor="rgba(230,159,0,0.15)",
        name="Spread chance alone gives", legendgroup="noise", showlegend=show_legend,
        hovertemplate=(f"Binomial noise band ({confidence_label(alpha)} of CSMs): "
                       f"{low:.0%}–{high:.0%}<br>"
                       f"pooled rate {pooled:.1%}, noise SD {100 * noise:.1f} points"
                       "<extra></extra>")))


def csm_spread_chart(rates: pd.DataFrame, spread: pd.DataFrame,
                     title: str | None = "Renewal rate per CSM, before and after launch",
                     *, alpha: float, months: int) -> go.Figure:
    """Strip + box chart of per-CSM renewal rates per period (`consistency_summary` output).

    Counted CSMs are filled points sized by their renewals, with a box of their spread; CSMs
    below the renewals threshold are hollow and left out of the box. The shaded band is the
    spread binomial noise alone would give around the pooled rate, at the level 1 − alpha the
    CSMs' intervals use; `alpha` and `months` (the window_months the periods span) are the
    settings the analysis ran with.
    """
    level, labels = confidence_label(alpha), _period_labels(months)
    fig = go.Figure()
    rng = np.random.default_rng(0)  # fixed: the same data always draws the same chart
    largest = max(float(rates["n"].max()), 1.0) if len(rates) else 1.0
    by_period = spread.set_index("period") if len(spread) else None
    for x, period in enumerate(labels):
        part = rates[rates["period"] == period]
        counted = part[part["counted"].astype(bool)]
        if by_period is not None and period in by_period.index:
            _noise_band(fig, x, by_period.loc[period].to_dict(), x == 0, alpha)
        if len(counted) >= 2:
            fig.add_trace(go.Box(
                x=[x] * len(counted), y=counted["rate"], name=labels[period],
                marker_color=COLOURS[period], boxpoints=False, width=0.5, showlegend=False,
                hoverinfo="skip"))
        for is_counted, group in ((True, counted), (False, part[~part["counted"].astype(bool)])):
            if group.empty:
                continue
            fig.add_trace(go.Scatter(
                x=x + rng.uniform(-_JITTER, _JITTER, len(group)), y=group["rate"],
                mode="markers",
                name=labels[period] if is_counted else "Too few renewals (not counted)",
                legendgroup=period if is_counted else "uncounted",
                showlegend=is_counted or period == "before",
                marker=dict(size=6 + 14 * np.sqrt(group["n"].astype(float) / largest),
                            color=COLOURS[period] if is_counted else "rgba(0,0,0,0)",
                            line=dict(width=1.5, color=COLOURS[period])),
                customdata=np.column_stack([group["name"].astype(str), group["n"],
                                            group["renewed"], group["ci_low"],
                                            group["ci_high"]]),
                hovertemplate=("<b>%{customdata[0]}</b><br>renewal rate %{y:.1%}<br>"
                               "%{customdata[2]} of %{customdata[1]} renewed<br>"
                               f"{level} CI %{{customdata[3]:.1%}}–%{{customdata[4]:.1%}}"
                               "<extra></extra>")))
    fig.update_xaxes(tickvals=[0, 1], ticktext=list(labels.values()), range=[-0.6, 1.6])
    fig.update_yaxes(title="Renewal rate")
    return _legend_below(styled(fig, title, percent_y=True, height=440))


def km_chart(curves: pd.DataFrame, cohorts: pd.DataFrame,
             title: str | None = "Share of CSMs not yet ramped, by days since hire",
             *, alpha: float) -> go.Figure:
    """Kaplan–Meier step curves per cohort with their confidence bands, medians marked.

    `curves` and `cohorts` are `proficiency_summary(...).curves` / `.cohorts`; `alpha` is the
    one their bands were computed with (the request's setting), named in the hover text.
    """
    level = confidence_label(alpha)
    fig = go.Figure()
    medians = cohorts.set_index("cohort")["median_days"] if len(cohorts) else pd.Series()
    for cohort in COHORT_LABELS:
        part = curves[curves["cohort"] == cohort].sort_values("days")
        if part.empty:
            continue
        colour, label = COLOURS.get(cohort, ACCENT), COHORT_LABELS.get(cohort, cohort)
        fig.add_trace(go.Scatter(
            x=part["days"], y=part["ci_high"], mode="lines", line=dict(width=0, shape="hv"),
            legendgroup=cohort, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(
            x=part["days"], y=part["ci_low"], mode="lines", line=dict(width=0, shape="hv"),
            fill="tonexty", fillcolor=_translucent(colour), legendgroup=cohort,
            showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(
            x=part["days"], y=part["survival"], mode="lines", name=label, legendgroup=cohort,
            line=dict(color=colour, width=2.5, shape="hv"),
            customdata=np.column_stack([part["at_risk"], part["ci_low"], part["ci_high"]]),
            hovertemplate=(f"{label}<br>day %{{x:.0f}}: %{{y:.0%}} not yet ramped<br>"
                           f"{level} CI %{{customdata[1]:.0%}}–%{{customdata[2]:.0%}}<br>"
                           "%{customdata[0]} still ramping<extra></extra>")))
        median = medians.get(cohort)
        if median is not None and not pd.isna(median):
            fig.add_trace(go.Scatter(
                x=[median, median], y=[0, 0.5], mode="lines", legendgroup=cohort,
                line=dict(color=colour, dash="dot", width=1.5), showlegend=False,
                hovertemplate=f"{label}: median {median:.0f} days<extra></extra>"))
            fig.add_annotation(x=median, y=0, text=f"median {median:.0f} d", showarrow=False,
                               yanchor="bottom", xanchor="left", font=dict(color=colour))
    fig.add_hline(y=0.5, line=dict(color="#666666", dash="dash", width=1))
    fig.update_xaxes(title="Days since hire", rangemode="tozero")
    fig.update_yaxes(title="Share not yet ramped", range=[0, 1.02])
    return _legend_below(styled(fig, title, percent_y=True, height=440))


def _legend_below(fig: go.Figure) -> go.Figure:
    # Three or four legend entries do not fit beside the title; below the axis they do.
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0))
    return fig


def _translucent(hex_colour: str, alpha: float = 0.18) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"

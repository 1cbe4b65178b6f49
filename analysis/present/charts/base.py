"""The shared look of every chart: palette, layout, interval bars and date markers."""
from __future__ import annotations

from datetime import date

import plotly.graph_objects as go
import plotly.io as pio

# Colour-blind-safe pairs (Okabe–Ito): before/after, non-followers/followers.
BEFORE = "#999999"
AFTER = "#0072B2"
ACCENT = "#E69F00"
GOOD = "#009E73"
BAD = "#D55E00"
SEQUENCE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
            "#999999")
# The house template is plotly's default in this process: a figure takes it when built
# (~0.5 ms), where naming it in update_layout copies and validates it again for every figure
# (10-25 ms each: a second over the review's thirty charts). The figures are the same.
pio.templates.default = "plotly_white"


def styled(fig: go.Figure, title: str | None = None, *, percent_y: bool = False,
           height: int = 380) -> go.Figure:
    """Apply the house layout; `percent_y` formats a 0–1 axis as percentages."""
    fig.update_layout(
        title=title, height=height,
        # Room for the title above the legend row, so the two never overlap.
        margin=dict(l=10, r=10, t=90 if title else 40, b=10),
        title_y=0.98, title_yanchor="top",
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        font=dict(size=13),
    )
    if percent_y:
        fig.update_yaxes(tickformat=".0%")
    return fig


def playbook_labels(frame, names: dict | None = None) -> list[str]:
    """What a chart shows for each row's playbook: its display name from `names`, else the
    frame's own `name` column, else the id read as words (`display_name`, for a playbook
    without a name)."""
    from analysis.ingest.names import display_name
    ids = list(frame["playbook_id"])
    if names:
        return [str(names.get(p) or display_name(p)) for p in ids]
    if "name" in frame:
        return [n if isinstance(n, str) and n.strip() else display_name(p)
                for n, p in zip(frame["name"], ids)]
    return [display_name(p) for p in ids]


def interval_error(rates, lows, highs) -> dict:
    """An asymmetric error-bar spec from rates and their interval bounds (None → no bar)."""
    plus = [None if r is None or h is None else h - r for r, h in zip(rates, highs)]
    minus = [None if r is None or lo is None else r - lo for r, lo in zip(rates, lows)]
    return dict(type="data", symmetric=False, array=plus, arrayminus=minus, thickness=1.5)


def mark_date(fig: go.Figure, when: date | str | None, label: str) -> go.Figure:
    """A dashed vertical line with a label, e.g. a playbook's introduction date."""
    if when is None:
        return fig
    x = when.isoformat() if isinstance(when, date) else str(when)
    fig.add_shape(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
                  line=dict(color=ACCENT, dash="dash", width=2))
    fig.add_annotation(x=x, y=1, xref="x", yref="paper", text=label, showarrow=False,
                       yanchor="bottom", font=dict(color=ACCENT))
    return fig

"""The coaching heat map: a playbook's steps by CSM, coloured by skip or lateness rate."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analysis.present.charts.base import styled

TITLES = {"skip": "Share of steps skipped", "late": "Share of steps late"}
N_COLUMN = {"skip": "steps", "late": "late_n"}


def step_csm_heatmap(matrix: pd.DataFrame, measure: str = "skip",
                     title: str | None = None) -> go.Figure:
    """Steps (rows, in playbook order) by CSM (columns, by name) from a `step_csm_matrix`
    frame; each cell's colour is the rate, its hover the rate and n. Empty cells: no steps."""
    if measure not in TITLES:
        raise ValueError(f"measure must be 'skip' or 'late', got {measure!r}")
    steps = list(dict.fromkeys(matrix["step_id"]))
    people = sorted(dict.fromkeys(matrix["name"]), key=str.lower)
    rate = matrix.pivot_table(index="step_id", columns="name", values=f"{measure}_rate",
                              aggfunc="first").reindex(index=steps, columns=people)
    n = matrix.pivot_table(index="step_id", columns="name", values=N_COLUMN[measure],
                           aggfunc="first").reindex(index=steps, columns=people)
    z = [[None if pd.isna(v) else float(v) for v in row] for row in rate.to_numpy()]
    counts = [[0 if pd.isna(v) else int(v) for v in row] for row in n.to_numpy()]
    fig = go.Figure(go.Heatmap(
        z=z, x=people, y=steps, customdata=counts, zmin=0, zmax=1, colorscale="Oranges",
        colorbar=dict(tickformat=".0%"), hoverongaps=False,
        hovertemplate="%{y}, %{x}: %{z:.0%} of %{customdata} steps<extra></extra>"))
    fig = styled(fig, title or TITLES[measure], height=max(300, 120 + 32 * len(steps)))
    fig.update_yaxes(autorange="reversed", title="Step")
    fig.update_xaxes(title="CSM")
    return fig

"""Pictures of a playbook definition: the decision flowchart (Graphviz DOT) and its timeline."""
from __future__ import annotations

import textwrap

import plotly.graph_objects as go

from analysis.present.charts.base import ACCENT, AFTER, BEFORE, styled


def _label(text: str, width: int = 28) -> str:
    # DOT string literal: escape backslashes and quotes, wrap long lines with \n.
    safe = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return "\\n".join(textwrap.wrap(safe, width)) or " "


def flowchart_dot(playbook) -> str:
    """The playbook's decision logic as a Graphviz DOT digraph.

    Steps are boxes in order (solid arrows); each decision branch is a dashed arrow labelled
    with its condition, to another step or to another playbook (a rounded, shaded node).
    Render with `st.graphviz_chart` (no Python graphviz package is needed for a DOT string).
    """
    lines = ["digraph playbook {", "  rankdir=TB;",
             '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=10, color="#555555"];']
    for step in playbook.steps:
        label = _label(f"{step.number}. {step.title}") + "\\n" + _label(
            f"{step.owner_role} · day {step.due_day}", 40)
        lines.append(f'  step{step.number} [label="{label}"];')
    for before, after in zip(playbook.steps, playbook.steps[1:]):
        lines.append(f"  step{before.number} -> step{after.number};")
    targets = []
    for step in playbook.steps:
        for branch in step.branches:
            if branch.goto_step is not None:
                target = f"step{branch.goto_step}"
            else:
                target = f"pb_{branch.goto_playbook}"
                if target not in targets:
                    targets.append(target)
                    lines.append(f'  {target} [label="{_label("Playbook: " + branch.goto_playbook)}", '
                                 f'shape=box, style="rounded,filled", fillcolor="#FDF1DC", '
                                 f'color="{ACCENT}"];')
            lines.append(f'  step{step.number} -> {target} [label="{_label(branch.condition, 24)}", '
                         f'style=dashed, color="{AFTER}", fontcolor="{AFTER}"];')
    lines.append("}")
    return "\n".join(lines)


def timeline_figure(playbook) -> go.Figure:
    """Milestones and step due days on one day axis (day 0 as the playbook defines it)."""
    fig = go.Figure()
    if playbook.timeline:
        fig.add_trace(go.Scatter(
            x=[m.day for m in playbook.timeline], y=["Milestones"] * len(playbook.timeline),
            mode="markers+text", text=[m.title for m in playbook.timeline],
            # Alternate label sides so neighbouring milestones do not overlap.
            textposition=["top center" if i % 2 == 0 else "bottom center"
                          for i in range(len(playbook.timeline))],
            marker=dict(size=14, color=AFTER, symbol="diamond"),
            name="Milestone", hovertemplate="day %{x}: %{text}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=[s.due_day for s in playbook.steps], y=["Steps due"] * len(playbook.steps),
        mode="markers+text", text=[str(s.number) for s in playbook.steps],
        textposition="middle center", marker=dict(size=22, color=BEFORE),
        textfont=dict(color="white"), name="Step",
        customdata=[[s.title, s.owner_role] for s in playbook.steps],
        hovertemplate="day %{x}: step %{text}, %{customdata[0]} (%{customdata[1]})<extra></extra>"))
    fig.add_vline(x=0, line=dict(color=ACCENT, dash="dash"))
    days = [0, *(m.day for m in playbook.timeline), *(s.due_day for s in playbook.steps)]
    pad = max(5, (max(days) - min(days)) * 0.2)  # room for the labels at both ends
    fig.update_xaxes(title=f"days (day 0 = {playbook.day_zero})", zeroline=False,
                     range=[min(days) - pad, max(days) + pad])
    fig.update_yaxes(categoryorder="array", categoryarray=["Steps due", "Milestones"],
                     range=[-0.5, 1.7])
    styled(fig, f"{playbook.name}: timeline", height=340)
    fig.update_layout(showlegend=False)
    return fig

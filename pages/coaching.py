"""Coaching: for managers, where each playbook's steps are skipped or late, per CSM — a bad step
(everyone skips it, and skipping it goes with failed runs) or a CSM who needs coaching."""
import streamlit as st

from analysis.metrics.coaching import coaching_view
from analysis.metrics.stats import confidence_label
from analysis.present.charts.coaching import step_csm_heatmap
from pages.common import (CACHE_KEYS, download_csv, options, page_context, playbook_names,
                          show_table)

FLAGS = {"more": "more than the team", "less": "less than the team", "in line": "in line",
         "too few": "too few steps to tell"}


@st.cache_data(ttl=60, show_spinner="Reading the steps…", max_entries=64, hash_funcs=CACHE_KEYS)
def _view(ctx, playbook_id: str) -> dict:
    return coaching_view(ctx, playbook_id)


st.title("Coaching")
ctx = page_context()
store, filters = ctx.store, ctx.filters
LEVEL = confidence_label(ctx.settings.alpha)
st.caption("Per playbook, how often each CSM skips each step or finishes it late (completed "
           "after its due date, or still open past it on the data's last day), from "
           "**run_steps**. A step everyone skips, whose skipping goes with failed runs, is a "
           "step to fix; a CSM far from the team on many steps is someone to coach.")

names = playbook_names(ctx.catalog)
with_runs = sorted(options(store).playbooks, key=lambda pid: names.get(pid, pid).lower())
if not with_runs:
    st.info("No playbook runs in this view — import **playbook_runs** and **run_steps** "
            "(run_id, step_id, due_on, completed_on, status) on the Import data page.")
    st.stop()
default = with_runs.index(filters.playbook_id) if filters.playbook_id in with_runs else 0
playbook_id = st.selectbox("Playbook", with_runs, index=default, key="coaching_playbook",
                           format_func=lambda pid: names.get(pid, pid))
view = _view(ctx, playbook_id)
matrix = view["matrix"]
if matrix.empty:
    st.info("No step-level data for this playbook — import **run_steps** (run_id, step_id, "
            "due_on, completed_on, status done / skipped / open) on the Import data page.")
    st.stop()

st.subheader("Skipped steps, per CSM")
skip_tab, late_tab = st.tabs(["Skipped", "Late"])
skip_tab.plotly_chart(step_csm_heatmap(matrix, "skip"), key="coaching_skip")
late_tab.plotly_chart(step_csm_heatmap(matrix, "late"), key="coaching_late")
st.caption("Each cell: the share of that CSM's runs of the step skipped (or late), with n "
           "on hover. Blank: no such steps.")

st.subheader("Steps that separate successful from failed runs")
steps = view["steps"]
if steps.empty:
    st.info("No closed runs with an outcome (success / failure) in this view.")
else:
    separating = steps[steps["separates"].astype(bool)]
    st.write(f"{len(separating)} of {len(steps)} steps are skipped more (or less) often in "
             f"failed runs than in successful ones beyond chance ({LEVEL} interval)."
             if len(separating) else
             "No step's skipping differs between failed and successful runs beyond chance.")
    show_table(ctx, steps, {
        "step_id": ("Step", "text"),
        "failure_skip_rate": ("Skipped in failed runs", "percent"),
        "failure_n": ("Failed runs", "count"),
        "success_skip_rate": ("Skipped in successful runs", "percent"),
        "success_n": ("Successful runs", "count"),
        "diff": ("Difference", "points", "Failed − successful, in percentage points."),
        "diff_ci_low": ("Difference, low", "points", f"Lower end of the {LEVEL} interval."),
        "diff_ci_high": ("Difference, high", "points", f"Upper end of the {LEVEL} interval."),
        "p_value": ("Chance", "p", "Method: Fisher's exact test on small counts, else the "
                                   "two-proportion z-test."),
    }, key="coaching_steps")

st.subheader("CSMs whose pattern differs from the team's")
csms = view["csms"]
flagged = csms[csms["flag"].isin(["more", "less"])]
st.write(
    f"A CSM is flagged when they have at least {view['min_steps']} steps and their own "
    f"{LEVEL} interval lies wholly above or below the rest of the team's rate.")
if flagged.empty:
    st.info("No CSM differs from the team beyond chance on this playbook.")
show_table(ctx, csms.assign(flag=csms["flag"].map(FLAGS),
                       measure=csms["measure"].map({"skip": "skipped", "late": "late"})), {
    "csm_id": ("CSM", "csm"), "measure": ("Measure", "text"),
    "rate": ("Rate", "percent"), "n": ("Steps", "count", "The rate's n."),
    "ci_low": ("Rate, low", "percent", f"Lower end of the {LEVEL} interval (Wilson)."),
    "ci_high": ("Rate, high", "percent", f"Upper end of the {LEVEL} interval (Wilson)."),
    "team_rate": ("Rest of the team", "percent", "The other CSMs in view, pooled."),
    "team_n": ("Team steps", "count"),
    "flag": ("Reading", "text"),
}, key="coaching_csms")
download_csv(matrix, f"coaching_{playbook_id}.csv", key="coaching_download")

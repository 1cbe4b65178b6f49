"""Usage: how often each playbook runs, which CSMs use playbooks, and where runs stall."""
import streamlit as st

from analysis.present.charts import usage as charts
from analysis.metrics.usage import playbook_usage, run_totals, step_funnel, usage_tables
from analysis.present import format as fmt
from analysis.present.periods import TO_DATE
from pages.common import (cached, data_last_date, download_csv, empty_view, page_context,
                          playbook_names, show_table)

FREQUENCIES = {"Quarter": "Q", "Month": "M", "Year": "Y"}

st.title("Usage")
ctx = page_context()
store, filters = ctx.store, ctx.filters
CONSISTENT, RARE = ctx.settings.consistent_share, ctx.settings.rare_share
st.caption(
    "Runs (open ones included) and views per playbook. Adherence of a run is done steps over "
    "all steps; runs without steps are left out of every mean. A CSM's playbook share counts "
    "their runs in scenarios that have a playbook, opened on or after the day it reached them: "
    "its introduction or, for a playbook rolled out team by team (or segment by segment), "
    "their team's (or segment's) rollout, and a run that used such a playbook always "
    "counts. "
    f"Consistent user: share and mean adherence both at least {CONSISTENT:.0%}; rare user: "
    f"share below {RARE:.0%}.")

names = playbook_names(ctx.catalog)
# Both tables from one pass over the runs (each run's adherence is most of the cost).
by_playbook, csms = cached(usage_tables, ctx)
if not by_playbook["runs"].any() and not by_playbook["views"].any() and csms.empty:
    st.info(empty_view(filters, "No playbook runs yet — import them on the Import data page: "
            "**playbook_runs** (run_id, scenario, playbook_id, account_id, csm_id, opened_on, "
            "steps_total, steps_completed), and optionally **run_steps** and "
            "**playbook_views**."))
    st.stop()

runs_col, views_col, consistent_col, rare_col = st.columns(4)
totals = cached(run_totals, ctx)
runs_col.metric("Playbook runs", f"{int(by_playbook['runs'].sum()):,}",
                help=f"{int(by_playbook['open_runs'].sum()):,} of them still open.")
if totals["without_playbook"]:
    st.caption(
        f"The data holds {fmt.count(totals['runs'])} runs in this view: "
        f"{fmt.count(totals['with_playbook'])} used a playbook and are counted here; "
        f"{fmt.count(totals['without_playbook'])} handled a scenario without one (before its "
        "playbook existed, or the old way). Those are left out of usage but are the comparison "
        "on Before/after, which is why Data freshness shows more runs.")
views_col.metric("Playbook views", f"{int(by_playbook['views'].sum()):,}")
consistent_col.metric("Consistent users", f"{int(csms['consistent'].sum())} of {len(csms)}",
                      help="CSMs whose playbook share and mean adherence are both at least "
                           f"{CONSISTENT:.0%}.")
rare_col.metric("Rare users", f"{int(csms['rare'].sum())} of {len(csms)}",
                help=f"CSMs who used a playbook in under {RARE:.0%} of their eligible runs.")

st.subheader("Runs per playbook")
measure_col, per_col = st.columns(2)
# One chart, runs or views: a second one in a hidden tab cost the browser as much as the
# rest of the page on every visit.
measure = measure_col.radio("Count", ["Runs", "Views"], horizontal=True, key="usage_measure")
picked = per_col.radio("Per", list(FREQUENCIES), horizontal=True, key="usage_freq")
per_period = cached(playbook_usage, ctx, FREQUENCIES[picked])
last = data_last_date(store, filters)
st.plotly_chart(charts.runs_over_time(per_period, measure.lower(), names,
                                      freq=FREQUENCIES[picked], last_date=last),
                key=f"usage_{measure.lower()}")
st.caption(f"Hatched bars, labelled “{TO_DATE}”, are periods the data only partly covers (it "
           f"runs to {fmt.day(last)}): they are not a drop.")
show_table(ctx, by_playbook, {
    "playbook_id": ("Playbook", "playbook"), "runs": ("Runs", "count"),
    "open_runs": ("Still open", "count"), "views": ("Views", "count"),
    "csms_using": ("CSMs using it", "count"),
    "mean_adherence": ("Mean adherence", "percent", "Steps done over steps in the run, "
                                                    "averaged over runs with steps."),
    "adherence_n": ("Runs with steps", "count", "Runs the mean adherence is taken over."),
    "followed_runs": ("Followed runs", "count", "Runs at or above the follower threshold."),
}, key="usage_playbooks")
download_csv(by_playbook, "usage_by_playbook.csv", key="usage_download_playbooks")

st.subheader("Per CSM")
if csms.empty:
    st.info(empty_view(filters, "No run names a CSM: import **playbook_runs** with a csm_id "
                                "(or owner) column and the **csms** roster."))
else:
    st.plotly_chart(charts.share_vs_adherence(csms, consistent_at=CONSISTENT, rare_below=RARE),
                    key="usage_scatter")
    show_table(ctx, csms, {
        "csm_id": ("CSM", "csm"), "team": ("Team", "text"), "runs": ("Runs", "count"),
        "playbook_share": ("Playbook share", "percent",
                           "Runs with a playbook over eligible runs: runs in scenarios that "
                           "have one, from the day it reached the CSM (its introduction, or "
                           "the rollout to their team or segment). A run in a team or "
                           "segment the rollouts export does not name, or before its rollout, "
                           "counts only when it used the rolled-out playbook."),
        "share_ci_low": ("Share, low", "percent", "Lower end of the share's interval."),
        "share_ci_high": ("Share, high", "percent", "Upper end of the share's interval."),
        "eligible_runs": ("Eligible runs", "count", "The share's n."),
        "mean_adherence": ("Mean adherence", "percent"),
        "adherence_n": ("Runs with steps", "count", "Runs the mean adherence is taken over."),
        "verdict": ("Reading", "text"),
    }, key="usage_csms")
    download_csv(csms, "usage_by_csm.csv", key="usage_download_csms")

st.subheader("Step funnel")
with_runs = by_playbook.loc[by_playbook["runs"] > 0, "playbook_id"].tolist()
if not with_runs:
    st.info("No playbook has a run in this view.")
    st.stop()
default = with_runs.index(filters.playbook_id) if filters.playbook_id in with_runs else 0
playbook_id = st.selectbox("Playbook", with_runs, index=default, key="usage_funnel_playbook",
                           format_func=lambda pid: names.get(pid, pid))
funnel = cached(step_funnel, ctx, playbook_id)
if funnel.empty:
    st.info("No step-level data for this playbook — import **run_steps** (run_id, step_id, "
            "status done / skipped / open) on the Import data page to see where runs stall.")
else:
    st.plotly_chart(charts.step_funnel_chart(funnel, f"Where {names.get(playbook_id, playbook_id)}"
                                                     " runs stall"), key="usage_funnel")
    show_table(ctx, funnel, {
        "step_id": ("Step", "text"), "runs": ("Runs", "count"), "done": ("Done", "count"),
        "skipped": ("Skipped", "count"), "open": ("Open", "count"),
        "done_rate": ("Done rate", "percent"),
        "done_ci_low": ("Done, low", "percent", "Lower end of the done rate's interval."),
        "done_ci_high": ("Done, high", "percent", "Upper end of the done rate's interval."),
    }, key="usage_funnel_table")
    download_csv(funnel, f"step_funnel_{playbook_id}.csv", key="usage_download_funnel")

"""Usage: how often each playbook runs, which CSMs use playbooks, and where runs stall."""
import streamlit as st

from analysis import settings
from analysis.playbooks.catalog import playbook_catalog
from analysis.present.charts import usage as charts
from analysis.metrics.usage import playbook_usage, step_funnel, usage_tables
from pages.common import download_csv, get_store, sidebar_filters

CONSISTENT = settings.default("consistent_share")
RARE = settings.default("rare_share")
FREQUENCIES = {"Quarter": "Q", "Month": "M", "Year": "Y"}

st.title("Usage")
store = get_store()
filters = sidebar_filters(store)
st.caption(
    "Runs (open ones included) and views per playbook. Adherence of a run is done steps over "
    "all steps; runs without steps are left out of every mean. A CSM's playbook share counts "
    "their runs in scenarios that have a playbook, opened after its introduction. "
    f"Consistent user: share and mean adherence both at least {CONSISTENT:.0%}; rare user: "
    f"share below {RARE:.0%}.")

catalog = playbook_catalog(store)
names = dict(zip(catalog["playbook_id"], catalog["name"]))
# Both tables from one pass over the runs (each run's adherence is most of the cost).
by_playbook, csms = usage_tables(store, filters, catalog)
if not by_playbook["runs"].any() and not by_playbook["views"].any() and csms.empty:
    st.info("No playbook runs yet — import them on the Import data page: **playbook_runs** "
            "(run_id, scenario, playbook_id, account_id, csm_id, opened_on, steps_total, "
            "steps_completed), and optionally **run_steps** and **playbook_views**.")
    st.stop()

runs_col, views_col, consistent_col, rare_col = st.columns(4)
runs_col.metric("Playbook runs", f"{int(by_playbook['runs'].sum()):,}",
                help=f"{int(by_playbook['open_runs'].sum()):,} of them still open.")
views_col.metric("Playbook views", f"{int(by_playbook['views'].sum()):,}")
consistent_col.metric("Consistent users", f"{int(csms['consistent'].sum())} of {len(csms)}",
                      help="CSMs whose playbook share and mean adherence are both at least "
                           f"{CONSISTENT:.0%}.")
rare_col.metric("Rare users", f"{int(csms['rare'].sum())} of {len(csms)}",
                help=f"CSMs who used a playbook in under {RARE:.0%} of their eligible runs.")

st.subheader("Runs per playbook")
picked = st.radio("Per", list(FREQUENCIES), horizontal=True, key="usage_freq")
per_period = playbook_usage(store, filters, FREQUENCIES[picked])
runs_tab, views_tab = st.tabs(["Runs", "Views"])
runs_tab.plotly_chart(charts.runs_over_time(per_period, "runs", names), key="usage_runs")
views_tab.plotly_chart(charts.runs_over_time(per_period, "views", names), key="usage_views")
st.dataframe(by_playbook, hide_index=True)
download_csv(by_playbook, "usage_by_playbook.csv", key="usage_download_playbooks")

st.subheader("Per CSM")
if csms.empty:
    st.info("No run names a CSM: import **playbook_runs** with a csm_id (or owner) column and "
            "the **csms** roster.")
else:
    st.plotly_chart(charts.share_vs_adherence(csms), key="usage_scatter")
    st.dataframe(csms, hide_index=True)
    download_csv(csms, "usage_by_csm.csv", key="usage_download_csms")

st.subheader("Step funnel")
with_runs = by_playbook.loc[by_playbook["runs"] > 0, "playbook_id"].tolist()
if not with_runs:
    st.info("No playbook has a run in this view.")
    st.stop()
default = with_runs.index(filters.playbook_id) if filters.playbook_id in with_runs else 0
playbook_id = st.selectbox("Playbook", with_runs, index=default, key="usage_funnel_playbook",
                           format_func=lambda pid: f"{names.get(pid, pid)} ({pid})")
funnel = step_funnel(store, filters, playbook_id)
if funnel.empty:
    st.info("No step-level data for this playbook — import **run_steps** (run_id, step_id, "
            "status done / skipped / open) on the Import data page to see where runs stall.")
else:
    st.plotly_chart(charts.step_funnel_chart(funnel, f"Where {names.get(playbook_id, playbook_id)}"
                                                     " runs stall"), key="usage_funnel")
    st.dataframe(funnel, hide_index=True)
    download_csv(funnel, f"step_funnel_{playbook_id}.csv", key="usage_download_funnel")

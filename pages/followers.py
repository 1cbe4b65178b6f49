"""Followers vs non-followers: success of runs that followed a playbook closely against runs
that did not, before and after adjusting for the accounts each group handled."""
import streamlit as st

from analysis import settings
from analysis.present.charts import effect as charts
from analysis.present.verdicts import claim_box
from analysis.metrics.followers import balance, followers_effect
from analysis.metrics.stats import confidence_label
from pages.common import download_csv, get_store, pct, rate_help, sidebar_filters

METHODS = {
    "ipw": "propensity weighting on the covariates at open ({}), overlap trimmed",
    "stratified": "stratification on {} (too few runs, or no model fitted, to weight)",
    "naive": "not adjusted: no covariates (health_at_open, arr_at_open, segment), too few "
             "runs in a group, or every run had the same outcome",
}
LEVEL = confidence_label()  # the analyses run at the alpha setting


def _points(x) -> str:
    return "—" if x is None else f"{x * 100:+.1f}"


st.title("Followers vs non-followers")
store = get_store()
filters = sidebar_filters(store)
threshold = st.slider("Follower threshold (adherence)", 0.5, 1.0,
                      float(settings.default("follower_threshold")), 0.05, key="fl_threshold",
                      help=settings.SETTINGS["follower_threshold"].help)
st.caption("Closed runs of each playbook in the period; adherence is steps completed over steps "
           "in the run. Runs without steps are left out.")

frame = followers_effect(store, filters, threshold)
measured = frame[frame["runs"].astype(int) > 0]
if measured.empty:
    st.info("No closed playbook runs with step data yet. On the Import data page, import "
            "**playbook_runs** with playbook_id, outcome and steps_total / steps_completed (or "
            "**run_steps**); health_at_open, arr_at_open and accounts' segment let the "
            "comparison adjust for confounding.")
    st.stop()

picked = st.selectbox("Playbook", list(measured["playbook_id"]), key="fl_playbook",
                      help="Playbooks with closed runs that have step data.")
row = frame[frame["playbook_id"] == picked].iloc[0]

f_col, nf_col, adj_col = st.columns(3)
f_col.metric("Followers' success rate", pct(row["followers_rate"]),
             help=rate_help(row, "followers", "closed runs succeeded"))
nf_col.metric("Non-followers' success rate", pct(row["non_followers_rate"]),
              help=rate_help(row, "non_followers", "closed runs succeeded"))
adjusted = row["adjusted_diff"]
adj_col.metric(
    "Adjusted difference", "—" if adjusted is None else f"{_points(adjusted)} points",
    delta=None if row["naive_diff"] is None else f"naive {_points(row['naive_diff'])} points",
    delta_color="off",
    help=(f"{METHODS[row['method']].format(row['covariates'])}. {LEVEL} CI "
          f"{_points(row['adjusted_ci_low'])} to {_points(row['adjusted_ci_high'])} points; "
          f"{row['runs_adjusted']:,} runs used, {row['trimmed']:,} left out."))

text = row["verdict"]
# The colour follows the claim, never the wording (analysis.present.verdicts).
getattr(st, claim_box(row["claim"]))(text)

bars_col, forest_col = st.columns([1, 2])
bars_col.plotly_chart(charts.follower_bars(row, f"Success rate, threshold {threshold:.0%}"),
                      key="fl_bars")
forest_col.plotly_chart(charts.effect_forest(measured, "Naive and adjusted difference"),
                        key="fl_forest")

table = balance(store, filters, picked, threshold)
if len(table):
    st.subheader("Covariate balance")
    st.caption("Standardised mean difference of each covariate between followers and "
               "non-followers; within ±0.1 counts as balanced.")
    st.plotly_chart(charts.balance_plot(table), key="fl_balance")

st.subheader("Every playbook")
st.dataframe(frame, hide_index=True)
download_csv(frame, "followers.csv", key="fl_download")

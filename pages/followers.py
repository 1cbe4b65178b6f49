"""Followers vs non-followers: success of runs that followed a playbook closely against runs
that did not, before and after adjusting for the accounts each group handled."""
import streamlit as st

from analysis.present.charts import effect as charts
from analysis.present.verdicts import claim_box
from analysis.metrics.followers import balance, followers_effect
from analysis.metrics.stats import confidence_label
from analysis.present import format as fmt
from analysis.settings import SETTINGS
from pages.common import (cached, download_csv, empty_view, page_context, playbook_names,
                          show_design,
                          rate_help, show_table)

METHODS = {
    "ipw": "propensity weighting on the covariates at open ({}), overlap trimmed",
    "stratified": "stratification on {} (too few runs, or no model fitted, to weight)",
    "naive": "not adjusted: no covariates (health_at_open, arr_at_open, segment), too few "
             "runs in a group, or every run had the same outcome",
}


st.title("Followers vs non-followers")
ctx = page_context()
filters, alpha = ctx.filters, ctx.settings.alpha
LEVEL = confidence_label(alpha)  # the analyses run at the alpha setting
threshold = st.slider("Follower threshold (adherence)", 0.5, 1.0,
                      float(ctx.settings.follower_threshold), 0.05, key="fl_threshold",
                      help=SETTINGS["follower_threshold"].help)
st.caption("Closed runs of each playbook in the period; adherence is steps completed over steps "
           "in the run. Runs without steps are left out.")

frame = cached(followers_effect, ctx, threshold)
measured = frame[frame["runs"].astype(int) > 0]
if measured.empty:
    st.info(empty_view(filters, "No closed playbook runs with step data yet. On the Import "
            "data page, import **playbook_runs** with playbook_id, outcome and steps_total / "
            "steps_completed (or **run_steps**); health_at_open, arr_at_open and accounts' "
            "segment let the comparison adjust for confounding."))
    st.stop()

names = playbook_names(ctx.catalog)
picked = st.selectbox("Playbook", list(measured["playbook_id"]), key="fl_playbook",
                      format_func=lambda pid: names.get(pid, pid),
                      help="Playbooks with closed runs that have step data.")
row = frame[frame["playbook_id"] == picked].iloc[0]

f_col, nf_col, adj_col = st.columns(3)
f_col.metric("Followers' success rate", fmt.percent(row["followers_rate"], 1),
             help=rate_help(row, "followers", "closed runs succeeded", alpha))
nf_col.metric("Non-followers' success rate", fmt.percent(row["non_followers_rate"], 1),
              help=rate_help(row, "non_followers", "closed runs succeeded", alpha))
adjusted = row["adjusted_diff"]
adj_col.metric(
    "Adjusted difference", fmt.points_text(adjusted),
    delta=None if row["naive_diff"] is None else f"naive {fmt.points_text(row['naive_diff'])}",
    delta_color="off",
    help=(f"{METHODS[row['method']].format(row['covariates'])}. {LEVEL} CI "
          f"{fmt.interval_points(row['adjusted_ci_low'], row['adjusted_ci_high'])}; "
          f"{row['runs_adjusted']:,} runs used, {row['trimmed']:,} left out."))

text = row["verdict"]
# The colour follows the claim, never the wording (analysis.present.verdicts).
getattr(st, claim_box(row["claim"]))(text)
show_design(ctx, row["effect_method"], row["claim"])

bars_col, forest_col = st.columns([1, 2])
bars_col.plotly_chart(charts.follower_bars(row, f"Success rate, threshold {threshold:.0%}"),
                      key="fl_bars")
forest_col.plotly_chart(charts.effect_forest(measured, "Naive and adjusted difference", names),
                        key="fl_forest")

table = cached(balance, ctx, picked, threshold)
if len(table):
    st.subheader("Covariate balance")
    st.caption("Standardised mean difference of each covariate between followers and "
               "non-followers; within ±0.1 counts as balanced.")
    st.plotly_chart(charts.balance_plot(table), key="fl_balance")

st.subheader("Every playbook")
show_table(ctx, frame, {
    "playbook_id": ("Playbook", "playbook"),
    "runs": ("Closed runs", "count", "Closed runs with step data."),
    "followers_rate": ("Followers", "percent1", "Success rate of runs at or above the threshold."),
    "followers_n": ("Followers n", "count"),
    "non_followers_rate": ("Non-followers", "percent1"),
    "non_followers_n": ("Non-followers n", "count"),
    "naive_diff": ("Raw difference", "points", "Followers − non-followers, not adjusted."),
    "adjusted_diff": ("Adjusted difference", "points",
                      "Followers − non-followers after adjusting for the accounts handled."),
    "adjusted_ci_low": ("Adjusted, low", "points", "Lower end of the adjusted interval."),
    "adjusted_ci_high": ("Adjusted, high", "points", "Upper end of the adjusted interval."),
    "p_value": ("Chance", "p", "p-value of the adjusted difference."),
    "effect_estimate": ("Effect", "points", "The difference the verdict rests on: the landmark "
                        "design's when steps carry dates, else the adjusted difference."),
    "effect_q_value": ("Verdict's chance (adjusted)", "p", "p-value of that effect, adjusted "
                       "across the playbooks shown (Benjamini–Hochberg); an association claims "
                       "nothing."),
    "verdict": ("Verdict", "text"),
}, key="fl_table")
download_csv(frame, "followers.csv", key="fl_download")

"""Before/after: each playbook's outcome metric in the months before it was introduced against
the months after."""
from datetime import timedelta

import streamlit as st

from analysis.metrics.before_after import before_after, monthly_series
from analysis.playbooks.catalog import introduction_notes
from analysis.present import format as fmt
from analysis.present.charts import effect as charts
from analysis.present.designs import DESIGN_NAMES, pilot_tip
from analysis.present.verdicts import claim_box
from pages.common import (cached, data_last_date, download_csv, empty_view, md_text, options,
                          page_context, rate_help, show_design, show_table)


def _side_help(row, side: str, start, end) -> str:
    if not row[f"{side}_n"]:
        return f"No outcomes from {start} to {end}."
    return rate_help(row, side, f"outcomes from {start} to {end}", ctx.settings.alpha)


st.title("Before / after")
ctx = page_context()
store, filters, MONTHS = ctx.store, ctx.filters, ctx.settings.window_months
st.caption(
    f"Each playbook's outcome in the {MONTHS} months before its introduction against the "
    f"{MONTHS} months after: renewal rate by renewal date, or the success rate of every closed "
    "run of the playbook's scenario (with or without the playbook) by opened date. Segment and "
    "team filters apply; the period filter does not move these windows.")

frame = cached(before_after, ctx)
if frame.empty or not (frame["before_n"].astype(int) + frame["after_n"].astype(int)).any():
    st.info(empty_view(filters, "No outcomes to compare yet. On the Import data page, import "
            "**playbook_runs** (scenario, opened_on and outcome of closed runs) and **renewals** "
            "(renewal_date and outcome), covering the year before and after each playbook's "
            "introduction."))
    st.stop()

names = dict(zip(frame["playbook_id"], frame["name"]))
picked = st.selectbox("Playbook", list(frame["playbook_id"]), key="ba_playbook",
                      format_func=lambda pid: names[pid])
row = frame[frame["playbook_id"] == picked].iloc[0]
metric = "Renewal rate" if row["metric"] == "renewal_rate" else "Success rate"
intro = row["introduced_on"]
# Which introduction date the windows rest on, when the definition and the data disagree.
introduced_note = introduction_notes(ctx.catalog).get(picked, {}).get(
    "introduced_note")
if introduced_note:
    st.caption(f"📅 {md_text(introduced_note)}")

before_col, after_col, p_col = st.columns(3)
before_col.metric(f"{metric} before", fmt.percent(row["before_rate"], 1),
                  help=_side_help(row, "before", row["window_start"], intro - timedelta(days=1)))
after_col.metric(
    f"{metric} after", fmt.percent(row["after_rate"], 1),
    delta=None if row["diff"] is None else fmt.points_text(row["diff"]),
    help=_side_help(row, "after", intro, row["window_end"] - timedelta(days=1)))
# The p the verdict rests on: its design's, not the plain before-vs-after test's (which reads
# any drift as an effect); none while the design has no estimate.
plain_p = (f"The plain before-vs-after test ({row['test'] or 'no test'}), which reads any "
           f"drift as an effect: {fmt.p_value(row['p_value'])}.")
design_name = DESIGN_NAMES.get(row["effect_method"], "design")
p_col.metric("Could it be chance?", fmt.p_value(row["effect_p_value"]),
             help=(f"p of the effect the verdict rests on (the {design_name}); adjusted for "
                   f"every playbook shown (Benjamini–Hochberg): "
                   f"{fmt.p_value(row['effect_q_value'])}. {plain_p}"
                   if row["effect_p_value"] is not None else
                   f"The {design_name} has no estimate yet (see the verdict). {plain_p}"))

text = row["verdict"]
# The colour follows the claim, never the wording (analysis.present.verdicts).
getattr(st, claim_box(row["claim"]))(text)
show_design(ctx, row["effect_method"], row["claim"], row["rollout_group_kind"])
# What the rollout design leaves out or reads wrongly (analysis.metrics.designs.rollout_gaps).
if row["rollout_warnings"]:
    st.warning("\n\n".join(md_text(w) for w in row["rollout_warnings"]))
# What would settle a time series that cannot: the rollout team by team.
tip = pilot_tip(row["effect_method"], row["claim"], len(options(store).teams))
if tip:
    st.caption(f"💡 {tip}")

bars_col, series_col = st.columns([1, 2])
bars_col.plotly_chart(charts.before_after_bars(row, f"{metric}, introduced {intro}"),
                      key="ba_bars")
series = cached(monthly_series, ctx, picked)
series_col.plotly_chart(charts.monthly_series_chart(series, intro, f"{metric} by month",
                                                    data_last_date(store, filters)),
                        key="ba_series")

st.subheader("Every playbook")
st.plotly_chart(charts.before_after_overview(frame), key="ba_overview")
show_table(ctx, frame, {
    "playbook_id": ("Playbook", "playbook"),
    "metric": ("Outcome", "text", "renewal_rate: renewals renewed; success_rate: closed runs "
                                  "of the scenario that succeeded."),
    "introduced_on": ("Introduced", "day"),
    "before_rate": ("Before", "percent1"), "before_n": ("Before n", "count", "Outcomes before."),
    "after_rate": ("After", "percent1"), "after_n": ("After n", "count", "Outcomes after."),
    "diff": ("Change", "points", "After − before, in percentage points."),
    "diff_ci_low": ("Change, low", "points", "Lower end of the interval of the change."),
    "diff_ci_high": ("Change, high", "points", "Upper end of the interval of the change."),
    "effect_estimate": ("Effect", "points", "The change the verdict rests on: beyond the "
                        "pre-trend (time series) or against the teams not yet using it "
                        "(difference-in-differences)."),
    "effect_q_value": ("Chance (adjusted)", "p", "p-value of that effect, adjusted across "
                       "the playbooks shown (Benjamini–Hochberg)."),
    "verdict": ("Verdict", "text"),
}, key="ba_table")
download_csv(frame, "before_after.csv", key="ba_download")

"""Before/after: each playbook's outcome metric in the months before it was introduced against
the months after."""
from datetime import timedelta

import streamlit as st

from analysis import settings
from analysis.metrics.before_after import before_after, monthly_series
from analysis.playbooks.catalog import introduction_notes, playbook_catalog
from analysis.present.charts import effect as charts
from pages.common import download_csv, get_store, md_text, pct, rate_help, sidebar_filters

MONTHS = settings.default("window_months")


def _side_help(row, side: str, start, end) -> str:
    if not row[f"{side}_n"]:
        return f"No outcomes from {start} to {end}."
    return rate_help(row, side, f"outcomes from {start} to {end}")


st.title("Before / after")
store = get_store()
filters = sidebar_filters(store)
st.caption(
    f"Each playbook's outcome in the {MONTHS} months before its introduction against the "
    f"{MONTHS} months after: renewal rate by renewal date, or the success rate of every closed "
    "run of the playbook's scenario (with or without the playbook) by opened date. Segment and "
    "team filters apply; the period filter does not move these windows.")

frame = before_after(store, filters)
if frame.empty or not (frame["before_n"].astype(int) + frame["after_n"].astype(int)).any():
    st.info("No outcomes to compare yet. On the Import data page, import **playbook_runs** "
            "(scenario, opened_on and outcome of closed runs) and **renewals** (renewal_date "
            "and outcome), covering the year before and after each playbook's introduction.")
    st.stop()

names = dict(zip(frame["playbook_id"], frame["name"]))
picked = st.selectbox("Playbook", list(frame["playbook_id"]), key="ba_playbook",
                      format_func=lambda pid: f"{names[pid]} ({pid})")
row = frame[frame["playbook_id"] == picked].iloc[0]
metric = "Renewal rate" if row["metric"] == "renewal_rate" else "Success rate"
intro = row["introduced_on"]
# Which introduction date the windows rest on, when the definition and the data disagree.
introduced_note = introduction_notes(playbook_catalog(store)).get(picked, {}).get(
    "introduced_note")
if introduced_note:
    st.caption(f"📅 {md_text(introduced_note)}")

before_col, after_col, p_col = st.columns(3)
before_col.metric(f"{metric} before", pct(row["before_rate"]),
                  help=_side_help(row, "before", row["window_start"], intro - timedelta(days=1)))
after_col.metric(
    f"{metric} after", pct(row["after_rate"]),
    delta=None if row["diff"] is None else f"{row['diff'] * 100:+.1f} points",
    help=_side_help(row, "after", intro, row["window_end"] - timedelta(days=1)))
p_col.metric("p-value", "—" if row["p_value"] is None else f"{row['p_value']:.3g}",
             help=f"{row['test'] or 'no test'}; Benjamini–Hochberg adjusted across playbooks: "
                  + ("—" if row["p_value_adjusted"] is None
                     else f"{row['p_value_adjusted']:.3g}"))

text = row["verdict"]
(st.success if text.startswith("Improved") else
 st.error if text.startswith("Worse") else st.info)(text)

bars_col, series_col = st.columns([1, 2])
bars_col.plotly_chart(charts.before_after_bars(row, f"{metric}, introduced {intro}"),
                      key="ba_bars")
series = monthly_series(store, filters, picked)
series_col.plotly_chart(charts.monthly_series_chart(series, intro, f"{metric} by month"),
                        key="ba_series")

st.subheader("Every playbook")
st.plotly_chart(charts.before_after_overview(frame), key="ba_overview")
st.dataframe(frame, hide_index=True)
download_csv(frame, "before_after.csv", key="ba_download")

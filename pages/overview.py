"""Overview: do our playbooks work? Headline effects, what changed last quarter, data freshness."""
import streamlit as st

from analysis.present import format as fmt
from pages.common import CACHE_KEYS, download_csv, page_context, show_table

EMPTY = ("No data yet — load the demo (`python -m analysis init --demo`) or import exports on "
         "Import data.")


def _interval(low, high) -> str:
    return "" if low is None or high is None else f"{LEVEL} CI {fmt.interval_percent(low, high)}"


# Keyed on the context (data version, settings, filters, catalogue): cached intervals are
# those the labels name.
@st.cache_data(show_spinner="Computing effects…", hash_funcs=CACHE_KEYS)
def _headlines(ctx):
    return playbook_headlines(ctx)


@st.cache_data(show_spinner=False, hash_funcs=CACHE_KEYS)
def _changes(ctx):
    return quarter_changes(ctx, last_complete_quarter(ctx.store))


# The first screen after a start: the title is drawn before the store (pandas, DuckDB) and,
# below, the analyses (scipy, statsmodels: seconds on a cold process) are loaded.
st.title("Do our playbooks work?")
ctx = page_context()
store = ctx.store
if store.is_empty():
    st.info(EMPTY)
    st.stop()

from analysis.ingest.history import data_freshness  # noqa: E402
from analysis.metrics.overview import effect_counts, playbook_headlines, quarter_changes  # noqa: E402
from analysis.metrics.stats import confidence_label  # noqa: E402
from analysis.present.charts.overview import effect_dots, quarter_rates  # noqa: E402
from analysis.present.options import data_coverage  # noqa: E402
from analysis.present.quarters import last_complete_quarter  # noqa: E402

LEVEL = confidence_label(ctx.settings.alpha)

headlines = _headlines(ctx)
counts = effect_counts(headlines)
cols = st.columns(4)
cols[0].metric("Playbooks improved", counts["improved"],
               help=f"Their before/after verdict is Improved: the design's effect (the step "
                    f"beyond the trend, or the change against teams not yet using it) has a "
                    f"{LEVEL} interval above zero and its test agrees.")
cols[1].metric("No clear change", counts["no clear change"])
cols[2].metric("Got worse", counts["worse"])
cols[3].metric("No outcomes to compare", counts["no data"])
st.caption("The before/after and followers verdicts here are weighed together "
           "(Benjamini–Hochberg across both), so a change its own page calls Improved can read "
           "“not enough data” here, never the other way round.")

st.subheader(f"Outcome rate, {ctx.settings.window_months} months before vs after each "
             "playbook")
measured = headlines[headlines["diff"].notna()]
for start in range(0, len(measured), 4):
    row = st.columns(4)
    for col, h in zip(row, measured.iloc[start:start + 4].to_dict("records")):
        col.metric(
            h["name"], fmt.percent(h["after_rate"]),
            delta=f"{fmt.points_text(h['diff'])} vs {fmt.percent(h['before_rate'])} before",
            # Colour only a change the verdict claims (improved or worse).
            delta_color="normal" if h["effect"] in ("improved", "worse") else "off",
            help=f"{h['verdict']} After: {_interval(h['after_ci_low'], h['after_ci_high'])}, "
                 f"n={h['after_n']}; before n={h['before_n']}.",
        )
st.plotly_chart(effect_dots(headlines), key="effects")
table = headlines[["playbook_id", "name", "metric", "before_n", "before_rate", "after_n",
                   "after_rate", "diff", "diff_ci_low", "diff_ci_high", "effect", "verdict",
                   "followers_verdict"]]
show_table(ctx, table, {
    "name": ("Playbook", "text"),
    "before_rate": ("Before", "percent"), "before_n": ("Before n", "count", "Outcomes before."),
    "after_rate": ("After", "percent"), "after_n": ("After n", "count", "Outcomes after."),
    "diff": ("Change", "points", "After − before, in percentage points."),
    "diff_ci_low": ("Change, low", "points", f"Lower end of the {LEVEL} interval."),
    "diff_ci_high": ("Change, high", "points", f"Upper end of the {LEVEL} interval."),
    "verdict": ("Before/after", "text"), "followers_verdict": ("Followers", "text"),
}, key="headlines")
download_csv(table, "overview_headlines.csv", key="overview_download")

changes = _changes(ctx)
if len(changes):
    current, previous = changes["current_quarter"].iloc[0], changes["previous_quarter"].iloc[0]
    st.subheader(f"What changed since last quarter: {current} vs {previous}")
    cols = st.columns(len(changes))
    for col, c in zip(cols, changes.to_dict("records")):
        if c["kind"] == "rate":
            value, delta = fmt.percent(c["current_value"]), (
                None if c["change"] is None else fmt.points_text(c["change"]))
        elif c["kind"] == "mean":
            value = fmt.number(c["current_value"])
            delta = None if c["change"] is None else f"{c['change']:+.2f}"
        else:
            value, delta = f"{c['current_value']:,}", (
                None if c["change"] is None else fmt.relative_change(c["change"]))
        col.metric(c["measure"], value, delta=delta, help=c["verdict"])
    st.plotly_chart(quarter_rates(changes), key="quarter_rates")

st.subheader("Data freshness")
freshness = data_freshness(store).merge(data_coverage(store), on="table", how="left")
show_table(ctx, freshness, {
    "table": ("Table", "text"), "rows": ("Rows", "count"),
    "first_date": ("Data from", "day"),
    "last_date": ("Data runs to", "day", "The last date in the table's rows (runs by opened "
                                        "date, renewals by renewal date, …)."),
    "last_import": ("Last imported", "day"), "last_file": ("From file", "text"),
}, key="freshness")

"""Overview: do our playbooks work? Headline effects, what changed last quarter, data freshness."""
import streamlit as st

from analysis import settings
from analysis.present.charts.overview import effect_dots, quarter_rates
from analysis.filters import Filters
from analysis.ingest.history import data_freshness
from analysis.metrics.overview import effect_counts, playbook_headlines, quarter_changes
from analysis.present.quarters import last_complete_quarter
from analysis.metrics.stats import confidence_label
from pages.common import get_store, sidebar_filters

EMPTY = ("No data yet — load the demo (`python -m analysis init --demo`) or import exports on "
         "Import data.")
ALPHA = settings.default("alpha")
LEVEL = confidence_label(ALPHA)


def _pct(value) -> str:
    return "–" if value is None else f"{value:.0%}"


def _interval(low, high) -> str:
    return "" if low is None or high is None else f"{LEVEL} CI {low:.0%}–{high:.0%}"


# alpha is part of the cache key so that cached intervals are those the labels name.
@st.cache_data(show_spinner="Computing effects…")
def _headlines(db_path: str, filters: Filters, alpha: float):
    return playbook_headlines(get_store(), filters)


@st.cache_data(show_spinner=False)
def _changes(db_path: str, filters: Filters, alpha: float):
    store = get_store()
    return quarter_changes(store, filters, last_complete_quarter(store))


store = get_store()
st.title("Do our playbooks work?")
filters = sidebar_filters(store)
if store.is_empty():
    st.info(EMPTY)
    st.stop()

headlines = _headlines(store.path, filters, ALPHA)
counts = effect_counts(headlines)
cols = st.columns(4)
cols[0].metric("Playbooks improved", counts["improved"],
               help=f"The {LEVEL} interval of after − before lies above zero.")
cols[1].metric("No clear change", counts["no clear change"])
cols[2].metric("Got worse", counts["worse"])
cols[3].metric("No outcomes to compare", counts["no data"])

st.subheader(f"Outcome rate, {settings.default('window_months')} months before vs after each "
             "playbook")
measured = headlines[headlines["diff"].notna()]
for start in range(0, len(measured), 4):
    row = st.columns(4)
    for col, h in zip(row, measured.iloc[start:start + 4].to_dict("records")):
        col.metric(
            h["name"], _pct(h["after_rate"]),
            delta=f"{h['diff'] * 100:+.1f} pts vs {_pct(h['before_rate'])} before",
            # Colour only a change whose interval excludes zero.
            delta_color="normal" if h["effect"] in ("improved", "worse") else "off",
            help=f"{h['verdict']} After: {_interval(h['after_ci_low'], h['after_ci_high'])}, "
                 f"n={h['after_n']}; before n={h['before_n']}.",
        )
st.plotly_chart(effect_dots(headlines), key="effects")
table = headlines[["playbook_id", "name", "metric", "before_n", "before_rate", "after_n",
                   "after_rate", "diff", "diff_ci_low", "diff_ci_high", "effect", "verdict",
                   "followers_verdict"]]
st.dataframe(table, hide_index=True, key="headlines", column_config={
    c: st.column_config.NumberColumn(format="percent")
    for c in ("before_rate", "after_rate", "diff", "diff_ci_low", "diff_ci_high")})

changes = _changes(store.path, filters, ALPHA)
if len(changes):
    current, previous = changes["current_quarter"].iloc[0], changes["previous_quarter"].iloc[0]
    st.subheader(f"What changed since last quarter: {current} vs {previous}")
    cols = st.columns(len(changes))
    for col, c in zip(cols, changes.to_dict("records")):
        if c["kind"] == "rate":
            value, delta = _pct(c["current_value"]), (
                None if c["change"] is None else f"{c['change'] * 100:+.1f} pts")
        elif c["kind"] == "mean":
            value = "–" if c["current_value"] is None else f"{c['current_value']:.2f}"
            delta = None if c["change"] is None else f"{c['change']:+.2f}"
        else:
            value, delta = f"{c['current_value']:,}", (
                None if c["change"] is None else f"{c['change']:+.0%}")
        col.metric(c["measure"], value, delta=delta, help=c["verdict"])
    st.plotly_chart(quarter_rates(changes), key="quarter_rates")

st.subheader("Data freshness")
st.dataframe(data_freshness(store), hide_index=True, key="freshness")

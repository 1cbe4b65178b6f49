"""Consistency across CSMs: did per-CSM renewal rates bunch closer together after launch?"""
import streamlit as st

from analysis import settings
from analysis.present.charts.people import csm_spread_chart
from analysis.metrics.consistency import consistency_summary
from analysis.metrics.stats import confidence_label
from pages.common import download_csv, get_store, sidebar_filters
from pages.launch import require_launch

MONTHS = settings.default("window_months")
MIN_RENEWALS = settings.default("min_renewals_per_csm")
LEVEL = confidence_label()  # the analysis and the chart run at the alpha setting


def points(x) -> str:
    """A fraction shown as percentage points, e.g. 0.091 -> '9.1 pts'."""
    return "—" if x is None else f"{100 * x:.1f} pts"


def ratio_text(x) -> str:
    return "—" if x is None else f"{x:.2f}"


st.title("Consistency across CSMs")
store = get_store()
filters = sidebar_filters(store)
result = consistency_summary(store, filters)
require_launch(result.launch_date)
st.caption(
    f"Each CSM's renewal rate (renewals by the renewal's CSM, renewed / decided) in the "
    f"{MONTHS} months before the program launch on {result.launch_date} and the {MONTHS} months "
    f"after. CSMs with at least {MIN_RENEWALS} decided renewals in a window count in its spread. "
    "Segment and team filters apply; the period filter does not move these windows.")
if result.rates.empty:
    st.info(f"No renewals with a CSM between {result.window_start} and {result.window_end}. On "
            "the Import data page, import **renewals** with csm_id, renewal_date and outcome.")
    st.stop()

spread = result.spread.set_index("period")
before, after = spread.loc["before"], spread.loc["after"]
sd_before_col, sd_after_col, ratio_col, p_col = st.columns(4)
sd_before_col.metric("SD before", points(before["sd"]),
                     help=f"{int(before['csms'])} CSMs counted; sample SD (ddof=1).")
sd_after_col.metric("SD after", points(after["sd"]),
                    help=f"{int(after['csms'])} CSMs counted; sample SD (ddof=1).")
ratio_col.metric(
    "SD ratio (after / before)", ratio_text(result.sd_ratio),
    help=(f"Below 1 means narrower. Bootstrap {LEVEL} CI {ratio_text(result.sd_ratio_ci_low)} to "
          f"{ratio_text(result.sd_ratio_ci_high)} (CSMs resampled within each period)."))
p_col.metric("Brown–Forsythe p",
             "—" if result.p_value is None else f"{result.p_value:.3g}",
             help="Levene's test centred on the median: do the spreads differ?")

text = result.verdict
(st.success if text.startswith("Narrower") else
 st.warning if text.startswith("Wider") else st.info)(text)

st.plotly_chart(csm_spread_chart(result.rates, result.spread), key="consistency_chart")
st.caption("Points are CSMs, sized by their decided renewals; hollow points have fewer than "
           f"{MIN_RENEWALS} and are not counted. The shaded band is where {LEVEL} of CSMs would "
           "fall if every CSM had the pooled rate and only chance separated them.")

st.subheader("Spread per period")
st.dataframe(result.spread, hide_index=True)
download_csv(result.spread, "consistency_spread.csv", key="consistency_spread_download")

st.subheader("Per CSM")
st.dataframe(result.rates, hide_index=True)
download_csv(result.rates, "consistency_per_csm.csv", key="consistency_rates_download")

"""Consistency across CSMs: did per-CSM renewal rates bunch closer together after launch?"""
import streamlit as st

from analysis.present.charts.people import csm_spread_chart
from analysis.metrics.consistency import consistency_summary
from analysis.metrics.stats import confidence_label
from analysis.present import format as fmt
from analysis.present.verdicts import claim_box
from pages.common import claim_p, download_csv, page_context, show_design, show_table
from pages.launch import require_launch


st.title("Consistency across CSMs")
ctx = page_context()
settings = ctx.settings
MONTHS, MIN_RENEWALS = settings.window_months, settings.min_renewals_per_csm
LEVEL = confidence_label(settings.alpha)  # the analysis and the chart run at this level
result = consistency_summary(ctx)
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
sd_before_col.metric("Spread before", fmt.spread_points(before["sd"]),
                     help=f"Standard deviation of CSMs' renewal rates; {int(before['csms'])} "
                          "CSMs counted.")
sd_after_col.metric("Spread after", fmt.spread_points(after["sd"]),
                    help=f"Standard deviation of CSMs' renewal rates; {int(after['csms'])} "
                         "CSMs counted.")
ratio_col.metric(
    "Spread after / before", fmt.number(result.sd_ratio),
    help=(f"Below 1 means narrower. {LEVEL} CI {fmt.number(result.sd_ratio_ci_low)} to "
          f"{fmt.number(result.sd_ratio_ci_high)} (bootstrap, CSMs resampled within each "
          "period)."))
p_col.metric("Could it be chance?", fmt.p_value(claim_p(result)),
             help="Did the spread of true rates change? The test the verdict rests on (the "
                  "spread beyond binomial noise, CSMs resampled). The spread of observed rates "
                  "alone (Brown–Forsythe test): " + fmt.p_value(result.p_value) + ".")

text = result.verdict
# The colour follows the claim, never the wording (analysis.present.verdicts).
getattr(st, claim_box(result.claim))(text)
show_design(ctx, result.effect.method, result.claim)

st.plotly_chart(csm_spread_chart(result.rates, result.spread, alpha=settings.alpha,
                                 months=MONTHS), key="consistency_chart")
st.caption("Points are CSMs, sized by their decided renewals; hollow points have fewer than "
           f"{MIN_RENEWALS} and are not counted. The shaded band is where {LEVEL} of CSMs would "
           "fall if every CSM had the pooled rate and only chance separated them.")

st.subheader("Spread per period")
show_table(ctx, result.spread, {
    "period": ("Period", "text"), "csms": ("CSMs counted", "count"),
    "sd": ("Spread", "spread", "Standard deviation of the CSMs' renewal rates."),
    "noise_sd": ("Expected from chance", "spread",
                 "The spread if every CSM had the pooled rate and only chance separated them."),
    "excess_sd": ("Beyond chance", "spread", "The spread chance does not explain."),
    "min": ("Lowest", "percent"), "max": ("Highest", "percent"),
    "pooled_rate": ("Pooled renewal rate", "percent"),
}, key="consistency_spread")
download_csv(result.spread, "consistency_spread.csv", key="consistency_spread_download")

st.subheader("Per CSM")
show_table(ctx, result.rates, {
    "csm_id": ("CSM", "csm"), "period": ("Period", "text"),
    "rate": ("Renewal rate", "percent"), "n": ("Decided renewals", "count"),
    "ci_low": ("Rate, low", "percent", f"Lower end of the {LEVEL} interval (Wilson)."),
    "ci_high": ("Rate, high", "percent", f"Upper end of the {LEVEL} interval (Wilson)."),
    "counted": ("Counted", "text", f"At least {MIN_RENEWALS} decided renewals in the window."),
}, key="consistency_rates")
download_csv(result.rates, "consistency_per_csm.csv", key="consistency_rates_download")

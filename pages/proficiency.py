"""Time to proficiency: do CSMs hired after the program launch ramp faster?"""
import streamlit as st

from analysis.present.charts.people import km_chart
from analysis.metrics.proficiency import proficiency_summary
from analysis.metrics.stats import confidence_label
from analysis.present import format as fmt
from analysis.present.verdicts import claim_box
from pages.common import claim_p, download_csv, page_context, show_design, show_table
from pages.launch import require_launch


def days(x) -> str:
    return "not reached" if x is None else f"{x:.0f} days"


def method_note(result, settings) -> str:
    if result.method == "ramped_on":
        return "Ramp date: the roster's ramped_on (blank = not ramped yet)."
    target = "no target" if result.target_rate is None else f"{result.target_rate:.1%}"
    return (f"Ramp date derived (the roster has no ramped_on): the first day the rate over a "
            f"CSM's last {settings.ramp_last_renewals} decided renewals reached "
            f"{target} — the median of {len(result.veterans)} CSMs with over "
            f"{settings.veteran_tenure_days} days of tenure — after every CSM's "
            "renewals are thinned to a common volume, so a bigger book cannot ramp anyone "
            "sooner. Only CSMs hired since the renewal data begins are included.")


st.title("Time to proficiency")
ctx = page_context()
LEVEL = confidence_label(ctx.settings.alpha)  # the analysis runs at this level
result = proficiency_summary(ctx)
require_launch(result.launch_date)
st.caption(
    f"Days from hire to fully ramped for CSMs hired before versus on or after the program "
    f"launch on {result.launch_date}. CSMs not ramped yet count until their end date or the "
    "data's last date (censored), so Kaplan–Meier curves, not plain averages, compare them. "
    + method_note(result, ctx.settings))
if result.ramp.empty:
    st.info("No CSM to analyse yet: " + result.verdict + " On the Import data page, import "
            "**csms** with hire_date (and ramped_on if you track it) and **renewals**.")
    st.stop()

cohorts = result.cohorts.set_index("cohort")
before, after = cohorts.loc["before"], cohorts.loc["after"]
before_col, after_col, faster_col, p_col = st.columns(4)
before_col.metric("Median ramp, hired before", days(before["median_days"]),
                  help=f"{before['ramped']} of {before['csms']} CSMs ramped; {LEVEL} CI "
                       f"{days(before['ci_low'])} to {days(before['ci_high'])}.")
after_col.metric("Median ramp, hired after", days(after["median_days"]),
                 help=f"{after['ramped']} of {after['csms']} CSMs ramped; {LEVEL} CI "
                      f"{days(after['ci_low'])} to {days(after['ci_high'])}.")
faster_col.metric("Faster by", fmt.percent(result.faster_pct),
                  help="1 − median after / median before.")
p_col.metric("Could it be chance?", fmt.p_value(claim_p(result)),
             help="The test the verdict rests on: the log-rank statistic of the two "
                  "Kaplan–Meier curves, its p from reshuffling CSMs between the cohorts "
                  f"(the textbook log-rank p: {fmt.p_value(result.p_value)}).")

text = result.verdict
# The colour follows the claim, never the wording (analysis.present.verdicts).
getattr(st, claim_box(result.claim))(text)
if result.effect:
    show_design(ctx, result.effect.method, result.claim)

st.plotly_chart(km_chart(result.curves, result.cohorts, alpha=ctx.settings.alpha),
                key="proficiency_chart")

st.subheader("Cohorts")
show_table(ctx, result.cohorts, {
    "cohort": ("Hired", "text"), "csms": ("CSMs", "count"), "ramped": ("Ramped", "count"),
    "median_days": ("Median ramp", "days", "Kaplan–Meier median, days from hire."),
    "ci_low": ("Median, low", "days", f"Lower end of the {LEVEL} interval."),
    "ci_high": ("Median, high", "days", f"Upper end of the {LEVEL} interval."),
}, key="proficiency_cohorts")
st.subheader("Per CSM")
show_table(ctx, result.ramp, {
    "csm_id": ("CSM", "csm"), "hire_date": ("Hired on", "day"), "cohort": ("Cohort", "text"),
    "ramped": ("Ramped", "text"), "ramped_on": ("Ramped on", "day"),
    "days": ("Days to ramp", "days", "Until ramped, or until censored when not ramped yet."),
    "censored_at": ("Followed until", "day"),
}, key="proficiency_ramp")
download_csv(result.ramp, "ramp_days.csv", key="proficiency_download")

"""Quarterly review: pick a quarter, read every playbook's page, download the pack (HTML/PDF).

One chart per question for all playbooks, not two per playbook: thirty charts took the
browser seconds to draw on every visit."""
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from analysis.present.quarters import data_quarters, last_complete_quarter
from analysis.present.report import (ChromiumMissing, build_review, change_value_text,
                                     chromium_path, period_text, rate_text, render_html,
                                     render_pdf)
from analysis.metrics.stats import confidence_label
from analysis.present import format as fmt
from analysis.present.periods import TO_DATE, is_partial
from pages.common import CACHE_KEYS, data_last_date, md_text, page_context


# Built once per quarter and context: its data version (which moves with every import or
# undo, the CLI's included), settings (a cached review keeps its level), filters, catalogue.
# Kept as the object itself (the page only reads it): a copy would rebuild its thirty figures
# every visit.
@st.cache_resource(show_spinner="Building the review…", max_entries=16, hash_funcs=CACHE_KEYS)
def _review(ctx, quarter: str):
    return build_review(ctx, quarter)


@st.cache_data(show_spinner=False, max_entries=16, hash_funcs=CACHE_KEYS)
def _html(ctx, quarter: str) -> str:
    return render_html(_review(ctx, quarter))


st.title("Quarterly review")
ctx = page_context()
store = ctx.store
quarters = data_quarters(store)
if store.is_empty() or not quarters:
    st.info("No data yet — load the demo (`python -m analysis init --demo`) or import playbook "
            "runs and renewals on Import data; the review covers the quarters they span.")
    st.stop()

labels = [str(q) for q in reversed(quarters)]
default = str(last_complete_quarter(store))
last_day = data_last_date(store)
starts = {str(q): q.start for q in quarters}
quarter = st.selectbox("Quarter", labels, index=labels.index(default), key="quarter",
                       format_func=lambda q: f"{q} ({TO_DATE})"
                       if is_partial(starts[q], "Q", last_day) else q,
                       help="Defaults to the last complete quarter of the data.")
# The review sets its own period (the quarter, or each analysis's windows).
key = (ctx.with_filters(date_from=None, date_to=None), quarter)
review = _review(*key)
st.info(f"**In short.** {md_text(review.summary)}")

# The 5 MB page is rendered when first downloaded (the callable runs on the click), not on every
# visit; once rendered it is cached like the review.
left, right = st.columns(2)
left.download_button("Download HTML", lambda: _html(*key).encode("utf-8"), file_name=f"playbook-review-{quarter}.html",
                     mime="text/html", key="download_html")
if chromium_path(ctx.settings.chromium_path) is None:
    right.caption("PDF needs Chromium on the server (apt-get install chromium); print the HTML "
                  "from a browser instead.")
elif right.button("Build PDF", key="build_pdf"):
    with tempfile.TemporaryDirectory(prefix="review-") as folder:
        html_path = Path(folder) / "review.html"
        html_path.write_text(_html(*key), encoding="utf-8")
        try:
            with st.spinner("Printing the PDF…"):
                pdf = render_pdf(html_path, Path(folder) / "review.pdf",
                                 ctx.settings.chromium_path).read_bytes()
        except (ChromiumMissing, RuntimeError) as exc:
            st.error(str(exc))
        else:
            st.session_state["review_pdf"] = (quarter, pdf)
built = st.session_state.get("review_pdf")
if built and built[0] == quarter:
    right.download_button("Download PDF", built[1], file_name=f"playbook-review-{quarter}.pdf",
                          mime="application/pdf", key="download_pdf")

st.caption(f"{period_text(review)}. Usage, versions, changes and "
           "feedback are this quarter's; effects use the "
           f"{review.window_months} months around each introduction.")
changes = review.changes
level = confidence_label(review.alpha)
st.subheader(f"What changed since {changes['previous_quarter'].iloc[0]}")
previous, current = changes["previous_quarter"].iloc[0], changes["current_quarter"].iloc[0]
st.dataframe(pd.DataFrame({
    "Measure": changes["measure"],
    previous: [change_value_text(r, "previous") for r in changes.to_dict("records")],
    current: [change_value_text(r, "current") for r in changes.to_dict("records")],
    "Reading": changes["verdict"],
}), hide_index=True, key="changes")
st.plotly_chart(review.figures["quarter_rates"], key="quarter_rates")
cols = st.columns(2)
cols[0].markdown("**Consistency across CSMs**")
cols[0].write(review.consistency.get("verdict") or "No data.")
cols[1].markdown("**Time to proficiency**")
cols[1].write(review.proficiency.get("verdict") or "No data.")

st.subheader("Playbooks at a glance")
st.plotly_chart(review.figures["effects"], key="effects")
# One chart per question for every playbook (the pack prints a pair on each playbook's page).
st.subheader("Followers against non-followers")
st.plotly_chart(review.figures["followers"], key="followers")

for i, s in enumerate(review.sections):
    st.divider()
    st.subheader(s.name)
    # People read names; the id stays in the CSV and JSON (as in the pack's own line).
    st.caption(f"{s.category or 'no category'} · "
               + ("defined" if s.defined else "in the data, not yet defined"))
    st.write(f"**Before/after:** {s.headline.get('verdict')}")
    if s.headline.get("followers_verdict"):
        st.write(f"**Followers:** {s.headline['followers_verdict']}")
    u = s.usage
    cols = st.columns(4)
    cols[0].metric("Runs this quarter", f"{u['runs']:,}")
    cols[1].metric("Views", f"{u['views']:,}")
    cols[2].metric("Success of closed runs", fmt.percent(u["rate"]),
                   help=f"n={u['closed']}, {level} CI {fmt.interval_percent(u['ci_low'], u['ci_high'])}")
    cols[3].metric("Feedback", f"{s.feedback['responses']:,}",
                   help="Responses this quarter; mean rating "
                        + fmt.number(s.feedback["mean_rating"]))
    if len(s.versions):  # a line, as in the pack: a table per playbook is slow to draw
        st.markdown(f"**Success of closed runs by version** ({level} CI, Wilson): " + "; ".join(
            md_text(f"{v['version']}: {rate_text(v['rate'], v['ci_low'], v['ci_high'], v['n'])}")
            for v in s.versions.to_dict("records")))
    for entry in s.changelog:
        st.write(f"**Changed in {entry['version']}** ({entry['date']}): "
                 + "; ".join(map(str, entry["changes"])) + f" — *{entry['why']}*")
    for comment in s.feedback["comments"].to_dict("records"):
        st.text(f"“{comment['comment']}”")

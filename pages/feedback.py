"""Feedback: what CSMs say about each playbook — ratings and their latest comments."""
import streamlit as st

from analysis.present.charts import feedback as charts
from analysis.metrics.feedback import feedback_summary, recent_comments
from analysis.metrics.stats import confidence_label
from pages.common import download_csv, page_context, playbook_names, show_table

st.title("Feedback")
ctx = page_context()
alpha = ctx.settings.alpha
LEVEL = confidence_label(alpha)
st.caption("Survey answers about the playbooks: ratings from 1 (poor) to 5 (great), with a "
           f"{LEVEL} t interval around each mean, and the newest comments. Period, "
           "team and playbook filters apply; answers belong to no account, so the segment filter "
           "does not.")

summary = feedback_summary(ctx)
if summary.empty:
    st.info("No feedback yet — import **feedback** (submitted_at, playbook_id, rating 1–5, "
            "comment) on the Import data page.")
    st.stop()

names = playbook_names(ctx.catalog)
responses_col, rated_col, comments_col = st.columns(3)
responses_col.metric("Responses", f"{int(summary['responses'].sum()):,}")
rated_col.metric("Ratings", f"{int(summary['rated'].sum()):,}",
                 help="Answers with a rating from 1 to 5.")
comments_col.metric("Comments", f"{int(summary['comments'].sum()):,}")

if summary["rated"].any():
    mean_col, spread_col = st.columns(2)
    mean_col.plotly_chart(charts.mean_rating_chart(summary, names, alpha=alpha),
                          key="feedback_mean")
    spread_col.plotly_chart(charts.rating_distribution_chart(summary, names),
                            key="feedback_distribution")
else:
    st.info("The answers carry no rating from 1 to 5, so there is nothing to average.")
show_table(ctx, summary, {
    "playbook_id": ("Playbook", "playbook"), "responses": ("Responses", "count"),
    "rated": ("Ratings", "count", "Answers with a rating from 1 to 5."),
    "mean_rating": ("Mean rating", "number", "From 1 (poor) to 5 (great)."),
    "ci_low": ("Mean, low", "number", f"Lower end of the {LEVEL} t interval."),
    "ci_high": ("Mean, high", "number", f"Upper end of the {LEVEL} t interval."),
    "comments": ("Comments", "count"),
}, key="feedback_summary")
download_csv(summary, "feedback_summary.csv", key="feedback_download_summary")

st.subheader("Recent comments")
limit = st.slider("How many", 5, 100, 20, step=5, key="feedback_limit")
comments = recent_comments(ctx, limit)
if comments.empty:
    st.info("No comments in this view.")
else:
    show_table(ctx, comments.assign(csm_id=comments["csm_name"].fillna(comments["csm_id"])), {
        "submitted_at": ("Submitted", "day"), "playbook_id": ("Playbook", "playbook"),
        "csm_id": ("CSM", "text"), "rating": ("Rating", "text"), "comment": ("Comment", "text"),
    }, key="feedback_comments")
    download_csv(comments, "feedback_comments.csv", key="feedback_download_comments")

"""AppTest of pages/quarterly_review.py: empty state, quarter choice, sections equal the Review."""
import pytest
from streamlit.testing.v1 import AppTest

from analysis.filters import Filters
from analysis.present.quarters import last_complete_quarter
from analysis.present.report import build_review
from tests.builders import ctx, figures, page, run_page, shown_levels

PAGE = page("quarterly_review")


def _app() -> AppTest:
    return run_page(PAGE, timeout=300)  # the demo's analyses take a while on a cold start


def test_empty_database_says_what_to_import(empty_db):
    at = _app()
    assert "No data yet" in at.info[0].value
    assert "quarter" not in [s.key for s in at.selectbox]


def test_default_quarter_is_the_last_complete_one(demo_db):
    at = _app()
    assert at.selectbox(key="quarter").value == str(last_complete_quarter(demo_db))
    # Newest first, every quarter of the data offered.
    options = at.selectbox(key="quarter").options
    assert options == sorted(options, reverse=True)


@pytest.fixture(scope="module")
def review(demo_store):
    return build_review(ctx(demo_store, Filters()), "2025Q3")


def test_sections_show_the_review_numbers(demo_db, review):
    at = _app()
    at.selectbox(key="quarter").set_value("2025Q3").run()
    assert not at.exception, at.exception
    headings = [s.value for s in at.subheader]
    assert [s.name for s in review.sections] == [h for h in headings if h in
                                                 {s.name for s in review.sections}]
    runs = [m.value for m in at.metric if m.label == "Runs this quarter"]
    assert runs == [f"{s.usage['runs']:,}" for s in review.sections]
    # One chart per question for every playbook (what changed, the effects at a glance, the
    # followers), never one or two per playbook.
    charts = figures(at)
    assert len(charts) == 3
    non_followers, followers = charts[2]["data"]
    # Each playbook's pair of bars carries the rates of its section's own figure (the pack's).
    for s in review.sections:
        if s.followers_figure is None:
            assert s.name not in non_followers["y"]
            continue
        row = non_followers["y"].index(s.name)
        shown = [v for v in (non_followers["x"][row], followers["x"][row]) if v is not None]
        assert shown == pytest.approx(list(s.followers_figure.data[0].y))


def test_html_download_is_offered(demo_db):
    at = _app()
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download HTML" in labels


def test_interval_labels_name_the_alpha_in_use(demo_db, alpha_level):
    at = _app()
    assert alpha_level in shown_levels(at)
    assert shown_levels(at) == {alpha_level}


def test_executive_summary_heads_the_page(demo_db, review):
    at = _app()
    at.selectbox(key="quarter").set_value("2025Q3").run()
    # Under the demo banner, the first thing the page says.
    summary = next(i.value for i in at.info if not i.value.startswith("**Demo data.**"))
    assert summary.startswith("**In short.** What worked: ")
    # The summary of the built review, Markdown-escaped for the page.
    from pages.common import md_text
    assert summary == f"**In short.** {md_text(review.summary)}"
    assert "Renewal Runway" in summary and "To decide: " in summary


def test_an_undefined_playbook_is_named_in_words_on_the_page_and_in_the_pack(demo_db, review):
    # The demo's runs name qbr_prep, which no definition covers: people read "QBR prep".
    at = _app()
    at.selectbox(key="quarter").set_value("2025Q3").run()
    assert "QBR prep" in [s.value for s in at.subheader]
    assert not any("qbr_prep" in c.value for c in at.caption)
    picker = at.selectbox(key="flt_playbook")  # the sidebar's playbook filter
    assert "QBR prep" in picker.options and "qbr_prep" not in picker.options
    assert "QBR prep" in " ".join(str(v) for fig in figures(at) for d in fig["data"]
                                  for v in d.get("y") or ())
    from analysis.present.report import render_html
    html = render_html(review)
    assert "QBR prep" in html and ">qbr_prep<" not in html

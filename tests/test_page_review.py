"""AppTest of pages/quarterly_review.py: empty state, quarter choice, sections equal the Review."""
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.filters import Filters
from analysis.quarters import last_complete_quarter
from analysis.report import build_review

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "quarterly_review.py")


def _app(monkeypatch, db_path) -> AppTest:
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(db_path))
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


def test_empty_database_says_what_to_import(monkeypatch, tmp_path):
    at = _app(monkeypatch, tmp_path / "empty.duckdb")
    assert "No data yet" in at.info[0].value
    assert "quarter" not in [s.key for s in at.selectbox]


def test_default_quarter_is_the_last_complete_one(monkeypatch, demo_store):
    at = _app(monkeypatch, demo_store.path)
    assert at.selectbox(key="quarter").value == str(last_complete_quarter(demo_store))
    # Newest first, every quarter of the data offered.
    options = at.selectbox(key="quarter").options
    assert options == sorted(options, reverse=True)


@pytest.fixture(scope="module")
def review(demo_store):
    return build_review(demo_store, "2025Q3", filters=Filters())


def test_sections_show_the_review_numbers(monkeypatch, demo_store, review):
    at = _app(monkeypatch, demo_store.path)
    at.selectbox(key="quarter").set_value("2025Q3").run()
    assert not at.exception, at.exception
    headings = [s.value for s in at.subheader]
    assert [s.name for s in review.sections] == [h for h in headings if h in
                                                 {s.name for s in review.sections}]
    runs = [m.value for m in at.metric if m.label == "Runs this quarter"]
    assert runs == [f"{s.usage['runs']:,}" for s in review.sections]
    charts = [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
    charted = [s for s in review.sections if s.figure is not None]
    assert len(charts) == 2 + len(charted)
    # A section's chart carries the same bars as the review's figure.
    first = charts[2]["data"][0]
    expected = charted[0].figure.data[0]
    assert first["x"] == list(expected.x)
    assert first["y"] == pytest.approx(list(expected.y))


def test_html_download_is_offered(monkeypatch, demo_store):
    at = _app(monkeypatch, demo_store.path)
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download HTML" in labels

"""AppTests of the sidebar filters (pages/common.py) through app.py's navigation: the filters
hold across page changes in any order, and a link's query string sets them on the first page."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.builders import ROOT, app_database
from tests.test_usage import fill_usage

APP = str(ROOT / "app.py")
# Every page that shows the filters, in the order app.py lists them, and in another order.
FILTERED = ["pages/overview.py", "pages/library.py", "pages/usage.py", "pages/before_after.py",
            "pages/followers.py", "pages/consistency.py", "pages/proficiency.py",
            "pages/feedback.py", "pages/coaching.py", "pages/quarterly_review.py"]
SHUFFLED = ["pages/quarterly_review.py", "pages/usage.py", "pages/overview.py",
            "pages/feedback.py", "pages/before_after.py", "pages/library.py",
            "pages/proficiency.py", "pages/coaching.py", "pages/followers.py",
            "pages/consistency.py"]


@pytest.fixture
def data_db(tmp_path, monkeypatch):
    return app_database(tmp_path / "filters.duckdb", monkeypatch, fill_usage)


def _shown(at: AppTest) -> dict[str, str]:
    return {key: at.selectbox(key=key).value
            for key in ("flt_segment", "flt_team", "flt_csm", "flt_playbook")}


def _open(at: AppTest, page: str) -> None:
    at.switch_page(page)
    at.run()
    assert not at.exception, (page, [e.value for e in at.exception])


@pytest.mark.parametrize("order", [FILTERED, SHUFFLED], ids=["listed", "shuffled"])
def test_segment_and_team_hold_on_every_page_in_any_order(data_db, order):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    _open(at, "pages/usage.py")
    at.selectbox(key="flt_segment").set_value("SMB")
    at.run()
    at.selectbox(key="flt_team").set_value("A")
    at.run()
    want = {"flt_segment": "SMB", "flt_team": "A", "flt_csm": "All", "flt_playbook": "All"}
    for page in order:
        _open(at, page)
        assert _shown(at) == want, page
        assert at.query_params["segment"] == "SMB" and at.query_params["team"] == "A", page
        assert "Segment: SMB · Team: A" in at.caption[0].value, page


def test_a_shared_link_sets_the_filters_on_the_first_page_and_they_hold(data_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"segment": "Enterprise", "team": "B", "csm": "c2"})
    at.run()
    assert not at.exception
    want = {"flt_segment": "Enterprise", "flt_team": "B", "flt_csm": "c2", "flt_playbook": "All"}
    assert _shown(at) == want
    for page in ("pages/usage.py", "pages/feedback.py", "pages/overview.py"):
        _open(at, page)
        assert _shown(at) == want, page
    # The CSM picker and the caption show the roster's name, the URL keeps the id.
    assert at.selectbox(key="flt_csm").format_func("c2") == "Bob"
    assert "CSM: Bob" in at.caption[0].value
    assert at.query_params["csm"] == "c2"


def test_the_csm_filter_narrows_usage_to_that_csms_runs(data_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    _open(at, "pages/usage.py")
    at.selectbox(key="flt_csm").set_value("c2")
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    # c2 (Bob) is team B's only CSM, whose runs are r7 and r8 (test_page_usage's team filter).
    assert metrics["Playbook runs"] == "2"


def test_a_filter_that_empties_the_view_says_so_instead_of_asking_for_imports(data_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"segment": "SMB", "team": "B"})  # Bob (team B) has no SMB account
    at.run()
    _open(at, "pages/usage.py")
    assert at.info[0].value == ("Nothing to show for Segment: SMB · Team: B: no data matches "
                                "these filters. Widen them in the sidebar.")

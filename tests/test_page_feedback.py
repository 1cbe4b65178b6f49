"""AppTest of the Feedback page's interval labels; its figures and tables are tested with the
Usage page in test_page_usage.py."""
from __future__ import annotations

from tests.builders import app_database, figures, page, run_page, shown_levels
from tests.test_feedback import ANSWERS


def _fill(store) -> None:
    for row in ANSWERS:
        store.execute("INSERT INTO feedback (submitted_at, csm_id, playbook_id, rating, comment)"
                      " VALUES (?, ?, ?, ?, ?)", list(row))


def test_interval_labels_name_the_alpha_in_use(tmp_path, monkeypatch, alpha_level):
    app_database(tmp_path / "feedback.duckdb", monkeypatch, _fill)
    at = run_page(page("feedback"))
    assert shown_levels(at) == {alpha_level}
    assert figures(at)[0]["layout"]["title"]["text"] == f"Mean rating with {alpha_level}% interval"

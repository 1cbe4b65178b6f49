"""AppTest of pages/coaching.py on the hand-built run_steps of test_coaching."""
from __future__ import annotations

import pytest

from tests.builders import app_database, figures, page, run_page
from tests.test_coaching import fill_coaching

COACHING = page("coaching")


@pytest.fixture
def data_db(tmp_path, monkeypatch):
    return app_database(tmp_path / "coaching.duckdb", monkeypatch, fill_coaching)


def test_coaching_page_shows_matrix_separating_steps_and_csms(data_db):
    at = run_page(COACHING, coaching_playbook="pb")
    skip, late = figures(at)[:2]
    heat = skip["data"][0]
    # Steps by CSM name; Bob skipped step 2 in 8 of his 10 runs, Cat late on 1 of 3.
    assert heat["x"] == ["Ann", "Bob", "Cat"] and heat["y"] == ["step 1", "step 2"]
    assert heat["z"][1] == pytest.approx([0.2, 0.8, 0.25])
    assert heat["customdata"][1] == [10, 10, 4]
    assert late["data"][0]["z"][1][2] == pytest.approx(1 / 3)
    steps, csms = (d.value for d in at.dataframe)
    top = steps.iloc[0]
    # Failed runs skipped step 2 in 11 of 12, successful ones in 0 of 12: +92 points.
    assert (top["Step"], top["Skipped in failed runs"], top["Skipped in successful runs"],
            top["Difference"], top["Failed runs"]) == ("step 2", "92%", "0%", "+92 points", "12")
    assert any("1 of 2 steps are skipped" in m.value for m in at.markdown)
    # 20 steps is the default minimum: Bob (8 of 20 skipped) is flagged, Cat (8 steps) is not.
    rows = {(r["CSM"], r["Measure"]): r for r in csms.to_dict("records")}
    assert rows[("Bob", "skipped")]["Reading"] == "more than the team"
    assert rows[("Bob", "skipped")]["Steps"] == "20"
    assert rows[("Ann", "skipped")]["Reading"] == "less than the team"
    assert rows[("Cat", "skipped")]["Reading"] == "too few steps to tell"
    assert not csms.isin(["None", "nan"]).any().any()
    # No definition names pb: the picker reads its id as words.
    assert at.selectbox(key="coaching_playbook").format_func("pb") == "Pb"


def test_coaching_page_empty_database(empty_db):
    at = run_page(COACHING)
    assert at.info[0].value.startswith("No playbook runs in this view")

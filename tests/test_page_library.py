"""AppTest of the Playbook library page on a small hand-built store."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.builders import app_database, page
from tests.test_triggers import _build

PAGE = page("library")


def _fill(store) -> None:
    from analysis.playbooks.catalog import use_templates
    use_templates(store)  # an organisation whose playbooks are the twelve templates
    _build(store)
    # A playbook the data knows and the library does not.
    store.execute("""insert into playbook_runs (run_id, scenario, playbook_id, account_id,
                     opened_on, closed_on, status, outcome) values
                     ('Q1', 'qbr', 'qbr_prep', 'A1', DATE '2025-02-03', DATE '2025-02-20',
                      'closed', 'success')""")


@pytest.fixture
def app(tmp_path, monkeypatch):
    app_database(tmp_path / "library.duckdb", monkeypatch, _fill)
    at = AppTest.from_file(PAGE, default_timeout=60)
    return at.run()


def _dataframe(at, index: int):
    return at.dataframe[index].value


def test_page_lists_every_playbook_and_the_undefined_one(app):
    assert not app.exception
    assert app.title[0].value == "Playbook library"
    assert "12 of 12 playbooks" in [s.value for s in app.subheader]
    listing = _dataframe(app, 0)
    assert len(listing) == 12 and "renewal" in listing["playbook_id"].tolist()
    assert "In the data, not yet defined" in [s.value for s in app.subheader]
    assert _dataframe(app, 1)["playbook_id"].tolist() == ["qbr_prep"]


def test_search_narrows_the_list(app):
    app.text_input(key="search").input("battle card").run()
    assert not app.exception
    assert "1 of 12 playbooks" in [s.value for s in app.subheader]
    assert _dataframe(app, 0)["playbook_id"].tolist() == ["competitive_threat"]
    assert app.selectbox(key="playbook").value == "competitive_threat"
    app.text_input(key="search").input("zzz nothing").run()
    assert not app.exception
    assert any("No playbook matches" in i.value for i in app.info)


def test_filters_narrow_the_list(app):
    app.selectbox(key="lib_category").set_value("situational").run()
    app.selectbox(key="lib_trigger_kind").set_value("vendor_driven").run()
    assert not app.exception
    assert _dataframe(app, 0)["playbook_id"].tolist() == ["competitive_threat", "usage_drop"]


def test_a_playbook_renders_every_section(app):
    app.selectbox(key="playbook").set_value("at_risk").run()
    assert not app.exception
    assert app.header[0].value == "At-Risk Customer Save"
    subheaders = [s.value for s in app.subheader]
    for section in ("When to use", "Steps", "Success criteria", "Pitfalls", "Resources",
                    "Decision logic", "Timeline"):
        assert section in subheaders, section
    # Steps with owner, due day and call to action.
    steps = next(d.value for d in app.dataframe if "call_to_action" in d.value.columns)
    assert steps["owner_role"].iloc[0] == "CSM" and steps["due_day"].tolist()[:3] == [0, 1, 2]
    assert "if health score below 40 (critical) → step 2" in steps["branches"].iloc[0]
    # Flowchart: a DOT string with a dashed branch into the escalation playbook.
    dot = app.get("graphviz_chart")[0].proto.spec
    assert dot.startswith("digraph playbook {") and "pb_executive_escalation" in dot
    # Timeline: a plotly figure with the milestones.
    charts = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    timeline = next(c for c in charts if "timeline" in c["layout"]["title"]["text"])
    assert timeline["data"][0]["x"] == [0, 2, 7, 30, 60]
    # Templates are copyable code blocks.
    assert any("Could we take 30 minutes this week?" in c.value for c in app.code)
    # Version history, newest first.
    assert any("v1.1" in m.value for m in app.markdown)


def test_accounts_tab_shows_matches_and_missed_plays(app):
    app.selectbox(key="playbook").set_value("at_risk").run()
    assert not app.exception
    subheaders = [s.value for s in app.subheader]
    # The shipped at_risk triggers on the fixture's 1 June snapshot: A1 (health 52) and
    # A3 (active users -40%).
    assert "Meeting a trigger now (2)" in subheaders
    matches = next(d.value for d in app.dataframe if "triggers" in d.value.columns
                   and "days_to_renewal" in d.value.columns)
    assert matches["account_id"].tolist() == ["A1", "A3"]
    missed = next(d.value for d in app.dataframe if "days_since" in d.value.columns)
    # Since the shipped introduction (2024-07-01); see tests/test_triggers.py for the rules.
    assert missed["account_id"].tolist() == ["A3", "A2", "A4", "A5"]


def test_card_download_is_the_quick_reference(app):
    app.selectbox(key="playbook").set_value("renewal").run()
    assert not app.exception
    card = app.get("download_button")[0]
    assert card.proto.label == "Download quick-reference card"
    assert card.proto.url.endswith(".md")


def _templates(at):
    """The template library's table (inside its expander)."""
    expander = next(e for e in at.expander if e.label.startswith("Template library"))
    return expander.dataframe[0].value


def test_page_on_an_empty_database_offers_the_templates(empty_db):
    """A new organisation has no playbook of its own: the templates are offered, not listed
    as its playbooks."""
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert "0 of 0 playbooks" in [s.value for s in at.subheader]
    assert "In the data, not yet defined" not in [s.value for s in at.subheader]
    templates = _templates(at)
    assert len(templates) == 12 and "at_risk" in templates["playbook_id"].tolist()
    assert at.button(key="adopt_button").label == "Adopt"


def test_adopt_button_copies_a_template_with_the_organisations_date(empty_db):
    from datetime import date
    from pathlib import Path
    from analysis.settings import Settings
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.selectbox(key="adopt_template").set_value("at_risk")
    at.date_input(key="adopt_introduced_on").set_value(date(2024, 1, 1))
    at.text_input(key="adopt_aliases").set_value("Save Play - At Risk")
    at.button(key="adopt_button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Adopted At-Risk Customer Save" in s.value for s in at.success)
    written = Path(Settings.resolve().org_playbooks_dir) / "at_risk.yaml"
    text = written.read_text()
    assert "introduced_on: 2024-01-01" in text and '- "Save Play - At Risk"' in text
    at.run()
    assert "1 of 1 playbooks" in [s.value for s in at.subheader]
    assert "at_risk" not in _templates(at)["playbook_id"].tolist()
    assert len(_templates(at)) == 11


def test_the_introduced_note_shows_when_definition_and_data_disagree(tmp_path, monkeypatch):
    def fill(store):
        _fill(store)  # at_risk is introduced 2024-07-01 by its template; runs from 2025
    app_database(tmp_path / "notes.duckdb", monkeypatch, fill)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.selectbox(key="playbook").set_value("at_risk").run()
    assert not at.exception
    notes = [c.value for c in at.caption if "the definition's date is used" in c.value]
    # Dated 2024-07-01 by the template; its first run in the data opened 2025-03-20 (X2).
    assert len(notes) == 1 and "2024-07-01" in notes[0] and "2025-03-20" in notes[0]


def test_cached_trigger_results_follow_new_data(app, tmp_path):
    app.selectbox(key="playbook").set_value("at_risk").run()
    assert "Meeting a trigger now (2)" in [s.value for s in app.subheader]
    # The page's own store (one per process): a new snapshot changes data_version, so the
    # cached features are not reused. A2 drops to health 40 on 10 June and now matches.
    from pages.common import _store
    store = _store(str(tmp_path / "library.duckdb"))
    store.execute("insert into health_snapshots values ('A2', DATE '2025-06-10', 40, 10)")
    app.run()
    assert not app.exception
    assert "Meeting a trigger now (3)" in [s.value for s in app.subheader]
    matches = next(d.value for d in app.dataframe if "triggers" in d.value.columns
                   and "days_to_renewal" in d.value.columns)
    assert matches["account_id"].tolist() == ["A2", "A1", "A3"]

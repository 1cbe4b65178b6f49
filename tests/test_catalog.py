"""The playbook catalogue and the program launch date."""
from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from analysis import settings

from analysis.playbooks import catalog

from analysis.playbooks import launch
from analysis.playbooks.catalog import first_introduction_by_scenario, playbook_catalog
from analysis.playbooks.launch import program_launch_date

AT_RISK = SimpleNamespace(
    id="at_risk", name="At-Risk Customer Save", category="situational", scenario="at_risk",
    version="1.1", introduced_on=date(2024, 7, 1), outcome_metric="success_rate")
RENEWAL = SimpleNamespace(
    id="renewal", name="Renewal Runway", category="lifecycle", scenario="renewal",
    version="2.0", introduced_on=date(2024, 9, 2), outcome_metric="renewal_rate")


@pytest.fixture
def two_defined(monkeypatch):
    """The catalogue sees two definitions, whatever playbooks/ holds today."""
    monkeypatch.setattr(catalog, "load_playbooks", lambda folder=None: (AT_RISK, RENEWAL))


def _run(store, run_id, scenario, playbook_id, opened_on, version=None):
    store.execute(
        "INSERT INTO playbook_runs (run_id, scenario, playbook_id, playbook_version, account_id,"
        " opened_on) VALUES (?, ?, ?, ?, 'acc1', ?)",
        [run_id, scenario, playbook_id, version, opened_on])


def test_empty_store_and_folder_give_an_empty_catalogue(store, tmp_path):
    frame = playbook_catalog(store, tmp_path)
    assert list(frame.columns) == list(catalog.COLUMNS)
    assert frame.empty
    assert program_launch_date(store, tmp_path) is None


def test_defined_playbooks_are_listed_from_their_definitions(store, two_defined):
    frame = playbook_catalog(store)
    assert frame["playbook_id"].tolist() == ["at_risk", "renewal"]
    row = frame.iloc[1]
    assert row["name"] == "Renewal Runway"
    assert row["introduced_on"] == date(2024, 9, 2)
    assert row["outcome_metric"] == "renewal_rate"
    assert row["current_version"] == "2.0"
    assert frame["defined"].tolist() == [True, True]


def test_undefined_playbook_takes_the_design_rules(store, two_defined):
    # Two spellings of one undefined playbook; the first run opened 2024-02-01.
    _run(store, "r1", "at_risk", "Save Play - At Risk", "2024-03-05", "1")
    _run(store, "r2", "at_risk", "save_play_at_risk", "2024-02-01", "2")
    _run(store, "r3", "renewal", "Renewal Push", "2023-05-09")
    # Runs of defined playbooks (by id or by name) never make an undefined row.
    _run(store, "r4", "at_risk", "at_risk", "2020-01-01", "1.0")
    _run(store, "r5", "at_risk", "At-Risk Customer Save", "2020-01-01")
    _run(store, "r6", "retention", None, "2019-01-01")
    frame = playbook_catalog(store).set_index("playbook_id")
    assert frame.index.tolist() == ["at_risk", "renewal", "renewal_push", "save_play_at_risk"]
    save = frame.loc["save_play_at_risk"]
    assert save["name"] == "Save Play - At Risk"
    assert save["introduced_on"] == date(2024, 2, 1)
    assert save["outcome_metric"] == "success_rate"
    assert save["scenario"] == "at_risk"
    assert not save["defined"]
    assert save["category"] is None
    # The latest run (r1, 2024-03-05) carries version "1".
    assert save["current_version"] == "1"
    push = frame.loc["renewal_push"]
    assert push["outcome_metric"] == "renewal_rate"
    assert push["introduced_on"] == date(2023, 5, 9)
    assert push["current_version"] is None
    # The defined at_risk keeps its definition's date, not its oldest run's.
    assert frame.loc["at_risk", "introduced_on"] == date(2024, 7, 1)


def test_undefined_playbook_scenario_is_its_most_common(store, two_defined):
    _run(store, "r1", "usage_drop", "Custom Play", "2024-01-01")
    _run(store, "r2", "adoption", "Custom Play", "2024-02-01")
    _run(store, "r3", "adoption", "Custom Play", "2024-03-01")
    row = playbook_catalog(store).set_index("playbook_id").loc["custom_play"]
    assert row["scenario"] == "adoption"


def test_launch_is_the_earliest_defined_introduction(store, two_defined):
    _run(store, "r1", "qbr", "QBR Prep", "2022-07-01")
    # An undefined practice older than the program does not move the launch.
    assert program_launch_date(store) == date(2024, 7, 1)


def test_launch_falls_back_to_runs_when_nothing_is_defined(store, tmp_path):
    _run(store, "r1", "qbr", "QBR Prep", "2023-04-03")
    _run(store, "r2", "qbr", "QBR Prep", "2023-05-03")
    assert program_launch_date(store, tmp_path) == date(2023, 4, 3)


def test_launch_setting_overrides(store, two_defined, monkeypatch):
    monkeypatch.setitem(settings.SETTINGS, "launch_date",
                        settings.Setting("launch_date", "2025-01-06", "test"))
    assert program_launch_date(store) == date(2025, 1, 6)
    assert program_launch_date(store, launch_date=date(2024, 1, 1)) == date(2024, 1, 1)
    with pytest.raises(ValueError, match="not an ISO date"):
        program_launch_date(store, launch_date="soon")


def test_first_introduction_by_scenario(store, two_defined):
    _run(store, "r1", "at_risk", "Save Play - At Risk", "2024-02-01")
    first = first_introduction_by_scenario(playbook_catalog(store))
    assert dict(zip(first["scenario"], first["introduced_on"])) == {
        "at_risk": date(2024, 2, 1), "renewal": date(2024, 9, 2)}


def test_shipped_library_dates_the_launch(store):
    shipped = playbook_catalog(store)
    # The twelve seed playbooks; the first were introduced 2024-07-01.
    assert len(shipped) == 12
    assert shipped["defined"].all()
    assert program_launch_date(store) == date(2024, 7, 1)
    assert launch.program_launch_date(store, settings.default("playbooks_dir")) == date(2024, 7, 1)


def test_shared_catalog_builds_once_per_block(store, two_defined, monkeypatch):
    scans = []
    seen_in_runs = catalog._seen_in_runs
    monkeypatch.setattr(catalog, "_seen_in_runs", lambda s: scans.append(1) or seen_in_runs(s))
    _run(store, "r1", "qbr", "QBR Prep", "2023-04-03")
    with catalog.shared_catalog():
        first = playbook_catalog(store)
        first["scratch"] = 1  # a caller's change must not leak into the next caller's copy
        _run(store, "r2", "churn", "Win Back", "2023-01-02")
        second = playbook_catalog(store)
        assert program_launch_date(store) == date(2024, 7, 1)
    assert len(scans) == 1
    assert "scratch" not in second.columns
    assert second["playbook_id"].tolist() == ["at_risk", "qbr_prep", "renewal"]
    # Outside the block every call reads the database again and sees the new run.
    assert "win_back" in playbook_catalog(store)["playbook_id"].tolist()
    assert len(scans) == 2

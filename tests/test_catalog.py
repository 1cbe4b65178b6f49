"""The playbook catalogue and the program launch date."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from analysis.playbooks import catalog
from analysis.playbooks.launch import program_launch_date
from analysis.settings import ROOT, Settings
from tests.builders import ctx

AT_RISK = SimpleNamespace(
    id="at_risk", name="At-Risk Customer Save", category="situational", scenario="at_risk",
    version="1.1", introduced_on=date(2024, 7, 1), outcome_metric="success_rate", aliases=(),
    source="at_risk.yaml")
RENEWAL = SimpleNamespace(
    id="renewal", name="Renewal Runway", category="lifecycle", scenario="renewal",
    version="2.0", introduced_on=date(2024, 9, 2), outcome_metric="renewal_rate", aliases=(),
    source="renewal.yaml")


@pytest.fixture
def two_defined(monkeypatch):
    """The catalogue sees two definitions, whatever playbooks/ holds today."""
    monkeypatch.setattr(catalog, "load_playbooks", lambda folder=None: (AT_RISK, RENEWAL))


def playbook_catalog(store, folder=None):
    """The catalogue a request on `store` builds (of `folder`, default the organisation's)."""
    return ctx(store, folder=folder).catalog


def _launch(store, folder=None, launch_date=None):
    return program_launch_date(playbook_catalog(store, folder), launch_date)


def _run(store, run_id, scenario, playbook_id, opened_on, version=None):
    store.execute(
        "INSERT INTO playbook_runs (run_id, scenario, playbook_id, playbook_version, account_id,"
        " opened_on) VALUES (?, ?, ?, ?, 'acc1', ?)",
        [run_id, scenario, playbook_id, version, opened_on])


def test_empty_store_and_folder_give_an_empty_catalogue(store, tmp_path):
    frame = playbook_catalog(store, tmp_path)
    assert list(frame.columns) == list(catalog.COLUMNS)
    assert frame.empty
    assert _launch(store, tmp_path) is None


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


def test_undefined_playbook_known_only_by_its_id_is_named_in_words(store, two_defined):
    # No export spelled a name for qbr_prep: a person reads "QBR prep", never the slug.
    _run(store, "r1", "qbr", "qbr_prep", "2024-01-01")
    _run(store, "r2", "qbr", "Custom Play", "2024-01-01")
    names = playbook_catalog(store).set_index("playbook_id")["name"]
    assert names["qbr_prep"] == "QBR prep"
    assert names["custom_play"] == "Custom Play"  # a spelling a person gave is kept


def test_undefined_playbook_scenario_is_its_most_common(store, two_defined):
    _run(store, "r1", "usage_drop", "Custom Play", "2024-01-01")
    _run(store, "r2", "adoption", "Custom Play", "2024-02-01")
    _run(store, "r3", "adoption", "Custom Play", "2024-03-01")
    row = playbook_catalog(store).set_index("playbook_id").loc["custom_play"]
    assert row["scenario"] == "adoption"


def test_launch_is_the_earliest_defined_introduction(store, two_defined):
    _run(store, "r1", "qbr", "QBR Prep", "2022-07-01")
    # An undefined practice older than the program does not move the launch.
    assert _launch(store) == date(2024, 7, 1)


def test_launch_falls_back_to_runs_when_nothing_is_defined(store, tmp_path):
    _run(store, "r1", "qbr", "QBR Prep", "2023-04-03")
    _run(store, "r2", "qbr", "QBR Prep", "2023-05-03")
    assert _launch(store, tmp_path) == date(2023, 4, 3)


def test_launch_setting_overrides(store, two_defined, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_LAUNCH_DATE", "2025-01-06")
    from analysis.metrics.consistency import resolve_launch
    assert resolve_launch(ctx(store), None) == date(2025, 1, 6)
    assert _launch(store, launch_date=date(2024, 1, 1)) == date(2024, 1, 1)
    with pytest.raises(ValueError, match="not an ISO date"):
        _launch(store, launch_date="soon")


def test_shipped_library_dates_the_launch_of_a_store_that_uses_it(store):
    assert _launch(store) is None  # not adopted: the templates are not its own
    catalog.use_templates(store)
    shipped = playbook_catalog(store)
    # The twelve seed playbooks; the first were introduced 2024-07-01.
    assert len(shipped) == 12
    assert shipped["defined"].all()
    assert _launch(store) == date(2024, 7, 1)
    assert _launch(store, Settings().playbooks_dir) == date(2024, 7, 1)


# -- the organisation's own exports (issue 13) ----------------------------------------------
# A Gainsight CTA export whose playbooks are named as the organisation names them, from
# 2024-01-01; runs without a playbook (Upsell, Lifecycle) and the shipped templates (twelve,
# introduced 2024-07-01 ... 2025-04-07) must not enter the analysis.
_CTA_HEADER = ("CTA ID,Company ID,Reason,Playbook Name,Owner Name,Created Date,Closed Date,"
               "Status,Total Task Count,Closed Task Count,Health Score at Creation\n")


def _ctas(rows) -> str:
    # Every CTA carries a health score at creation, the header the shipped mapping reads.
    return _CTA_HEADER + "".join(",".join(map(str, r)) + ",55\n" for r in rows)


def _org_exports(tmp_path):
    """Roster, accounts, renewals and CTAs of a small organisation; (path per kind)."""
    csms = "csm_id,name,email,hire_date\nc1,Maria Lopez,maria@example.com,2021-01-04\n" \
           "c2,Sam Okafor,sam@example.com,2022-05-02\n"
    accounts = "account_id,name,segment,csm_id\n" + "".join(
        f"A{i},Account {i},SMB,c{1 + i % 2}\n" for i in range(12))
    renewals = "renewal_id,account_id,csm_id,renewal_date,outcome\n" + "".join(
        f"R{i},A{i % 12},c{1 + i % 2},2024-{1 + i % 12:02d}-15,"
        f"{'renewed' if i % 4 else 'churned'}\n" for i in range(24))
    rows = []
    for i in range(16):  # runs of the two playbooks, the first opened 2024-01-01
        month = 1 + i % 8
        save = i % 2 == 0
        rows.append((f"CTA-{i}", f"A{i % 12}", "Risk" if save else "Renewal",
                     "Save Play - At Risk" if save else "Renewal Readiness",
                     "Maria Lopez" if i % 3 else "Sam Okafor", f"2024-{month:02d}-01",
                     f"2024-{month:02d}-20", "Closed Success" if i % 3 else "Closed Lost", 4,
                     4 if i % 3 else 1))
    # Situations handled without a playbook, some before the program began.
    rows += [(f"CTA-x{i}", f"A{i}", "Upsell" if i % 2 else "Lifecycle", "", "Sam Okafor",
              f"2023-{1 + i:02d}-10", f"2023-{2 + i:02d}-10", "Closed Success", 0, 0)
             for i in range(6)]
    files = {"csms": csms, "accounts": accounts, "renewals": renewals,
             "playbook_runs": _ctas(rows)}
    out = {}
    for kind, text in files.items():
        out[kind] = tmp_path / f"{kind}.csv"
        out[kind].write_text(text, encoding="utf-8")
    return out


def _cli(*args):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "analysis", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _import_org(tmp_path, db):
    mapping = ROOT / "data" / "mappings" / "gainsight_ctas.yaml"
    for kind, path in _org_exports(tmp_path).items():
        extra = ("--mapping", mapping) if kind == "playbook_runs" else ()
        _cli("import", kind, path, *extra, "--db", db)


def test_the_organisation_analyses_its_own_playbooks_not_the_templates(tmp_path):
    import json
    from analysis.playbooks.library import load_playbooks
    # The templates are there, no setting changed.
    assert len(load_playbooks(Settings.resolve().playbooks_dir)) == 12
    db = tmp_path / "org.duckdb"
    _import_org(tmp_path, db)
    result = json.loads(_cli("metrics", "--json", "--db", db))
    two = ["renewal_readiness", "save_play_at_risk"]
    assert sorted(e["playbook_id"] for e in result["before_after"]) == two
    assert sorted(e["playbook_id"] for e in result["followers"]) == two
    assert sorted(p["playbook_id"] for p in result["usage"]["playbooks"]) == two
    # The launch is the organisation's first playbook run, not the templates' 2024-07-01.
    assert result["consistency"]["launch_date"] == "2024-01-01"
    assert result["proficiency"]["launch_date"] == "2024-01-01"
    save = next(e for e in result["before_after"] if e["playbook_id"] == "save_play_at_risk")
    assert save["introduced_on"] == "2024-01-01"
    assert save["introduced_source"] == "first run" and save["introduced_note"] is None


def test_an_adopted_template_takes_the_runs_its_aliases_name(tmp_path, store):
    from analysis.ingest.importer import import_file
    from analysis.ingest.undo import undo_import
    from analysis.metrics.before_after import before_after_json
    from analysis.playbooks.adopt import adopt_template
    exports = _org_exports(tmp_path)
    mapping = ROOT / "data" / "mappings" / "gainsight_ctas.yaml"
    import_file(store, "playbook_runs", exports["playbook_runs"], mapping=mapping)
    # Adopted after the import, dated by the organisation five months before its first run.
    path = adopt_template("at_risk", "2023-08-01", ["Save Play - At Risk"],
                          settings=Settings.resolve(), store=store)
    assert path.parent == Path(Settings.resolve().org_playbooks_dir)
    assert "introduced_on: 2023-08-01" in path.read_text()
    frame = playbook_catalog(store).set_index("playbook_id")
    assert frame.index.tolist() == ["at_risk", "renewal_readiness"]
    row = frame.loc["at_risk"]
    assert row["defined"] and row["introduced_on"] == date(2023, 8, 1)
    assert row["first_run_on"] == date(2024, 1, 1) and row["introduced_source"] == "definition"
    assert "first run in the data opened 2024-01-01" in row["introduced_note"]
    assert frame.loc["renewal_readiness", "introduced_note"] is None
    # The runs now carry the adopted id, and the JSON says which date the windows use.
    assert store.scalar("SELECT count(*) FROM playbook_runs WHERE playbook_id = 'at_risk'") == 8
    entry = next(e for e in before_after_json(ctx(store)) if e["playbook_id"] == "at_risk")
    assert entry["introduced_on"] == "2023-08-01" and entry["first_run_on"] == "2024-01-01"
    assert "the definition's date is used" in entry["introduced_note"]
    # Only the organisation's definitions date the launch (the undefined one does not).
    assert _launch(store) == date(2023, 8, 1)
    # The attribution is recorded like an import: undo puts the names back.
    attributed = store.scalar("SELECT max(import_id) FROM imports")
    undo_import(store, attributed)
    assert store.scalar("SELECT count(*) FROM playbook_runs "
                        "WHERE playbook_id = 'save_play_at_risk'") == 8


def test_an_import_after_adoption_resolves_aliases(tmp_path, store):
    from analysis.ingest.importer import import_file
    from analysis.playbooks.adopt import adopt_template
    adopt_template("at_risk", "2024-01-01", ["Save Play - At Risk"], settings=Settings.resolve())
    path = tmp_path / "ctas.csv"
    path.write_text(_ctas([("C1", "A1", "Risk", "save play - at risk", "x", "2024-02-01",
                            "", "Open", 3, 1)]))
    import_file(store, "playbook_runs", path,
                mapping=ROOT / "data" / "mappings" / "gainsight_ctas.yaml")
    assert store.scalar("SELECT playbook_id FROM playbook_runs") == "at_risk"


def test_adopting_refuses_unknown_templates_and_second_copies(tmp_path):
    from analysis.playbooks.adopt import adopt_template
    resolved = Settings.resolve()
    with pytest.raises(ValueError, match="no template 'nope'"):
        adopt_template("nope", "2024-01-01", settings=resolved)
    adopt_template("renewal", date(2024, 3, 1), settings=resolved)
    with pytest.raises(ValueError, match="already has a playbook 'renewal'"):
        adopt_template("renewal", "2024-03-01", settings=resolved)
    # An alias that names another of its playbooks would give a run two owners.
    with pytest.raises(ValueError, match="already names the playbook 'renewal'"):
        adopt_template("at_risk", "2024-01-01", [" Renewal "], settings=resolved)
    assert sorted(p.name for p in Path(resolved.org_playbooks_dir).iterdir()) \
        == ["renewal.yaml"]


def test_the_demo_uses_the_templates(demo_store):
    frame = playbook_catalog(demo_store)
    assert frame["defined"].sum() == 12
    assert _launch(demo_store) == date(2024, 7, 1)


def test_the_organisation_folder_is_never_the_templates(monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_ORG_PLAYBOOKS_DIR", Settings().playbooks_dir)
    with pytest.raises(ValueError, match="must not be the template folder"):
        catalog.org_folder(Settings.resolve())

"""The semantic layer: one test per definition, pinned to DESIGN.md, on small hand-built tables.

Each definition is read through the view (or macro) the schema creates, as every metric reads it.
"""
from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from analysis import semantic
from analysis.filters import Filters
from analysis.metrics.followers import followers_json
from analysis.metrics.registry import metrics_json
from analysis.metrics.usage import usage_json
from analysis.playbooks import catalog
from analysis.scope import scoped
from tests.builders import ctx

RUN_COLUMNS = ("run_id", "scenario", "playbook_id", "account_id", "csm_id", "opened_on",
               "closed_on", "status", "steps_total", "steps_completed", "outcome")


def add_runs(store, rows) -> None:
    for row in rows:
        store.execute(f"INSERT INTO playbook_runs ({', '.join(RUN_COLUMNS)}) "
                      f"VALUES ({', '.join('?' * len(RUN_COLUMNS))})", list(row))


def add_steps(store, run_id: str, statuses: list[str]) -> None:
    for i, status in enumerate(statuses, start=1):
        store.execute("INSERT INTO run_steps (run_id, step_id, status) VALUES (?, ?, ?)",
                      [run_id, f"step {i}", status])


@pytest.fixture
def no_definitions(monkeypatch):
    """A catalogue of the playbooks seen in runs only (no YAML definitions)."""
    monkeypatch.setattr(catalog, "load_playbooks", lambda folder=None: ())


# -- the files and their loader ----------------------------------------------------------------
def test_every_concept_is_one_dbt_shaped_file_created_with_the_schema(store):
    names = sorted(p.stem for p in semantic.FOLDER.glob("*.sql"))
    assert names == sorted(semantic.VIEW_ORDER)
    for name in names:
        sql = semantic.definition(name)
        # import CTEs -> logic CTEs -> final -> select * from final (STYLE.md, jaffle_shop)
        assert re.search(r"^with\b", sql, re.MULTILINE), name
        assert re.search(r"^final as \(", sql, re.MULTILINE), name
        assert sql.rstrip().endswith("select * from final"), name
    views = set(store.query("SELECT view_name FROM duckdb_views() WHERE NOT internal")["view_name"])
    macros = {"scenario_introductions", "scenario_rollouts"}
    assert set(semantic.VIEW_ORDER) - macros <= views
    found = store.query("SELECT function_name FROM duckdb_functions() "
                        "WHERE function_type = 'table_macro'")["function_name"]
    assert macros <= set(found)


def test_views_are_replaced_when_the_store_opens_again(tmp_path):
    from analysis.store import Store
    path = tmp_path / "again.duckdb"
    with Store(path) as first:
        first.execute("CREATE OR REPLACE VIEW closed_runs AS SELECT 1 AS stale")
    with Store(path) as second:  # ensure_schema puts this release's definition back
        assert "run_id" in second.query("SELECT * FROM closed_runs").columns


# -- runs_with_adherence -------------------------------------------------------------------
def test_runs_with_adherence_counts_win_else_run_steps_else_none(store):
    # DESIGN.md "Usage": "Adherence of a run = steps_completed / steps_total when the run has
    # steps_total > 0, else from `run_steps` (done steps over all steps) ... a run with no
    # steps (steps_total empty or 0) has no adherence and is left out of every mean."
    add_runs(store, [
        ("both", "at_risk", "p", "a1", "c1", "2025-01-01", None, "closed", 4, 4, "success"),
        ("counts", "at_risk", "p", "a1", "c1", "2025-01-01", None, "closed", 10, 9, "success"),
        ("steps", "at_risk", "p", "a1", "c1", "2025-01-01", None, "closed", None, None, "failure"),
        ("zero", "at_risk", "p", "a1", "c1", "2025-01-01", None, "closed", 0, 0, "failure"),
        ("none", "at_risk", "p", "a1", "c1", "2025-01-01", None, "closed", None, None, "failure"),
        ("over", "at_risk", "p", "a1", "c1", "2025-01-01", None, "open", 3, 5, None),
        ("half", "at_risk", "p", "a1", "c1", "2025-01-01", None, "open", 4, None, None),
    ])
    add_steps(store, "both", ["done", "open", "open", "open"])      # 1 of 4 in run_steps
    add_steps(store, "steps", ["done", "done", "skipped"])          # 2 of 3
    add_steps(store, "half", ["done", "skipped"])                   # 1 of 2
    frame = store.query("SELECT * FROM runs_with_adherence").set_index("run_id")
    assert frame.loc["both", "adherence"] == 1.0            # the counts win over run_steps' 1/4
    assert frame.loc["counts", "adherence"] == pytest.approx(0.9)
    assert frame.loc["steps", "adherence"] == pytest.approx(2 / 3)
    assert pd.isna(frame.loc["zero", "adherence"]) and pd.isna(frame.loc["none", "adherence"])
    assert frame.loc["over", "adherence"] == 1.0            # 5 of 3 done caps at all steps
    # steps_total without steps_completed is no step count: run_steps decide.
    assert frame.loc["half", "adherence"] == pytest.approx(0.5)
    source = frame["adherence_source"].astype(object)
    assert source.where(source.notna(), None).to_dict() == {
        "both": "step_counts", "counts": "step_counts", "steps": "run_steps", "zero": None,
        "none": None, "over": "step_counts", "half": "run_steps"}
    # Every playbook_runs column is kept.
    columns = set(store.query("SELECT * FROM playbook_runs LIMIT 0").columns)
    assert columns <= set(frame.reset_index().columns)


def test_a_run_without_a_playbook_has_no_adherence(store):
    # DESIGN.md "Usage": adherence is how closely a run followed its playbook ("per CSM, runs,
    # mean adherence"): a run handled without a playbook has none, steps or not.
    add_runs(store, [("r1", "at_risk", None, "a1", "c1", "2025-01-01", None, "closed", 2, 2,
                      "success")])
    add_steps(store, "r1", ["done", "done"])
    assert pd.isna(store.scalar("SELECT adherence FROM runs_with_adherence"))


def test_only_playbook_runs_without_counts_read_run_steps(store):
    # When every playbook run has step counts, step rows cannot change any adherence: the
    # view must give the same answers (it also skips reading run_steps then).
    add_runs(store, [("r1", "at_risk", "p", "a1", "c1", "2025-01-01", None, "closed", 2, 1,
                      "success")])
    add_steps(store, "r1", ["done", "done"])
    add_steps(store, "orphan", ["done"])
    assert store.scalar("SELECT adherence FROM runs_with_adherence") == 0.5


def test_step_count_disagreements_list_runs_whose_counts_and_steps_differ(store):
    # DESIGN.md "Usage": adherence takes steps_completed / steps_total when steps_total > 0,
    # else run_steps; where both exist and disagree the counts win and the import says so.
    add_runs(store, [
        ("issue", "at_risk", "p", "a1", "c1", "2025-01-01", None, "closed", 4, 4, "success"),
        ("agree", "at_risk", "p", "a1", "c1", "2025-01-01", None, "closed", 2, 1, "success"),
        ("fewer", "at_risk", "p", "a1", "c1", "2025-01-01", None, "closed", 3, 1, "success"),
        ("no_counts", "at_risk", "p", "a1", "c1", "2025-01-01", None, "closed", None, None,
         "success"),
        ("no_steps", "at_risk", "p", "a1", "c1", "2025-01-01", None, "closed", 4, 2, "success"),
    ])
    add_steps(store, "issue", ["done", "open", "open", "open"])
    add_steps(store, "agree", ["done", "skipped"])
    add_steps(store, "fewer", ["done", "open"])   # 2 step rows, 3 steps counted
    add_steps(store, "no_counts", ["done"])
    frame = store.query("SELECT * FROM step_count_disagreements ORDER BY run_id")
    assert frame.to_dict("list") == {
        "run_id": ["fewer", "issue"], "steps_total": [3, 4], "steps_completed": [1, 4],
        "step_rows": [2, 4], "step_rows_done": [1, 1]}


# -- closed_runs ------------------------------------------------------------------------------
def test_closed_runs_have_an_outcome_and_a_closed_or_derived_status(store):
    # DESIGN.md "Derived when absent": "A run's `status`, when no column gives it, is closed
    # when it has an outcome or a closed_on, else open." and playbook_runs: "outcome (success /
    # failure, empty while open)".
    add_runs(store, [
        ("closed", "at_risk", "p", "a1", "c1", "2025-01-01", "2025-02-01", "closed", None, None,
         "success"),
        ("derived", "at_risk", None, "a1", "c1", "2025-01-01", None, None, None, None, "failure"),
        ("marked_open", "at_risk", "p", "a1", "c1", "2025-01-01", None, "open", None, None,
         "success"),
        ("no_outcome", "at_risk", "p", "a1", "c1", "2025-01-01", "2025-02-01", "closed", None,
         None, None),
        ("open", "at_risk", "p", "a1", "c1", "2025-01-01", None, None, None, None, None),
    ])
    frame = store.query("SELECT run_id, succeeded FROM closed_runs ORDER BY run_id")
    assert frame.to_dict("list") == {"run_id": ["closed", "derived"], "succeeded": [True, False]}
    status = store.query("SELECT run_id, derived_status, is_closed FROM runs_with_status "
                         "ORDER BY run_id").set_index("run_id")
    assert status["derived_status"].to_dict() == {
        "closed": "closed", "derived": "closed", "marked_open": "open", "no_outcome": "closed",
        "open": "open"}
    assert status.index[status["is_closed"]].tolist() == ["closed", "derived"]
    # The same runs are closed where adherence is read (followers reads it there).
    closed = store.query("SELECT run_id FROM runs_with_adherence WHERE is_closed ORDER BY run_id")
    assert closed["run_id"].tolist() == ["closed", "derived"]


# -- decided_renewals ---------------------------------------------------------------------------
def test_decided_renewals_are_renewed_or_churned(store):
    # DESIGN.md "Before / after": "`renewal_rate` uses `renewals` (renewed / decided, by
    # renewal_date)"; renewals: "outcome* (renewed / churned)".
    # The schema's CHECK keeps any other value out of the table, so the view's filter is the
    # definition, and the database guarantees it holds every row.
    for rid, outcome in (("n1", "renewed"), ("n2", "churned")):
        store.execute("INSERT INTO renewals (renewal_id, account_id, renewal_date, outcome) "
                      "VALUES (?, 'a1', '2025-03-01', ?)", [rid, outcome])
    frame = store.query("SELECT renewal_id, renewed FROM decided_renewals ORDER BY renewal_id")
    assert frame.to_dict("list") == {"renewal_id": ["n1", "n2"], "renewed": [True, False]}


# -- scenario_introductions ---------------------------------------------------------------------
def test_scenario_introductions_take_each_scenarios_first_playbook(store):
    # DESIGN.md "Usage": "`playbook_share` counts only runs opened on or after the introduction
    # of their scenario's first playbook."
    cat = pd.DataFrame({
        "playbook_id": ["a", "b", "c", "d"],
        "scenario": ["at_risk", "at_risk", "renewal", None],
        "introduced_on": [date(2024, 9, 1), date(2024, 7, 1), None, date(2023, 1, 1)],
    })
    with semantic.introductions(store, cat) as intro:
        frame = store.query(f"SELECT * FROM {intro.to_everyone} ORDER BY scenario")
        # Without a rollouts export no playbook reaches a group on its own date.
        assert store.query(f"SELECT * FROM {intro.to_groups}").empty
    # renewal's only playbook has no date and the scenario-less one belongs to none.
    assert frame["scenario"].tolist() == ["at_risk"]
    assert pd.Timestamp(frame.loc[0, "introduced_on"]).date() == date(2024, 7, 1)
    empty = cat.iloc[0:0]
    with semantic.introductions(store, empty) as intro:
        assert store.query(f"SELECT * FROM {intro.to_everyone}").empty


def test_a_rolled_out_playbook_is_introduced_to_each_group_on_its_rollout(store):
    # DESIGN.md "Effects and claims": a `rollouts` export gives team- or segment-level
    # adoption dates; the playbook reaches a group on its date, a group not named never.
    cat = pd.DataFrame({
        "playbook_id": ["a", "b", "c", "d"],
        "scenario": ["at_risk", "at_risk", "renewal", "renewal"],
        "introduced_on": [date(2024, 9, 1), date(2024, 7, 1), date(2024, 1, 1), None],
    })
    rows = [  # b: two team rows and one segment row, so teams (the kind more rows name)
        ("b", " North Team", None, "2024-10-01"), ("b", "north team ", None, "2024-08-01"),
        ("b", "South", None, "2025-01-01"), ("b", None, "SMB", "2024-02-01"),
        # d: segments; c has none, so it is introduced to everyone.
        ("d", None, "Enterprise", "2023-06-01"), ("x", "North Team", None, "2020-01-01")]
    for row in rows:
        store.execute("INSERT INTO rollouts (playbook_id, team, segment, rolled_out_on) "
                      "VALUES (?, ?, ?, ?)", list(row))
    adoptions = store.query('SELECT playbook_id, group_kind, "group", label, rolled_out_on '
                            "FROM rollout_adoptions ORDER BY ALL")
    # Names with case and spacing ignored; a group's first date; b's SMB row dates nothing.
    assert adoptions.drop(columns="rolled_out_on").values.tolist() == [
        ["b", "team", "north team", "North Team"], ["b", "team", "south", "South"],
        ["d", "segment", "enterprise", "Enterprise"], ["x", "team", "north team", "North Team"]]
    assert [pd.Timestamp(d).date() for d in adoptions["rolled_out_on"]] == [
        date(2024, 8, 1), date(2025, 1, 1), date(2023, 6, 1), date(2020, 1, 1)]
    with semantic.introductions(store, cat) as intro:
        everyone = store.query(f"SELECT * FROM {intro.to_everyone} ORDER BY scenario")
        groups = store.query(f'SELECT * FROM {intro.to_groups} ORDER BY ALL')
    # at_risk: a (no rollouts) reaches everyone on 2024-09-01; b only North and South, on their
    # dates (b's own introduced_on, 2024-07-01, is not read). renewal: c reaches everyone on
    # 2024-01-01, d Enterprise on 2023-06-01. x is not in the catalogue.
    assert [(r.scenario, pd.Timestamp(r.introduced_on).date())
            for r in everyone.itertuples()] == [("at_risk", date(2024, 9, 1)),
                                                ("renewal", date(2024, 1, 1))]
    assert [(r.scenario, r.group_kind, r.group, pd.Timestamp(r.introduced_on).date())
            for r in groups.itertuples()] == [
        ("at_risk", "team", "north team", date(2024, 8, 1)),
        ("at_risk", "team", "south", date(2025, 1, 1)),
        ("renewal", "segment", "enterprise", date(2023, 6, 1))]


# -- scope ----------------------------------------------------------------------------------------
def test_views_honour_the_filters(store):
    store.execute("INSERT INTO accounts (account_id, segment) VALUES ('a1', 'SMB'), "
                  "('a2', 'Enterprise')")
    add_runs(store, [
        ("r1", "at_risk", "p", "a1", "c1", "2025-01-10", None, "closed", 2, 2, "success"),
        ("r2", "at_risk", "p", "a2", "c1", "2025-01-10", None, "closed", 2, 1, "failure"),
        ("r3", "at_risk", "p", "a1", "c1", "2024-01-10", None, "closed", 2, 0, "failure"),
    ])
    sql, params = scoped("runs_with_adherence", Filters(segment="SMB",
                                                        date_from=date(2025, 1, 1)))
    assert store.query(f"SELECT run_id, adherence FROM {sql} r", params).to_dict("list") == {
        "run_id": ["r1"], "adherence": [1.0]}
    sql, params = scoped("closed_runs", Filters(segment="Enterprise"))
    assert store.query(f"SELECT run_id FROM {sql} r", params)["run_id"].tolist() == ["r2"]


# -- one adherence everywhere (issue 12) ----------------------------------------------------
def _issue_run_store(store):
    """The run of issue 12 (step counts 4 of 4, run_steps 1 of 4 done) and one run followed
    loosely (1 of 4 by its counts), both closed, for one CSM and one playbook."""
    store.execute("INSERT INTO csms (csm_id, name) VALUES ('c1', 'Ann')")
    store.execute("INSERT INTO accounts (account_id, segment) VALUES ('a1', 'SMB')")
    add_runs(store, [
        ("issue", "at_risk", "save", "a1", "c1", "2025-01-10", "2025-02-01", "closed", 4, 4,
         "success"),
        ("loose", "at_risk", "save", "a1", "c1", "2025-01-20", "2025-02-01", "closed", 4, 1,
         "failure"),
    ])
    add_steps(store, "issue", ["done", "open", "open", "open"])
    return store


def test_the_issue_run_gets_one_adherence_on_every_page_and_in_the_json(store, no_definitions):
    # DESIGN.md "Usage": "Adherence of a run = steps_completed / steps_total when the run has
    # steps_total > 0, else from `run_steps` ... — one rule, defined once, used by every
    # metric". So the issue's run has adherence 4/4 = 1.0 (not run_steps' 0.25) everywhere.
    _issue_run_store(store)
    mean = (1.0 + 0.25) / 2  # "issue" by its counts, "loose" 1 of 4
    usage = usage_json(ctx(store))
    assert usage["csms"][0]["mean_adherence"] == pytest.approx(mean)
    assert usage["playbooks"][0]["mean_adherence"] == pytest.approx(mean)
    # Followers: follower = adherence >= 0.8, so "issue" (1.0) follows and "loose" does not.
    followers = followers_json(ctx(store))[0]
    assert (followers["followers"]["n"], followers["followers"]["successes"]) == (1, 1)
    assert (followers["non_followers"]["n"], followers["non_followers"]["successes"]) == (1, 0)
    everything = metrics_json(store)
    assert everything["usage"]["csms"][0]["mean_adherence"] == pytest.approx(mean)
    assert everything["usage"]["playbooks"][0]["mean_adherence"] == pytest.approx(mean)
    assert everything["followers"][0]["followers"]["n"] == 1
    assert everything["followers"][0]["non_followers"]["n"] == 1


def test_the_import_warns_once_when_step_counts_and_run_steps_disagree(store, tmp_path):
    from analysis.ingest.importer import import_file
    runs = tmp_path / "runs.csv"
    runs.write_text("run_id,scenario,playbook_id,account_id,opened_on,status,steps_total,"
                    "steps_completed,outcome\n"
                    "issue,at_risk,save,a1,2025-01-10,closed,4,4,success\n"
                    "agree,at_risk,save,a1,2025-01-11,closed,2,1,failure\n"
                    "other,at_risk,save,a1,2025-01-12,closed,3,3,success\n", encoding="utf-8")
    steps = tmp_path / "steps.csv"
    steps.write_text("run_id,step_id,status\n"
                     "issue,1,done\nissue,2,open\nissue,3,open\nissue,4,open\n"
                     "agree,1,done\nagree,2,skipped\n"
                     "other,1,done\nother,2,done\nother,3,skipped\n", encoding="utf-8")
    first = import_file(store, "playbook_runs", runs)
    assert not [w for w in first.warnings if "disagree" in w]  # no step rows yet
    second = import_file(store, "run_steps", steps)
    said = [w for w in second.warnings if "disagree" in w]
    assert said == ["2 runs have step counts (steps_completed of steps_total) that disagree "
                    "with their run_steps rows; adherence uses the step counts"]
    recorded = store.scalar("SELECT warnings FROM imports WHERE import_id = ?",
                            [second.import_id])
    assert recorded.count("disagree") == 1

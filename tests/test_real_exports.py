"""Exports nobody here wrote (issue 14): each failure found on third-party files, reproduced on
a small file of the same shape written here, and how it is read now.

Shapes: Salesforce data exports (Opportunity, OpportunityHistory, Case, Task, User ids),
HubSpot "all deals" and contacts exports, a SaaS subscriptions/churn data set, a CS leader's
churn spreadsheet. RELIABILITY.md "Real exports" lists them.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.ingest.headers import guess_kind, kind_doubt, match_headers
from analysis.ingest.importer import ImportRefused, import_file, preview, read_export
from analysis.ingest.mapping import Mapping, load_mapping

ROOT = Path(__file__).resolve().parent.parent


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _outcomes(store):
    return dict(store.query("SELECT renewal_id, outcome FROM renewals ORDER BY 1")
                .itertuples(index=False))


def _cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "analysis", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


# A churn spreadsheet: 3 churns (True) and 1 renewal (False), as the 486-churn file held them.
CHURN_ROWS = ("R-1,A-1,2025-01-31,True\nR-2,A-2,2025-02-28,True\n"
              "R-3,A-3,2025-03-31,False\nR-4,A-4,2025-04-30,True\n")
CHURNED = {"R-1": "churned", "R-2": "churned", "R-3": "renewed", "R-4": "churned"}


# -- 1. booleans and polarity ---------------------------------------------------------------
def test_unquoted_true_false_in_a_values_block_are_matched_as_written(store, tmp_path):
    path = _write(tmp_path, "churn.csv", "Renewal ID,Account ID,Close Date,Status\n" + CHURN_ROWS)
    mapping = _write(tmp_path, "churn.yaml", "kind: renewals\n"
                     "values:\n  outcome: {True: churned, False: renewed}\n")
    assert load_mapping(mapping).values == {"outcome": {"True": "churned", "False": "renewed"}}
    result = import_file(store, "renewals", path, mapping=mapping)
    assert result.rows_loaded == 4
    # Before: the YAML keys became "Yes"/"No", never matched, and True read as renewed.
    assert _outcomes(store) == CHURNED


def test_yaml_scalars_keep_their_text(tmp_path):
    path = _write(tmp_path, "m.yaml", "kind: renewals\nday_first: yes\nvalues:\n"
                  "  outcome: {yes: churned, No: renewed, 1: churned, 0: renewed, On: churned}\n")
    mapping = load_mapping(path)
    assert mapping.day_first is True
    assert list(mapping.values["outcome"]) == ["yes", "No", "1", "0", "On"]


def test_a_true_key_also_reads_the_1_or_yes_a_file_holds(store, tmp_path):
    path = _write(tmp_path, "flags.csv", "Renewal ID,Account ID,Close Date,Status\n"
                  "R-1,A-1,2025-01-31,1\nR-2,A-2,2025-02-28,0\nR-3,A-3,2025-03-31,yes\n")
    mapping = Mapping("renewals", values={"outcome": {True: "churned", False: "renewed"}})
    import_file(store, "renewals", path, mapping=mapping)
    assert _outcomes(store) == {"R-1": "churned", "R-2": "renewed", "R-3": "churned"}


@pytest.mark.parametrize("header", ["churn", "churned", "is_churned", "lost", "Churn Flag",
                                    "churn_flag"])
@pytest.mark.parametrize("yes, no", [("True", "False"), ("1", "0"), ("Yes", "No")])
def test_a_churn_named_column_is_churned_on_true(store, tmp_path, header, yes, no):
    rows = CHURN_ROWS.replace("True", yes).replace("False", no)
    path = _write(tmp_path, "churn.csv", f"Renewal ID,Account ID,Close Date,{header}\n" + rows)
    mapping = Mapping("renewals", columns={header: "outcome"})
    import_file(store, "renewals", path, mapping=mapping)
    assert _outcomes(store) == CHURNED


def test_churn_columns_are_found_without_a_mapping(store, tmp_path):
    path = _write(tmp_path, "churn.csv", "Renewal ID,Account ID,Close Date,Churned\n" + CHURN_ROWS)
    import_file(store, "renewals", path)
    assert _outcomes(store) == CHURNED
    renewed = _write(tmp_path, "renewed.csv", "Renewal ID,Account ID,Close Date,Is Renewed\n"
                     + CHURN_ROWS)
    import_file(store, "renewals", renewed)
    assert _outcomes(store) == {k: "renewed" if v == "churned" else "churned"
                                for k, v in CHURNED.items()}


def test_booleans_under_a_name_that_says_neither_are_refused(store, tmp_path):
    path = _write(tmp_path, "flags.csv", "Renewal ID,Account ID,Close Date,Status\n" + CHURN_ROWS)
    with pytest.raises(ImportRefused) as err:
        import_file(store, "renewals", path)
    message = str(err.value)
    assert message.startswith("flags.csv: column 'Status' (outcome) holds 'True' and 'False'")
    assert "values: {outcome: {'True': churned, 'False': renewed}}" in message
    assert store.row_counts()["renewals"] == 0 and store.row_counts()["imports"] == 0
    check = preview(store, "renewals", path)
    assert check.refusal == message


# -- 2. the kind check ------------------------------------------------------------------------
HUBSPOT_DEALS = (
    "Record ID,Deal Name,Deal Stage,Close Date,Deal owner,Amount,Associated Company IDs,"
    "Pipeline,Create Date\n"
    "101,Acme renewal,closedwon,2025-01-31,maria@example.com,1200,9001,Renewals,2024-11-01\n"
    "102,Bolt renewal,appointmentscheduled,2025-03-31,sam@example.com,800,9002,Renewals,"
    "2024-12-01\n")
OPPORTUNITY_HISTORY = (
    "Id,OpportunityId,CreatedById,CreatedDate,StageName,Amount,ExpectedRevenue,CloseDate,"
    "Probability,ForecastCategory,SystemModstamp,IsDeleted\n"
    "008A1,006A1,005A1,2025-01-02,Prospecting,1000,100,2025-03-01,10,Pipeline,2025-01-02,0\n"
    "008A2,006A1,005A1,2025-02-02,Closed Won,1000,1000,2025-03-01,100,Closed,2025-02-02,0\n")
CONTACTS = ("Record ID,First Name,Last Name,Email,Phone Number,Contact owner,Lifecycle Stage,"
            "Create Date\n"
            "1,Ann,Lee,ann@client.com,555,maria@example.com,customer,2024-01-01\n"
            "2,Bo,Kim,bo@client.com,556,sam@example.com,lead,2024-02-01\n")
RUNS_WITHOUT_SCENARIO = ("Run ID,Playbook,Account ID,CSM,Opened On,Status\n"
                         "R-1,Renewal Runway,A-1,C-1,2025-01-05,Closed\n"
                         "R-2,Renewal Runway,A-2,C-1,2025-01-06,Open\n"
                         "R-3,Renewal Runway,A-3,C-2,2025-01-07,Open\n")


def _subscriptions(n_accounts=5, per_account=4) -> str:
    lines = ["subscription_id,customer_id,plan,start_date,mrr,churned"]
    for i in range(n_accounts * per_account):
        lines.append(f"S-{i},A-{i % n_accounts},pro,2024-01-01,100,False")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name, text, kind, looks_like", [
    ("deals.csv", HUBSPOT_DEALS, "accounts", "renewals"),
    ("OpportunityHistory.csv", OPPORTUNITY_HISTORY, "csms", "renewals"),
    ("subscriptions.csv", _subscriptions(), "accounts", "subscriptions"),
    ("contacts.csv", CONTACTS, "csms", "contacts"),
    ("runs.csv", RUNS_WITHOUT_SCENARIO, "accounts", "playbook_runs"),
])
def test_a_file_of_another_kind_is_refused_naming_it(store, tmp_path, name, text, kind,
                                                     looks_like):
    path = _write(tmp_path, name, text)
    with pytest.raises(ImportRefused) as err:
        import_file(store, kind, path)
    message = str(err.value)
    article = "an" if kind == "accounts" else "a"
    assert message.startswith(f"{name} does not look like {article} {kind} export: it looks like")
    assert looks_like in message and "--kind-ok" in message
    assert "\n" not in message
    assert store.row_counts()["imports"] == 0
    # The preview says the same, so the page can ask for a confirmation.
    assert looks_like in str(preview(store, kind, path).doubt)
    # A person who confirms gets the import.
    assert import_file(store, kind, path, kind_ok=True).rows_loaded > 0


def test_the_subscriptions_file_is_doubted_for_its_repeated_key(tmp_path):
    frame = read_export(_write(tmp_path, "subs.csv", _subscriptions(5, 4)))
    doubt = kind_doubt(list(frame.columns), "accounts", None, frame)
    assert doubt.looks_like.startswith("subscriptions")


def test_a_file_repeating_its_key_is_doubted(tmp_path):
    frame = pd.DataFrame({"Account ID": [f"A-{i % 3}" for i in range(30)],
                          "Account Name": "x", "Segment": "SMB"})
    doubt = kind_doubt(list(frame.columns), "accounts", None, frame)
    assert doubt.looks_like == "a file of many rows per account_id"
    assert doubt.why == "27 of its first 30 rows repeat an earlier account_id (3 distinct)"


def test_real_exports_of_the_right_kind_are_not_doubted(tmp_path):
    for kind, name in (("accounts", "hubspot_companies.csv"), ("playbook_runs", "gainsight_ctas.csv"),
                       ("renewals", "salesforce_renewals_report.csv")):
        frame = read_export(ROOT / "tests" / "exports" / name)
        assert kind_doubt(list(frame.columns), kind, None, frame) is None, name


def test_runs_without_a_scenario_are_guessed_as_runs():
    assert guess_kind(RUNS_WITHOUT_SCENARIO.splitlines()[0].split(",")) == "playbook_runs"


def test_cli_refuses_another_kind_unless_confirmed(tmp_path):
    path = _write(tmp_path, "deals.csv", HUBSPOT_DEALS)
    db = tmp_path / "cli.duckdb"
    refused = _cli("import", "accounts", path, "--db", db)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: deals.csv does not look like an accounts export")
    assert len(refused.stderr.strip().splitlines()) == 1
    forced = _cli("import", "accounts", path, "--kind-ok", "--db", db)
    assert forced.returncode == 0, forced.stderr


# -- 3. the filled synonym wins; nothing loaded is a failure ----------------------------------
def test_an_empty_reason_gives_way_to_a_filled_type(store, tmp_path):
    # Salesforce Case: Reason (empty in this org) and Type (filled).
    path = _write(tmp_path, "Case.csv", "Id,CaseNumber,AccountId,Reason,Type,CreatedDate,Status\n"
                  "500A1,0001,001A1,,Risk,2025-01-02,Closed\n"
                  "500A2,0002,001A2,,Onboarding,2025-01-03,New\n")
    result = import_file(store, "playbook_runs", path)
    assert (result.rows_loaded, result.rows_rejected) == (2, 0)
    assert "column scenario read from 'Type': 'Reason' is empty" in result.warnings
    assert dict(store.query("SELECT run_id, scenario FROM playbook_runs ORDER BY 1")
                .itertuples(index=False)) == {"500A1": "at_risk", "500A2": "onboarding"}


def test_a_file_that_loads_no_row_is_refused(store, tmp_path):
    path = _write(tmp_path, "none.csv", "Run ID,Account ID,Scenario,Opened On\n"
                  "R-1,A-1,at_risk,not a date\nR-2,A-1,at_risk,\n")
    with pytest.raises(ImportRefused) as err:
        import_file(store, "playbook_runs", path)
    assert str(err.value) == ("none.csv: no row could be loaded (rejected 1: opened_on '…' is "
                              "not a date; rejected 1: opened_on is empty)")
    assert store.row_counts()["imports"] == 0
    assert preview(store, "playbook_runs", path).refusal.startswith("none.csv: no row would load")
    done = _cli("import", "playbook_runs", path, "--db", tmp_path / "cli.duckdb")
    assert done.returncode == 1 and "no row could be loaded" in done.stderr


# -- 4. ids exactly, names and emails ignoring case -------------------------------------------
def test_salesforce_ids_differing_in_case_are_two_people(store, tmp_path):
    store.execute("INSERT INTO csms (csm_id, name, email) VALUES "
                  "('005Ec000004oBPN', 'Maria Lopez', 'maria@example.com'), "
                  "('005Ec000004obPN', 'Sam Okafor', 'sam@example.com')")
    path = _write(tmp_path, "opps.csv", "Opportunity ID,Account ID,Close Date,Stage,OwnerId\n"
                  "006A1,A-1,2025-01-31,Closed Won,005Ec000004oBPN\n"
                  "006A2,A-1,2025-02-28,Closed Won,005Ec000004obPN\n"
                  "006A3,A-1,2025-03-31,Closed Won,MARIA LOPEZ\n"
                  "006A4,A-1,2025-04-30,Closed Won,Sam@Example.com\n"
                  "006A5,A-1,2025-05-31,Closed Won,005Ec000009xYZA\n"
                  "006A6,A-1,2025-06-30,Closed Won,005Ec000009XYZA\n")
    result = import_file(store, "renewals", path)
    assert dict(store.query("SELECT renewal_id, csm_id FROM renewals ORDER BY 1")
                .itertuples(index=False)) == {
        "006A1": "005Ec000004oBPN", "006A2": "005Ec000004obPN", "006A3": "005Ec000004oBPN",
        "006A4": "005Ec000004obPN", "006A5": "005Ec000009xYZA", "006A6": "005Ec000009XYZA"}
    assert ("2 rows name CSMs not in the roster: '005Ec000009xYZA' (1), '005Ec000009XYZA' (1)"
            in result.warnings[-2])


# -- 5. mapping headers must be in the file ---------------------------------------------------
def test_a_mapping_header_the_file_lacks_is_refused_naming_the_closest(store, tmp_path):
    path = _write(tmp_path, "accounts.csv", "Account ID,Account Name,Annual Revenue\nA-1,Acme,10\n")
    mapping = Mapping("accounts", columns={"Anual Revenue": "arr"})
    with pytest.raises(ImportRefused) as err:
        import_file(store, "accounts", path, mapping=mapping)
    assert str(err.value).startswith(
        "accounts.csv: the mapping reads arr from 'Anual Revenue', which is not a header of the "
        "file (closest: 'Annual Revenue'); its headers are: Account ID, Account Name, "
        "Annual Revenue")
    assert store.row_counts()["imports"] == 0


# -- 6. loaded, unchanged, skipped, rejected ------------------------------------------------
def test_open_deals_are_skipped_not_buried_among_faults(store, tmp_path):
    rows = ["Opportunity ID,Account ID,Close Date,Stage"]
    rows += [f"006O{i},A-1,2025-06-30,Prospecting" for i in range(7)]
    rows += ["006W1,A-1,2025-01-31,Closed Won", "006L1,,2025-02-28,Closed Lost",
             "006L2,A-2,2025-03-31,Closed Lost"]
    path = _write(tmp_path, "opps.csv", "\n".join(rows) + "\n")
    result = import_file(store, "renewals", path)
    assert (result.rows_read, result.rows_loaded, result.rows_skipped, result.rows_rejected) \
        == (10, 2, 7, 1)
    assert result.rejected.reason.tolist() == ["account_id is empty"]
    assert result.reason_counts().to_dict("records") == [
        {"outcome": "skipped", "reason": "outcome '…' is open, not yet decided", "rows": 7},
        {"outcome": "rejected", "reason": "account_id is empty", "rows": 1}]
    summary = result.summary()
    assert "skipped 7: outcome '…' is open, not yet decided" in summary
    assert "row 10: account_id is empty" in summary
    # Both are kept, told apart by the reason's prefix.
    kept = store.query("SELECT reason FROM rejected_rows ORDER BY row_number")["reason"].tolist()
    assert kept[0] == "skipped: outcome 'Prospecting' is open, not yet decided"
    assert kept.count("account_id is empty") == 1 and len(kept) == 8


def test_identical_rows_are_unchanged_not_updated(store, tmp_path):
    first = _write(tmp_path, "a1.csv", "Account ID,Account Name,ARR\nA-1,Acme,100\nA-2,Bolt,50\n")
    second = _write(tmp_path, "a2.csv", "Account ID,Account Name,ARR\nA-1,Acme,100\n"
                    "A-2,Bolt,60\nA-3,Cog,70\n")
    import_file(store, "accounts", first)
    result = import_file(store, "accounts", second)
    assert (result.rows_loaded, result.rows_updated, result.rows_unchanged) == (3, 1, 1)
    assert "loaded 3 (1 updated existing rows, 1 unchanged)" in result.summary()


def test_reimporting_with_another_mapping_keeps_one_list_of_rejected_rows(store, tmp_path):
    path = _write(tmp_path, "accounts.csv", "Account ID,Account Name,ARR\nA-1,Acme,ten\n"
                  "A-2,Bolt,20\n")
    import_file(store, "accounts", path)
    import_file(store, "accounts", path, mapping=Mapping("accounts", columns={"ARR": "arr",
                                                                              "Account Name": None}))
    assert store.scalar("SELECT count(*) FROM rejected_rows") == 1
    assert store.scalar("SELECT count(*) FROM imports") == 2


def test_every_fault_of_a_row_is_listed(store, tmp_path):
    path = _write(tmp_path, "runs.csv", "Run ID,Account ID,Scenario,Opened On,Steps Total,"
                  "Steps Completed,Health Score\n"
                  "R-1,A-1,at_risk,2025-01-05,5,1,40\nR-2,,at_risk,soon,-1,,x\n")
    result = import_file(store, "playbook_runs", path)
    assert result.rejected.reason.tolist() == [
        "opened_on 'soon' is not a date; health_at_open 'x' is not a number; "
        "account_id is empty; steps_total -1 is negative"]


def test_the_roster_warning_counts_only_rows_that_load(store, tmp_path):
    path = _write(tmp_path, "accounts.csv", "Account ID,ARR,Account Owner\nA-1,10,Jane Doe\n"
                  "A-2,bad,Jane Doe\nA-3,bad,Ann Other\n")
    result = import_file(store, "accounts", path)
    assert "1 rows name CSMs not in the roster: 'Jane Doe' (1) (kept as written)" \
        in result.warnings


# -- 7. blind spots ---------------------------------------------------------------------------
def test_hubspot_associated_company_ids_and_names(store, tmp_path):
    store.execute("INSERT INTO accounts (account_id, name) VALUES ('9001', 'Acme Analytics'), "
                  "('9002', 'Bolt Bikes')")
    deals = _write(tmp_path, "deals.csv",
                   "Record ID,Deal Name,Deal Stage,Close Date,Amount,Associated Company IDs\n"
                   "101,Acme,closedwon,2025-01-31,10,9001;9001\n"
                   "102,Bolt,closedlost,2025-02-28,20,9002\n"
                   "103,Both,closedwon,2025-03-31,30,9001;9002\n")
    result = import_file(store, "renewals", deals)
    assert dict(store.query("SELECT renewal_id, account_id FROM renewals ORDER BY 1")
                .itertuples(index=False)) == {"101": "9001", "102": "9002"}
    assert result.rejected.reason.tolist() == [
        "account_id '9001;9002' names several companies (one row holds one)"]
    named = _write(tmp_path, "named.csv",
                   "Record ID,Deal Name,Deal Stage,Close Date,Associated Company\n"
                   "201,A,closedwon,2025-04-30,acme analytics\n"
                   "202,B,closedwon,2025-05-31,Bolt  Bikes\n")
    import_file(store, "renewals", named)
    assert store.query("SELECT account_id FROM renewals WHERE renewal_id IN ('201', '202') "
                       "ORDER BY 1")["account_id"].tolist() == ["9001", "9002"]


def test_deactivated_owners_resolve_to_the_person(store, tmp_path):
    store.execute("INSERT INTO csms (csm_id, name, email) VALUES "
                  "('C-1', 'Maria Lopez', 'maria@example.com')")
    path = _write(tmp_path, "accounts.csv", "Account ID,Account Owner\n"
                  "A-1,maria@example.com (Deactivated User)\nA-2,Gone Person (Deactivated User)\n")
    import_file(store, "accounts", path)
    assert dict(store.query("SELECT account_id, csm_id FROM accounts ORDER BY 1")
                .itertuples(index=False)) == {"A-1": "C-1", "A-2": "Gone Person"}


def test_a_refusal_lists_every_header(store, tmp_path):
    headers = [f"Field {i}" for i in range(110)]
    path = _write(tmp_path, "wide.csv", ",".join(headers) + "\n" + ",".join("x" * 110) + "\n")
    with pytest.raises(ImportRefused) as err:
        import_file(store, "accounts", path)
    assert str(err.value).endswith(", ".join(headers))


def test_one_header_fills_the_key_and_the_name(store, tmp_path):
    path = _write(tmp_path, "roster.csv", "CSM Name,Team\nMaria Lopez,East\nSam Okafor,West\n")
    import_file(store, "csms", path, mapping=Mapping("csms", columns={"CSM Name": "csm_id"}))
    assert store.query("SELECT csm_id, name FROM csms ORDER BY 1").to_dict("records") == [
        {"csm_id": "Maria Lopez", "name": "Maria Lopez"},
        {"csm_id": "Sam Okafor", "name": "Sam Okafor"}]


def test_salesforce_tasks_take_id_as_step_id_and_check_their_runs(store, tmp_path):
    store.execute("INSERT INTO playbook_runs (run_id, scenario, account_id, opened_on) "
                  "VALUES ('a0C1', 'at_risk', 'A-1', DATE '2025-01-01')")
    path = _write(tmp_path, "Task.csv", "Id,WhatId,Subject,ActivityDate,Status\n"
                  "00T1,a0C1,Call,2025-01-05,Completed\n00T2,a0C1,Call,2025-01-09,Not Started\n"
                  "00T3,a0C9,Email,2025-01-07,Completed\n")
    assert match_headers(["Id", "WhatId", "Subject"], "run_steps").columns == {
        "run_id": "WhatId", "step_id": "Id"}
    result = import_file(store, "run_steps", path)
    assert result.rows_loaded == 3  # two "Call" steps of one run are two steps
    assert store.scalar("SELECT count(*) FROM run_steps WHERE run_id = 'a0C1'") == 2
    assert "1 steps reference runs not imported yet: 'a0C9' (1)" in result.warnings[-1]


def test_runs_closed_before_they_opened_or_opened_years_ahead_are_rejected(store, tmp_path):
    path = _write(tmp_path, "runs.csv", "Run ID,Account ID,Scenario,Opened On,Closed On\n"
                  "R-1,A-1,at_risk,2025-01-05,2025-01-20\n"
                  "R-2,A-1,at_risk,2025-02-05,2025-01-20\n"
                  "R-3,A-1,at_risk,2099-01-01,\n")
    result = import_file(store, "playbook_runs", path)
    assert result.rejected.reason.tolist() == [
        "closed_on 2025-01-20 is before opened_on 2025-02-05",
        "opened_on 2099-01-01 is more than a year in the future"]


# -- the Import page --------------------------------------------------------------------------
def _page(tmp_path, monkeypatch, name, text):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(tmp_path / "page.duckdb"))
    monkeypatch.setenv("PLAYBOOK_IMPACT_MAPPINGS_DIR", str(tmp_path / "mappings"))
    at = AppTest.from_file(str(ROOT / "pages" / "import_data.py"), default_timeout=120)
    at.run()
    at.file_uploader(key="upload").set_value([(name, text.encode(), "text/csv")]).run()
    assert not at.exception, at.exception
    return at


def test_the_page_keeps_import_disabled_until_the_kind_is_confirmed(tmp_path, monkeypatch):
    at = _page(tmp_path, monkeypatch, "runs.csv", RUNS_WITHOUT_SCENARIO)
    # Guessed right now (it was guessed as accounts).
    assert at.selectbox(key="kind_0").value == "playbook_runs"
    at.selectbox(key="kind_0").set_value("accounts").run()
    # (shown Markdown-escaped: playbook\\_runs)
    assert any("it looks like playbook_runs" in w.value.replace("\\", "") for w in at.warning)
    assert at.button(key="import_0").disabled
    at.checkbox(key="kind_ok_0").check().run()
    assert not at.button(key="import_0").disabled
    at.button(key="import_0").click().run()
    assert not at.exception, at.exception
    assert "Imported runs.csv into accounts." in [s.value for s in at.success]


def test_the_page_shows_skipped_rows_per_reason_and_nothing_loaded_as_a_failure(
        tmp_path, monkeypatch):
    text = ("Opportunity ID,Account ID,Close Date,Stage\n006A,A-1,2025-01-31,Closed Won\n"
            "006B,A-1,2025-06-30,Negotiation\n006C,A-1,2025-06-30,Prospecting\n")
    at = _page(tmp_path, monkeypatch, "opps.csv", text)
    assert {m.label: m.value for m in at.metric}["Would skip"] == "2"
    counts = next(d.value for d in at.dataframe if "outcome" in d.value.columns)
    assert counts.to_dict("records") == [
        {"outcome": "skipped", "reason": "outcome '…' is open, not yet decided", "rows": 2}]
    at = _page(tmp_path, monkeypatch, "open.csv",
               "Opportunity ID,Account ID,Close Date,Stage\n006B,A-1,2025-06-30,Negotiation\n")
    assert any(e.value.startswith("open.csv: no row would load") for e in at.error)
    assert at.button(key="import_0").disabled


def test_reasons_are_counted_whatever_the_values_hold(store, tmp_path):
    # Values with quotes and "; " inside: counted under their reason, not split apart.
    path = _write(tmp_path, "runs.csv", "Run ID,Account ID,Scenario,Opened On,Status\n"
                  "R-1,A-1,at_risk,2025-01-05,closed\n"
                  "R-2,A-1,at_risk,2025-01-05,\"x'); DROP TABLE t;--\"\n"
                  "R-3,A-1,at_risk,never,\"it's; odd\"\n"
                  "R-4,A;1,at_risk,2025-01-05,closed\n")
    result = import_file(store, "playbook_runs", path)
    assert result.reason_counts().to_dict("records") == [
        {"outcome": "rejected", "reason": "status '…' is not open or closed", "rows": 2},
        {"outcome": "rejected", "reason": "opened_on '…' is not a date", "rows": 1}]
    # A ";" in an id of a singular column is part of the id.
    assert store.scalar("SELECT count(*) FROM playbook_runs WHERE account_id = 'A;1'") == 1

"""Mapping files and header matching."""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis.ingest.headers import guess_kind, header_key, match_headers
from analysis.ingest.mapping import Mapping, load_mapping, save_mapping

ROOT = Path(__file__).resolve().parent.parent

DESIGN_EXAMPLE = """\
kind: playbook_runs
day_first: false          # how to read ambiguous dates like 03/04/2024
columns:                  # export header: canonical column
  CTA ID: run_id
  Health Score at Creation: health_at_open
values:                   # canonical column: {export value: canonical value}
  scenario: {Risk: at_risk, Renewal: renewal}
  outcome: {Closed Success: success, Closed Lost: failure, Open: null}   # null = empty
"""


def test_the_design_example_loads(tmp_path):
    path = tmp_path / "gainsight.yaml"
    path.write_text(DESIGN_EXAMPLE)
    mapping = load_mapping(path)
    assert mapping == Mapping(
        "playbook_runs", False,
        {"CTA ID": "run_id", "Health Score at Creation": "health_at_open"},
        {"scenario": {"Risk": "at_risk", "Renewal": "renewal"},
         "outcome": {"Closed Success": "success", "Closed Lost": "failure", "Open": None}})


def test_save_then_load_round_trips(tmp_path):
    mapping = Mapping("renewals", True, {"Opp": "renewal_id", "Junk": None},
                      {"outcome": {"Yes": "renewed", "Gone": "churned"}})
    path = save_mapping(mapping, tmp_path / "sub" / "renewals.yaml")
    assert load_mapping(path) == mapping


@pytest.mark.parametrize("text, message", [
    ("kind: renewals\ncolumn: {}\n", "r.yaml: unknown key 'column'"),
    ("kind: invoices\n", "r.yaml: kind 'invoices' is not one of"),
    ("day_first: true\n", "r.yaml: kind is missing"),
    ("kind: renewals\ncolumns: {Opp: opportunity}\n",
     "r.yaml: columns.Opp: 'opportunity' is not a column of renewals"),
    ("kind: renewals\nvalues: {stage: {Won: renewed}}\n",
     "r.yaml: values.stage: not a column of renewals"),
    ("kind: renewals\nday_first: sometimes\n", "r.yaml: day_first must be true or false"),
    ("- just\n- a list\n", "r.yaml: a mapping file is a YAML mapping"),
    ("kind: [unclosed\n", "r.yaml: not valid YAML"),
])
def test_bad_mapping_files_name_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        load_mapping(path)
    assert str(err.value).startswith(message)


def test_yaml_booleans_in_value_maps_stay_words(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("kind: renewals\nvalues:\n  outcome: {Yes: renewed, No: churned}\n")
    assert load_mapping(path).values == {"outcome": {"Yes": "renewed", "No": "churned"}}


def test_shipped_example_mappings_load():
    folder = ROOT / "data" / "mappings"
    files = sorted(folder.glob("*.yaml"))
    assert files, "data/mappings/ ships example mappings"
    for path in files:
        assert load_mapping(path).kind


# -- headers ------------------------------------------------------------------------------
def test_header_keys_ignore_case_spacing_punctuation_and_custom_suffix():
    assert {header_key(h) for h in ("Account ID", "AccountId", "account_id", "ACCOUNT-ID",
                                     "Account_ID__c", " account id ")} == {"accountid"}


def test_tool_labels_map_to_canonical_columns():
    match = match_headers(["Opportunity ID", "AccountId", "Opportunity Owner", "CloseDate",
                           "StageName", "Amount", "Probability (%)"], "renewals")
    assert match.columns == {"renewal_id": "Opportunity ID", "account_id": "AccountId",
                             "csm_id": "Opportunity Owner", "renewal_date": "CloseDate",
                             "outcome": "StageName", "arr_after": "Amount"}
    assert match.ignored == ("Probability (%)",)
    assert match.missing_required == ()
    gainsight = match_headers(["CTA ID", "Company ID", "Reason", "Playbook Name", "Owner Name",
                               "Created Date", "Closed Date", "Status", "Total Task Count",
                               "Closed Task Count"], "playbook_runs")
    assert gainsight.mapping == {
        "CTA ID": "run_id", "Reason": "scenario", "Playbook Name": "playbook_id",
        "Company ID": "account_id", "Owner Name": "csm_id", "Created Date": "opened_on",
        "Closed Date": "closed_on", "Status": "status", "Total Task Count": "steps_total",
        "Closed Task Count": "steps_completed"}
    hubspot = match_headers(["Record ID", "Company name", "Hs Object Id"], "accounts")
    assert hubspot.columns == {"account_id": "Record ID", "name": "Company name"}
    assert hubspot.ignored == ("Hs Object Id",)
    assert hubspot.notes == ("column account_id read from 'Record ID', not 'Hs Object Id'",)


def test_the_better_label_wins_whatever_the_order():
    match = match_headers(["Closed Date", "Close Date"], "renewals")
    assert match.columns["renewal_date"] == "Close Date"


def test_overrides_win_and_can_ignore_a_header():
    match = match_headers(["name", "industry", "type"], "accounts",
                          {"name": "account_id", "Industry": None})
    # The header made the key is also the name column (a file keyed by name, issue 14).
    assert match.columns == {"account_id": "name", "name": "name"}
    assert match.ignored == ("industry", "type")


def test_guess_kind():
    assert guess_kind(["CTA ID", "Company ID", "Reason", "Created Date"]) == "playbook_runs"
    assert guess_kind(["Opportunity ID", "Account ID", "Close Date", "Stage"]) == "renewals"
    assert guess_kind(["Account ID", "Account Name", "ARR"]) == "accounts"
    assert guess_kind(["Colour", "Weight"]) is None

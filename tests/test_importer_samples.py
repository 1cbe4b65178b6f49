"""Public Salesforce sample data (trailheadapps/apex-recipes, CC0) through the importer.

The two CSVs are copied into tests/exports/salesforce/ (credit in SOURCE.md there) so the
tests run wherever the repository is cloned. Expected counts come from reading the files:
Accounts.csv has 50 accounts; Opportunities.csv has 50 opportunities of which 3 are
"Closed/Won" and 1 "Closed Lost" (the only decided renewals), the other 46 are open stages.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from analysis.ingest.importer import ImportRefused, import_file

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "exports" / "salesforce"
MAPPINGS = ROOT / "data" / "mappings"


def test_accounts_need_a_mapping_for_their_key(store):
    with pytest.raises(ImportRefused) as err:
        import_file(store, "accounts", SAMPLES / "Accounts.csv")
    assert str(err.value).startswith(
        "Accounts.csv has no column for account_id (required); its columns are: name, phone, "
        "fax, website, type, industry, NumberOfEmployees, annualrevenue, description")
    assert store.scalar("SELECT count(*) FROM imports") == 0


def test_accounts_with_the_shipped_mapping(store):
    result = import_file(store, "accounts", SAMPLES / "Accounts.csv",
                         mapping=MAPPINGS / "salesforce_apex_accounts.yaml")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (50, 50, 0)
    assert store.scalar("SELECT industry FROM accounts WHERE account_id = 'Quire 203'") \
        == "Industrial Machinery/Components"
    assert store.scalar("SELECT count(*) FROM accounts WHERE industry = 'n/a'") == 15
    assert "annualrevenue" in result.ignored_columns


def test_opportunities_as_renewals(store):
    with pytest.raises(ImportRefused, match="Opportunities.csv has no column for renewal_id"):
        import_file(store, "renewals", SAMPLES / "Opportunities.csv")
    result = import_file(store, "renewals", SAMPLES / "Opportunities.csv",
                         mapping=MAPPINGS / "salesforce_apex_opportunities.yaml")
    # Open stages are skipped by a rule, not rejected as faults (issue 14).
    # "Assigned dynamically" is no stage we know: still a fault.
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (50, 4, 8)
    assert result.rows_skipped == 38
    reasons = result.skipped.reason.value_counts()
    assert reasons["outcome 'Value Proposition' is open, not yet decided"] == 10
    assert reasons["outcome 'Negotiation/Review' is open, not yet decided"] == 6
    stored = store.query("SELECT renewal_id, account_id, renewal_date, outcome, arr_after "
                         "FROM renewals ORDER BY renewal_id").to_dict("records")
    assert [(r["renewal_id"], r["account_id"], r["renewal_date"].date(), r["outcome"],
             r["arr_after"]) for r in stored] == [
        ("Giraffe", "@AccountRef3", date(2021, 2, 1), "renewed", 789007.48),
        ("Lizard, mexican beaded", "@AccountRef27", date(2021, 1, 21), "churned", 607109.71),
        ("Paradoxure", "@AccountRef18", date(2020, 12, 2), "renewed", 620440.88),
        ("Scarlet macaw", "@AccountRef6", date(2020, 11, 16), "renewed", 715534.24)]
    # Hostile description text was read, kept in rejected_rows, and never executed.
    assert store.scalar("SELECT count(*) FROM rejected_rows") == 46

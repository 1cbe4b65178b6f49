"""The importer against exports as the tools really write them, and against bad input.

Text exports live in tests/exports/ (see SOURCE.md there); binary ones (XLSX, ZIP, Parquet,
UTF-16, cp1252) are built here under tmp_path.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from analysis.ingest.importer import ImportRefused, import_file, preview, read_export
from analysis.ingest.mapping import Mapping
from analysis.playbooks.catalog import use_templates

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = ROOT / "tests" / "exports"


@pytest.fixture
def roster(store):
    store.execute("INSERT INTO csms (csm_id, name, email) VALUES "
                  "('C-1', 'Maria Lopez', 'maria.lopez@example.com'), "
                  "('C-2', 'Sam Okafor', 'sam@example.com')")
    return store


def _rows(store, sql):
    """Rows as dicts, NULL as None (DuckDB hands pandas NaN for a NULL text)."""
    frame = store.query(sql).astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def _write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def _snapshot(store):
    return store.row_counts()


# -- real-looking exports -----------------------------------------------------------------
def test_salesforce_report_with_bom_currency_and_footer(roster):
    result = import_file(roster, "renewals", EXPORTS / "salesforce_renewals_report.csv")
    # An open stage (Negotiation) is skipped by a rule, not rejected as a fault (issue 14).
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (6, 4, 1)
    assert result.rows_skipped == 1
    assert result.rejected[["row_number", "reason"]].to_dict("records") == [
        {"row_number": 5, "reason": "renewal_date 'TBD' is not a date"}]
    assert result.skipped[["row_number", "reason"]].to_dict("records") == [
        {"row_number": 6, "reason": "outcome 'Negotiation' is open, not yet decided"}]
    assert json.loads(result.rejected.raw[0]) == {
        "Opportunity ID": "006A000004", "Account ID": "001A000001",
        "Opportunity Owner": "Sam Okafor", "Close Date": "TBD", "Stage": "Closed Won",
        "Amount": "$1,000.00"}
    stored = _rows(roster, "SELECT renewal_id, csm_id, renewal_date, outcome, arr_after "
                           "FROM renewals ORDER BY renewal_id")
    assert stored == [
        {"renewal_id": "006A000001", "csm_id": "C-1", "renewal_date": pd.Timestamp("2025-03-14"),
         "outcome": "renewed", "arr_after": 12400.0},
        # The owner given by email resolves to the roster id too.
        {"renewal_id": "006A000002", "csm_id": "C-1", "renewal_date": pd.Timestamp("2025-03-28"),
         "outcome": "churned", "arr_after": 8050.5},
        {"renewal_id": "006A000003", "csm_id": "C-2", "renewal_date": pd.Timestamp("2025-04-02"),
         "outcome": "renewed", "arr_after": 58800.0},
        {"renewal_id": "006A000006", "csm_id": "C-2", "renewal_date": pd.Timestamp("2025-05-31"),
         "outcome": "renewed", "arr_after": -1200.0}]
    assert result.warnings[0] == "dropped the report footer (6 lines)"
    # 'Unknown Person' owns only the skipped Negotiation row: the roster warning counts
    # rows that load (issue 14).
    assert not any("not in the roster" in w for w in result.warnings)
    assert result.warnings[1].startswith("4 rows reference accounts not imported yet")
    # The rejected rows are kept, and the import is recorded.
    assert roster.scalar("SELECT count(*) FROM rejected_rows WHERE import_id = ?",
                         [result.import_id]) == 2
    record = _rows(roster, "SELECT kind, file_name, rows_read, rows_loaded, rows_rejected, "
                           "rows_updated, mapping FROM imports")[0]
    assert record["rows_read"] == 6 and record["rows_loaded"] == 4
    assert json.loads(record["mapping"])["columns"]["Stage"] == "outcome"
    summary = result.summary()
    assert ("rows read 6, loaded 4 (0 updated existing rows, 0 unchanged), skipped 1, "
            "rejected 1") in summary
    assert "skipped 1: outcome '…' is open, not yet decided" in summary
    assert "row 5: renewal_date 'TBD' is not a date" in summary


def test_hubspot_companies_export(roster):
    result = import_file(roster, "accounts", EXPORTS / "hubspot_companies.csv")
    assert (result.rows_loaded, result.rows_rejected) == (3, 1)
    assert result.rejected.reason.tolist() == ["customer_since 'not a date' is not a date"]
    assert result.ignored_columns == ("Create Date", "Phone Number")
    stored = _rows(roster, "SELECT account_id, name, segment, csm_id, arr, customer_since "
                           "FROM accounts ORDER BY account_id")
    assert stored == [
        {"account_id": "9001", "name": "Acme Analytics", "segment": "Enterprise",
         "csm_id": "C-1", "arr": 120000.0, "customer_since": pd.Timestamp("2023-02-01")},
        {"account_id": "9002", "name": "Bolt Bikes", "segment": "SMB", "csm_id": "C-2",
         "arr": 45000.0, "customer_since": pd.Timestamp("2024-06-15")},
        {"account_id": "9003", "name": "Cobalt Health", "segment": "Mid-Market",
         "csm_id": None, "arr": None, "customer_since": pd.Timestamp("2021-09-30")}]


def test_gainsight_cta_export_status_carries_the_outcome(roster):
    use_templates(roster)  # an organisation whose playbooks are the templates: names resolve
    result = import_file(roster, "playbook_runs", EXPORTS / "gainsight_ctas.csv")
    assert (result.rows_loaded, result.rows_rejected) == (5, 1)
    assert result.rejected.reason.tolist() == ["steps_completed 9 is more than steps_total 4"]
    assert result.rejected.row_number.tolist() == [6]
    stored = roster.query("SELECT * FROM playbook_runs ORDER BY run_id").set_index("run_id")
    assert stored.loc["CTA-1", ["scenario", "playbook_id", "csm_id", "status", "outcome"]] \
        .tolist() == ["at_risk", "at_risk", "C-1", "closed", "success"]
    assert stored.loc["CTA-2", ["status", "outcome", "steps_total", "steps_completed"]] \
        .tolist() == ["closed", "failure", 5, 2]
    assert stored.loc["CTA-3", ["scenario", "playbook_id", "csm_id", "status"]].tolist() == [
        "renewal", "renewal", "C-1", "open"]
    assert pd.isna(stored.at["CTA-3", "outcome"])
    assert stored.at["CTA-4", "scenario"] == "expansion"
    assert pd.isna(stored.at["CTA-4", "playbook_id"])
    # A playbook with no definition keeps DESIGN.md's id rule.
    assert stored.at["CTA-6", "playbook_id"] == "save_play_at_risk"
    assert stored.at["CTA-1", "health_at_open"] == 42.0
    assert stored.at["CTA-1", "opened_on"] == pd.Timestamp("2025-03-03")
    assert any("'Save Play - At Risk' as save_play_at_risk (1)" in w for w in result.warnings)


def test_european_semicolons_and_decimal_commas(store):
    result = import_file(store, "accounts", EXPORTS / "european_accounts.csv")
    assert (result.rows_loaded, result.rows_rejected) == (3, 1)
    assert result.rejected.reason.tolist() == ["arr 'zwölf' is not a number"]
    stored = _rows(store, "SELECT account_id, name, arr, customer_since FROM accounts "
                          "ORDER BY account_id")
    assert stored == [
        {"account_id": "EU-1", "name": "Müller GmbH", "arr": 1234.56,
         "customer_since": pd.Timestamp("2022-03-15")},
        {"account_id": "EU-2", "name": "Société Générale Test", "arr": 12500.0,
         "customer_since": pd.Timestamp("2023-02-01")},
        {"account_id": "EU-3", "name": "Øresund AB", "arr": 99.9,
         "customer_since": pd.Timestamp("2021-12-31")}]


ACCOUNTS_CSV = ("Account ID,Account Name,Segment,ARR\r\n"
                "A-1,Société Générale,Enterprise,\"$1,500\"\r\nA-2,Café Noir,SMB,2k\r\n")


def test_cp1252_with_accents(store, tmp_path):
    path = _write(tmp_path, "accounts.csv", ACCOUNTS_CSV, "cp1252")
    result = import_file(store, "accounts", path)
    assert result.rows_loaded == 2
    assert _rows(store, "SELECT name, arr FROM accounts ORDER BY account_id") == [
        {"name": "Société Générale", "arr": 1500.0}, {"name": "Café Noir", "arr": 2000.0}]


def test_utf16_tab_separated(store, tmp_path):
    # Excel's "Unicode Text" is UTF-16 with a BOM, tab-separated.
    path = _write(tmp_path, "accounts.txt", ACCOUNTS_CSV.replace(",", "\t")
                  .replace('"$1\t500"', "$1,500"), "utf-16")
    result = import_file(store, "accounts", path)
    assert result.rows_loaded == 2
    assert _rows(store, "SELECT name, arr FROM accounts ORDER BY account_id") == [
        {"name": "Société Générale", "arr": 1500.0}, {"name": "Café Noir", "arr": 2000.0}]


def _xlsx(path):
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame().to_excel(writer, sheet_name="Read me", index=False)
        pd.DataFrame({
            "Renewal ID": ["R-1", "R-2", "R-3"], "Account ID": [101, 102, 103],
            "Close Date": [datetime(2025, 1, 31), 45688, "not yet"],  # 45688 = 2025-01-31
            "Stage": ["Closed Won", "Closed Lost", "Closed Won"],
            "Amount": [1200.5, 300, None]}).to_excel(writer, sheet_name="Renewals", index=False)
        pd.DataFrame({"Account ID": ["A-9"], "Account Name": ["Nine"]}).to_excel(
            writer, sheet_name="Accounts", index=False)
    return path


def test_xlsx_first_sheet_with_data_and_named_sheet(store, tmp_path):
    path = _xlsx(tmp_path / "export.xlsx")
    result = import_file(store, "renewals", path)
    assert (result.rows_loaded, result.rows_rejected) == (2, 1)
    assert result.rejected.to_dict("records")[0]["reason"] == "renewal_date 'not yet' is not a date"
    assert result.rejected.row_number.tolist() == [4]
    assert _rows(store, "SELECT renewal_id, account_id, renewal_date, outcome, arr_after "
                        "FROM renewals ORDER BY renewal_id") == [
        {"renewal_id": "R-1", "account_id": "101", "renewal_date": pd.Timestamp("2025-01-31"),
         "outcome": "renewed", "arr_after": 1200.5},
        {"renewal_id": "R-2", "account_id": "102", "renewal_date": pd.Timestamp("2025-01-31"),
         "outcome": "churned", "arr_after": 300.0}]
    named = import_file(store, "accounts", path, sheet="Accounts")
    assert named.rows_loaded == 1
    assert store.scalar("SELECT name FROM accounts WHERE account_id = 'A-9'") == "Nine"
    with pytest.raises(ImportRefused, match="export.xlsx has no sheet 'Nope'; its sheets are: "
                                            "Read me, Renewals, Accounts"):
        import_file(store, "accounts", path, sheet="Nope")


def test_zip_holding_one_csv(store, tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("reports/accounts.csv", ACCOUNTS_CSV)
    result = import_file(store, "accounts", path)
    assert (result.file_name, result.rows_loaded) == ("export.zip", 2)
    assert "read reports/accounts.csv from the archive" in result.warnings


@pytest.mark.parametrize("members, message", [
    ({"a.csv": ACCOUNTS_CSV, "b.csv": ACCOUNTS_CSV},
     "bad.zip holds 2 files (a.csv, b.csv); say which one to import with --member NAME, "
     "e.g. --member a.csv"),
    ({"../evil.csv": ACCOUNTS_CSV}, "bad.zip holds an unsafe path '../evil.csv'"),
    ({}, "bad.zip must hold exactly one file; it holds nothing"),
])
def test_zip_refusals(store, tmp_path, members, message):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
        if not members:
            archive.writestr("folder/", "")
    with pytest.raises(ImportRefused) as err:
        import_file(store, "accounts", path)
    assert str(err.value) == message


def test_zip_bomb_is_refused_before_inflating(store, tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("accounts.csv", "Account ID\n" + "0" * 20_000_000)
    with pytest.raises(ImportRefused, match=r"bomb.zip: accounts.csv would inflate from .* "
                                            r"to 20,000,011 bytes; refusing what looks like "
                                            r"a zip bomb"):
        import_file(store, "accounts", path)


def test_parquet_health_snapshots(store, tmp_path):
    path = tmp_path / "health.parquet"
    pd.DataFrame({"Account ID": ["A-1", "A-1", "A-2"],
                  "Snapshot Date": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-01-01"]),
                  "Health Score": [71.5, 64.0, None],
                  "Active Users": [12, 9, 3]}).to_parquet(path)
    result = import_file(store, "health_snapshots", path)
    assert (result.rows_loaded, result.rows_rejected) == (3, 0)
    assert _rows(store, "SELECT account_id, snapshot_date, health_score, active_users "
                        "FROM health_snapshots ORDER BY account_id, snapshot_date") == [
        {"account_id": "A-1", "snapshot_date": pd.Timestamp("2025-01-01"), "health_score": 71.5,
         "active_users": 12},
        {"account_id": "A-1", "snapshot_date": pd.Timestamp("2025-02-01"), "health_score": 64.0,
         "active_users": 9},
        {"account_id": "A-2", "snapshot_date": pd.Timestamp("2025-01-01"), "health_score": None,
         "active_users": 3}]


# -- refusals: the database is unchanged --------------------------------------------------
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"


@pytest.mark.parametrize("kind, name, content, message", [
    ("accounts", "empty.csv", b"", "empty.csv is empty"),
    ("accounts", "blank.csv", b"\r\n\r\n  \n", "blank.csv is empty"),
    ("accounts", "header.csv", b"Account ID,Account Name\r\n", "header.csv has no data rows"),
    ("accounts", "random.csv", bytes(range(256)) * 8,
     "random.csv is not a CSV, XLSX, Parquet or ZIP file"),
    ("accounts", "picture.csv", PNG,
     "picture.csv is not a CSV, XLSX, Parquet or ZIP file (it looks like a PNG image)"),
    ("accounts", "accounts.csv", b"Name,Industry\nAcme,Retail\n",
     "accounts.csv has no column for account_id (required); its columns are: Name, Industry"),
    ("renewals", "ctas.csv",
     b"CTA ID,Company ID,Reason,Created Date,Closed Date,Status\nC1,A1,Risk,2025-01-01,,Open\n",
     "ctas.csv does not look like a renewals export (it looks like playbook_runs): has no "
     "column for renewal_id (required); its columns are: CTA ID, "
     "Company ID, Reason, Created Date, Closed Date, Status"),
    ("accounts", "wide.csv", (",".join(f"c{i}" for i in range(2001)) + "\n"
                              + ",".join("1" for _ in range(2001)) + "\n").encode(),
     "wide.csv has 2,001 columns; more than 2,000 is not an export this tool reads"),
    ("accounts", "huge.csv", b"Account ID,Notes\nA-1," + b"x" * 1_000_001 + b"\n",
     "huge.csv: a value in column 'Notes' is over 1 MB (1,000,001 characters)"),
])
def test_refused_files_name_the_problem_and_change_nothing(
        roster, tmp_path, kind, name, content, message):
    before = _snapshot(roster)
    with pytest.raises(ImportRefused) as err:
        import_file(roster, kind, _write(tmp_path, name, content))
    assert str(err.value) == message
    assert _snapshot(roster) == before


def test_missing_file_and_unknown_kind_are_refused(store, tmp_path):
    with pytest.raises(ImportRefused, match="nope.csv cannot be read"):
        import_file(store, "accounts", tmp_path / "nope.csv")
    with pytest.raises(ImportRefused, match="'imports' is not a table one can import"):
        import_file(store, "imports", tmp_path / "nope.csv")


def test_a_mapping_for_another_kind_is_refused(store, tmp_path):
    path = _write(tmp_path, "a.csv", ACCOUNTS_CSV)
    with pytest.raises(ImportRefused,
                       match="the mapping is for renewals exports, not accounts"):
        import_file(store, "accounts", path, mapping=Mapping("renewals"))


def test_a_failure_while_loading_rolls_everything_back(store, tmp_path, monkeypatch):
    import analysis.ingest.importer as importer
    path = _write(tmp_path, "a.csv", ACCOUNTS_CSV)

    def broken(*args):
        raise RuntimeError("disk full")
    monkeypatch.setattr(importer, "_write_rows", broken)
    with pytest.raises(RuntimeError):
        import_file(store, "accounts", path)
    assert store.scalar("SELECT count(*) FROM imports") == 0
    assert store.scalar("SELECT count(*) FROM accounts") == 0


# -- rows: rejected with a reason, never lost ---------------------------------------------
def test_duplicate_keys_keep_the_last_row(store, tmp_path):
    path = _write(tmp_path, "renewals.csv",
                  "Renewal ID,Account ID,Renewal Date,Outcome\n"
                  "R-1,A-1,2025-01-01,Renewed\nR-2,A-1,2025-02-01,Churned\n"
                  "R-1,A-1,2025-03-01,Churned\nR-1,A-1,2025-04-01,Renewed\n")
    result = import_file(store, "renewals", path)
    assert (result.rows_loaded, result.rows_rejected) == (2, 2)
    kept = "duplicate renewal_id 'R-1' (also row 5): the last one is kept"
    assert result.rejected[["row_number", "reason"]].to_dict("records") == [
        {"row_number": 2, "reason": kept}, {"row_number": 4, "reason": kept}]
    assert store.scalar("SELECT renewal_date FROM renewals WHERE renewal_id = 'R-1'") \
        == date(2025, 4, 1)


def test_feedback_ratings_outside_1_to_5(store, tmp_path):
    use_templates(store)  # "Renewal Runway" is the renewal template's name
    path = _write(tmp_path, "feedback.csv",
                  "Submitted At,CSM,Playbook,Rating,Comment\n"
                  "2025-05-01 10:00,C-1,Renewal Runway,5,Clear\n"
                  "2025-05-02 11:00,C-1,Renewal Runway,7,Too long\n"
                  "2025-05-03 12:00,C-2,at_risk,0,\n"
                  "2025-05-04 13:00,C-2,at_risk,4.5,\n"
                  "2025-05-05 14:00,C-2,,3,no playbook\n")
    result = import_file(store, "feedback", path)
    assert (result.rows_loaded, result.rows_rejected) == (1, 4)
    assert result.rejected.reason.tolist() == [
        "rating 7 is outside 1-5", "rating 0 is outside 1-5",
        "rating '4.5' is not a whole number", "playbook_id is empty"]
    assert _rows(store, "SELECT submitted_at, playbook_id, rating FROM feedback") == [
        {"submitted_at": pd.Timestamp("2025-05-01 10:00"), "playbook_id": "renewal",
         "rating": 5}]


def test_rows_with_too_many_fields_are_rejected_not_fatal(store, tmp_path):
    path = _write(tmp_path, "a.csv", "Account ID,Account Name\nA-1,One\nA-2,Two,extra\nA-3,Three\n")
    result = import_file(store, "accounts", path)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 2, 1)
    assert result.rejected.to_dict("records") == [
        {"row_number": 3, "raw": "A-2,Two,extra", "reason": "row has 3 fields, the header has 2"}]


def test_one_bad_row_in_fifty_thousand(store, tmp_path):
    n = 50_000
    frame = pd.DataFrame({
        "Opportunity ID": [f"O-{i}" for i in range(n)],
        "Account ID": [f"A-{i % 700}" for i in range(n)],
        "Close Date": [f"{1 + i % 12}/{1 + i % 28}/2024" for i in range(n)],
        "Stage": ["Closed Won" if i % 3 else "Closed Lost" for i in range(n)],
        "Amount": [f"${1000 + i:,}.00" for i in range(n)]})
    frame.loc[31_337, "Close Date"] = "TBD"
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    start = time.perf_counter()
    result = import_file(store, "renewals", path)
    elapsed = time.perf_counter() - start
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (n, n - 1, 1)
    assert result.rejected.to_dict("records")[0]["row_number"] == 31_337 + 2
    assert store.scalar("SELECT count(*) FROM renewals") == n - 1
    assert store.scalar("SELECT sum(arr_after) FROM renewals") == \
        sum(1000 + i for i in range(n) if i != 31_337)
    assert elapsed < 20, f"50,000 rows took {elapsed:.1f}s"


# -- idempotence and updates --------------------------------------------------------------
def test_same_file_twice_changes_nothing(store):
    first = import_file(store, "accounts", EXPORTS / "european_accounts.csv")
    counts = _snapshot(store)
    again = import_file(store, "accounts", EXPORTS / "european_accounts.csv")
    assert again.unchanged and again.import_id == first.import_id
    assert again.rows_loaded == 0
    assert _snapshot(store) == counts
    assert "has not changed: nothing to do" in again.summary()


def test_a_newer_export_updates_by_key_and_keeps_absent_columns(store, tmp_path):
    old = _write(tmp_path, "v1.csv", "Account ID,Account Name,Segment,ARR\n"
                                     "A-1,Acme,Enterprise,100\nA-2,Bolt,SMB,50\n")
    new = _write(tmp_path, "v2.csv", "Account ID,ARR\nA-1,150\nA-3,70\n")
    import_file(store, "accounts", old)
    result = import_file(store, "accounts", new)
    assert (result.rows_loaded, result.rows_updated) == (2, 1)
    assert _rows(store, "SELECT account_id, name, segment, arr FROM accounts "
                        "ORDER BY account_id") == [
        {"account_id": "A-1", "name": "Acme", "segment": "Enterprise", "arr": 150.0},
        {"account_id": "A-2", "name": "Bolt", "segment": "SMB", "arr": 50.0},
        {"account_id": "A-3", "name": None, "segment": None, "arr": 70.0}]


def test_overlapping_exports_of_an_id_less_table_add_only_new_rows(store, tmp_path):
    first = _write(tmp_path, "h1.csv", "Account ID,Date,Health Score\n"
                                       "A-1,2025-01-01,70\nA-1,2025-02-01,65\nA-2,2025-01-01,40\n")
    second = _write(tmp_path, "h2.csv", "Account ID,Date,Health Score\n"
                                        "A-1,2025-02-01,66\nA-2,2025-01-01,40\nA-2,2025-02-01,45\n")
    import_file(store, "health_snapshots", first)
    result = import_file(store, "health_snapshots", second)
    # A-2 on 2025-01-01 is identical: unchanged, not updated (issue 14).
    assert (result.rows_loaded, result.rows_updated, result.rows_unchanged) == (3, 1, 1)
    assert _rows(store, "SELECT account_id, snapshot_date, health_score FROM health_snapshots "
                        "ORDER BY 1, 2") == [
        {"account_id": "A-1", "snapshot_date": pd.Timestamp("2025-01-01"), "health_score": 70.0},
        {"account_id": "A-1", "snapshot_date": pd.Timestamp("2025-02-01"), "health_score": 66.0},
        {"account_id": "A-2", "snapshot_date": pd.Timestamp("2025-01-01"), "health_score": 40.0},
        {"account_id": "A-2", "snapshot_date": pd.Timestamp("2025-02-01"), "health_score": 45.0}]


def test_keys_with_empty_csm_match_null_safely(store, tmp_path):
    text = ("Viewed At,Playbook\n2025-01-01 09:00,at_risk\n2025-01-02 09:00,renewal\n")
    import_file(store, "playbook_views", _write(tmp_path, "v1.csv", text))
    result = import_file(store, "playbook_views", _write(
        tmp_path, "v2.csv", text + "2025-01-03 09:00,renewal\n"))
    assert (result.rows_loaded, result.rows_updated, result.rows_unchanged) == (3, 0, 2)
    assert store.scalar("SELECT count(*) FROM playbook_views") == 3


# -- dates, mappings, derived values ------------------------------------------------------
def _opened(store, run_id):
    return store.scalar("SELECT opened_on FROM playbook_runs WHERE run_id = ?", [run_id])


RUNS = ("Run ID,Account ID,Scenario,Opened On,Closed On,Outcome\n"
        "R-1,A-1,Risk,03/04/2025,04/05/2025,Saved\nR-2,A-1,Risk,02/06/2025,,\n")


def test_ambiguous_dates_default_to_month_first_with_a_warning(store, tmp_path):
    result = import_file(store, "playbook_runs", _write(tmp_path, "runs.csv", RUNS))
    assert _opened(store, "R-1") == date(2025, 3, 4)
    assert any(w.startswith("dates such as 03/04/2024 in opened_on, closed_on could be "
                            "month-first or day-first; read as month-first")
               for w in result.warnings)
    # Status was not in the file: closed when there is an outcome or a closed_on.
    assert _rows(store, "SELECT run_id, status, outcome FROM playbook_runs ORDER BY 1") == [
        {"run_id": "R-1", "status": "closed", "outcome": "success"},
        {"run_id": "R-2", "status": "open", "outcome": None}]


def test_day_first_flag_and_a_settling_date(store, tmp_path):
    result = import_file(store, "playbook_runs", _write(tmp_path, "runs.csv", RUNS),
                         day_first=True)
    assert _opened(store, "R-1") == date(2025, 4, 3)
    assert not any("month-first" in w for w in result.warnings)
    settled = RUNS + "R-3,A-1,Risk,25/06/2025,,\n"
    result = import_file(store, "playbook_runs", _write(tmp_path, "runs2.csv", settled))
    assert _opened(store, "R-2") == date(2025, 6, 2)
    assert not any("month-first" in w for w in result.warnings)


def test_mapping_file_names_columns_and_values(store, tmp_path):
    path = _write(tmp_path, "plays.csv",
                  "Play Key,Customer,Kind,Started,Result,Junk\n"
                  "P-1,A-1,Save,2025-01-05,Yay,x\nP-2,A-2,Fire,2025-01-06,Nope,y\n")
    mapping = tmp_path / "plays.yaml"
    mapping.write_text("kind: playbook_runs\ncolumns:\n  Play Key: run_id\n  Customer: account_id\n"
                       "  Kind: scenario\n  Started: opened_on\n  Result: outcome\n  Junk: null\n"
                       "values:\n  scenario: {Fire: executive_escalation}\n"
                       "  outcome: {yay: success, Nope: failure}\n")
    result = import_file(store, "playbook_runs", path, mapping=mapping)
    assert result.ignored_columns == ("Junk",)
    assert _rows(store, "SELECT run_id, account_id, scenario, outcome, status FROM playbook_runs "
                        "ORDER BY 1") == [
        {"run_id": "P-1", "account_id": "A-1", "scenario": "at_risk", "outcome": "success",
         "status": "closed"},
        {"run_id": "P-2", "account_id": "A-2", "scenario": "executive_escalation",
         "outcome": "failure", "status": "closed"}]


def test_scenario_comes_from_the_playbook_when_the_export_has_none(store, tmp_path):
    use_templates(store)  # the scenario comes from the organisation's definition
    path = _write(tmp_path, "plays.csv", "Run ID,Account ID,Playbook,Created Date\n"
                                         "R-1,A-1,Renewal Runway,2025-01-05\n"
                                         "R-2,A-1,Made Up Play,2025-01-06\n")
    result = import_file(store, "playbook_runs", path)
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    assert store.scalar("SELECT scenario FROM playbook_runs") == "renewal"
    assert result.rejected.reason.tolist() == ["scenario is empty"]


def test_run_steps_statuses(store, tmp_path):
    path = _write(tmp_path, "steps.csv", "CTA ID,Task ID,Status,Completed Date\n"
                                         "C-1,T-1,Completed,2025-01-02\nC-1,T-2,N/A,\n"
                                         "C-1,T-3,Not Started,\nC-1,T-4,Blocked,\n")
    result = import_file(store, "run_steps", path)
    assert result.rejected.reason.tolist() == ["status 'Blocked' is not done, skipped or open"]
    assert _rows(store, "SELECT step_id, status FROM run_steps ORDER BY 1") == [
        {"step_id": "T-1", "status": "done"}, {"step_id": "T-2", "status": "skipped"},
        {"step_id": "T-3", "status": "open"}]


# -- preview, reading, progress, CLI ------------------------------------------------------
def test_preview_writes_nothing(roster):
    before = _snapshot(roster)
    check = preview(roster, "renewals", EXPORTS / "salesforce_renewals_report.csv")
    assert (check.rows_read, check.rows_valid, len(check.rejected), len(check.skipped)) \
        == (6, 4, 1, 1)
    assert check.refusal is None and check.columns["outcome"] == "Stage"
    assert _snapshot(roster) == before
    missing = preview(roster, "accounts", pd.DataFrame({"Name": ["x"]}))
    assert missing.missing_required == ("account_id",)
    assert missing.refusal.startswith("upload has no column for account_id (required)")


def test_read_export_returns_raw_strings_by_spreadsheet_row():
    frame = read_export(EXPORTS / "salesforce_renewals_report.csv")
    assert frame.index.tolist()[:2] == [2, 3]
    assert frame.at[2, "Amount"] == "$12,400.00"
    assert all(isinstance(v, str) for c in frame.columns for v in frame[c])


def test_progress_is_reported_in_order(store):
    seen = []
    import_file(store, "accounts", EXPORTS / "european_accounts.csv",
                progress=lambda fraction, message: seen.append(fraction))
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 4


def test_cli_import_exit_codes(tmp_path):
    db = tmp_path / "cli.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "analysis", "import", "accounts",
                         str(EXPORTS / "european_accounts.csv"), "--db", str(db)],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ("rows read 4, loaded 3 (0 updated existing rows, 0 unchanged), skipped 0, "
            "rejected 1") in ok.stdout
    assert "row 5: arr 'zwölf' is not a number" in ok.stdout
    empty = _write(tmp_path, "empty.csv", b"")
    bad = subprocess.run([sys.executable, "-m", "analysis", "import", "accounts", str(empty),
                          "--db", str(db)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "error: empty.csv is empty"


# -- properties: any bytes are read or refused, never crash --------------------------------
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402

from analysis.ingest.readers import RawExport, read_bytes  # noqa: E402


@hsettings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=2000),
                 st.text(alphabet=st.sampled_from(list('ab1,;\t|"\r\n $.-/:')), max_size=300)
                 .map(str.encode)))
def test_any_bytes_are_read_or_refused(data):
    try:
        raw = read_bytes(data, "fuzz.csv")
    except ImportRefused as exc:
        assert str(exc).startswith("fuzz.csv")
    else:
        assert isinstance(raw, RawExport)
        assert all(isinstance(v, str) for c in raw.frame.columns for v in raw.frame[c])


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12), st.text(max_size=12)),
                min_size=1, max_size=15))
def test_any_rows_load_or_are_rejected_with_a_reason(store, rows):
    frame = pd.DataFrame(rows, columns=["Renewal ID", "Close Date", "Stage"]).assign(
        **{"Account ID": "A-1"})
    check = preview(store, "renewals", frame)
    if check.refusal and "values" in check.refusal:
        # A Stage column of booleans only: which is a churn cannot be known (issue 14).
        assert check.rows_valid == 0
        return
    assert check.rows_valid + len(check.rejected) + len(check.skipped) == check.rows_read
    assert check.rejected.reason.map(lambda r: isinstance(r, str) and len(r) > 0).all()


def test_preview_of_a_read_frame_matches_the_import(store):
    frame = read_export(EXPORTS / "european_accounts.csv")
    check = preview(store, "accounts", frame, file_name="european_accounts.csv")
    assert check.clean["arr"].tolist() == [1234.56, 12500.0, 99.9]
    assert check.rejected.reason.tolist() == ["arr 'zwölf' is not a number"]


def test_import_limits_are_settings(store, tmp_path, monkeypatch):
    from analysis.settings import Settings
    path = _write(tmp_path, "four.csv", "Account ID,a,b,c\nA-1,1,2,3\n")
    with pytest.raises(ImportRefused, match="four.csv has 4 columns; more than 3 is not"):
        import_file(store, "accounts", path, settings=Settings(import_max_columns=3))
    # An import is a request: without settings it resolves them, the environment included.
    monkeypatch.setenv("PLAYBOOK_IMPACT_IMPORT_MAX_COLUMNS", "3")
    with pytest.raises(ImportRefused, match="four.csv has 4 columns; more than 3 is not"):
        import_file(store, "accounts", path)


def test_title_lines_above_the_header_are_skipped(store, tmp_path):
    path = _write(tmp_path, "report.csv",
                  "Renewals by owner\n\"Filtered By: Close Date = This FY\"\n\n"
                  "Renewal ID,Account ID,Close Date,Stage\nR-1,A-1,2025-01-31,Closed Won\n"
                  "R-2,A-1,2025-02-28,Bogus\n")
    result = import_file(store, "renewals", path)
    assert result.rows_loaded == 1
    assert result.rejected.row_number.tolist() == [6]
    assert "skipped 2 title lines above the header" in result.warnings


def test_old_mac_line_endings(store, tmp_path):
    path = _write(tmp_path, "mac.csv", "Account ID,Account Name\rA-1,One\rA-2,Two\r")
    assert import_file(store, "accounts", path).rows_loaded == 2


def test_the_shipped_gainsight_mapping(store, tmp_path):
    path = _write(tmp_path, "ctas.csv",
                  "CTA ID,Company ID,Reason,Created Date,Status,Priority,"
                  "Health Score at Creation\n"
                  "C-1,A-1,Upsell,2025-01-02,Closed Won,High,\n"
                  "C-2,A-1,Lifecycle,2025-01-03,Closed Won-ish,Low,\n")
    mapping = ROOT / "data" / "mappings" / "gainsight_ctas.yaml"
    path.with_suffix(".yaml").write_text(mapping.read_text().replace(
        "Closed Won: success", "Closed Won: success, Closed Won-ish: failure"))
    result = import_file(store, "playbook_runs", path, mapping=path.with_suffix(".yaml"))
    assert result.ignored_columns == ("Priority",)
    # The outcome values of the mapping apply to the Status column that carries the outcome.
    assert _rows(store, "SELECT run_id, scenario, status, outcome FROM playbook_runs "
                        "ORDER BY 1") == [
        {"run_id": "C-1", "scenario": "expansion", "status": "closed", "outcome": "success"},
        {"run_id": "C-2", "scenario": "onboarding", "status": "closed", "outcome": "failure"}]


def test_semicolons_under_title_lines_and_utf16_without_bom(store, tmp_path):
    text = "Accounts report\n\nAccount ID;Account Name;ARR\nA-1;Zoë;1.234,5\n"
    path = _write(tmp_path, "accounts.csv", text, "utf-16-le")
    result = import_file(store, "accounts", path)
    assert result.rows_loaded == 1
    assert _rows(store, "SELECT name, arr FROM accounts") == [{"name": "Zoë", "arr": 1234.5}]

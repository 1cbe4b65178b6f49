"""The preview is the real import, rolled back (issue 12 item 4), and a ZIP holding several
exports is imported one member at a time with --member (issue 14)."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import analysis.ingest.importer as importer
from analysis.ingest.importer import ImportRefused, import_file, preview_import
from analysis.store import quote_ident

ROOT = Path(__file__).resolve().parent.parent

CSMS = "csm_id,name,email\nc1,Jane Doe,jane@example.com\nc2,Li Wei,li@example.com\n"
ACCOUNTS = "account_id,name\nA1,Acme\nA2,Beta\n"
# Against a store already holding R1 and R3: row 2 updates R1; R2 at rows 3 and 7 is a
# duplicate (row 7 kept); row 4 has a bad date; rows 5 and 6 name the account A9, not
# imported; row 8 names an unknown CSM; R3 at row 9 updates R3.
RUNS = """run_id,playbook_id,account_id,csm_id,opened_on,closed_on,outcome
R1,onboarding,A1,c1,2025-01-02,2025-02-01,success
R2,onboarding,A1,c1,2025-01-03,,
R4,adoption,A2,Li Wei,not a date,,
R5,onboarding,A9,c1,2025-01-05,,
R6,onboarding,A9,c2,2025-01-06,2025-03-01,failure
R2,onboarding,A1,c1,2025-01-07,2025-02-07,success
R7,adoption,A2,Pat Quinn,2025-01-08,,
R3,renewal,A2,c2,2025-01-09,2025-04-01,success
"""
EARLIER_RUNS = """run_id,playbook_id,account_id,csm_id,opened_on
R1,onboarding,A1,c1,2024-12-01
R3,renewal,A2,c2,2024-12-02
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _fingerprint(store) -> dict:
    """Every table's rows (count and an order-free checksum), the tables that exist (temporary
    ones too) and every sequence's position: what a dry run must leave as it found it."""
    tables = store.query("SELECT database_name, schema_name, table_name FROM duckdb_tables() "
                         "ORDER BY ALL")
    state = {}
    for db, schema, table in tables.itertuples(index=False):
        name = ".".join(quote_ident(part) for part in (db, schema, table))
        state[name] = tuple(store.query(f"SELECT count(*) AS n, sum(hash(t)) AS checksum "
                                        f"FROM {name} t").iloc[0].astype(str))
    sequences = store.query("SELECT sequence_name, last_value FROM duckdb_sequences()")
    state["sequences"] = tuple(map(tuple, sequences.astype(str).to_numpy()))
    return state


@pytest.fixture
def store(store):
    """These runs name the shipped templates' playbooks (onboarding, renewal ...), whose
    scenarios the importer fills in: an organisation that runs the templates."""
    from analysis.playbooks.catalog import use_templates
    use_templates(store)
    return store


@pytest.fixture
def loaded(store, tmp_path):
    import_file(store, "csms", _write(tmp_path, "csms.csv", CSMS))
    import_file(store, "accounts", _write(tmp_path, "accounts.csv", ACCOUNTS))
    import_file(store, "playbook_runs", _write(tmp_path, "earlier.csv", EARLIER_RUNS))
    return store


def test_the_preview_leaves_the_database_unchanged_and_says_what_the_import_does(loaded,
                                                                               tmp_path):
    path = _write(tmp_path, "runs.csv", RUNS)
    before = _fingerprint(loaded)
    check = preview_import(loaded, "playbook_runs", path)
    assert _fingerprint(loaded) == before
    result = import_file(loaded, "playbook_runs", path)
    assert _fingerprint(loaded) != before  # the fingerprint sees what an import writes
    assert check.complete and check.refusal is None
    assert (check.rows_read, check.rows_valid, check.rows_updated, len(check.rejected)) == \
        (result.rows_read, result.rows_loaded, result.rows_updated, result.rows_rejected) == \
        (8, 6, 2, 2)
    pd.testing.assert_frame_equal(check.rejected, result.rejected)
    assert check.warnings == result.warnings
    assert dict(zip(result.rejected.row_number, result.rejected.reason)) == {
        3: "duplicate run_id 'R2' (also row 7): the last one is kept",
        4: "opened_on 'not a date' is not a date"}
    assert result.warnings == (
        "1 rows name CSMs not in the roster: 'Pat Quinn' (1) (kept as written)",
        "2 rows reference accounts not imported yet: 'A9' (2)")
    # The rows it shows are the rows the import stored, as stored.
    stored = loaded.query("SELECT run_id, account_id, csm_id, outcome FROM playbook_runs "
                          "ORDER BY run_id")
    shown = check.clean[["run_id", "account_id", "csm_id", "outcome"]] \
        .sort_values("run_id", ignore_index=True)
    pd.testing.assert_frame_equal(shown, stored, check_dtype=False)
    assert check.clean.index.tolist() == [2, 5, 6, 7, 8, 9]


def test_a_preview_that_fails_midway_still_leaves_nothing(loaded, tmp_path, monkeypatch):
    before = _fingerprint(loaded)

    def failing(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer, "_write_rows", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        preview_import(loaded, "playbook_runs", _write(tmp_path, "runs.csv", RUNS))
    assert _fingerprint(loaded) == before


def test_a_file_without_data_rows_is_a_refusal_in_the_preview(store, tmp_path):
    check = preview_import(store, "accounts", _write(tmp_path, "blank.csv", "account_id,name\n,\n"))
    assert check.refusal == "blank.csv has no data rows" and check.rows_read == 0


def _three_exports(tmp_path: Path) -> Path:
    path = tmp_path / "crm-export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/csms.csv", CSMS)
        archive.writestr("export/accounts.csv", ACCOUNTS)
        archive.writestr("export/runs.csv", RUNS)
    return path


def test_a_zip_of_three_csvs_is_refused_without_a_member_and_imported_with_one(tmp_path):
    archive = _three_exports(tmp_path)
    db = tmp_path / "cli.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "analysis", "import", *args, "--db",
                               str(db)], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)

    refused = cli("accounts", str(archive))
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: crm-export.zip holds 3 files (export/csms.csv, export/accounts.csv, "
        "export/runs.csv); say which one to import with --member NAME, e.g. --member "
        "export/csms.csv")
    done = cli("accounts", str(archive), "--member", "export/accounts.csv")
    assert done.returncode == 0, done.stderr
    assert "crm-export.zip -> accounts" in done.stdout
    assert "rows read 2, loaded 2" in done.stdout
    assert "read export/accounts.csv from the archive" in done.stdout
    by_name = cli("csms", str(archive), "--member", "csms.csv")  # the file name alone
    assert by_name.returncode == 0, by_name.stderr
    from analysis.store import Store
    with Store(db, read_only=True) as store:
        assert store.query("SELECT kind, rows_loaded FROM imports ORDER BY import_id") \
            .to_dict("records") == [{"kind": "accounts", "rows_loaded": 2},
                                    {"kind": "csms", "rows_loaded": 2}]
        assert store.scalar("SELECT string_agg(name, ',' ORDER BY account_id) "
                            "FROM accounts") == "Acme,Beta"


def test_two_members_of_one_archive_are_two_imports_not_one(store, tmp_path):
    archive = _three_exports(tmp_path)
    with pytest.raises(ImportRefused, match=r"crm-export.zip holds 3 files"):
        import_file(store, "accounts", archive)
    first = import_file(store, "accounts", archive, member="accounts.csv")
    # Another member of the same archive is other bytes: not "already imported".
    other = import_file(store, "csms", archive, member="csms.csv")
    assert not other.unchanged and other.rows_loaded == 2
    again = import_file(store, "accounts", archive, member="accounts.csv")
    assert again.unchanged and again.import_id == first.import_id
    check = preview_import(store, "playbook_runs", archive, member="export/runs.csv")
    assert (check.rows_read, check.rows_valid, len(check.rejected)) == (8, 6, 2)

"""The `rollouts` kind: a small spreadsheet "Playbook, Team, Rolled out on" through the one
import path (headers, names, rejected rows, idempotence, undo, the CLI, the migration)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from analysis import schema
from analysis.ingest.headers import guess_kind, match_headers
from analysis.ingest.importer import ImportRefused, import_file
from analysis.ingest.undo import undo_import
from analysis.settings import Settings
from analysis.store import Store
from tests.test_hardening import _write

ROOT = Path(__file__).resolve().parent.parent
SHEET = ("Playbook,Team,Rolled out on\n"
         "Save Play - At Risk,EMEA,2024-03-01\n"
         "Save Play - At Risk,NA West,4/1/2024\n"
         "Save Play - At Risk,APAC,next quarter\n"
         "at_risk,,2024-05-01\n")


def _rollouts(store: Store) -> list[tuple]:
    frame = store.query("SELECT playbook_id, team, segment, rolled_out_on::VARCHAR AS day "
                        "FROM rollouts ORDER BY team, segment")
    return [tuple(None if v is None or v != v else v for v in row)
            for row in frame.itertuples(index=False)]


@pytest.mark.parametrize("headers, columns", [
    (["Playbook", "Team", "Rolled out on"], ("playbook_id", "team", "rolled_out_on")),
    (["Playbook Name", "Customer Segment", "Go Live Date"],
     ("playbook_id", "segment", "rolled_out_on")),
    (["playbook_id", "Team Name", "Segment", "Rollout Date"],
     ("playbook_id", "team", "segment", "rolled_out_on")),
])
def test_headers_of_a_rollout_sheet(headers, columns):
    match = match_headers(headers, "rollouts")
    assert tuple(match.columns) == columns and not match.missing_required
    assert guess_kind(headers) == "rollouts"


def test_a_rollout_sheet_imports_with_names_resolved_and_faults_rejected(store, tmp_path):
    from analysis.playbooks.adopt import adopt_template
    adopt_template("at_risk", "2024-03-01", ["Save Play - At Risk"], settings=Settings.resolve())
    store.execute("INSERT INTO csms (csm_id, team) VALUES ('c1', 'EMEA')")
    result = import_file(store, "rollouts", _write(tmp_path, "rollouts.csv", SHEET))
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (4, 2, 2)
    # The alias resolves to the adopted playbook's id; dates read as the file writes them.
    assert _rollouts(store) == [("at_risk", "EMEA", None, "2024-03-01"),
                                ("at_risk", "NA West", None, "2024-04-01")]
    reasons = dict(zip(result.rejected["row_number"], result.rejected["reason"]))
    assert reasons == {
        4: "rolled_out_on 'next quarter' is not a date",
        5: "team and segment are empty (a row names the team or the segment that rolled the "
           "playbook out)"}
    assert store.scalar("SELECT count(*) FROM rejected_rows WHERE import_id = ?",
                        [result.import_id]) == 2
    # A team no CSM of the roster is in still loads, and the import says so.
    assert any(w.startswith("1 rollouts reference teams not imported yet: 'NA West' (1)")
               for w in result.warnings)


def test_reimport_is_idempotent_a_newer_sheet_updates_by_key_and_undo_restores(store, tmp_path):
    first = import_file(store, "rollouts", _write(tmp_path, "v1.csv", SHEET))
    again = import_file(store, "rollouts", _write(tmp_path, "v1.csv", SHEET))
    assert again.unchanged and again.import_id == first.import_id
    before = _rollouts(store)
    # A newer export: EMEA's date moved, a segment row added; NA West unchanged.
    newer = ("Playbook,Team,Segment,Rolled out on\n"
             "Save Play - At Risk,EMEA,,2024-03-15\n"
             "Save Play - At Risk,NA West,,2024-04-01\n"
             "Save Play - At Risk,,Enterprise,2024-06-01\n")
    second = import_file(store, "rollouts", _write(tmp_path, "v2.csv", newer))
    assert (second.rows_loaded, second.rows_updated, second.rows_unchanged) == (3, 1, 1)
    assert ("save_play_at_risk", "EMEA", None, "2024-03-15") in _rollouts(store)
    assert len(_rollouts(store)) == 3
    result = undo_import(store, second.import_id)
    assert (result.rows_removed, result.rows_restored) == (1, 2)
    assert _rollouts(store) == before


def test_a_row_naming_both_a_team_and_a_segment_is_rejected(store, tmp_path):
    text = ("Playbook,Team,Segment,Rolled out on\n"
            "renewal,EMEA,SMB,2024-03-01\n"
            "renewal,EMEA,,2024-03-01\n")
    result = import_file(store, "rollouts", _write(tmp_path, "both.csv", text))
    assert result.rows_loaded == 1
    assert result.rejected["reason"].tolist() == [
        "team and segment are both given (a row is one group: give each its own row)"]


def test_a_sheet_without_a_team_or_segment_column_is_refused(store, tmp_path):
    text = "Playbook,Rolled out on\nrenewal,2024-03-01\n"
    with pytest.raises(ImportRefused, match="has no column for team or segment"):
        import_file(store, "rollouts", _write(tmp_path, "nogroup.csv", text))
    assert store.row_counts()["rollouts"] == 0


def test_import_rollouts_on_the_command_line(tmp_path):
    db, sheet = tmp_path / "cli.duckdb", _write(tmp_path, "rollouts.csv", SHEET)
    done = subprocess.run([sys.executable, "-m", "analysis", "import", "rollouts", str(sheet),
                           "--db", str(db)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "rows read 4, loaded 2" in done.stdout
    assert "row 4: rolled_out_on 'next quarter' is not a date" in done.stdout


def test_a_version_3_database_gains_the_rollouts_table(tmp_path):
    path = tmp_path / "v3.duckdb"
    with Store(path) as s:  # made as version 3 made it: no rollouts, no history of them
        s.execute("INSERT INTO csms (csm_id, team) VALUES ('c1', 'EMEA')")
        s.execute("DROP TABLE rollouts")
        s.execute("DROP TABLE import_history_rollouts")
        s.execute("UPDATE schema_meta SET value = '3' WHERE key = 'schema_version'")
    with Store(path) as s:
        assert s.schema_version() == schema.SCHEMA_VERSION == 4
        assert s.row_counts()["rollouts"] == 0 and s.row_counts()["csms"] == 1
        assert s.scalar("SELECT count(*) FROM duckdb_tables() "
                        "WHERE table_name = 'import_history_rollouts'") == 1

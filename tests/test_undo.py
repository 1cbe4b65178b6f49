"""Every import can be undone (issue 13, item 3): analysis.ingest.undo and its CLI."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.ingest.importer import import_file
from analysis.ingest.undo import UndoRefused, list_imports, undo_import
from analysis.store import Store
from tests.test_hardening import _kill_after, _python

ROOT = Path(__file__).resolve().parent.parent

# v1: three accounts, one with empty (NULL) columns. v2 updates A2 and A3 (A3's empty
# segment and arr get values) and adds A4; A1 is left alone.
V1 = ("account_id,name,segment,arr,customer_since\n"
      "A1,Acme,SMB,1200.50,2021-03-04\n"
      "A2,Globex,Enterprise,98000,2020-01-15\n"
      "A3,Initech,,,\n")
V2 = ("account_id,name,segment,arr,customer_since\n"
      "A2,Globex Corp,Mid-Market,87000.25,2020-01-15\n"
      "A3,Initech,SMB,500,2022-06-30\n"
      "A4,Hooli,Enterprise,250000,2023-02-01\n")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _accounts(store: Store) -> pd.DataFrame:
    """The whole accounts table, sorted, with DuckDB's types as pandas reads them."""
    return store.query("SELECT * FROM accounts ORDER BY account_id")


def _v1_then_v2(store, tmp_path):
    first = import_file(store, "accounts", _write(tmp_path, "accounts_v1.csv", V1))
    after_v1 = _accounts(store)
    second = import_file(store, "accounts", _write(tmp_path, "accounts_v2.csv", V2))
    assert (second.rows_loaded, second.rows_updated) == (3, 2)
    return first, second, after_v1


def test_undo_v2_gives_back_exactly_what_v1_left(store, tmp_path):
    first, second, after_v1 = _v1_then_v2(store, tmp_path)
    assert _accounts(store).loc[2, "segment"] == "SMB"  # v2 did change A3
    result = undo_import(store, second.import_id)
    assert (result.rows_removed, result.rows_restored) == (1, 2)
    after_undo = _accounts(store)
    # Full frames: every value, NULLs (None/NaN/NaT) and every column's dtype.
    pd.testing.assert_frame_equal(after_undo, after_v1, check_exact=True)
    assert pd.isna(after_undo.loc[2, "segment"]) and pd.isna(after_undo.loc[2, "arr"])
    assert after_undo.loc[0, "arr"] == 1200.50
    # The undone import left no record: not in imports, history or rejected rows.
    assert list(list_imports(store)["import_id"]) == [first.import_id]
    assert store.scalar("SELECT count(*) FROM import_history_accounts WHERE import_id = ?",
                        [second.import_id]) == 0
    # And the same file imports again, as if never imported.
    again = import_file(store, "accounts", tmp_path / "accounts_v2.csv")
    assert not again.unchanged and again.rows_updated == 2


def test_undo_of_the_first_import_empties_the_table_and_its_rejected_rows(store, tmp_path):
    path = _write(tmp_path, "a.csv", V1 + "A9,Bad,SMB,lots,\n")
    result = import_file(store, "accounts", path)
    assert result.rows_rejected == 1
    undo_import(store, result.import_id)
    assert store.row_counts()["accounts"] == 0
    assert store.scalar("SELECT count(*) FROM rejected_rows") == 0
    assert store.scalar("SELECT count(*) FROM imports") == 0


def test_undo_refused_when_a_later_import_built_on_it(store, tmp_path):
    first, second, _ = _v1_then_v2(store, tmp_path)
    before = _accounts(store)
    with pytest.raises(UndoRefused, match=rf"later import {second.import_id} "
                                          r"\(accounts_v2\.csv"):
        undo_import(store, first.import_id)
    pd.testing.assert_frame_equal(_accounts(store), before)
    assert len(list_imports(store)) == 2
    # Undoing the later one first makes the earlier one undoable.
    undo_import(store, second.import_id)
    undo_import(store, first.import_id)
    assert store.row_counts()["accounts"] == 0


def test_an_import_of_another_table_does_not_block_undo(store, tmp_path):
    first = import_file(store, "accounts", _write(tmp_path, "a.csv", V1))
    import_file(store, "csms", _write(tmp_path, "c.csv", "csm_id,name\nc1,Jane\n"))
    undo_import(store, first.import_id)
    assert store.row_counts()["accounts"] == 0 and store.row_counts()["csms"] == 1


def test_undo_of_an_id_less_table_with_null_keys(store, tmp_path):
    """playbook_views is keyed by (viewed_at, csm_id, playbook_id); csm_id may be empty."""
    v1 = "viewed_at,csm_id,playbook_id,source\n2025-01-01 10:00,,at_risk,library\n"
    v2 = ("viewed_at,csm_id,playbook_id,source\n2025-01-01 10:00,,at_risk,search\n"
          "2025-01-02 09:00,c1,renewal,crm\n")
    import_file(store, "playbook_views", _write(tmp_path, "v1.csv", v1))
    before = store.query("SELECT * FROM playbook_views ORDER BY viewed_at")
    second = import_file(store, "playbook_views", _write(tmp_path, "v2.csv", v2))
    assert second.rows_updated == 1
    undo_import(store, second.import_id)
    pd.testing.assert_frame_equal(
        store.query("SELECT * FROM playbook_views ORDER BY viewed_at"), before)


def test_unknown_and_history_less_imports_are_refused(store):
    with pytest.raises(UndoRefused, match="there is no import 42"):
        undo_import(store, 42)
    # As the demo records its tables: an imports row with rows but no history.
    store.execute("INSERT INTO imports (import_id, kind, file_name, rows_loaded) "
                  "VALUES (7, 'csms', 'demo', 3)")
    with pytest.raises(UndoRefused, match="kept no record"):
        undo_import(store, 7)
    assert not list_imports(store).set_index("import_id").loc[7, "undoable"]


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_lists_and_undoes_imports(tmp_path):
    db = tmp_path / "cli.duckdb"
    with Store(db) as store:
        first, second, after_v1 = _v1_then_v2(store, tmp_path)
    listed = _cli("imports", "--db", db)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:6] == ["id", "kind", "when", "(UTC)", "loaded", "updated"]
    assert lines[2].split()[:2] == [str(second.import_id), "accounts"]
    # rows loaded 3, updated 2, rejected 0, then the file.
    assert lines[2].split()[-4:] == ["3", "2", "0", "accounts_v2.csv"]
    refused = _cli("undo", first.import_id, "--db", db)
    assert refused.returncode == 1 and f"later import {second.import_id}" in refused.stderr
    done = _cli("undo", second.import_id, "--db", db)
    assert done.returncode == 0, done.stderr
    assert "1 inserted rows removed, 2 updated rows restored" in done.stdout
    with Store(db) as store:
        pd.testing.assert_frame_equal(_accounts(store), after_v1)


# The child wraps undo's reversal: once the rows are deleted and restored inside the undo's
# transaction (not yet committed) it prints a marker and sleeps, so the SIGKILL lands there.
_UNDO_CHILD = """
import sys, time
import analysis.ingest.undo as undo
from analysis.store import Store

reverse = undo._reverse

def stalled(*args):
    reverse(*args)
    print("inside-undo", flush=True)
    time.sleep(120)

undo._reverse = stalled
undo.undo_import(Store(sys.argv[1]), int(sys.argv[2]))
print("committed", flush=True)
"""


def test_undo_killed_midway_changes_nothing_and_can_run_again(tmp_path):
    db = tmp_path / "kill.duckdb"
    with Store(db) as store:
        _, second, after_v1 = _v1_then_v2(store, tmp_path)
        after_v2 = _accounts(store)
        history = store.query("SELECT * FROM import_history_accounts ORDER BY ALL")
    child = _python(_UNDO_CHILD, db, second.import_id)
    _kill_after(child, "inside-undo")
    assert child.returncode == -signal.SIGKILL
    with Store(db) as store:  # nothing of the undo survived the kill
        pd.testing.assert_frame_equal(_accounts(store), after_v2)
        pd.testing.assert_frame_equal(
            store.query("SELECT * FROM import_history_accounts ORDER BY ALL"), history)
        assert len(list_imports(store)) == 2
        undo_import(store, second.import_id)  # and the undo still works after the restart
        pd.testing.assert_frame_equal(_accounts(store), after_v1)

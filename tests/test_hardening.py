"""Faults and hostile files (issue 7): a killed import, concurrent imports, huge columns and
fields, and property tests on the whole importer.

RELIABILITY.md lists these tests next to the fault each one proves the app survives.
"""
from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from analysis import schema
from analysis.ingest import values as V
from analysis.ingest.importer import ImportRefused, import_file
from analysis import schema
from analysis.store import Store, StoreError

ROOT = Path(__file__).resolve().parent.parent

CSMS_CSV = "csm_id,name,email,team\nc1,Jane Doe,jane@example.com,East\nc2,Li Wei,li@example.com,West\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _runs_csv(n: int, prefix: str = "R") -> str:
    """n closed runs on two accounts; every row valid."""
    lines = ["run_id,scenario,playbook_id,account_id,csm_id,opened_on,closed_on,status,outcome"]
    lines += [f"{prefix}{i},onboarding,onboarding,A{i % 2},c1,2025-01-{1 + i % 28:02d},"
              f"2025-03-{1 + i % 28:02d},closed,{'success' if i % 3 else 'failure'}"
              for i in range(n)]
    return "\n".join(lines) + "\n"


def _accounts_csv(ids) -> str:
    return "account_id,name,segment\n" + "".join(f"{a},Account {a},SMB\n" for a in ids)


# -- 1. crash safety ---------------------------------------------------------------------------
def _python(code: str, *args, **env) -> subprocess.Popen:
    """`code` run by this Python in the project folder, with `args` and extra `env`."""
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def _kill_after(child: subprocess.Popen, marker: str, delay: float = 0.0) -> None:
    """SIGKILL `child` `delay` seconds after it prints `marker`; never leave it running."""
    try:
        assert child.stdout.readline().strip() == marker, child.stderr.read()
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


# The child wraps the importer's row writer: once the rows are written inside the import's
# transaction (not yet committed) it prints a marker and sleeps, so the parent's SIGKILL lands
# mid-transaction every time, not by luck of timing.
_CHILD = """
import sys, time
import analysis.ingest.importer as importer
from analysis.store import Store

write_rows = importer._write_rows

def stalled(*args, **kwargs):
    written = write_rows(*args, **kwargs)
    print("inside-transaction", flush=True)
    time.sleep(120)
    return written

importer._write_rows = stalled
store = Store(sys.argv[1])
importer.import_file(store, sys.argv[2], sys.argv[3])
print("committed", flush=True)
"""


# Small files stage their chunks in TEMP tables; big ones (over import_stage_memory_rows) in
# tables of the database file itself, inside the same transaction. Both must vanish on a kill.
@pytest.mark.parametrize("staging", [{}, {"PLAYBOOK_IMPACT_IMPORT_STAGE_MEMORY_ROWS": "1",
                                          "PLAYBOOK_IMPACT_IMPORT_CHUNK_ROWS": "7000"}],
                         ids=["staged-in-memory", "staged-in-the-database-file"])
def test_import_killed_mid_load_leaves_the_database_as_before(tmp_path, staging):
    db = tmp_path / "crash.duckdb"
    runs = _write(tmp_path, "runs.csv", _runs_csv(30_000))
    with Store(db) as s:
        import_file(s, "csms", _write(tmp_path, "csms.csv", CSMS_CSV))
        before = s.row_counts()
        tables_before = s.query("SELECT table_name FROM duckdb_tables() ORDER BY 1")
    child = _python(_CHILD, db, "playbook_runs", runs, **staging)
    _kill_after(child, "inside-transaction")
    assert child.returncode == -signal.SIGKILL
    # The next start opens the file, finds exactly the pre-import state and no trace of it.
    with Store(db) as s:
        assert s.row_counts() == before
        # No staging table survives the kill.
        pd.testing.assert_frame_equal(
            s.query("SELECT table_name FROM duckdb_tables() ORDER BY 1"), tables_before)
        assert before["csms"] == 2 and before["imports"] == 1 and before["playbook_runs"] == 0
        assert s.scalar("SELECT count(*) FROM imports WHERE file_name = 'runs.csv'") == 0
        result = import_file(s, "playbook_runs", runs)
        assert not result.unchanged
        assert (result.rows_loaded, result.rows_rejected) == (30_000, 0)
        assert s.row_counts()["playbook_runs"] == 30_000
        assert s.scalar("SELECT count(*) FROM imports") == 2
        # 30,000 runs, i % 3 == 0 fail: 10,000 failures.
        assert s.scalar("SELECT count(*) FROM playbook_runs WHERE outcome = 'failure'") == 10_000


_UPGRADE_CHILD = """
import sys, time
from analysis import schema
from analysis.store import Store

create_table_sql = schema.create_table_sql

def stalled(table):
    # Called inside ensure_schema's transaction, after the migration's ALTER TABLEs ran.
    print("inside-upgrade", flush=True)
    time.sleep(120)
    return create_table_sql(table)

schema.create_table_sql = stalled
Store(sys.argv[1])
"""


def test_an_upgrade_killed_midway_leaves_the_old_database_and_migrates_next_time(tmp_path):
    from tests.test_store import _v1_database  # the release-1 file the upgrade test uses
    db = tmp_path / "v1.duckdb"
    _v1_database(db)
    _kill_after(_python(_UPGRADE_CHILD, db), "inside-upgrade")
    # Read-only open runs no migration: the file is still exactly release 1's.
    with Store(db, read_only=True) as old:
        assert old.scalar("SELECT value FROM schema_meta WHERE key = 'schema_version'") == "1"
        columns = set(old.query("SELECT column_name FROM information_schema.columns "
                                "WHERE table_name = 'imports'")["column_name"])
        assert "rows_updated" not in columns and "warnings" not in columns
    with Store(db) as s:  # the next start migrates, keeping every row
        assert s.schema_version() == schema.SCHEMA_VERSION
        counts = s.row_counts()
        assert (counts["csms"], counts["accounts"], counts["renewals"], counts["imports"]) \
            == (2, 1, 1, 1)
        assert s.next_import_id() == 2


_TIMED_CHILD = """
import sys, time
from analysis.ingest.importer import import_file
from analysis.store import Store
store = Store(sys.argv[1])
print("opened", flush=True)
start = time.perf_counter()
import_file(store, "playbook_runs", sys.argv[2])
print(f"committed {time.perf_counter() - start:.3f}", flush=True)
"""


def _child(db: Path, runs: Path) -> subprocess.Popen:
    return _python(_TIMED_CHILD, db, runs, PLAYBOOK_IMPACT_IMPORT_CHUNK_ROWS="20000")


def test_kills_spread_over_a_whole_import_leave_it_all_or_nothing(tmp_path):
    """SIGKILL at eight moments spread over an import (reading, checking, staging, writing,
    committing): every time the next start finds the file either not imported at all or
    imported whole, never part of it, and no staging table."""
    runs = _write(tmp_path, "runs.csv", _runs_csv(100_000))
    base = tmp_path / "base.duckdb"
    with Store(base) as s:
        import_file(s, "csms", _write(tmp_path, "csms.csv", CSMS_CSV))
        tables = s.query("SELECT table_name FROM duckdb_tables() ORDER BY 1")
    # How long the import takes here, from the moment the store is open.
    db = tmp_path / "timing.duckdb"
    db.write_bytes(base.read_bytes())
    child = _child(db, runs)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    seconds = float(out.split()[-1])
    outcomes = []
    for i in range(8):
        db = tmp_path / f"kill{i}.duckdb"
        db.write_bytes(base.read_bytes())
        _kill_after(_child(db, runs), "opened", seconds * (i + 0.5) / 8)
        with Store(db) as s:
            counts = s.row_counts()
            assert (counts["playbook_runs"], counts["imports"]) in [(0, 1), (100_000, 2)]
            pd.testing.assert_frame_equal(
                s.query("SELECT table_name FROM duckdb_tables() ORDER BY 1"), tables)
            outcomes.append(counts["playbook_runs"] > 0)
    # The early kills land before the commit (the late ones may land after it).
    assert outcomes[0] is False


# -- 2. concurrency ----------------------------------------------------------------------------
def test_two_threads_import_while_a_reader_queries(store, tmp_path):
    """Two sessions import different files at once while a third keeps reading: both land
    whole, and the reader only ever sees committed states (never half a file)."""
    first = _write(tmp_path, "first.csv", _accounts_csv(f"A{i}" for i in range(20_000)))
    second = _write(tmp_path, "second.csv", _accounts_csv(f"B{i}" for i in range(15_000)))
    errors, seen, results = [], [], {}
    done = threading.Event()

    def importing(path):
        try:
            results[path.name] = import_file(store, "accounts", path)
        except Exception as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    def reading():
        try:
            while not done.is_set():
                seen.append(int(store.scalar("SELECT count(*) FROM accounts")))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    reader = threading.Thread(target=reading)
    writers = [threading.Thread(target=importing, args=(p,)) for p in (first, second)]
    reader.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join(120)
    done.set()
    reader.join(30)
    assert errors == []
    assert {r.rows_loaded for r in results.values()} == {20_000, 15_000}
    assert store.scalar("SELECT count(*) FROM accounts") == 35_000
    assert store.scalar("SELECT count(*) FROM imports") == 2
    assert seen and set(seen) <= {0, 20_000, 15_000, 35_000}
    assert seen == sorted(seen)  # counts only grow


def test_the_same_file_imported_by_two_sessions_at_once_is_recorded_once(
        store, tmp_path, monkeypatch):
    import analysis.ingest.importer as importer
    path = _write(tmp_path, "same.csv", _accounts_csv(f"A{i}" for i in range(2_000)))
    # Both sessions finish checking the file before either starts loading: the race an upload
    # clicked twice (or by two people) hits. If loading is moved under the lock with the check,
    # the barrier simply times out and the second session goes on after the first.
    both_checked = threading.Barrier(2, timeout=5)
    load = importer._load

    def load_after_both_checked(*args, **kwargs):
        try:
            both_checked.wait()
        except threading.BrokenBarrierError:
            pass
        return load(*args, **kwargs)

    monkeypatch.setattr(importer, "_load", load_after_both_checked)
    results, errors = [], []

    def importing():
        try:
            results.append(import_file(store, "accounts", path))
        except Exception as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=importing) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert store.scalar("SELECT count(*) FROM accounts") == 2_000
    assert store.scalar("SELECT count(*) FROM imports") == 1
    assert sorted(r.unchanged for r in results) == [False, True]


# -- 3. large and hostile files ----------------------------------------------------------------
def test_ten_thousand_columns_are_refused_with_a_clear_message(store, tmp_path):
    header = ",".join(["account_id"] + [f"extra_{i}" for i in range(9_999)])
    row = ",".join(["A1"] + ["x"] * 9_999)
    path = _write(tmp_path, "wide.csv", header + "\n" + row + "\n")
    with pytest.raises(ImportRefused) as err:
        import_file(store, "accounts", path)
    assert str(err.value) == ("wide.csv has 10,000 columns; more than 2,000 is not an export "
                              "this tool reads")
    assert store.row_counts()["accounts"] == 0 and store.row_counts()["imports"] == 0


def test_a_one_megabyte_field_is_refused_with_a_clear_message(store, tmp_path):
    path = _write(tmp_path, "big.csv", "account_id,name\nA1,Acme\nA2," + "y" * 1_048_576 + "\n")
    with pytest.raises(ImportRefused) as err:
        import_file(store, "accounts", path)
    assert str(err.value) == "big.csv: a value in column 'name' is over 1 MB (1,048,576 characters)"
    assert store.row_counts()["accounts"] == 0 and store.row_counts()["imports"] == 0


def test_a_field_just_under_the_limit_loads_verbatim(store, tmp_path):
    long_name = "z" * 999_999
    path = _write(tmp_path, "long.csv", f"account_id,name\nA1,{long_name}\n")
    assert import_file(store, "accounts", path).rows_loaded == 1
    assert store.scalar("SELECT length(name) FROM accounts WHERE account_id = 'A1'") == 999_999


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


@pytest.mark.parametrize("member", ["/etc/accounts.csv", "..\\..\\accounts.csv",
                                    "reports/../../accounts.csv"])
def test_absolute_and_backslash_zip_paths_are_refused(store, tmp_path, member):
    # tests/test_importer.py::test_zip_refusals covers '../evil.csv'; these are its cousins.
    path = _zip(tmp_path / "paths.zip", {member: "account_id\nA1\n"})
    with pytest.raises(ImportRefused) as err:
        import_file(store, "accounts", path)
    assert str(err.value) == f"paths.zip holds an unsafe path {member!r}"
    assert store.row_counts()["accounts"] == 0


def test_a_zip_inside_a_zip_is_refused(store, tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("accounts.csv", "account_id\nA1\n")
    path = tmp_path / "outer.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("inner.zip", inner.getvalue())
    with pytest.raises(ImportRefused, match=r"^outer.zip/inner.zip is a ZIP inside a ZIP; "
                                            r"extract it first$"):
        import_file(store, "accounts", path)


def _xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"account_id": ["A1", "A2"], "name": ["x", "y"]}).to_excel(buffer, index=False)
    return buffer.getvalue()


def _entity_xlsx() -> bytes:
    """A workbook whose sheet is an XML entity expansion ('billion laughs', small scale)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_xlsx_bytes())) as source, zipfile.ZipFile(out, "w") as dest:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("sheet1.xml"):
                data = (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'>"
                        b"<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
                        b"<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>]><x>&c;</x>")
            dest.writestr(info, data)
    return out.getvalue()


@pytest.mark.parametrize("name, data, message", [
    ("half.xlsx", lambda: _xlsx_bytes()[:len(_xlsx_bytes()) // 2],
     "half.xlsx is not a readable ZIP archive"),
    ("junk.parquet", lambda: b"PAR1" + b"\x00" * 100,
     "junk.parquet is not a readable Parquet file"),
    ("junk.zip", lambda: b"PK\x03\x04" + b"\x01" * 100, "junk.zip is not a readable ZIP archive"),
    ("entity.xlsx", _entity_xlsx, "entity.xlsx is empty"),
])
def test_corrupt_workbooks_and_archives_are_refused(store, tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data())
    with pytest.raises(ImportRefused) as err:
        import_file(store, "accounts", path)
    assert str(err.value).startswith(message)
    assert store.row_counts()["imports"] == 0


def test_a_zip_lying_about_its_size_is_refused_not_a_traceback(store, tmp_path):
    """The bomb check trusts the declared size; a header that under-declares it must still
    end in a refusal (zipfile stops inflating at the declared size, then fails the CRC)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("accounts.csv", "account_id\n" + "0" * 20_000_000)
    data = bytearray(buffer.getvalue())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24:central + 28] = struct.pack("<I", 5_000)  # uncompressed size, central
    data[22:26] = struct.pack("<I", 5_000)  # and in the local header
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(ImportRefused, match=r"^liar.zip"):
        import_file(store, "accounts", path)
    assert store.row_counts()["accounts"] == 0


# -- 4. properties: value parsers and the whole importer ---------------------------------------
_WORDS = st.one_of(st.none(), st.text(max_size=20),
                   st.sampled_from(["TRUE", "false", "Yes", "no", "Y", "n", "1", "0", "x", ""]))


@hsettings(max_examples=150, deadline=None)
@given(st.lists(_WORDS, min_size=1, max_size=25))
def test_parse_booleans_gives_true_false_or_missing(texts):
    parsed = V.parse_booleans(pd.Series(texts, dtype=object))
    assert len(parsed.values) == len(texts)
    assert set(parsed.values.dropna()) <= {True, False}
    assert not (parsed.bad & parsed.values.notna()).any()
    for text, value in zip(texts, parsed.values):
        if text in ("TRUE", "Yes", "Y", "1"):
            assert value is True
        elif text in ("false", "no", "n", "0"):
            assert value is False


_HEADERS = ["run_id", "Run ID", "scenario", "Playbook", "account_id", "Account", "CSM",
            "opened_on", "Created Date", "closed_on", "status", "outcome", "steps_total",
            "health_at_open", "arr_at_open", "junk", ""]
_CELLS = st.one_of(st.text(max_size=10), st.sampled_from(
    ["2025-01-31", "31/01/2025", "01/02/2025", "success", "Closed Won", "failure", "open",
     "$1,200.50", "-3", "n/a", "", "onboarding", "=1+1", '"', "\n", ";"]))


def _csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@hsettings(max_examples=80, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_HEADERS), min_size=1, max_size=8, unique=True),
       st.lists(st.lists(_CELLS, min_size=0, max_size=10), min_size=0, max_size=12),
       st.sampled_from([",", ";", "\t"]))
def test_any_csv_shape_loads_rejects_or_refuses_leaving_the_store_consistent(
        store, tmp_path_factory, headers, rows, delimiter):
    text = "\n".join(delimiter.join(_csv_cell(c) for c in line) for line in [headers] + rows)
    path = tmp_path_factory.mktemp("shape") / "runs.csv"
    path.write_text(text, encoding="utf-8")
    before = store.row_counts()
    try:
        result = import_file(store, "playbook_runs", path)
    except ImportRefused as exc:
        assert str(exc).startswith("runs.csv")
        assert store.row_counts() == before  # refused: database unchanged
        return
    if result.unchanged:
        assert store.row_counts() == before
        return
    assert result.rows_loaded + result.rows_rejected == result.rows_read
    assert result.rejected.reason.map(lambda r: isinstance(r, str) and r != "").all()
    after = store.row_counts()
    assert after["imports"] == before["imports"] + 1
    assert after["rejected_rows"] == before["rejected_rows"] + result.rows_rejected
    # Loaded rows upsert by run_id: the table grows by at most the rows loaded.
    assert before["playbook_runs"] <= after["playbook_runs"] <= \
        before["playbook_runs"] + result.rows_loaded


@hsettings(max_examples=80, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes_import_or_are_refused_with_the_store_unchanged(
        store, tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "upload.csv"
    path.write_bytes(data)
    before = store.row_counts()
    try:
        result = import_file(store, "accounts", path)
    except ImportRefused as exc:
        assert str(exc).startswith("upload.csv")
        assert store.row_counts() == before
    else:
        assert result.rows_loaded + result.rows_rejected == result.rows_read


# -- 2b/6. what a person sees: a busy database and a viewer on the import page ----------------
IMPORT_PAGE = str(ROOT / "pages" / "import_data.py")


def test_a_page_on_a_database_held_by_another_process_says_so(tmp_path, monkeypatch):
    """tests/test_store.py::test_second_process_gets_a_clear_busy_message covers Store; this is
    the page a person sees: a message naming the way out, not a traceback."""
    from streamlit.testing.v1 import AppTest
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from analysis.store import Store; "
         "s = Store(sys.argv[1]); print('ready', flush=True); time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "ready"
        monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(path))
        at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=60).run()
        assert not at.exception
        assert len(at.error) == 1
        assert "is in use by another process" in at.error[0].value
        assert "Close the other Playbook Impact process" in at.error[0].value
    finally:
        holder.kill()
        holder.wait()


def test_a_viewer_cannot_reach_the_import_controls(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    from analysis import auth
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(tmp_path / "viewer.duckdb"))
    at = AppTest.from_file(IMPORT_PAGE, default_timeout=60)
    at.secrets["auth"] = {"users": {"vera": {"role": "viewer",
                                             "password_hash": auth.hash_password("pw")}}}
    at.session_state["auth_role"] = "viewer"
    at.session_state["auth_user"] = "vera"
    at.run()
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "Your account can read the dashboards but not import or change data."]
    assert not at.get("file_uploader") and not at.button


# -- a damaged or foreign database file ------------------------------------------------------
def test_a_file_that_is_not_a_database_is_not_called_busy(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_bytes(b"this is not a database\n" * 1_000)
    with pytest.raises(StoreError) as err:
        Store(path)
    assert "in use by another process" not in str(err.value)
    assert "not a valid DuckDB database file" in str(err.value)


def test_a_truncated_database_is_a_clear_store_error(tmp_path):
    path = tmp_path / "whole.duckdb"
    with Store(path) as s:
        s.execute("INSERT INTO csms (csm_id) VALUES ('c1')")
    data = path.read_bytes()
    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(StoreError, match="cut.duckdb"):
        Store(cut)


# -- names a person types or uploads never become paths outside the app's folders -------------
def test_upload_and_mapping_names_cannot_escape_their_folders(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(tmp_path / "names.duckdb"))
    mappings = tmp_path / "deep" / "mappings"
    monkeypatch.setenv("PLAYBOOK_IMPACT_MAPPINGS_DIR", str(mappings))
    escape = tmp_path / "escaped.csv"
    hostile_name = "../" * 12 + str(escape).lstrip("/")
    at = AppTest.from_file(IMPORT_PAGE, default_timeout=120).run()
    at.file_uploader(key="upload").set_value(
        [(hostile_name, b"renewal_id,account_id,renewal_date,outcome\nR1,A1,2025-01-01,renewed\n",
          "text/csv")]).run()
    assert not at.exception, at.exception
    assert not escape.exists()  # the upload's copy is named by content, in the upload folder
    at.text_input(key="mapping_name_0").input("../../evil").run()
    at.button(key="save_0").click().run()
    assert not at.exception, at.exception
    # The typed name is slugged: the mapping lands inside mappings_dir, nowhere else.
    assert sorted(p.name for p in mappings.iterdir()) == ["evil.yaml"]
    assert not (tmp_path / "evil.yaml").exists()
    at.button(key="import_0").click().run()
    assert not at.exception, at.exception
    from analysis.settings import Settings
    from pages.common import get_store  # the page's own (cached) store for this database
    # The name is kept as data: what the person uploaded, shown in the import history.
    assert get_store(Settings.resolve()).scalar("SELECT file_name FROM imports") == hostile_name


# -- names from data in import messages are shown as written, not as Markdown ------------------
def _unescape_markdown(text: str) -> str:
    # CommonMark: a backslash before ASCII punctuation shows that character literally.
    import re
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def test_import_warnings_show_names_from_data_as_text(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(tmp_path / "markdown.duckdb"))
    csm = "[Click me](https://example.com) **now** :red[x] $y$"
    runs = ("run_id,scenario,account_id,csm_id,opened_on,status\n"
            f"R1,at_risk,A1,\"{csm}\",2025-03-01,open\n")
    at = AppTest.from_file(IMPORT_PAGE, default_timeout=120).run()
    at.file_uploader(key="upload").set_value(
        [("runs_[x](y).csv", runs.encode(), "text/csv")]).run()
    at.selectbox(key="kind_0").select("playbook_runs").run()
    at.button(key="import_0").click().run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    expected = f"1 rows name CSMs not in the roster: {csm!r} (1) (kept as written)"
    assert expected in [_unescape_markdown(w) for w in warnings]
    shown = next(w for w in warnings if "roster" in w)
    # Every character Markdown acts on is escaped: no link, emphasis, colour or math.
    assert "\\[Click me\\](https\\://example.com)" in shown
    assert "\\*\\*now\\*\\*" in shown and "\\:red\\[x\\]" in shown and "\\$y\\$" in shown
    assert at.success[0].value == "Imported runs\\_\\[x\\](y).csv into playbook_runs."

from pathlib import Path

import pytest

from analysis import schema
from analysis.ingest.names import slugify
from analysis.store import Store, StoreError, quote_ident


def test_every_table_is_created_with_its_columns(store):
    for name, table in schema.TABLES.items():
        cols = store.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position", [name])["column_name"].tolist()
        assert cols == list(table.column_names), name


def test_schema_creation_is_idempotent_and_keeps_rows(tmp_path):
    path = tmp_path / "db.duckdb"
    with Store(path) as s:
        s.execute("INSERT INTO csms (csm_id, name) VALUES (?, ?)", ["c1", "Ana"])
    with Store(path) as s:
        s.ensure_schema()
        assert s.row_counts()["csms"] == 1
        assert s.schema_version() == schema.SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "db.duckdb"
    with Store(path) as s:
        s.execute("UPDATE schema_meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer Playbook Impact"):
        Store(path)


def test_transaction_rolls_back_whole(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.execute("INSERT INTO csms (csm_id) VALUES ('c1')")
            raise RuntimeError("boom")
    assert store.row_counts()["csms"] == 0


def test_primary_key_rejects_duplicate_id(store):
    store.execute("INSERT INTO accounts (account_id) VALUES ('a1')")
    with pytest.raises(Exception):
        store.execute("INSERT INTO accounts (account_id) VALUES ('a1')")


def test_env_var_overrides_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(tmp_path / "env.duckdb"))
    with Store() as s:
        assert s.path == str(tmp_path / "env.duckdb")
    assert (tmp_path / "env.duckdb").exists()


def test_quote_ident_escapes_quotes():
    assert quote_ident('a"b') == '"a""b"'


@pytest.mark.parametrize("name, expected", [
    ("Save Play - At Risk", "save_play_at_risk"),
    ("  Renewal (90 days)  ", "renewal_90_days"),
    ("Onboarding", "onboarding"),
])
def test_slugify_follows_design_rule(name, expected):
    assert slugify(name) == expected


def _v1_database(path) -> None:
    """A database as release 1 wrote it (tests/fixtures/schema_v1.sql)."""
    import duckdb  # only to build the old file; the product opens it through Store
    lines = (Path(__file__).parent / "fixtures" / "schema_v1.sql").read_text().splitlines()
    sql = "\n".join(line for line in lines if not line.lstrip().startswith("--"))
    con = duckdb.connect(str(path))
    for statement in filter(str.strip, sql.split(";")):
        con.execute(statement).fetchall()
    con.close()


def test_previous_schema_version_migrates_without_losing_rows(tmp_path):
    path = tmp_path / "v1.duckdb"
    _v1_database(path)
    with Store(path) as s:
        assert s.schema_version() == schema.SCHEMA_VERSION == 4
        assert s.row_counts()["csms"] == 2
        assert s.row_counts()["renewals"] == 1
        old = s.query("SELECT * FROM imports")
        assert old.loc[0, "file_name"] == "renewals.csv" and old.loc[0, "rows_loaded"] == 1
        assert {"rows_updated", "warnings"} <= set(old.columns)
        # The sequence keeps counting where release 1 stopped: ids are never reused.
        assert s.next_import_id() == 2
        s.execute("INSERT INTO imports (import_id, kind, rows_updated, warnings) "
                  "VALUES (2, 'csms', 0, 'none')")
        # Version 3's history tables exist; release 1's import kept none, so it cannot be
        # undone, and says so.
        history = s.query("SELECT table_name FROM duckdb_tables() "
                          "WHERE table_name LIKE 'import_history_%'")["table_name"]
        assert set(history) == {f"import_history_{k}" for k in schema.IMPORTABLE_KINDS}
        from analysis.ingest.undo import list_imports
        assert not list_imports(s).set_index("import_id").loc[1, "undoable"]
    with Store(path) as s:  # reopening a migrated file changes nothing
        assert s.row_counts()["imports"] == 2


def test_an_older_demo_database_is_marked_as_the_demo_when_upgraded(tmp_path):
    """Before version 3, `make run` loaded the demo into the organisation's file: a file
    holding only demo imports is the demo (its playbooks the templates) after the upgrade."""
    import duckdb
    from analysis.playbooks.catalog import uses_templates
    path = tmp_path / "v1.duckdb"
    _v1_database(path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE imports SET file_name = 'demo'").fetchall()
    con.close()
    with Store(path) as s:
        assert s.is_demo() and uses_templates(s)
    other = tmp_path / "other.duckdb"
    _v1_database(other)  # a real import: the organisation's own data, not the demo
    with Store(other) as s:
        assert not s.is_demo() and not uses_templates(s)


def test_the_demo_marker_lives_in_schema_meta(store):
    assert not store.is_demo() and store.meta("demo") is None
    store.set_meta("demo", "true")
    assert store.is_demo()


def test_readers_keep_reading_while_a_write_is_open(store):
    """A long import in one session must not block or break readers in another."""
    import threading
    store.execute("INSERT INTO csms (csm_id) VALUES ('c0')")
    inside, release, seen = threading.Event(), threading.Event(), []

    def writer():
        with store.transaction():
            store.execute("INSERT INTO csms (csm_id) VALUES ('c1')")
            inside.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    assert inside.wait(10)
    reader = threading.Thread(target=lambda: seen.append(store.scalar("SELECT count(*) FROM csms")))
    reader.start()
    reader.join(10)
    assert seen == [1]  # the committed state, without waiting for the writer
    release.set()
    t.join(10)
    assert store.scalar("SELECT count(*) FROM csms") == 2


def test_two_writers_queue_instead_of_conflicting(store):
    import threading
    errors = []

    def write(prefix):
        try:
            for i in range(50):
                with store.transaction():
                    store.execute("INSERT INTO accounts (account_id) VALUES (?)", [f"{prefix}{i}"])
        except Exception as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert store.scalar("SELECT count(*) FROM accounts") == 100


def test_second_process_gets_a_clear_busy_message(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "busy.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from analysis.store import Store; s = Store(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(30)", str(path)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="in use by another process"):
            Store(path)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("table, column, bad", [
    ("renewals", "outcome", "renewed?"),
    ("playbook_runs", "outcome", "won"),
    ("playbook_runs", "status", "pending"),
    ("run_steps", "status", "late"),
])
def test_accepted_values_are_enforced_by_the_database(table, column, bad):
    """schema.py's accepted values are CHECK constraints: a value outside them never lands,
    whichever code path writes it."""
    with Store(":memory:") as s:
        t = schema.TABLES[table]
        row = {c: "x" for c in t.required}
        row.update({c.name: "2024-01-01" for c in t.columns if c.required and c.type == "DATE"})
        row[column] = bad
        names = ", ".join(row)
        with pytest.raises(Exception, match="(?i)constraint"):
            s.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})",
                      list(row.values()))
        row[column] = t.column(column).accepted[0]
        s.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})",
                  list(row.values()))
        assert s.row_counts()[table] == 1


def test_migration_to_checks_keeps_rows_and_then_enforces(tmp_path):
    path = tmp_path / "v1.duckdb"
    _v1_database(path)
    with Store(path) as s:
        assert s.row_counts()["renewals"] == 1
        with pytest.raises(Exception, match="(?i)constraint"):
            s.execute("UPDATE renewals SET outcome = 'maybe'")
        assert s.scalar("SELECT outcome FROM renewals") in ("renewed", "churned")


def test_every_vocabulary_maps_onto_the_schemas_accepted_values():
    """values.py's word lists turn export words into canonical values: each must be one the
    schema (and so the database) accepts."""
    from analysis.ingest import values as V
    pairs = [(V.RENEWAL_OUTCOMES, "renewals", "outcome"), (V.RUN_OUTCOMES, "playbook_runs", "outcome"),
             (V.RUN_STATUSES, "playbook_runs", "status"), (V.STEP_STATUSES, "run_steps", "status")]
    for vocabulary, table, column in pairs:
        accepted = set(schema.TABLES[table].column(column).accepted)
        assert set(vocabulary.values()) - {None} <= accepted, (table, column)

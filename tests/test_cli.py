"""The CLI shell: exit codes and one-line errors a script can act on."""
import os
import subprocess
import sys
from pathlib import Path

from analysis import schema

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, **kw)


def test_a_busy_database_is_a_one_line_error_not_a_traceback(tmp_path):
    db = tmp_path / "busy.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from analysis.store import Store; s = Store(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(60)", str(db)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "ready"
        done = _cli("metrics", "--json", "--db", str(db))
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1
    assert done.stderr.startswith("error: The database") and "in use by another process" in done.stderr
    assert "Traceback" not in done.stderr


def test_init_creates_the_schema_and_reports_its_version(tmp_path):
    done = _cli("init", "--db", str(tmp_path / "new.duckdb"))
    assert done.returncode == 0
    assert f"Schema version {schema.SCHEMA_VERSION} ready" in done.stdout


def test_a_bad_date_option_is_refused_by_the_parser(tmp_path):
    done = _cli("metrics", "--json", "--from", "last week", "--db", str(tmp_path / "x.duckdb"))
    assert done.returncode == 2 and "invalid fromisoformat value" in done.stderr


def test_init_demo_writes_the_demo_file_and_init_starts_the_organisations(tmp_path):
    demo, org = tmp_path / "demo.duckdb", tmp_path / "org.duckdb"
    env = {**os.environ, "PLAYBOOK_IMPACT_DEMO_DB_PATH": str(demo),
           "PLAYBOOK_IMPACT_DB_PATH": str(org)}
    env.pop("PLAYBOOK_IMPACT_DB", None)
    done = _cli("init", "--demo", env=env)
    assert done.returncode == 0, done.stderr
    assert f"ready in {demo}" in done.stdout and "Loaded demo data" in done.stdout
    assert not org.exists()  # the organisation's database is another file, untouched
    from analysis.settings import Settings, pinned_db
    from analysis.store import Store, app_db_path

    def app_db():  # what the app opens, with the environment as it is now
        resolved = Settings.resolve()
        return app_db_path(pinned_db(), resolved.db_path, resolved.demo_db_path)
    with Store(demo, read_only=True) as store:
        assert store.is_demo() and store.row_counts()["accounts"] > 0
    # Nothing of the organisation's yet: the app opens the demo.
    os.environ.update(PLAYBOOK_IMPACT_DEMO_DB_PATH=str(demo), PLAYBOOK_IMPACT_DB_PATH=str(org))
    saved = os.environ.pop("PLAYBOOK_IMPACT_DB", None)
    try:
        assert app_db() == str(demo)
        # A real file into the demo: refused, exit 1, with the way out; the demo unchanged.
        accounts = tmp_path / "accounts.csv"
        accounts.write_text("account_id,name\nREAL-1,Our Customer\n")
        refused = _cli("import", "accounts", str(accounts), "--db", str(demo), env=env)
        assert refused.returncode == 1
        assert "demo organisation's database" in refused.stderr
        assert "python -m analysis init" in refused.stderr
        with Store(demo, read_only=True) as store:
            assert store.scalar("SELECT count(*) FROM accounts WHERE account_id = 'REAL-1'") == 0
        started = _cli("init", env=env)
        assert started.returncode == 0 and f"ready in {org}" in started.stdout
        assert app_db() == str(org)  # started on purpose: the app opens it, even empty
        loaded = _cli("import", "accounts", str(accounts), env=env)
        assert loaded.returncode == 0, loaded.stderr
    finally:
        if saved is not None:
            os.environ["PLAYBOOK_IMPACT_DB"] = saved


def test_playbooks_adopt_copies_a_template(tmp_path):
    db = tmp_path / "org.duckdb"
    done = _cli("playbooks", "adopt", "renewal", "--introduced-on", "2024-01-01",
                "--alias", "Renewal Readiness", "--db", str(db))
    assert done.returncode == 0, done.stderr
    written = Path(os.environ["PLAYBOOK_IMPACT_ORG_PLAYBOOKS_DIR"]) / "renewal.yaml"
    assert f"as {written}" in done.stdout
    text = written.read_text()
    assert "introduced_on: 2024-01-01" in text and '- "Renewal Readiness"' in text
    again = _cli("playbooks", "adopt", "renewal", "--introduced-on", "2024-01-01",
                 "--db", str(db))
    assert again.returncode == 2 and "already has a playbook 'renewal'" in again.stderr

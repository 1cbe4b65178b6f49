"""The CLI shell: exit codes and one-line errors a script can act on."""
import subprocess
import sys
from pathlib import Path

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
    assert "Schema version 3 ready" in done.stdout


def test_a_bad_date_option_is_refused_by_the_parser(tmp_path):
    done = _cli("metrics", "--json", "--from", "last week", "--db", str(tmp_path / "x.duckdb"))
    assert done.returncode == 2 and "invalid fromisoformat value" in done.stderr

"""Injection (issue 7 item 5): hostile text in every text column is data, never code.

SQL-looking values are imported into every text column of accounts and playbook_runs (on top
of the demo organisation, so every analysis has real work to do); the metrics, the review
pack and the CSV downloads are then built from them. RELIABILITY.md points here.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from analysis import schema
from analysis.demo import load_demo
from analysis.present.export import to_safe_csv
from analysis.filters import Filters
from analysis.ingest.importer import ImportRefused, import_file
from analysis.ingest.names import slugify
from analysis.store import Store
from tests.builders import ctx

ROOT = Path(__file__).resolve().parent.parent
SQL = "x'); DROP TABLE accounts;--"
HOSTILE = [
    SQL,
    "Robert'); DROP TABLE playbook_runs;--",
    "1' OR '1'='1",
    '"; DELETE FROM imports; --',
    '=HYPERLINK("http://evil.example","click")',
    "<script>alert('x')</script>",
]
FORMULA = HOSTILE[4]
SCRIPT = HOSTILE[5]
ACCOUNT_TEXT = ("account_id", "name", "segment", "industry", "region", "csm_id")
RUN_TEXT = ("run_id", "scenario", "playbook_id", "playbook_version", "account_id", "csm_id")


def _csv(header, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The demo organisation plus hostile csms, accounts, runs and feedback.

    Returns (store, results by kind).
    """
    folder = tmp_path_factory.mktemp("hostile")
    store = Store(folder / "hostile.duckdb")
    load_demo(store)
    # The demo's data and playbooks, but not marked as the demo: the demo database itself
    # refuses every import (analysis.demo.refuse_real_import).
    store.set_meta("demo", "false")
    files = {
        # Each hostile account has the same hostile text in every text column.
        "accounts": _csv(["account_id", "name", "segment", "industry", "region", "csm_id",
                          "arr"], [[h] * 6 + ["1000"] for h in HOSTILE]),
        "csms": _csv(["csm_id", "name", "email", "team", "manager", "hire_date"],
                     [[h] * 5 + ["2020-01-06"] for h in HOSTILE]),
        # Valid runs with hostile ids, scenario, playbook, version, account and CSM, closed in
        # 2025Q3; then rows whose status / outcome are hostile (rejected, raw kept).
        "playbook_runs": _csv(
            ["run_id", "scenario", "playbook_id", "playbook_version", "account_id", "csm_id",
             "opened_on", "closed_on", "status", "outcome"],
            [[h] * 6 + ["2025-07-01", "2025-08-15", "closed", "success"] for h in HOSTILE]
            + [[f"bad-status-{i}", "onboarding", "onboarding", "2.0", "ACC-00001", "csm_001",
                "2025-07-01", "2025-08-15", h, "success"] for i, h in enumerate(HOSTILE)]
            + [[f"bad-outcome-{i}", "onboarding", "onboarding", "2.0", "ACC-00001", "csm_001",
                "2025-07-01", "2025-08-15", "closed", h] for i, h in enumerate(HOSTILE)]),
        "feedback": _csv(["submitted_at", "csm_id", "playbook_id", "rating", "comment"],
                         [[f"2025-08-{10 + i:02d} 10:00", "csm_001", "onboarding", "2", h]
                          for i, h in enumerate(HOSTILE)]),
    }
    results = {}
    for kind, text in files.items():
        path = folder / f"{kind}.csv"
        path.write_text(text, encoding="utf-8")
        results[kind] = import_file(store, kind, path)
    yield store, results
    store.close()


def _tables(store) -> set[str]:
    return set(store.query("SELECT table_name FROM information_schema.tables")["table_name"])


def test_every_table_survives_and_hostile_text_is_stored_verbatim(hostile):
    store, results = hostile
    assert set(schema.TABLES) <= _tables(store)
    assert [results[k].rows_loaded for k in ("accounts", "csms", "feedback")] == [6, 6, 6]
    # 1,500 demo accounts + 6 hostile ones; the demo's 36 CSMs + 6.
    assert store.row_counts()["accounts"] == 1_506
    assert store.row_counts()["csms"] == 42
    for h in HOSTILE:
        stored = store.query("SELECT * FROM accounts WHERE account_id = ?", [h])
        assert len(stored) == 1
        assert stored.loc[0, list(ACCOUNT_TEXT)].tolist() == [h] * 6
        team = store.scalar("SELECT team FROM csms WHERE csm_id = ?", [h])
        assert team == h
        comment = store.scalar("SELECT comment FROM feedback WHERE comment = ?", [h])
        assert comment == h


def test_hostile_runs_load_verbatim_except_slugged_ids(hostile):
    store, results = hostile
    assert results["playbook_runs"].rows_loaded == 6
    for h in HOSTILE:
        run = store.query("SELECT * FROM playbook_runs WHERE run_id = ?", [h])
        assert len(run) == 1
        assert run.loc[0, ["run_id", "playbook_version", "account_id", "csm_id"]].tolist() \
            == [h] * 4
        # Unknown scenarios and playbooks are keyed by their slug (DESIGN.md naming rule).
        assert run.loc[0, "scenario"] == slugify(h)
        assert run.loc[0, "playbook_id"] == slugify(h)


def test_hostile_status_and_outcome_are_rejected_with_the_raw_text_kept(hostile):
    store, results = hostile
    rejected = results["playbook_runs"].rejected
    assert results["playbook_runs"].rows_rejected == 12
    # The 12 rejected rows are spreadsheet rows 8..19 (header row 1, six hostile runs 2..7).
    assert rejected.row_number.tolist() == list(range(8, 20))
    for row in rejected.itertuples():
        bad = HOSTILE[(row.row_number - 8) % 6]
        field = "status" if row.row_number < 14 else "outcome"
        assert json.loads(row.raw)[field] == bad
        assert row.reason.startswith(f"{field} '")
    stored = store.query("SELECT raw FROM rejected_rows WHERE import_id = ? ORDER BY row_number",
                         [results["playbook_runs"].import_id])
    assert stored["raw"].tolist() == rejected["raw"].tolist()


def test_metrics_run_over_hostile_data_and_hostile_filters(hostile):
    from analysis.metrics.registry import metrics_json
    store, _ = hostile
    before = store.row_counts()
    result = metrics_json(store)
    json.dumps(result, allow_nan=False)  # valid JSON, no NaN
    used = {p["playbook_id"] for p in result["usage"]["playbooks"]}
    assert {slugify(h) for h in HOSTILE} <= used  # hostile playbooks are analysed as data
    # Filter values are bound parameters: hostile ones select nothing and drop nothing.
    for h in HOSTILE:
        narrowed = metrics_json(store, Filters(segment=h, team=h, playbook_id=h,
                                               date_from=date(2025, 1, 1)))
        json.dumps(narrowed, allow_nan=False)
        assert narrowed["filters"]["segment"] == h
    assert store.row_counts() == before
    assert set(schema.TABLES) <= _tables(store)


def test_the_review_pack_escapes_hostile_text(hostile, tmp_path):
    from analysis.present.report import write_report
    store, _ = hostile
    before = store.row_counts()
    (html_path,) = write_report(ctx(store), "2025Q3", tmp_path / "review.html")
    html = html_path.read_text(encoding="utf-8")
    assert SCRIPT not in html
    assert "<script>alert" not in html
    assert store.row_counts() == before


def _cells(payload: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(payload.decode("utf-8-sig"))))


def _formula_cells(rows: list[list[str]]) -> list[str]:
    """Cells a spreadsheet would run: text starting =, +, -, @ (numbers like -3 are fine)."""
    def number(text):
        try:
            float(text)
            return True
        except ValueError:
            return False
    return [c for row in rows for c in row if c[:1] in ("=", "+", "-", "@") and not number(c)]


def test_downloads_of_hostile_data_cannot_run_formulas(hostile):
    from analysis.metrics.feedback import recent_comments
    from analysis.metrics.usage import usage_by_csm
    store, results = hostile
    comments = recent_comments(ctx(store, Filters(date_from=date(2025, 8, 1),
                                                date_to=date(2025, 8, 31))), 1000)
    assert FORMULA in comments["comment"].tolist()
    by_csm = usage_by_csm(ctx(store, Filters()))
    tables = {"comments": comments, "usage_by_csm": by_csm,
              "accounts": store.query("SELECT * FROM accounts WHERE arr = 1000"),
              "rejected": results["playbook_runs"].rejected}
    for name, frame in tables.items():
        rows = _cells(to_safe_csv(frame))
        assert _formula_cells(rows) == [], name
    # The formula is kept for a person to read, behind the quote a spreadsheet shows as text.
    accounts = _cells(to_safe_csv(tables["accounts"]))
    assert ["'" + FORMULA] * 6 in [row[:6] for row in accounts]


def test_rejected_rows_download_keeps_a_formula_value_inert(store, tmp_path):
    path = tmp_path / "renewals.csv"
    path.write_text(_csv(["renewal_id", "account_id", "renewal_date", "outcome"],
                         [["R1", "A1", "2025-01-01", "renewed"],
                          [FORMULA, "A1", "=1+1", "renewed"],
                          ["R3", "@SUM(A1:A9)", "2025-01-01", "+bogus"]]), encoding="utf-8")
    result = import_file(store, "renewals", path)
    assert result.rows_rejected == 2
    rows = _cells(to_safe_csv(result.rejected))
    assert rows[0] == ["row_number", "raw", "reason"]
    assert _formula_cells(rows) == []
    assert rows[1][2] == "renewal_date '=1+1' is not a date"
    assert rows[2][2] == "outcome '+bogus' is not a decided renewal (renewed/churned)"


def test_every_csv_download_in_the_pages_goes_through_to_safe_csv():
    """A page offers a CSV only as bytes from analysis.present.export.to_safe_csv (directly or via
    pages.common.download_csv); none writes one with pandas' own to_csv."""
    pages = ROOT / "pages"
    offering = []
    for page in sorted(pages.glob("*.py")):
        text = page.read_text(encoding="utf-8")
        assert ".to_csv(" not in text, page.name
        if 'mime="text/csv"' in text:
            offering.append(page.name)
            assert "to_safe_csv(" in text, page.name
    assert "common.py" in offering
    common = (pages / "common.py").read_text(encoding="utf-8")
    assert 'st.download_button("Download CSV", to_safe_csv(frame)' in common


def test_a_mapping_file_with_a_python_tag_is_refused_and_never_runs(store, tmp_path):
    # The library's twin is tests/test_library.py::test_python_tag_is_never_executed.
    marker = tmp_path / "ran"
    mapping = tmp_path / "evil.yaml"
    mapping.write_text("kind: accounts\ncolumns:\n  Account: !!python/object/apply:os.system "
                       f"[\"touch {marker}\"]\n", encoding="utf-8")
    path = tmp_path / "accounts.csv"
    path.write_text("Account,Name\nA1,Acme\n", encoding="utf-8")
    with pytest.raises(ImportRefused, match=r"^mapping for accounts.csv: evil.yaml: not valid "
                                            r"YAML: could not determine a constructor"):
        import_file(store, "accounts", path, mapping=mapping)
    assert not marker.exists()
    assert store.row_counts()["accounts"] == 0


def test_hostile_filters_in_a_shared_link_are_data(hostile, monkeypatch):
    """A page opened from a link whose query string carries SQL shows an empty view, not an
    error, and changes nothing."""
    from streamlit.testing.v1 import AppTest
    store, _ = hostile
    before = store.row_counts()
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", store.path)
    at = AppTest.from_file(str(ROOT / "pages" / "usage.py"), default_timeout=120)
    at.query_params["segment"] = SQL
    at.query_params["playbook_id"] = HOSTILE[1]
    at.run()
    assert not at.exception, at.exception
    # The hostile segment is a real value of the data, so the link's filter is applied as is.
    assert at.selectbox(key="flt_segment").value == SQL
    assert store.row_counts() == before

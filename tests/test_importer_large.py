"""The importer's fast paths give exactly what the tolerant paths give.

Well-formed CSVs are split by Arrow's parser and Parquet columns are cast to text by Arrow;
odd files (blank lines, ragged rows, title lines) still go through pandas' tolerant reader.
Expected values are written out by hand below.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.ingest import readers
from analysis.ingest.importer import import_file
from analysis.ingest.readers import read_bytes


def _records(raw) -> list[dict]:
    return raw.frame.astype(object).to_dict("records")


def test_well_formed_csv_is_read_by_arrow_with_the_same_text(monkeypatch):
    data = ('id,name,note,amount\n'
            '1,"Lopez, Maria","said ""yes""",  12\n'
            '2,José,"two\nlines",\n'
            '3,, x ,"1,200"\n').encode("utf-8")
    fast = read_bytes(data, "a.csv")
    # The same bytes through the tolerant pandas reader only.
    monkeypatch.setattr(readers, "_read_csv_arrow", lambda *args: None)
    slow = read_bytes(data, "a.csv")
    expected = [
        {"id": "1", "name": "Lopez, Maria", "note": 'said "yes"', "amount": "  12"},
        {"id": "2", "name": "José", "note": "two\nlines", "amount": ""},
        {"id": "3", "name": "", "note": " x ", "amount": "1,200"}]
    assert _records(fast) == expected
    assert _records(slow) == expected
    assert list(fast.frame.index) == list(slow.frame.index) == [2, 3, 4]


@pytest.mark.parametrize("text, arrow_reads_it, expected", [
    # A blank line stays in the frame (as blanks) so later rows keep their row numbers.
    ("a,b\n1,2\n\n3,4\n", True,
     {2: {"a": "1", "b": "2"}, 3: {"a": "", "b": ""}, 4: {"a": "3", "b": "4"}}),
    # A short row is padded by the tolerant reader.
    ("a,b\n1,2\n3\n", False, {2: {"a": "1", "b": "2"}, 3: {"a": "3", "b": ""}}),
    # A long row is rejected by the tolerant reader, its place left blank.
    ("a,b\n1,2\n3,4,5\n", False, {2: {"a": "1", "b": "2"}, 3: {"a": "", "b": ""}}),
])
def test_odd_csvs_keep_their_row_numbers(text, arrow_reads_it, expected):
    assert (readers._read_csv_arrow(text.encode(), ",", 2) is not None) == arrow_reads_it
    raw = read_bytes(text.encode(), "odd.csv")
    assert raw.frame.astype(object).to_dict("index") == expected
    if "3,4,5" in text:
        assert raw.malformed.to_dict("records") == [
            {"row_number": 3, "raw": "3,4,5", "reason": "row has 3 fields, the header has 2"}]


def test_cp1252_and_bom_files_are_read_as_text():
    raw = read_bytes("name;city\r\nRené;Zürich\r\n".encode("cp1252"), "w.csv")
    assert _records(raw) == [{"name": "René", "city": "Zürich"}]
    raw = read_bytes(b"\xef\xbb\xbfname,n\r\nAna,1\r\n", "b.csv")
    assert _records(raw) == [{"name": "Ana", "n": "1"}]


def test_parquet_columns_become_the_text_an_export_would_hold(tmp_path):
    paris = pa.timestamp("us", tz="Europe/Paris")
    table = pa.table({
        "day": pa.array([date(2024, 1, 5), None, date(1960, 2, 29)], pa.date32()),
        # 14:00:01 in Paris (UTC+1 in January) is 13:00:01 UTC; midnight UTC means a date.
        "at": pa.array([datetime(2024, 1, 5, 13, 0, 1, tzinfo=timezone.utc),
                        datetime(2024, 1, 6, 0, 0, tzinfo=timezone.utc), None], paris),
        "naive": pa.array([datetime(2024, 3, 1, 9, 30), datetime(2024, 3, 2), None]),
        "amount": pa.array([300.0, 2.5, float("nan")]),
        "users": pa.array([7, None, -3], pa.int32()),
        "flag": pa.array([True, False, None]),
        "stage": pa.array(["Won", None, "Won"]).dictionary_encode(),
        "name": pa.array(["Acme", "", None])})
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    raw = read_bytes(path.read_bytes(), "typed.parquet")
    assert list(raw.frame.index) == [2, 3, 4]
    assert _records(raw) == [
        {"day": "2024-01-05", "at": "2024-01-05T13:00:01", "naive": "2024-03-01T09:30:00",
         "amount": "300", "users": "7", "flag": "true", "stage": "Won", "name": "Acme"},
        {"day": "", "at": "2024-01-06", "naive": "2024-03-02", "amount": "2.5", "users": "",
         "flag": "false", "stage": "", "name": ""},
        {"day": "1960-02-29", "at": "", "naive": "", "amount": "", "users": "-3", "flag": "",
         "stage": "Won", "name": ""}]


def test_csv_and_parquet_of_the_same_runs_load_the_same_rows(store, tmp_path):
    store.execute("INSERT INTO csms (csm_id, name, email) VALUES ('C-1', 'Maria Lopez', NULL)")
    from analysis.playbooks.catalog import use_templates
    use_templates(store)  # "Renewal Runway" is the renewal template's name
    frame = pd.DataFrame({
        "run_id": ["R-1", "R-2", "R-3", "R-4"],
        "playbook_id": ["onboarding", "Renewal Runway", "qbr prep", "onboarding"],
        "scenario": ["onboarding", "renewal", "qbr", "onboarding"],
        "account_id": ["A-1", "A-2", "A-1", "A-3"],
        "csm_id": ["Maria Lopez", "maria lopez", "Unknown Person", ""],
        "opened_on": pd.to_datetime(["2025-01-02", "2025-02-03", "2025-03-04", "2025-04-05"]),
        "closed_on": pd.to_datetime(["2025-03-01", None, "2025-05-01", None]),
        "outcome": ["success", None, "failure", None],
        "steps_total": [5, 4, 6, 5], "steps_completed": [5, 1, 2, 0],
        "arr_at_open": [1000.0, 2500.5, None, 300.0]})
    frame.to_csv(tmp_path / "runs.csv", index=False, date_format="%Y-%m-%d")
    frame.to_parquet(tmp_path / "runs.parquet")
    loaded = {}
    for suffix in ("csv", "parquet"):
        store.execute("DELETE FROM playbook_runs")
        result = import_file(store, "playbook_runs", tmp_path / f"runs.{suffix}")
        assert (result.rows_loaded, result.rows_rejected, result.rows_updated) == (4, 0, 0)
        rows = store.query(
            "SELECT run_id, playbook_id, scenario, csm_id, status, opened_on, closed_on, "
            "outcome, steps_completed, arr_at_open FROM playbook_runs ORDER BY run_id"
        ).astype(object)
        loaded[suffix] = rows.where(rows.notna(), None).to_dict("records")
        assert any("Unknown Person" in w for w in result.warnings)
        assert any("'qbr prep' as qbr_prep (1)" in w for w in result.warnings)
    assert loaded["csv"] == loaded["parquet"]
    rows = loaded["csv"]
    assert [r["playbook_id"] for r in rows] == ["onboarding", "renewal", "qbr_prep",
                                                "onboarding"]
    assert [r["csm_id"] for r in rows] == ["C-1", "C-1", "Unknown Person", None]
    assert [r["arr_at_open"] for r in rows] == [1000.0, 2500.5, None, 300.0]
    assert [r["status"] for r in rows] == ["closed", "open", "closed", "open"]
    assert rows[1]["arr_at_open"] == 2500.5 and rows[1]["steps_completed"] == 1

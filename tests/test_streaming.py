"""The streaming importer (issue 7 item 3): a file imported seven rows at a time gives exactly
what it gives in one chunk, a failure at any chunk leaves the database as it was, and no more
than one chunk of rows is ever held by the checks. Plus the wide-file refusal (issue 6)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import analysis.ingest.importer as importer
import analysis.ingest.readers as readers
from analysis.ingest.importer import ImportRefused, import_file, preview
from analysis.schema import TABLES
from analysis.playbooks.catalog import use_templates
from analysis.store import Store

CSMS = "csm_id,name,email\nc1,Jane Doe,jane@example.com\nc2,Li Wei,li@example.com\n"
ACCOUNTS = "account_id,name\nA1,Acme\nA2,Beta\n"

@pytest.fixture
def store(store):
    """The runs below take their scenario from the playbook definitions: an organisation
    whose playbooks are the templates."""
    use_templates(store)
    return store


# 23 records after the header (rows 2-24; R5's quoted Notes hold a line break but it is one
# row), by row number: 3 and 12 duplicate R2 (kept: row 21, chunks later); 5 is R4 again at
# 9; 8 has a bad date; 10 is blank; 13 is malformed (extra fields); 15 names an unknown CSM
# (Pat Quinn; 16 spells it "pat quinn"); 17 and 18 name an undefined playbook, so have no
# scenario; 19 and 20 reference accounts not imported (A9); 22 is not an outcome.
RUNS = """run_id,playbook_id,account_id,csm_id,opened_on,closed_on,outcome,steps_total,Notes
R1,onboarding,A1,c1,2025-01-02,2025-02-01,success,5,plain
R2,onboarding,A1,c1,2025-01-03,,,4,first R2
R3,adoption,A2,Li Wei,2025-01-04,2025-03-01,failure,3,x
R4,adoption,A2,c2,2025-01-05,,,3,first R4
R5,onboarding,A1,jane@example.com,2025-01-06,2025-02-06,success,2,"line one
line two, with a comma"
R6,renewal,A2,c1,2025-01-07,,,6,y
R7,renewal,A2,c1,not a date,,,6,bad date
R4,adoption,A2,c2,2025-01-09,2025-02-09,success,3,second R4

R8,onboarding,A1,c1,2025-01-11,,,1,z
R2,onboarding,A1,c1,2025-01-12,,,4,second R2
R9,onboarding,A1,c1,2025-01-13,,,1,too,many,fields
R10,adoption,A2,c1,2025-01-14,,,2,q
R11,adoption,A2,Pat Quinn,2025-01-15,,,2,unknown csm
R12,adoption,A2,pat quinn,2025-01-16,,,2,unknown csm again
R13,QBR Prep,A1,c1,2025-01-17,,,3,undefined
R14,QBR Prep,A2,c2,2025-01-18,,,3,undefined again
R15,onboarding,A9,c1,2025-01-19,,,3,no such account
R16,onboarding,A9,c1,2025-01-20,,,3,"quoted ""R16"" note"
R2,onboarding,A1,c1,2025-01-21,2025-02-21,failure,4,third R2
R17,onboarding,A1,c1,2025-01-22,2025-02-22,maybe,4,bad outcome
R18,onboarding,A2,c2,2025-01-23,,,4,
R19,onboarding,A2,c2,2025-01-24,,,4,last
"""


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _imported(tmp_path: Path, monkeypatch, name: str, kind: str, path: Path, chunk_rows: int,
              **options):
    """Import `path` into a fresh database with `chunk_rows` per chunk: (result, tables)."""
    monkeypatch.setenv("PLAYBOOK_IMPACT_IMPORT_CHUNK_ROWS", str(chunk_rows))
    with Store(tmp_path / f"{name}.duckdb") as store:
        use_templates(store)  # scenarios come from the templates' definitions
        import_file(store, "csms", _write(tmp_path, "csms.csv", CSMS))
        import_file(store, "accounts", _write(tmp_path, "accounts.csv", ACCOUNTS))
        result = import_file(store, kind, path, **options)
        key = ", ".join(TABLES[kind].key)
        tables = {
            kind: store.query(f"SELECT * FROM {kind} ORDER BY {key}"),
            "rejected_rows": store.query("SELECT row_number, raw, reason FROM rejected_rows "
                                         "WHERE import_id = ? ORDER BY row_number",
                                         [result.import_id]),
            "imports": store.query("SELECT kind, file_name, sha256, rows_read, rows_loaded, "
                                   "rows_rejected, rows_updated, mapping, warnings FROM imports "
                                   "WHERE import_id = ?", [result.import_id]),
        }
    return result, tables


def _same_in_chunks_of_7_and_in_one(tmp_path, monkeypatch, kind: str, path: Path, **options):
    small, small_tables = _imported(tmp_path, monkeypatch, "small", kind, path, 7, **options)
    whole, whole_tables = _imported(tmp_path, monkeypatch, "whole", kind, path, 1_000_000,
                                    **options)
    for name in whole_tables:
        pd.testing.assert_frame_equal(small_tables[name], whole_tables[name], obj=name)
    assert (small.rows_read, small.rows_loaded, small.rows_updated, small.rows_rejected) == \
        (whole.rows_read, whole.rows_loaded, whole.rows_updated, whole.rows_rejected)
    assert small.warnings == whole.warnings
    pd.testing.assert_frame_equal(small.rejected, whole.rejected)
    return small, small_tables


def test_runs_in_chunks_of_seven_load_exactly_as_in_one_chunk(tmp_path, monkeypatch):
    path = _write(tmp_path, "runs.csv", RUNS)
    result, tables = _same_in_chunks_of_7_and_in_one(tmp_path, monkeypatch, "playbook_runs",
                                                     path)
    # 23 records, one blank: 22 rows read. Rejected: 3 and 12 (R2, kept at 21), 5 (R4, kept
    # at 9), 8 (date), 13 (malformed), 17 and 18 (no scenario), 22 (outcome) = 8; loaded 14.
    assert (result.rows_read, result.rows_rejected, result.rows_loaded) == (22, 8, 14)
    rejected = tables["rejected_rows"]
    assert rejected.row_number.tolist() == [3, 5, 8, 12, 13, 17, 18, 22]
    reasons = dict(zip(rejected.row_number, rejected.reason))
    assert reasons[3] == "duplicate run_id 'R2' (also row 21): the last one is kept"
    assert reasons[12] == "duplicate run_id 'R2' (also row 21): the last one is kept"
    assert reasons[5] == "duplicate run_id 'R4' (also row 9): the last one is kept"
    assert reasons[8] == "opened_on 'not a date' is not a date"
    assert reasons[13] == "row has 11 fields, the header has 9"
    assert reasons[17] == reasons[18] == "scenario is empty"
    assert reasons[22] == "outcome 'maybe' is not success or failure"
    # A rejected duplicate keeps the text it had, as read again from the file.
    assert rejected.raw[rejected.row_number == 3].item() == (
        '{"run_id": "R2", "playbook_id": "onboarding", "account_id": "A1", "csm_id": "c1", '
        '"opened_on": "2025-01-03", "closed_on": "", "outcome": "", "steps_total": "4", '
        '"Notes": "first R2"}')
    runs = tables["playbook_runs"].set_index("run_id")
    assert runs.loc["R2", "outcome"] == "failure"  # the last R2
    assert str(runs.loc["R4", "opened_on"])[:10] == "2025-01-09"
    assert runs.loc["R3", "csm_id"] == "c2"  # Li Wei resolved by name
    assert runs.loc["R11", "csm_id"] == runs.loc["R12", "csm_id"] == "Pat Quinn"
    assert "R13" not in runs.index and len(runs) == 14
    # Warnings in column order (playbook_id before csm_id), counted over every chunk.
    assert result.warnings == (
        "2 rows name playbooks with no definition (analysed under their own id): "
        "'QBR Prep' as qbr_prep (2)",
        "2 rows name CSMs not in the roster: 'Pat Quinn' (2) (kept as written)",
        "2 rows reference accounts not imported yet: 'A9' (2)")
    imports = tables["imports"].iloc[0]
    assert (imports.rows_read, imports.rows_loaded, imports.rows_rejected,
            imports.rows_updated) == (22, 14, 8, 0)
    assert imports.warnings == "\n".join(result.warnings)


def test_a_quoted_line_break_across_every_cut_stays_one_value(tmp_path, monkeypatch):
    # Long notes with line breaks: whatever byte a block ends at, a record is never split.
    lines = ["account_id,name,segment"]
    lines += [f'A{i},"Account {i}\nsecond line {"x" * (i % 13)}\nthird",SMB' for i in range(40)]
    path = _write(tmp_path, "multi.csv", "\n".join(lines) + "\n")
    result, tables = _same_in_chunks_of_7_and_in_one(tmp_path, monkeypatch, "accounts", path)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (40, 40, 0)
    names = tables["accounts"].set_index("account_id")["name"]
    assert names["A14"] == "Account 14\nsecond line x\nthird"
    assert names["A0"] == "Account 0\nsecond line \nthird"


def test_semicolon_file_with_decimal_commas_in_chunks(tmp_path, monkeypatch):
    rows = [f"A{i};Konto {i};{i},5;2024-0{1 + i % 9}-01" for i in range(20)]
    rows[11] = "A11;Konto 11;zwölf;2024-03-01"
    path = _write(tmp_path, "eu.csv", "account_id;name;arr;customer_since\n"
                  + "\n".join(rows) + "\n")
    result, tables = _same_in_chunks_of_7_and_in_one(tmp_path, monkeypatch, "accounts", path)
    assert (result.rows_loaded, result.rows_rejected) == (19, 1)
    assert tables["rejected_rows"].reason.tolist() == ["arr 'zwölf' is not a number"]
    assert tables["rejected_rows"].row_number.tolist() == [13]
    arr = tables["accounts"].set_index("account_id")["arr"]
    assert arr["A3"] == 3.5 and arr["A19"] == 19.5


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16", "utf-8-sig"])
def test_other_encodings_stream_the_same(tmp_path, monkeypatch, encoding):
    rows = [f"A{i},Café {i} Zürich,EMEA" for i in range(30)]
    text = "account_id,name,region\r\n" + "\r\n".join(rows) + "\r\n"
    path = _write(tmp_path, f"accounts-{encoding}.csv", text, encoding)
    result, tables = _same_in_chunks_of_7_and_in_one(tmp_path, monkeypatch, "accounts", path)
    assert (result.rows_loaded, result.rows_rejected) == (30, 0)
    assert tables["accounts"].set_index("account_id").loc["A27", "name"] == "Café 27 Zürich"


def test_health_snapshot_duplicates_on_a_date_key_across_chunks(tmp_path, monkeypatch):
    rows = [f"A{i % 2 + 1},2025-0{1 + i // 2 % 6}-01,{50 + i}" for i in range(12)]
    rows.append("A1,2025-01-01,99")  # the same key as row 2, eleven rows later
    path = _write(tmp_path, "health.csv", "account_id,snapshot_date,health_score\n"
                  + "\n".join(rows) + "\n")
    result, tables = _same_in_chunks_of_7_and_in_one(tmp_path, monkeypatch,
                                                     "health_snapshots", path)
    assert tables["rejected_rows"].reason.tolist() == [
        "duplicate account_id 'A1', snapshot_date '2025-01-01 00:00:00' (also row 14): "
        "the last one is kept"]
    assert tables["rejected_rows"].row_number.tolist() == [2]
    assert result.rows_loaded == 12


def test_a_failure_in_the_third_chunk_leaves_the_database_unchanged(store, tmp_path,
                                                                    monkeypatch):
    import_file(store, "accounts", _write(tmp_path, "accounts.csv", ACCOUNTS))
    before = store.row_counts()
    monkeypatch.setenv("PLAYBOOK_IMPACT_IMPORT_CHUNK_ROWS", "7")
    check = importer._FileChecks.check
    calls = []

    def failing(self, frame, malformed):
        calls.append(len(frame))
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return check(self, frame, malformed)

    monkeypatch.setattr(importer._FileChecks, "check", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(store, "playbook_runs", _write(tmp_path, "runs.csv", RUNS))
    assert len(calls) == 3
    assert store.row_counts() == before
    # Nothing staged survives either: the next import of the file loads it whole.
    monkeypatch.setattr(importer._FileChecks, "check", check)
    result = import_file(store, "playbook_runs", tmp_path / "runs.csv")
    assert (result.rows_loaded, result.rows_rejected) == (14, 8)


def test_the_checks_never_see_more_than_one_chunk(store, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_IMPORT_CHUNK_ROWS", "7")
    seen = []
    run = importer._RowChecker.run

    def counting(self):
        seen.append(len(self.frame))
        return run(self)

    monkeypatch.setattr(importer._RowChecker, "run", counting)
    import_file(store, "playbook_runs", _write(tmp_path, "runs.csv", RUNS))
    # At most 7 rows per chunk; every non-blank row checked once (the malformed row 13 is
    # rejected by the reader, the blank row 10 dropped): 23 records - 2 = 21.
    assert max(seen) <= 7 and sum(seen) == 21
    assert len(seen) >= 3


def test_progress_is_reported_per_chunk(store, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_IMPORT_CHUNK_ROWS", "7")
    steps = []
    import_file(store, "playbook_runs", _write(tmp_path, "runs.csv", RUNS),
                progress=lambda fraction, message: steps.append((fraction, message)))
    checked = [m for _, m in steps if m.startswith("Checked")]
    assert len(checked) >= 3 and checked[-1].startswith("Checked 22 of ~")
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_reimport_is_answered_from_the_hash_before_any_row_is_parsed(store, tmp_path,
                                                                       monkeypatch):
    path = _write(tmp_path, "accounts.csv", ACCOUNTS)
    first = import_file(store, "accounts", path)

    def no_checking(*args, **kwargs):
        raise AssertionError("rows were checked again")

    monkeypatch.setattr(importer, "_check_chunks", no_checking)
    again = import_file(store, "accounts", path)
    assert again.unchanged and again.import_id == first.import_id and again.rows_read == 2


def test_ten_thousand_columns_are_refused_before_any_row_is_parsed(store, tmp_path,
                                                                   monkeypatch):
    def no_parsing(*args, **kwargs):
        raise AssertionError("rows were parsed")

    monkeypatch.setattr(readers, "_parse_records", no_parsing)
    monkeypatch.setattr(readers, "_read_csv_arrow", no_parsing)
    header = ",".join(["account_id"] + [f"extra_{i}" for i in range(9_999)])
    path = _write(tmp_path, "wide.csv", header + "\n" + ",".join(["A1"] + ["x"] * 9_999) + "\n")
    with pytest.raises(ImportRefused) as err:
        import_file(store, "accounts", path)
    assert str(err.value) == ("wide.csv has 10,000 columns; more than 2,000 is not an export "
                              "this tool reads")
    assert store.row_counts()["imports"] == 0


def test_a_report_footer_split_from_its_blank_line_by_a_chunk_is_still_dropped(
        tmp_path, monkeypatch):
    # Six data rows, then the blank line as the 7th row of the chunk, the footer in the next.
    rows = [f"A{i},Account {i}" for i in range(6)]
    text = ("account_id,name\n" + "\n".join(rows) + "\n\nGrand Totals (6 records)\n"
            "Confidential Information - Do Not Distribute\n")
    path = _write(tmp_path, "report.csv", text)
    result, _ = _same_in_chunks_of_7_and_in_one(tmp_path, monkeypatch, "accounts", path)
    assert (result.rows_read, result.rows_loaded) == (6, 6)
    assert result.warnings == ("dropped the report footer (2 lines)",)


def test_preview_checks_only_the_first_rows_of_a_big_file(store, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_IMPORT_PREVIEW_ROWS", "10")
    path = _write(tmp_path, "runs.csv", RUNS)
    check = preview(store, "playbook_runs", path)
    # The first 10 rows are rows 2-11, one of them blank: 9 read. Within them R4 (5, kept at
    # 9) is a duplicate and row 8 has a bad date; R2's later copies are not seen yet.
    assert not check.complete
    assert check.rows_read == 9
    assert check.warnings[-1].startswith("checked the first 9 of ~")
    assert check.rejected.row_number.tolist() == [5, 8]
    monkeypatch.setenv("PLAYBOOK_IMPACT_IMPORT_PREVIEW_ROWS", "1000")
    full = preview(store, "playbook_runs", path)
    assert full.complete and full.rows_read == 22
    assert full.rejected.row_number.tolist() == [3, 5, 8, 12, 13, 17, 18, 22]


def test_the_footer_cut_carries_a_blank_row_from_one_chunk_to_the_next():
    first = pd.DataFrame({"account_id": ["A1", "A2", ""], "name": ["Acme", "Beta", ""]},
                         index=[2, 3, 4])
    second = pd.DataFrame({"account_id": ["Grand Totals (2 records)", "Copyright (c) Acme"],
                           "name": ["", ""]}, index=[5, 6])
    third = pd.DataFrame({"account_id": ["A3"], "name": ["after the footer"]}, index=[7])
    cut = readers._FooterCut()
    assert cut.cut(first).index.tolist() == [2, 3, 4]
    assert cut.cut(second).empty and cut.cut(third).empty
    assert cut.dropped == 3
    # Without the blank row before it, a "Grand Totals" line is data.
    fresh = readers._FooterCut()
    assert fresh.cut(second).index.tolist() == [5, 6] and fresh.dropped == 0


def test_typed_parquet_columns_load_as_their_text_would(tmp_path, monkeypatch):
    """Parquet dates and numbers skip the text round trip, with the same outcome row by row:
    compared with the same file whose every column is the text the reader shows."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datetime import date, datetime, timezone

    n = 12
    typed = pa.table({
        "run_id": [f"R{i}" for i in range(n - 1)] + ["R0"],  # R0 again in the last row
        "scenario": ["onboarding"] * n,
        "account_id": ["A1", "A2"] * (n // 2),
        "opened_on": pa.array([date(2025, 1, 1 + i) for i in range(n)], pa.date32()),
        # A timestamp with a time, read into a date column: that day.
        "closed_on": pa.array([datetime(2025, 2, 1 + i, 13, 30, tzinfo=timezone.utc)
                               if i % 3 else None for i in range(n)],
                              pa.timestamp("us", tz="UTC")),
        "steps_total": pa.array([4.0, 4.5, None, 3.0] * (n // 4), pa.float64()),
        "steps_completed": pa.array([2, None, 1, 3] * (n // 4), pa.int32()),
        "health_at_open": pa.array([0.5, float("nan"), 72.25, float("inf")] * (n // 4 - 1)
                                   + [0.5, float("nan"), 72.25, 1.0]),
    })
    text = pa.table({name: readers._arrow_text(typed.column(name))
                     for name in typed.column_names})
    pq.write_table(typed, tmp_path / "typed.parquet", row_group_size=5)
    pq.write_table(text, tmp_path / "text.parquet")
    typed_result, typed_tables = _imported(tmp_path, monkeypatch, "typed", "playbook_runs",
                                           tmp_path / "typed.parquet", 7)
    text_result, text_tables = _imported(tmp_path, monkeypatch, "text", "playbook_runs",
                                         tmp_path / "text.parquet", 1_000_000)
    for name in ("playbook_runs", "rejected_rows"):
        pd.testing.assert_frame_equal(typed_tables[name], text_tables[name], obj=name)
    assert typed_result.warnings == text_result.warnings
    # Rows 3, 7, 11 hold 4.5 steps; 5 and 9 an infinite health; row 2's R0 is superseded by
    # row 13 (read again from the typed file for its text).
    reasons = dict(zip(typed_tables["rejected_rows"].row_number,
                       typed_tables["rejected_rows"].reason))
    assert sorted(reasons) == [2, 3, 5, 7, 9, 11] and typed_result.rows_loaded == 6
    assert reasons[2] == "duplicate run_id 'R0' (also row 13): the last one is kept"
    assert typed_tables["rejected_rows"].raw[
        typed_tables["rejected_rows"].row_number == 2].item().startswith(
        '{"run_id": "R0", "scenario": "onboarding", "account_id": "A1", '
        '"opened_on": "2025-01-01", "closed_on": "", "steps_total": "4", ')
    assert reasons[3] == "steps_total '4.5' is not a whole number"
    assert reasons[5] == "health_at_open 'inf' is not a number"
    assert typed_tables["rejected_rows"].raw[
        typed_tables["rejected_rows"].row_number == 3].item() == (
        '{"run_id": "R1", "scenario": "onboarding", "account_id": "A2", '
        '"opened_on": "2025-01-02", "closed_on": "2025-02-02T13:30:00", "steps_total": "4.5", '
        '"steps_completed": "", "health_at_open": ""}')
    runs = typed_tables["playbook_runs"].set_index("run_id")
    assert str(runs.loc["R2", "closed_on"])[:10] == "2025-02-03"
    assert runs.loc["R0", "health_at_open"] == 1.0 and runs.loc["R0", "steps_completed"] == 3


def test_the_upload_page_can_read_and_preview_the_first_rows_only(store, tmp_path,
                                                                  monkeypatch):
    from analysis.ingest.importer import read_export
    frame = read_export(_write(tmp_path, "runs.csv", RUNS), max_rows=10)
    # The first 10 data rows are rows 2-11; the blank row 10 is dropped.
    assert frame.index.tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 11]
    assert frame.attrs["complete"] is False and frame.loc[6, "Notes"] == (
        "line one\nline two, with a comma")
    check = preview(store, "playbook_runs", frame)
    assert not check.complete and check.warnings[-1].startswith("checked the first 9 of ~")
    whole = read_export(tmp_path / "runs.csv", max_rows=1000)
    assert whole.attrs["complete"] is True and preview(store, "playbook_runs", whole).complete


def test_a_block_is_cut_only_at_a_line_break_outside_quotes():
    # The last line break sits inside "p<LF>q" (three quotes before it): the cut falls
    # after the record that ends at the line break before it (two quotes: outside).
    buffer = b'a,"x\ny"\nb,"p\nq'
    assert readers._record_end(buffer) == len(b'a,"x\ny"\n')
    assert readers._record_end(b'a,"only one record\nstill open') == 0
    assert readers._record_end(b'no line break yet') == 0
    # Doubled quotes inside a value pair up: 'say ""hi""' leaves the count even.
    assert readers._record_end(b'a,"say ""hi"""\nb,c') == len(b'a,"say ""hi"""\n')


def test_parquet_times_with_a_zone_load_as_their_text_would(tmp_path, monkeypatch):
    """Parquet stores zoned timestamps as UTC instants; the reader keeps them in UTC (as their
    text, "2025-01-02T04:30:00", would read): a TIMESTAMP column holds the instant, a DATE
    column the UTC day, whatever zone the writer named."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datetime import datetime, timezone

    # 2025-01-02 04:30 UTC is 23:30 on 1 January in New York (UTC-5 in winter).
    instants = [datetime(2025, 1, 2, 4, 30, tzinfo=timezone.utc),
                datetime(2025, 7, 1, 12, 0, tzinfo=timezone.utc)]
    zoned = pa.array(instants, pa.timestamp("us", tz="America/New_York"))
    pq.write_table(pa.table({"run_id": ["R1", "R2"], "scenario": ["onboarding"] * 2,
                             "account_id": ["A1", "A2"], "opened_on": zoned}),
                   tmp_path / "runs.parquet")
    pq.write_table(pa.table({"view_id": ["V1", "V2"], "playbook_id": ["onboarding"] * 2,
                             "viewed_at": zoned}), tmp_path / "views.parquet")
    _, runs = _imported(tmp_path, monkeypatch, "runs", "playbook_runs",
                        tmp_path / "runs.parquet", 7)
    _, views = _imported(tmp_path, monkeypatch, "views", "playbook_views",
                         tmp_path / "views.parquet", 7)
    assert [str(d)[:10] for d in runs["playbook_runs"]["opened_on"]] == [
        "2025-01-02", "2025-07-01"]
    assert [str(t) for t in views["playbook_views"]["viewed_at"]] == [
        "2025-01-02 04:30:00", "2025-07-01 12:00:00"]

from analysis.ingest.history import data_freshness, import_history, rejected_rows


def _record(store, import_id, kind, file_name, at):
    store.execute("INSERT INTO imports (import_id, kind, file_name, imported_at, rows_read, "
                  "rows_loaded, rows_rejected, rows_updated) VALUES (?, ?, ?, ?, 3, 2, 1, 0)",
                  [import_id, kind, file_name, at])


def test_history_freshness_and_rejections(store):
    _record(store, 1, "renewals", "old.csv", "2026-01-01 10:00:00")
    _record(store, 2, "renewals", "new.csv", "2026-02-01 10:00:00")
    _record(store, 3, "csms", "roster.csv", "2026-01-15 09:00:00")
    store.execute("INSERT INTO rejected_rows VALUES (2, 7, '{\"a\": 1}', 'renewal_date ''TBD'' is not a date')")
    store.execute("INSERT INTO csms (csm_id) VALUES ('c1'), ('c2')")

    assert import_history(store)["file_name"].tolist() == ["new.csv", "roster.csv", "old.csv"]
    fresh = data_freshness(store).set_index("table")
    assert fresh.at["renewals", "last_file"] == "new.csv"
    assert fresh.at["csms", "rows"] == 2 and fresh.at["csms", "last_file"] == "roster.csv"
    assert fresh.at["feedback", "last_import"] is None
    rej = rejected_rows(store, 2)
    assert rej.to_dict("records") == [
        {"row_number": 7, "reason": "renewal_date 'TBD' is not a date", "raw": '{"a": 1}'}]

from datetime import date

from analysis.present.options import filter_options


def test_filter_options_on_empty_store(store):
    opts = filter_options(store)
    assert opts.segments == () and opts.teams == () and opts.playbooks == ()
    assert opts.first_date is None and opts.last_date is None


def test_filter_options_lists_distinct_values_and_period(store):
    store.execute("INSERT INTO csms (csm_id, team) VALUES ('c1', 'West'), ('c2', 'East'), ('c3', NULL)")
    store.execute("INSERT INTO accounts (account_id, segment) VALUES ('a1', 'SMB'), ('a2', 'SMB')")
    store.execute("INSERT INTO renewals (renewal_id, account_id, renewal_date, outcome) "
                  "VALUES ('r1', 'a1', DATE '2023-02-01', 'renewed')")
    store.execute("INSERT INTO playbook_runs (run_id, scenario, playbook_id, account_id, opened_on) "
                  "VALUES ('x1', 'at_risk', 'at_risk', 'a1', DATE '2024-05-06'),"
                  "       ('x2', 'at_risk', NULL, 'a2', DATE '2022-12-31')")
    opts = filter_options(store)
    assert opts.segments == ("SMB",)
    assert opts.teams == ("East", "West")
    assert opts.playbooks == ("at_risk",)
    assert opts.first_date == date(2022, 12, 31) and opts.last_date == date(2024, 5, 6)


def test_filter_options_list_csms_by_name_with_their_names(store):
    store.execute("INSERT INTO csms (csm_id, name, team) VALUES ('c1', 'Zoe Park', 'West'), "
                  "('c2', 'Ann Lee', 'East'), ('c3', NULL, 'East')")
    opts = filter_options(store)
    # Ordered by the name shown: "Ann Lee", "c3" (no name: its id), "Zoe Park".
    assert opts.csms == ("c2", "c3", "c1")
    assert opts.csm_names == {"c1": "Zoe Park", "c2": "Ann Lee", "c3": "c3"}


def test_data_coverage_says_how_far_each_table_runs(store):
    from analysis.present.options import data_coverage
    store.execute("INSERT INTO renewals (renewal_id, account_id, renewal_date, outcome) VALUES "
                  "('r1', 'a1', DATE '2023-02-01', 'renewed'), "
                  "('r2', 'a1', DATE '2024-03-05', 'renewed')")
    store.execute("INSERT INTO playbook_views (viewed_at, csm_id, playbook_id) VALUES "
                  "(TIMESTAMP '2024-05-06 10:00:00', 'c1', 'p')")
    cover = data_coverage(store).set_index("table")
    assert cover.loc["renewals", "first_date"] == date(2023, 2, 1)
    assert cover.loc["renewals", "last_date"] == date(2024, 3, 5)
    assert cover.loc["playbook_views", "last_date"] == date(2024, 5, 6)
    assert cover.loc["playbook_runs", "last_date"] is None  # no rows
    assert cover.loc["csms", "last_date"] is None  # no dates


def test_data_version_moves_with_every_import(store):
    from analysis.present.options import data_version
    before = data_version(store)
    assert before == "0-0"
    store.execute("INSERT INTO imports (import_id, kind, file_name, imported_at, rows_loaded, "
                  "rows_rejected) VALUES (1, 'csms', 'csms.csv', now(), 1, 0)")
    assert data_version(store) == "1-1" != before

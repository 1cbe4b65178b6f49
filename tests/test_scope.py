from datetime import date

from analysis.filters import Filters
from analysis.scope import scoped


def _seed(store):
    store.execute("INSERT INTO csms (csm_id, team) VALUES ('c1', 'East'), ('c2', 'West')")
    store.execute("INSERT INTO accounts (account_id, segment, csm_id) VALUES "
                  "('a1', 'SMB', 'c1'), ('a2', 'Enterprise', 'c2')")
    store.execute("INSERT INTO renewals VALUES "
                  "('r1', 'a1', 'c1', DATE '2024-01-10', 'renewed', NULL, NULL),"
                  "('r2', 'a2', 'c2', DATE '2024-06-10', 'churned', NULL, NULL),"
                  "('r3', 'a1', 'c2', DATE '2025-01-10', 'renewed', NULL, NULL)")


def _ids(store, filters, **kw):
    sql, params = scoped("renewals", filters, **kw)
    return sorted(store.query(f"SELECT renewal_id FROM {sql} r", params)["renewal_id"])


def test_period_segment_and_team_filters(store):
    _seed(store)
    assert _ids(store, None) == ["r1", "r2", "r3"]
    assert _ids(store, Filters(date_from=date(2024, 6, 1))) == ["r2", "r3"]
    assert _ids(store, Filters(date_to=date(2024, 6, 10))) == ["r1", "r2"]
    assert _ids(store, Filters(segment="SMB")) == ["r1", "r3"]
    assert _ids(store, Filters(team="West")) == ["r2", "r3"]
    assert _ids(store, Filters(segment="SMB", team="West")) == ["r3"]
    assert _ids(store, Filters(date_from=date(2025, 1, 1)), period=False) == ["r1", "r2", "r3"]


def test_filters_round_trip_through_query_string():
    f = Filters(date_from=date(2024, 1, 1), segment="SMB", playbook_id="at_risk")
    assert f.to_query() == {"date_from": "2024-01-01", "segment": "SMB", "playbook_id": "at_risk"}
    assert Filters.from_query(f.to_query()) == f


def test_csm_filter_keeps_one_csms_rows_and_round_trips(store):
    _seed(store)
    assert _ids(store, Filters(csm="c2")) == ["r2", "r3"]
    assert _ids(store, Filters(csm="c1", segment="SMB")) == ["r1"]
    assert _ids(store, Filters(csm="c1", team="West")) == []
    f = Filters(team="West", csm="c2")
    assert f.to_query() == {"team": "West", "csm": "c2"}
    assert Filters.from_query(f.to_query()) == f
    # An older link (no csm) still reads as before.
    assert Filters.from_query({"team": "West"}) == Filters(team="West")

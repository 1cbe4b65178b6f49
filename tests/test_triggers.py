"""Trigger expressions: parsing, hostile input, features from the data, matches, missed plays."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from analysis.filters import Filters
from analysis.playbooks.library import Trigger, load_playbook, load_playbooks
from analysis.playbooks.triggers import (And, Compare, InList, Not, Or, TriggerError, account_features,
                               data_version, evaluate, feature_history, matching_accounts,
                               missed_plays, parse, to_sql)
from analysis.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MAX_AGE, DAYS = Settings().snapshot_max_age_days, Settings().missed_play_days  # as declared


# -- the language ---------------------------------------------------------------------------
def test_parse_builds_the_ast_with_precedence():
    assert parse("health_score < 60 or active_users_change_mom <= -0.30 and nps <= 6") == Or((
        Compare("health_score", "<", 60.0),
        And((Compare("active_users_change_mom", "<=", -0.30), Compare("nps", "<=", 6.0))),
    ))
    assert parse("not (segment in ['SMB', \"Mid-Market\"])") == Not(
        InList("segment", ("SMB", "Mid-Market")))
    assert parse("segment not in ['SMB']") == InList("segment", ("SMB",), negate=True)


@pytest.mark.parametrize("expression, reason", [
    ("__import__('os')", "unknown feature '__import__'"),
    ("__import__('os').system('ls')", "unexpected character '.' at position 17"),
    ("a.b", "unexpected character '.' at position 2"),
    ("().__class__", "unexpected character '.' at position 3"),
    ("health_score.real < 1", "unexpected character '.'"),
    ("open(1)", "unknown feature 'open'"),
    ("x" * 10_000, "10000 characters long; at most 500"),
    ("(" * 30 + "health_score < 1" + ")" * 30, "nested more than 20 levels"),
    ("not " * 30 + "health_score < 1", "nested more than 20 levels"),
    ("HEALTH_SCORE < 60", "unknown feature 'HEALTH_SCORE'"),
    ("health_score < 'sixty'", "health_score is a number"),
    ("segment < 3", "segment is a text"),
    ("segment > 'A'", "compare it with == or != or 'in'"),
    ("health_score", "expected a comparison after 'health_score'"),
    ("health_score < 60 and", "expected a feature name at position 22, found the end"),
    ("health_score < 60)", "expected 'and', 'or' or the end at position 18"),
    ("health_score in [1, 2", "expected ',' or ']'"),
    ("health_score <", "expected a number or a quoted text"),
    ("health_score = 60", "unexpected character '='"),
    ("", "empty"),
    ("health_score < 60; drop table accounts", "unexpected character ';'"),
])
def test_bad_and_hostile_expressions_are_refused(expression, reason):
    with pytest.raises(TriggerError) as info:
        parse(expression)
    assert reason in str(info.value)


def test_evaluate_uses_three_valued_logic():
    frame = pd.DataFrame({"health_score": [50.0, 70.0, None],
                          "segment": ["SMB", None, "Enterprise"]})
    assert evaluate("health_score < 60", frame).tolist() == [True, False, False]
    # Unknown stays unknown under `not`: the account without a score never fires.
    assert evaluate("not health_score < 60", frame).tolist() == [False, True, False]
    # ... but `unknown or true` is true and `unknown and false` is false.
    assert evaluate("health_score < 60 or segment == 'Enterprise'", frame).tolist() == [
        True, False, True]
    assert evaluate("not (health_score >= 60 and segment == 'SMB')", frame).tolist() == [
        True, False, True]
    assert evaluate("segment not in ['SMB']", frame).tolist() == [False, False, True]
    # nps has no column: always unknown, never fires.
    assert evaluate("nps <= 6", frame).tolist() == [False, False, False]


# -- a small organisation, built by hand ----------------------------------------------------
MONTHS = [date(2025, m, 1) for m in range(1, 7)]
SNAPSHOTS = {  # account: (health per month, active users per month)
    "A1": ([80, 78, 75, 55, 50, 52], [100, 100, 100, 100, 60, 60]),
    "A2": ([70, 65, 58, 62, 59, 61], [10] * 6),
    "A3": ([90] * 6, [50, 50, 50, 50, 50, 30]),
    "A4": ([40] * 6, [20] * 6),
}


def _build(store):
    store.execute("""insert into accounts (account_id, name, segment, arr, customer_since) values
        ('A1', 'Alpha', 'Enterprise', 300000, DATE '2020-03-15'),
        ('A2', 'Beta', 'SMB', 20000, DATE '2024-12-01'),
        ('A3', 'Gamma', 'Mid-Market', 80000, DATE '2021-06-01'),
        ('A4', 'Delta', 'SMB', 15000, DATE '2022-05-01'),
        ('A5', 'Epsilon', 'Enterprise', 500000, DATE '2019-01-10')""")
    rows = [(a, m, h, u) for a, (hs, us) in SNAPSHOTS.items()
            for m, h, u in zip(MONTHS, hs, us)]
    rows.append(("A5", date(2025, 1, 1), 30, 5))  # A5 stops reporting after January
    for row in rows:
        store.execute("insert into health_snapshots values (?, ?, ?, ?)", list(row))
    store.execute("""insert into renewals (renewal_id, account_id, renewal_date, outcome) values
        ('R1', 'A1', DATE '2025-03-15', 'renewed'),
        ('R3', 'A3', DATE '2025-08-01', 'renewed'),
        ('R4', 'A4', DATE '2025-05-01', 'churned')""")
    store.execute("""insert into playbook_runs
        (run_id, scenario, playbook_id, account_id, opened_on, closed_on, status) values
        ('X1', 'at_risk', 'at_risk', 'A1', DATE '2025-04-10', DATE '2025-06-20', 'closed'),
        ('X2', 'at_risk', 'at_risk', 'A2', DATE '2025-03-20', DATE '2025-04-05', 'closed'),
        ('X3', 'at_risk', 'at_risk', 'A2', DATE '2025-04-25', NULL, 'open'),
        ('X4', 'usage_drop', 'usage_drop', 'A3', DATE '2025-06-02', NULL, 'open')""")


@pytest.fixture
def org(store):
    _build(store)
    return store


@pytest.fixture
def playbook():
    shipped = load_playbook(ROOT / "playbooks" / "templates" / "at_risk.yaml")
    return replace(shipped, introduced_on=date(2025, 1, 1), triggers=(
        Trigger("customer_event", "Health below 60", "health_score < 60"),
        Trigger("customer_event", "Users down 30%", "active_users_change_mom <= -0.30"),
        Trigger("csm_defined", "Customer mentions a competitor"),
    ))


def test_account_features_on_the_latest_snapshot(org):
    f = account_features(org, max_age_days=MAX_AGE).set_index("account_id")
    assert list(f.index) == ["A1", "A2", "A3", "A4", "A5"]
    assert (pd.to_datetime(f["as_of"]).dt.date == date(2025, 6, 1)).all()
    assert f["health_score"].tolist()[:4] == [52, 61, 90, 40]
    # Change versus the snapshot nearest to 30 days back (1 May, 31 days).
    assert f.loc["A1", "health_change_30d"] == 2 and f.loc["A2", "health_change_30d"] == 2
    assert f.loc["A3", "active_users_change_mom"] == pytest.approx(-0.4)
    assert f.loc["A1", "active_users_change_mom"] == 0
    # A3 has a renewal on 2025-08-01: 61 days. A1's last renewal is past: its next
    # customer_since anniversary is 2026-03-15, 287 days on. A2 signed 2024-12-01: 183 days.
    assert f.loc["A3", "days_to_renewal"] == 61
    assert f.loc["A1", "days_to_renewal"] == 287
    assert f.loc["A2", "days_to_renewal"] == 183
    assert f.loc["A2", "days_since_customer"] == 182
    # Open on 1 June: A1's run (closed 20 June) and A2's open run; A3's opens the day after.
    assert f["open_runs"].tolist() == [1, 1, 0, 0, 0]
    # A4 churned on 1 May; A5's only snapshot is five months old: too stale to use.
    assert f["active"].tolist() == [True, True, True, False, True]
    assert pd.isna(f.loc["A5", "health_score"]) and f["nps"].isna().all()


def test_account_features_on_an_earlier_date(org):
    f = account_features(org, as_of=date(2025, 4, 15), max_age_days=MAX_AGE).set_index("account_id")
    assert f.loc["A1", "health_score"] == 55  # the 1 April snapshot
    assert f.loc["A1", "health_change_30d"] == -20
    assert f.loc["A4", "active"]  # not churned yet
    assert f.loc["A3", "days_to_renewal"] == 108


def test_matching_accounts_now(org, playbook):
    m = matching_accounts(org, playbook, max_age_days=MAX_AGE)
    assert m["account_id"].tolist() == ["A1", "A3"]
    assert m["triggers"].tolist() == ["Health below 60", "Users down 30%"]
    # On 1 May A1 met both triggers; A4 churned that day and no longer counts.
    m = matching_accounts(org, playbook, as_of=date(2025, 5, 1), max_age_days=MAX_AGE)
    assert m["account_id"].tolist() == ["A1", "A2"]
    assert m["triggers"].tolist()[0] == "Health below 60; Users down 30%"
    m = matching_accounts(org, playbook, as_of=date(2025, 4, 15), max_age_days=MAX_AGE)
    assert m["account_id"].tolist() == ["A4", "A1"]


def test_feature_history_has_one_row_per_snapshot(org):
    h = feature_history(org)
    assert len(h) == 25
    a2 = h[h["account_id"] == "A2"]
    assert a2["health_score"].tolist() == [70, 65, 58, 62, 59, 61]
    assert pd.isna(a2["health_change_30d"].iloc[0])  # nothing 30 days before January


def test_missed_plays(org, playbook):
    missed = missed_plays(org, playbook, days=DAYS)
    # A1's stretch (from 1 April) got a run on 10 April: covered. A2's first stretch (1 March)
    # got its run 19 days later: missed; its second (1 May) found a run already open: covered.
    # A3 fired on 1 June (users -40%) and only a usage_drop run followed: missed. A4 and A5
    # fired on 1 January (A4 was still a customer then) and got nothing. The data ends on
    # 20 June, the last run date, so every window has closed.
    assert missed["account_id"].tolist() == ["A3", "A2", "A4", "A5"]
    assert [str(d) for d in missed["triggered_on"]] == [
        "2025-06-01", "2025-03-01", "2025-01-01", "2025-01-01"]
    assert missed["days_since"].tolist() == [19, 111, 170, 170]
    assert missed["name"].tolist() == ["Gamma", "Beta", "Delta", "Epsilon"]
    assert missed["triggers"].tolist()[0] == "Users down 30%"


def test_missed_plays_window_setting_and_filters(org, playbook):
    # With a 20-day window A2's run on day 19 counts, and A3's window (to 21 June) has not
    # closed by the end of the data (20 June): undecided, not missed.
    assert missed_plays(org, playbook, days=20)["account_id"].tolist() == ["A4", "A5"]
    assert missed_plays(org, playbook, days=19)["account_id"].tolist() == ["A3", "A4", "A5"]
    smb = missed_plays(org, playbook, filters=Filters(segment="SMB"), days=DAYS)
    assert smb["account_id"].tolist() == ["A2", "A4"]


def test_missed_plays_ignore_time_before_introduction(org, playbook):
    later = replace(playbook, introduced_on=date(2025, 2, 15))
    # A4 and A5's January trigger predates the playbook; A4 still met it on 1 March, the
    # first snapshot after introduction, and got no run.
    missed = missed_plays(org, later, days=DAYS)
    assert missed["account_id"].tolist() == ["A3", "A2", "A4"]
    assert str(missed["triggered_on"].iloc[2]) == "2025-03-01"


def test_no_checkable_trigger_means_no_matches(org, playbook):
    manual = replace(playbook, triggers=(Trigger("csm_defined", "Customer asks"),))
    assert matching_accounts(org, manual, max_age_days=MAX_AGE).empty
    assert missed_plays(org, manual, days=DAYS).empty
    assert list(missed_plays(org, manual, days=DAYS).columns) == [
        "account_id", "name", "triggered_on", "days_since", "triggers"]


def test_empty_store_gives_empty_results(store, playbook):
    assert account_features(store, max_age_days=MAX_AGE).empty
    assert matching_accounts(store, playbook, max_age_days=MAX_AGE).empty
    assert missed_plays(store, playbook, days=DAYS).empty


# -- SQL evaluation, determinism, cache key -------------------------------------------------
@pytest.mark.parametrize("expression", [
    "health_score < 60",
    "not health_score < 60",
    "health_score < 60 or segment == 'Enterprise'",
    "not (health_score >= 60 and segment == 'SMB')",
    "segment not in ['SMB']",
    "segment in ['SMB', 'Enterprise'] and not health_score != 50",
    "nps <= 6 or health_score >= 70",
])
def test_to_sql_agrees_with_evaluate(store, expression):
    # The same three-valued logic in SQL and in pandas, row by row (missing values included).
    frame = pd.DataFrame({"health_score": [50.0, 70.0, None, 50.0],
                          "segment": ["SMB", None, "Enterprise", "Enterprise"],
                          "nps": [None] * 4}).astype({"nps": "float64"})
    sql, params = to_sql(parse(expression))
    store.register("trigger_frame", frame)
    try:
        fired = store.query(f"select coalesce({sql}, false) as fired from trigger_frame", params)
    finally:
        store.unregister("trigger_frame")
    assert fired["fired"].tolist() == evaluate(expression, frame).tolist()


def test_missed_plays_in_sql_equal_the_frame_rule(demo_store):
    # missed_plays evaluates the triggers in SQL; given a feature_history frame it applies
    # the same rule in pandas. Both must find the same plays for every shipped playbook.
    history = feature_history(demo_store)
    checked = 0
    for playbook in load_playbooks(Settings().playbooks_dir):
        if not playbook.checkable_triggers:
            continue
        in_sql = missed_plays(demo_store, playbook, days=DAYS)
        in_frame = missed_plays(demo_store, playbook, history=history, days=DAYS)
        pd.testing.assert_frame_equal(in_sql, in_frame, check_dtype=False)
        checked += len(in_sql)
    assert checked > 0


def test_feature_history_leaves_out_costly_features_not_asked_for(org):
    full = feature_history(org)
    lean = feature_history(org, features={"health_score"})
    costly = ["open_runs", "days_to_renewal", "health_change_30d", "active_users_change_mom"]
    assert lean[costly].isna().all().all()
    assert full["open_runs"].notna().all() and full["days_to_renewal"].notna().all()
    pd.testing.assert_frame_equal(full.drop(columns=costly), lean.drop(columns=costly))
    # Asking for one comparison brings back both (they share the 30-day lookup).
    some = feature_history(org, features={"health_change_30d"})
    pd.testing.assert_series_equal(some["active_users_change_mom"], full["active_users_change_mom"])


def test_a_churn_and_a_renewal_on_the_same_day_is_a_churn(org):
    # Which of two renewals on one date is "the last" would otherwise be arbitrary.
    org.execute("""insert into renewals (renewal_id, account_id, renewal_date, outcome) values
        ('R3b', 'A3', DATE '2025-04-01', 'renewed'), ('R3c', 'A3', DATE '2025-04-01', 'churned')""")
    features = account_features(org, max_age_days=MAX_AGE).set_index("account_id")
    assert not features.loc["A3", "active"]
    history = feature_history(org).set_index(["account_id", "as_of"])["active"]
    assert history.loc["A3"].tolist() == [True, True, True, False, False, False]


def test_data_version_changes_with_the_data(org):
    before = data_version(org)
    assert before == (str(org.path), None, 5, 25, 3, 4)
    org.execute("insert into health_snapshots values ('A1', DATE '2025-07-01', 50, 90)")
    assert data_version(org) == (str(org.path), None, 5, 26, 3, 4)

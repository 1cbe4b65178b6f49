"""Usage: runs and views per playbook, adherence and playbook share per CSM, step funnels.

The store is built by hand; every expected value is worked out in the comments.
"""
from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from analysis.playbooks import catalog
from analysis.filters import Filters
from analysis.metrics.usage import (playbook_usage, step_funnel, usage_by_csm, usage_by_playbook,
                            usage_json, usage_tables)
from tests.test_catalog import AT_RISK, RENEWAL  # two definitions, as the library gives them
from tests.builders import ctx


# run_id, scenario, playbook_id, account, csm, opened_on, status, steps_total, steps_completed
RUNS = [
    # c1: adherence of r1 comes from its step counts (3 of 4), not run_steps' 2 done of 3
    # (DESIGN.md "Usage": steps_completed / steps_total when the run has steps_total > 0, else
    # from run_steps -- this test pinned run_steps first until the semantic layer); r2 is open
    # (1.0);
    # r3 is eligible without a playbook; r4 opened before at_risk's introduction; r5's scenario
    # has no playbook; r6 has 0 steps, so no adherence.
    ("r1", "at_risk", "at_risk", "a1", "c1", "2024-08-01", "closed", 4, 3),
    ("r2", "at_risk", "at_risk", "a1", "c1", "2024-09-01", "open", 5, 5),
    ("r3", "at_risk", None, "a1", "c1", "2024-10-01", "closed", None, None),
    ("r4", "at_risk", None, "a1", "c1", "2024-06-01", "closed", None, None),
    ("r5", "retention", None, "a1", "c1", "2024-08-01", "closed", None, None),
    ("r6", "renewal", "renewal", "a1", "c1", "2024-10-01", "closed", 0, 0),
    # c2: opened on the introduction days, both eligible; r8 has no step count.
    ("r7", "at_risk", "at_risk", "a1", "c2", "2024-07-01", "closed", 10, 9),
    ("r8", "renewal", "renewal", "a1", "c2", "2024-09-02", "closed", None, None),
    # c3 (SMB account a2): one playbook run of four eligible.
    ("r9", "at_risk", None, "a2", "c3", "2025-01-01", "closed", None, None),
    ("r10", "at_risk", None, "a2", "c3", "2025-02-01", "closed", None, None),
    ("r11", "at_risk", None, "a2", "c3", "2025-03-01", "closed", None, None),
    ("r12", "at_risk", "at_risk", "a2", "c3", "2025-04-01", "closed", 2, 1),
    # No CSM: counts for the playbook, not for any CSM; its counts (4 of 4) win over run_steps'
    # 1 done of 2 (DESIGN.md "Usage", as r1).
    ("r13", "at_risk", "at_risk", "a1", None, "2024-12-01", "closed", 4, 4),
]
STEPS = [("r1", "step 1", "done"), ("r1", "step 2", "done"), ("r1", "step 10", "skipped"),
         ("r13", "step 1", "done"), ("r13", "step 2", "open")]
VIEWS = [("2024-07-15 10:00:00", "c1", "at_risk"), ("2024-08-20 09:30:00", "c2", "at_risk"),
         ("2025-02-03 12:00:00", "c3", "at_risk"), ("2024-08-15 08:00:00", "c1", "qbr_prep")]


@pytest.fixture
def defined(monkeypatch):
    monkeypatch.setattr(catalog, "load_playbooks", lambda folder=None: (AT_RISK, RENEWAL))


@pytest.fixture
def usage_store(store, defined):
    fill_usage(store)
    return store


def fill_usage(store) -> None:
    """The hand-built CSMs, accounts, runs, steps and views the usage tests work out."""
    store.execute("INSERT INTO csms (csm_id, name, team) VALUES "
                  "('c1', 'Ann', 'A'), ('c2', 'Bob', 'B'), ('c3', 'Cat', 'A')")
    store.execute("INSERT INTO accounts (account_id, segment) VALUES "
                  "('a1', 'Enterprise'), ('a2', 'SMB')")
    for row in RUNS:
        store.execute(
            "INSERT INTO playbook_runs (run_id, scenario, playbook_id, account_id, csm_id,"
            " opened_on, status, steps_total, steps_completed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            list(row))
    for row in STEPS:
        store.execute("INSERT INTO run_steps (run_id, step_id, status) VALUES (?, ?, ?)", list(row))
    for row in VIEWS:
        store.execute("INSERT INTO playbook_views (viewed_at, csm_id, playbook_id) VALUES (?, ?, ?)",
                      list(row))


def test_usage_by_playbook(usage_store):
    frame = usage_by_playbook(ctx(usage_store)).set_index("playbook_id")
    assert frame.index.tolist() == ["at_risk", "qbr_prep", "renewal"]
    at_risk = frame.loc["at_risk"]
    # r1, r2, r7, r12, r13; r2 is open and still counts.
    assert at_risk["runs"] == 5 and at_risk["open_runs"] == 1
    assert at_risk["views"] == 3
    assert at_risk["csms_using"] == 3  # c1, c2, c3; r13 has no CSM
    # Adherence (step counts first, DESIGN.md "Usage"): r1 3/4, r2 5/5, r7 9/10, r12 1/2,
    # r13 4/4 (its run_steps' 1 of 2 lose to the counts).
    assert at_risk["mean_adherence"] == pytest.approx((0.75 + 1 + 0.9 + 0.5 + 1) / 5)
    assert at_risk["adherence_n"] == 5
    assert at_risk["followed_runs"] == 3  # r2, r7 and r13 are at or above 0.8
    assert at_risk["name"] == "At-Risk Customer Save"
    renewal = frame.loc["renewal"]
    # r6 (0 steps) and r8 (no count) have no adherence: the mean is missing, not 0.
    assert renewal["runs"] == 2 and renewal["adherence_n"] == 0
    assert pd.isna(renewal["mean_adherence"])
    # Viewed but neither run nor defined: still listed, named by its id read as words.
    qbr = frame.loc["qbr_prep"]
    assert (qbr["runs"], qbr["views"], qbr["name"]) == (0, 1, "QBR prep")


def test_playbook_filter_restricts_the_playbook_rows(usage_store):
    frame = usage_by_playbook(ctx(usage_store, Filters(playbook_id="renewal")))
    assert frame["playbook_id"].tolist() == ["renewal"]
    per_quarter = playbook_usage(ctx(usage_store, Filters(playbook_id="renewal")))
    assert set(per_quarter["playbook_id"]) == {"renewal"}


def test_usage_by_csm(usage_store):
    frame = usage_by_csm(ctx(usage_store)).set_index("csm_id")
    assert frame.index.tolist() == ["c1", "c2", "c3"]
    c1 = frame.loc["c1"]
    # All six runs count; eligible are r1, r2, r3, r6 (r4 predates at_risk's playbook,
    # retention has none), three of them with a playbook.
    assert (c1["runs"], c1["eligible_runs"], c1["eligible_with_playbook"]) == (6, 4, 3)
    assert c1["playbook_share"] == pytest.approx(0.75)
    # Mean over r1 (3/4 by its counts, DESIGN.md "Usage") and r2 (1); r6 has no steps and is
    # left out.
    assert c1["mean_adherence"] == pytest.approx((0.75 + 1) / 2)
    assert c1["adherence_n"] == 2
    assert not c1["consistent"] and not c1["rare"]
    assert (c1["name"], c1["team"]) == ("Ann", "A")
    c2 = frame.loc["c2"]
    assert c2["playbook_share"] == 1.0 and c2["mean_adherence"] == pytest.approx(0.9)
    assert c2["consistent"] and not c2["rare"]
    c3 = frame.loc["c3"]
    assert c3["playbook_share"] == pytest.approx(0.25) and c3["rare"]
    assert not c3["consistent"]
    # Wilson interval of 3 of 4 at 95%: statsmodels proportion_confint(3, 4, method="wilson")
    # gives (0.30064, 0.95441) (centre (3 + 1.92)/5.84, half-width 1.96/5.84*sqrt(0.75+0.96)).
    assert c1["share_ci_low"] == pytest.approx(0.30064, abs=1e-5)
    assert c1["share_ci_high"] == pytest.approx(0.95441, abs=1e-5)
    # 0.30–0.95 straddles both 0.3 and 0.8: four runs cannot tell.
    assert c1["verdict"] == ("In between: 75% of 4 eligible runs used a playbook, mean "
                             "adherence 88% (uncertain: the share's 95% CI runs from 30% to 95%)")
    assert c2["verdict"].startswith("Consistent user: 100% of 2 eligible runs")


def test_csm_flags_follow_the_settings_at_their_bounds(store, defined):
    # Exactly 0.8 share and 0.8 adherence is consistent ("at least"); exactly 0.3 is not rare.
    store.execute("INSERT INTO csms (csm_id, name) VALUES ('x', 'X'), ('y', 'Y')")
    rows = [(f"x{i}", "at_risk", "at_risk" if i < 4 else None, "x", 5, 4 if i < 4 else None)
            for i in range(5)]
    rows += [(f"y{i}", "at_risk", "at_risk" if i < 3 else None, "y", None, None)
             for i in range(10)]
    for run_id, scenario, pb, csm, total, done in rows:
        store.execute("INSERT INTO playbook_runs (run_id, scenario, playbook_id, account_id,"
                      " csm_id, opened_on, steps_total, steps_completed)"
                      " VALUES (?, ?, ?, 'a', ?, '2025-01-01', ?, ?)",
                      [run_id, scenario, pb, csm, total, done])
    frame = usage_by_csm(ctx(store)).set_index("csm_id")
    assert frame.loc["x", "playbook_share"] == pytest.approx(0.8)
    assert frame.loc["x", "mean_adherence"] == pytest.approx(0.8)
    assert frame.loc["x", "consistent"]
    assert frame.loc["y", "playbook_share"] == pytest.approx(0.3)
    assert not frame.loc["y", "rare"] and not frame.loc["y", "consistent"]


def test_csm_without_eligible_runs_has_no_share_and_no_flags(store, defined):
    store.execute("INSERT INTO playbook_runs (run_id, scenario, account_id, csm_id, opened_on)"
                  " VALUES ('q1', 'qbr', 'a', 'z', '2025-01-01')")
    row = usage_by_csm(ctx(store)).set_index("csm_id").loc["z"]
    assert row["runs"] == 1 and row["eligible_runs"] == 0
    assert pd.isna(row["playbook_share"]) and pd.isna(row["mean_adherence"])
    assert not row["consistent"] and not row["rare"]
    assert row["verdict"].startswith("No eligible runs")
    assert pd.isna(row["name"])  # not on the roster


def test_team_segment_and_period_filters(usage_store):
    team_a = usage_by_csm(ctx(usage_store, Filters(team="A")))
    assert team_a["csm_id"].tolist() == ["c1", "c3"]
    # Segment SMB keeps only account a2's runs: c3's four.
    smb = usage_by_playbook(ctx(usage_store, Filters(segment="SMB"))).set_index("playbook_id")
    assert smb.loc["at_risk", "runs"] == 1 and smb.loc["renewal", "runs"] == 0
    # Views belong to no account; a segment filter leaves them whole (scope.py).
    assert smb.loc["at_risk", "views"] == 3
    in_2025 = usage_by_csm(ctx(usage_store, Filters(date_from=date(2025, 1, 1))))
    assert in_2025["csm_id"].tolist() == ["c3"]


def test_playbook_usage_per_quarter(usage_store):
    frame = playbook_usage(ctx(usage_store), freq="Q")
    got = {(r.period, r.playbook_id): (r.runs, r.views) for r in frame.itertuples()}
    assert got == {
        (date(2024, 7, 1), "at_risk"): (3, 2),   # r1, r2, r7; views 07-15, 08-20
        (date(2024, 7, 1), "qbr_prep"): (0, 1),
        (date(2024, 7, 1), "renewal"): (1, 0),   # r8
        (date(2024, 10, 1), "at_risk"): (1, 0),  # r13
        (date(2024, 10, 1), "renewal"): (1, 0),  # r6
        (date(2025, 1, 1), "at_risk"): (0, 1),
        (date(2025, 4, 1), "at_risk"): (1, 0),   # r12
    }
    assert frame["period"].tolist() == sorted(frame["period"].tolist())
    monthly = playbook_usage(ctx(usage_store), freq="M")
    assert monthly["runs"].sum() == 7 and monthly["views"].sum() == 4
    with pytest.raises(ValueError, match="freq"):
        playbook_usage(ctx(usage_store), freq="W")


def test_step_funnel(usage_store):
    frame = step_funnel(ctx(usage_store, None), "at_risk")
    # Natural order: the number in the id, so "step 10" comes last.
    assert frame["step_id"].tolist() == ["step 1", "step 2", "step 10"]
    assert frame[["runs", "done", "skipped", "open"]].values.tolist() == [
        [2, 2, 0, 0], [2, 1, 0, 1], [1, 0, 1, 0]]
    assert frame["done_rate"].tolist() == [1.0, 0.5, 0.0]
    assert step_funnel(ctx(usage_store, None), "renewal").empty
    with pytest.raises(ValueError):
        step_funnel(ctx(usage_store, None), "")


def test_usage_json_has_the_contract_keys(usage_store):
    result = usage_json(ctx(usage_store))
    assert set(result) == {"playbooks", "csms"}
    assert {"playbook_id", "runs", "views", "csms_using", "mean_adherence"} <= set(
        result["playbooks"][0])
    assert {"csm_id", "runs", "mean_adherence", "playbook_share", "consistent", "rare"} <= set(
        result["csms"][0])
    renewal = next(p for p in result["playbooks"] if p["playbook_id"] == "renewal")
    assert renewal["mean_adherence"] is None
    c2 = next(c for c in result["csms"] if c["csm_id"] == "c2")
    assert c2["consistent"] is True and isinstance(c2["runs"], int)
    json.dumps(result, allow_nan=False)


def test_empty_store(store, monkeypatch):
    monkeypatch.setattr(catalog, "load_playbooks", lambda folder=None: ())
    assert usage_by_playbook(ctx(store)).empty
    assert usage_by_csm(ctx(store)).empty
    assert playbook_usage(ctx(store)).empty
    assert step_funnel(ctx(store, None), "at_risk").empty
    result = usage_json(ctx(store))
    assert result == {"playbooks": [], "csms": []}
    assert json.dumps(result, allow_nan=False)


def test_defined_playbook_nobody_ran_shows_zero(store, defined):
    frame = usage_by_playbook(ctx(store))
    assert frame["playbook_id"].tolist() == ["at_risk", "renewal"]
    assert frame["runs"].tolist() == [0, 0]
    assert usage_json(ctx(store))["playbooks"][0]["mean_adherence"] is None


# -- the demo organisation's planted truths (analysis.demo.PLANTED) ---------------------------
def test_demo_rare_users_are_the_planted_ones(demo_store):
    from analysis.demo import PLANTED
    csms = usage_by_csm(ctx(demo_store))
    assert sorted(csms.loc[csms["rare"], "csm_id"]) == sorted(PLANTED["rare_users"])
    # Consistent users are a subset of the planted profile: a CSM who left before any
    # playbook existed has no eligible run, and chance can pull adherence just under 0.8. (A
    # CSM whose team rolled a playbook out last is no longer missed: their runs count from
    # their team's rollout, PLANTED["rollouts"].) The hires not ramped yet are drawn at share
    # 0.85 and adherence 0.80, on the rule's thresholds, from a handful of runs: either label
    # is chance for them.
    consistent = set(csms.loc[csms["consistent"], "csm_id"])
    assert consistent - set(PLANTED["not_ramped_csms"]) <= set(PLANTED["consistent_users"])
    assert len(consistent & set(PLANTED["consistent_users"])) >= \
        len(PLANTED["consistent_users"]) - 2


def test_demo_undefined_playbook_in_the_catalogue(demo_store):
    from analysis.demo import PLANTED
    playbook_id, scenario = PLANTED["undefined_playbook"]
    runs = demo_store.query("SELECT opened_on FROM playbook_runs WHERE playbook_id = ?",
                            [playbook_id])
    row = ctx(demo_store).catalog.set_index("playbook_id").loc[playbook_id]
    assert not row["defined"] and row["scenario"] == scenario
    assert row["introduced_on"] == pd.Timestamp(runs["opened_on"].min()).date()
    assert row["outcome_metric"] == "success_rate"


def test_demo_usage_counts_match_a_plain_count(demo_store):
    # Independent of the SQL: count the at_risk runs and views with pandas.
    runs = demo_store.query("SELECT playbook_id FROM playbook_runs")
    views = demo_store.query("SELECT playbook_id FROM playbook_views")
    row = usage_by_playbook(ctx(demo_store)).set_index("playbook_id").loc["at_risk"]
    assert row["runs"] == (runs["playbook_id"] == "at_risk").sum()
    assert row["views"] == (views["playbook_id"] == "at_risk").sum()


def _eligible_by_pandas(store, runs: pd.DataFrame, csms: pd.DataFrame, accounts: pd.DataFrame,
                       rollouts: bool = True) -> pd.Series:
    """Whether each run counts toward its CSM's playbook share, read off DESIGN.md with
    loops: from the first date a playbook of its scenario reached it (its introduced_on, or,
    for a playbook with rollouts rows, the rollout to the run's team or segment, by the kind
    more of its rows name, names with case and spacing ignored); a run carrying a rolled-out
    playbook always counts. rollouts=False reads every playbook by its introduction alone
    (the rule before rollouts)."""
    export = store.query("SELECT * FROM rollouts") if rollouts else pd.DataFrame(
        columns=["playbook_id", "team", "segment", "rolled_out_on"])
    def named(names: pd.Series) -> pd.Series:
        return names.str.strip().str.lower()

    group_of = {"team": runs["csm_id"].map(dict(zip(csms["csm_id"], named(csms["team"])))),
                "segment": runs["account_id"].map(dict(zip(accounts["account_id"],
                                                          named(accounts["segment"]))))}
    opened = pd.to_datetime(runs["opened_on"])
    reached = [pd.Series(pd.NaT, index=runs.index)]
    for playbook in ctx(store).catalog.itertuples():
        of_scenario = runs["scenario"] == playbook.scenario
        rows = export[export["playbook_id"] == playbook.playbook_id]
        if rows.empty:
            on = pd.Series(pd.to_datetime(playbook.introduced_on), index=runs.index)
        else:
            kind = ("team" if rows["team"].notna().sum() >= rows["segment"].notna().sum()
                    else "segment")
            dates = rows.assign(group=named(rows[kind])).dropna(subset=["group"]) \
                .groupby("group")["rolled_out_on"].min()
            on = pd.to_datetime(group_of[kind].map(dates))
        reached.append(on.where(of_scenario))
    first = pd.concat(reached, axis=1).min(axis=1)  # NaT: not reached
    return (opened >= first) | runs["playbook_id"].isin(export["playbook_id"])


def _usage_by_pandas(store, filters: Filters,
                     rollouts: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The usage figures the way a pandas notebook gets them: whole tables, masks, group-bys
    (rollouts=False: eligibility by the introduction alone, see _eligible_by_pandas)."""
    runs = store.query("SELECT * FROM playbook_runs")
    views = store.query("SELECT * FROM playbook_views")
    steps = store.query("SELECT run_id, status FROM run_steps")
    accounts = store.query("SELECT account_id, segment FROM accounts")
    csms = store.query("SELECT csm_id, team FROM csms")
    keep = pd.Series(True, index=runs.index)
    keep_views = pd.Series(True, index=views.index)
    if filters.date_from:
        start = pd.Timestamp(filters.date_from)
        keep &= pd.to_datetime(runs["opened_on"]) >= start
        keep_views &= pd.to_datetime(views["viewed_at"]).dt.normalize() >= start
    if filters.segment:
        keep &= runs["account_id"].isin(accounts.loc[accounts["segment"] == filters.segment,
                                                     "account_id"])
    if filters.team:
        team = csms.loc[csms["team"] == filters.team, "csm_id"]
        keep &= runs["csm_id"].isin(team)
        keep_views &= views["csm_id"].isin(team)
    runs, views = runs[keep].copy(), views[keep_views]
    # Adherence (DESIGN.md "Usage"): the counts when steps_total > 0 and steps_completed is
    # known, else done over all step rows; only runs with a playbook are averaged anywhere.
    per_run = steps.assign(done=steps["status"].eq("done")).groupby("run_id")["done"]
    from_steps = runs["run_id"].map(per_run.sum() / per_run.size())
    total = runs["steps_total"].astype(float)
    from_counts = (runs["steps_completed"].astype(float).clip(upper=total) / total).where(total > 0)
    from_counts = from_counts.where(runs["steps_completed"].notna())
    runs["adherence"] = (from_counts.fillna(from_steps.astype(float))
                         .where(runs["playbook_id"].notna()))
    runs["eligible"] = _eligible_by_pandas(store, runs, csms, accounts, rollouts)
    with_pb = runs[runs["playbook_id"].notna()]
    views = views[views["playbook_id"].notna()]
    if filters.playbook_id:
        with_pb = with_pb[with_pb["playbook_id"] == filters.playbook_id]
        views = views[views["playbook_id"] == filters.playbook_id]
    pb = with_pb["playbook_id"]
    by_playbook = pd.DataFrame({
        "runs": with_pb.groupby(pb).size(),
        "open_runs": with_pb["status"].eq("open").groupby(pb).sum(),
        "csms_using": with_pb["csm_id"].groupby(pb).nunique(),
        "mean_adherence": with_pb["adherence"].groupby(pb).mean(),
        "adherence_n": with_pb["adherence"].groupby(pb).count(),
        "followed_runs": (with_pb["adherence"] >= 0.8).groupby(pb).sum(),
        "views": views.groupby("playbook_id").size(),
    }).fillna({"runs": 0, "open_runs": 0, "csms_using": 0, "adherence_n": 0,
               "followed_runs": 0, "views": 0})
    mine = runs[runs["csm_id"].notna()]
    used = mine["playbook_id"].notna()
    csm = mine["csm_id"]
    by_csm = pd.DataFrame({
        "runs": mine.groupby(csm).size(),
        "playbook_runs": used.groupby(csm).sum(),
        "eligible_runs": mine["eligible"].groupby(csm).sum(),
        "eligible_with_playbook": (mine["eligible"] & used).groupby(csm).sum(),
        "mean_adherence": mine["adherence"].groupby(csm).mean(),
        "adherence_n": mine["adherence"].groupby(csm).count(),
    })
    return by_playbook, by_csm


def _assert_usage_equal(store, filters: Filters) -> None:
    by_playbook, by_csm = usage_tables(ctx(store, filters))
    expected_pb, expected_csm = _usage_by_pandas(store, filters)
    got_pb = by_playbook.set_index("playbook_id")
    got_pb = got_pb[(got_pb["runs"] > 0) | (got_pb["views"] > 0)]  # not catalogue-only rows
    assert sorted(got_pb.index) == sorted(expected_pb.index)
    for column in expected_pb:
        np.testing.assert_allclose(got_pb[column].astype(float),
                                   expected_pb.loc[got_pb.index, column].astype(float),
                                   rtol=1e-12, err_msg=column)
    got_csm = by_csm.set_index("csm_id")
    assert got_csm.index.tolist() == sorted(expected_csm.index)
    for column in expected_csm:
        np.testing.assert_allclose(got_csm[column].astype(float),
                                   expected_csm.loc[got_csm.index, column].astype(float),
                                   rtol=1e-12, err_msg=column)


@pytest.mark.parametrize("filters", [
    Filters(), Filters(playbook_id="at_risk"), Filters(segment="SMB"),
    Filters(date_from=date(2024, 8, 1), playbook_id="renewal"), Filters(team="no such team"),
])
def test_usage_tables_equal_a_pandas_notebook(usage_store, filters):
    # One pass over (playbook, CSM) cells must give what whole-table pandas gives; the hand
    # counts above pin the definitions, this pins the rollups under every filter.
    _assert_usage_equal(usage_store, filters)
    by_playbook, by_csm = usage_tables(ctx(usage_store, filters))
    pd.testing.assert_frame_equal(by_playbook, usage_by_playbook(ctx(usage_store, filters)))
    pd.testing.assert_frame_equal(by_csm, usage_by_csm(ctx(usage_store, filters)))
    if filters == Filters():  # r1, r2, r7, r12, r13 (see test_usage_by_playbook)
        assert by_playbook.set_index("playbook_id").loc["at_risk", "runs"] == 5


def test_steps_of_runs_without_a_playbook_change_nothing(usage_store):
    # r3 ran without a playbook: no usage figure averages its adherence, steps or not.
    _assert_unchanged_by(usage_store, "INSERT INTO run_steps (run_id, step_id, status) VALUES "
                                      "('r3', '1', 'done'), ('r3', '2', 'skipped')")


def _assert_unchanged_by(store, sql: str) -> None:
    """Both usage tables are the same after `sql` as before it."""
    before = usage_tables(ctx(store))
    store.execute(sql)
    after = usage_tables(ctx(store))
    pd.testing.assert_frame_equal(before[0], after[0])
    pd.testing.assert_frame_equal(before[1], after[1])


@pytest.mark.parametrize("filters", [Filters(), Filters(segment="SMB", playbook_id="at_risk"),
                                     Filters(date_from=date(2025, 1, 1), team="Growth Team")])
def test_usage_tables_on_the_demo_equal_a_pandas_notebook(demo_store, filters):
    _assert_usage_equal(demo_store, filters)


def test_run_totals_count_the_runs_without_a_playbook(store):
    from analysis.metrics.usage import run_totals
    fill_usage(store)
    # RUNS: 13 runs, 7 with a playbook (r1, r2, r6, r7, r8, r12, r13), 6 without.
    assert run_totals(ctx(store)) == {"runs": 13, "with_playbook": 7, "without_playbook": 6}
    # Team A (c1, c3): c1's six runs and c3's four, of which r1, r2, r6, r12 used one.
    assert run_totals(ctx(store, Filters(team="A"))) == {"runs": 10, "with_playbook": 4,
                                                   "without_playbook": 6}


# -- a playbook rolled out team by team (DESIGN.md "Usage" with a `rollouts` export) ------------
# A run counts toward the share from the day its scenario's playbook reached its group: the
# introduction (at_risk 2024-07-01, renewal 2024-09-02) for a playbook without rollouts, the
# group's rolled_out_on for one with; a group the export does not name is not reached. A run
# carrying the rolled-out playbook always counts (used), so no use is hidden.
ROLLOUT_CSMS = [("n1", "Nia", " north "), ("w1", "Wes", "West"), ("s1", "Sam", "South"),
                ("x1", "Xan", None)]
# at_risk by team (two team rows outvote the SMB one, which then dates no group), names with
# case and spacing ignored: North from 2024-10-01, South from 2025-01-01, West never.
ROLLOUT_ROWS = [("at_risk", "NORTH", None, "2024-10-01"), ("at_risk", "South", None, "2025-01-01"),
                ("at_risk", None, "SMB", "2024-08-01")]
# run_id, scenario, playbook_id, account, csm, opened_on
ROLLOUT_RUNS = [
    ("n_early", "at_risk", None, "ent", "n1", "2024-08-01"),         # before North's rollout
    ("n_smb", "at_risk", None, "smb", "n1", "2024-09-01"),           # the SMB row reaches no one
    ("n_pilot", "at_risk", "at_risk", "ent", "n1", "2024-09-15"),    # carries it: counts, used
    ("n_day", "at_risk", None, "ent", "n1", "2024-10-01"),           # the rollout's day: counts
    ("n_used", "at_risk", "at_risk", "ent", "n1", "2024-11-01"),     # counts, used
    ("n_renewal", "renewal", None, "ent", "n1", "2024-10-01"),       # no rollouts: introduction
    ("w_none", "at_risk", None, "ent", "w1", "2025-02-01"),          # West is never reached
    ("w_used", "at_risk", "at_risk", "ent", "w1", "2025-03-01"),     # carries it: counts, used
    ("w_renewal", "renewal", None, "ent", "w1", "2024-12-01"),       # counts
    ("s_early", "at_risk", None, "ent", "s1", "2024-12-15"),         # before South's rollout
    ("s_day", "at_risk", "at_risk", "ent", "s1", "2025-01-01"),      # counts, used
    ("s_used", "at_risk", "at_risk", "smb", "s1", "2025-02-01"),     # counts, used
    ("x_none", "at_risk", None, "ent", "x1", "2025-01-01"),          # no team: not reached
]


def fill_rollout_usage(store, rollouts=ROLLOUT_ROWS) -> None:
    for csm_id, name, team in ROLLOUT_CSMS:
        store.execute("INSERT INTO csms (csm_id, name, team) VALUES (?, ?, ?)",
                      [csm_id, name, team])
    store.execute("INSERT INTO accounts (account_id, segment) VALUES "
                  "('ent', 'Enterprise'), ('smb', 'SMB')")
    for row in ROLLOUT_RUNS:
        store.execute("INSERT INTO playbook_runs (run_id, scenario, playbook_id, account_id,"
                      " csm_id, opened_on) VALUES (?, ?, ?, ?, ?, ?)", list(row))
    for row in rollouts:
        store.execute("INSERT INTO rollouts (playbook_id, team, segment, rolled_out_on) "
                      "VALUES (?, ?, ?, ?)", list(row))


def _share_counts(store, **kwargs) -> dict[str, tuple[int, int]]:
    frame = usage_by_csm(ctx(store, **kwargs))
    return {r.csm_id: (r.eligible_runs, r.eligible_with_playbook) for r in frame.itertuples()}


def test_a_rolled_out_playbook_counts_runs_from_their_teams_rollout(store, defined):
    fill_rollout_usage(store)
    # n1: n_pilot, n_day, n_used, n_renewal (not n_early, n_smb); w1: w_used, w_renewal;
    # s1: s_day, s_used; x1: none.
    assert _share_counts(store) == {"n1": (4, 2), "w1": (2, 1), "s1": (2, 2), "x1": (0, 0)}
    frame = usage_by_csm(ctx(store)).set_index("csm_id")
    assert frame.loc["n1", "playbook_share"] == pytest.approx(0.5)
    assert frame.loc["s1", "playbook_share"] == 1.0
    assert pd.isna(frame.loc["x1", "playbook_share"])
    assert frame.loc["x1", "verdict"].startswith("No eligible runs")
    # runs counts every run, reached or not; the per-playbook rows do not change at all.
    assert frame["runs"].to_dict() == {"n1": 6, "s1": 3, "w1": 3, "x1": 1}
    # Without the rollouts export the introduction alone decides, as before: every at_risk run
    # from 2024-07-01 and renewal's from 2024-09-02.
    by_playbook = usage_by_playbook(ctx(store))
    store.execute("DELETE FROM rollouts")
    assert _share_counts(store) == {"n1": (6, 2), "w1": (3, 1), "s1": (3, 2), "x1": (1, 0)}
    pd.testing.assert_frame_equal(usage_by_playbook(ctx(store)), by_playbook)


def test_a_team_filter_keeps_each_runs_own_team(store, defined):
    # The filter narrows the runs; the group a run belongs to is still its CSM's team.
    fill_rollout_usage(store)
    assert _share_counts(store, filters=Filters(team="South")) == {"s1": (2, 2)}
    assert _share_counts(store, filters=Filters(segment="SMB")) == {"n1": (0, 0), "s1": (1, 1)}


def test_a_rollouts_export_of_no_catalogued_playbook_changes_nothing(usage_store):
    # The rollout join is read (the table is not empty), yet no scenario's dates change:
    # exactly the introduction-only counts of test_usage_by_csm.
    _assert_unchanged_by(usage_store, "INSERT INTO rollouts (playbook_id, team, rolled_out_on) "
                                      "VALUES ('ghost', 'A', '2030-01-01')")
    assert _share_counts(usage_store) == {"c1": (4, 3), "c2": (2, 2), "c3": (4, 1)}


def test_a_scenario_with_several_playbooks_counts_from_the_first_to_reach_the_run(store):
    # renewal has three playbooks: a rolled out by segment (Enterprise 2024-06-01), b by team
    # (North 2024-03-01), c to everyone on 2024-09-01. A run counts from the earliest of the
    # dates that apply to it: its team's, its account's segment's, everyone's.
    catalog = pd.DataFrame({"playbook_id": ["a", "b", "c"], "name": ["A", "B", "C"],
                            "scenario": ["renewal"] * 3,
                            "introduced_on": [date(2024, 1, 1), date(2024, 1, 1),
                                              date(2024, 9, 1)]})
    store.execute("INSERT INTO csms (csm_id, team) VALUES ('n', 'North'), ('w', 'West')")
    store.execute("INSERT INTO accounts (account_id, segment) VALUES "
                  "('ent', 'Enterprise'), ('smb', 'SMB')")
    for row in (("a", None, "Enterprise", "2024-06-01"), ("b", "North", None, "2024-03-01")):
        store.execute("INSERT INTO rollouts (playbook_id, team, segment, rolled_out_on) "
                      "VALUES (?, ?, ?, ?)", list(row))
    runs = [("n_smb_apr", None, "smb", "n", "2024-04-01"),    # North from 03-01: counts
            ("n_ent_feb", None, "ent", "n", "2024-02-01"),    # first reached 03-01: no
            ("w_ent_may", None, "ent", "w", "2024-05-01"),    # Enterprise from 06-01: no
            ("w_ent_jul", None, "ent", "w", "2024-07-01"),    # counts
            ("w_smb_aug", None, "smb", "w", "2024-08-01"),    # West/SMB from 09-01: no
            ("w_smb_aug_a", "a", "smb", "w", "2024-08-15"),   # carries rolled-out a: counts
            ("w_smb_aug_c", "c", "smb", "w", "2024-08-20"),   # c before its introduction: no
            ("w_smb_sep", None, "smb", "w", "2024-09-01"),    # counts
            ("w_smb_sep_c", "c", "smb", "w", "2024-09-02")]   # counts, used
    for run_id, playbook_id, account_id, csm_id, opened_on in runs:
        store.execute("INSERT INTO playbook_runs (run_id, scenario, playbook_id, account_id,"
                      " csm_id, opened_on) VALUES (?, 'renewal', ?, ?, ?, ?)",
                      [run_id, playbook_id, account_id, csm_id, opened_on])
    assert _share_counts(store, catalog=catalog) == {"n": (1, 0), "w": (4, 2)}


def test_rollout_usage_equals_a_pandas_notebook(store, defined):
    fill_rollout_usage(store)
    _assert_usage_equal(store, Filters())


def test_demo_lily_chen_is_a_consistent_user_once_qbrs_count_from_her_teams_rollout(demo_store):
    # Lily Chen (Growth Team, the last team to roll QBR prep out) is planted a consistent user;
    # her QBRs before the Growth Team's rollout could not carry the playbook.
    from analysis.demo import PLANTED
    csm_id, team = demo_store.query(
        "SELECT csm_id, team FROM csms WHERE name = 'Lily Chen'").iloc[0]
    assert csm_id in PLANTED["consistent_users"] and team == "Growth Team"
    rollout_rule = _usage_by_pandas(demo_store, Filters())[1].loc[csm_id]
    introduction_rule = _usage_by_pandas(demo_store, Filters(), rollouts=False)[1].loc[csm_id]
    row = usage_by_csm(ctx(demo_store)).set_index("csm_id").loc[csm_id]
    assert (row["eligible_runs"], row["eligible_with_playbook"]) == (
        rollout_rule["eligible_runs"], rollout_rule["eligible_with_playbook"])
    # The rule, not the data, moved her: the introduction alone counts QBRs that could not carry
    # the playbook, and her share falls below the threshold; from her team's rollout it does not.
    share = rollout_rule["eligible_with_playbook"] / rollout_rule["eligible_runs"]
    before = introduction_rule["eligible_with_playbook"] / introduction_rule["eligible_runs"]
    assert before < 0.8 <= share
    assert row["playbook_share"] == pytest.approx(share)
    assert row["consistent"] == (share >= 0.8 and row["mean_adherence"] >= 0.8)
    assert row["consistent"]

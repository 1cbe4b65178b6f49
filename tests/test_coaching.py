"""analysis/metrics/coaching.py on hand-built run_steps: the step x CSM matrix, the steps that
separate successful from failed runs, and the CSMs whose pattern differs from the team's."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from analysis.filters import Filters
from analysis.metrics.coaching import csm_differences, separating_steps, step_csm_matrix
from tests.builders import ctx

START = date(2024, 1, 1)
# (csm, runs, runs whose step 2 is skipped, failed runs, runs whose step 1 is done late)
CSMS = [("c1", 10, {1, 2}, {1, 2, 3}, {1, 2, 3}),
        ("c2", 10, set(range(1, 9)), set(range(1, 9)), set()),
        ("c3", 4, {1}, {1}, set())]


def fill_coaching(store) -> None:
    """24 runs of playbook 'pb' with two steps each, and one run of another playbook.

    Step 1 is due 7 days after the run opens, done 5 days after (10 for c1's runs 1-3: late).
    Step 2 is due 14 days after, done 5 days after unless skipped; c3's run 4 leaves it open
    past its due date (late on the data's last day), c2's run 10 leaves it open and not yet due.
    """
    store.execute("INSERT INTO csms (csm_id, name, team) VALUES "
                  "('c1', 'Ann', 'A'), ('c2', 'Bob', 'A'), ('c3', 'Cat', 'B')")
    store.execute("INSERT INTO accounts (account_id, segment) VALUES ('a1', 'SMB')")
    day = 0
    for csm, runs, skipped, failed, late in CSMS:
        for i in range(1, runs + 1):
            opened = START + timedelta(days=day)
            day += 1
            run_id = f"{csm}-{i}"
            store.execute(
                "INSERT INTO playbook_runs (run_id, scenario, playbook_id, account_id, "
                "csm_id, opened_on, status, outcome) VALUES (?, 'sc', 'pb', 'a1', ?, ?, 'closed', ?)",
                [run_id, csm, opened, "failure" if i in failed else "success"])
            store.execute("INSERT INTO run_steps VALUES (?, 'step 1', ?, ?, 'done')",
                          [run_id, opened + timedelta(7),
                           opened + timedelta(10 if i in late else 5)])
            if i in skipped:
                step2 = (opened + timedelta(14), None, "skipped")
            elif (csm, i) == ("c3", 4):
                step2 = (opened + timedelta(1), None, "open")
            elif (csm, i) == ("c2", 10):
                step2 = (date(2030, 1, 1), None, "open")
            else:
                step2 = (opened + timedelta(14), opened + timedelta(5), "done")
            store.execute("INSERT INTO run_steps VALUES (?, 'step 2', ?, ?, ?)", [run_id, *step2])
    # Another playbook's skips must not count.
    store.execute("INSERT INTO playbook_runs (run_id, scenario, playbook_id, account_id, "
                  "csm_id, opened_on, status, outcome) VALUES ('x1', 'sc', 'other', 'a1', 'c1', "
                  "DATE '2024-01-05', "
                  "'closed', 'failure')")
    store.execute("INSERT INTO run_steps VALUES ('x1', 'step 2', NULL, NULL, 'skipped')")


def test_matrix_counts_skips_and_lateness_per_step_and_csm(store):
    fill_coaching(store)
    m = step_csm_matrix(ctx(store, Filters()), "pb")
    got = {(r["step_id"], r["name"]): (r["steps"], r["skipped"], r["late_n"], r["late"])
           for r in m.to_dict("records")}
    assert got == {
        ("step 1", "Ann"): (10, 0, 10, 3), ("step 1", "Bob"): (10, 0, 10, 0),
        ("step 1", "Cat"): (4, 0, 4, 0),
        # Skipped steps have no lateness; c2's run 10 is open but not yet due (not late).
        ("step 2", "Ann"): (10, 2, 8, 0), ("step 2", "Bob"): (10, 8, 2, 0),
        # c3's run 4 is open past its due date: late.
        ("step 2", "Cat"): (4, 1, 3, 1)}
    assert list(m["step_id"]) == ["step 1"] * 3 + ["step 2"] * 3
    bob = m[(m["step_id"] == "step 2") & (m["csm_id"] == "c2")].iloc[0]
    low, high = proportion_confint(8, 10, alpha=0.05, method="wilson")
    assert bob["skip_rate"] == 0.8
    assert (bob["skip_ci_low"], bob["skip_ci_high"]) == pytest.approx((low, high))
    # The team filter keeps team A's CSMs only.
    assert set(step_csm_matrix(ctx(store, Filters(team="A")), "pb")["name"]) == {"Ann", "Bob"}


def test_separating_steps_compare_skips_in_failed_and_successful_runs(store):
    fill_coaching(store)
    steps = separating_steps(ctx(store, Filters()), "pb").set_index("step_id")
    # Failed runs: 3 + 8 + 1 = 12, 11 of them skipped step 2; successful: 12, none skipped.
    two = steps.loc["step 2"]
    assert (two["failure_n"], two["failure_skipped"], two["success_n"],
            two["success_skipped"]) == (12, 11, 12, 0)
    assert two["diff"] == pytest.approx(11 / 12)
    low, high = confint_proportions_2indep(11, 12, 0, 12, method="newcomb", compare="diff")
    assert (two["diff_ci_low"], two["diff_ci_high"]) == pytest.approx((low, high))
    # Every expected cell is at least 5.5 (12 x 11 / 24), so the z-test, not Fisher's.
    assert bool(two["separates"]) and two["test"] == "z_test"
    one = steps.loc["step 1"]
    assert one["diff"] == 0 and not bool(one["separates"])
    assert list(steps.index) == ["step 2", "step 1"]  # largest difference first


def test_csm_differences_flag_only_with_enough_steps(store):
    fill_coaching(store)
    diffs = csm_differences(step_csm_matrix(ctx(store, Filters()), "pb"), 0.05, min_steps=10)
    skip = diffs[diffs["measure"] == "skip"].set_index("name")
    # Skips over both steps: Ann 2 of 20, Bob 8 of 20, Cat 1 of 8.
    assert skip.loc["Bob", ["n", "events", "team_n", "team_events"]].tolist() == [20, 8, 28, 3]
    assert skip.loc["Bob", "team_rate"] == pytest.approx(3 / 28)
    # Bob's Wilson interval for 8/20 (0.219 to 0.613) lies above the others' 3/28 = 0.107.
    assert proportion_confint(8, 20, method="wilson")[0] > 3 / 28
    assert skip.loc["Bob", "flag"] == "more"
    # Ann's 2/20 interval (0.028 to 0.301) lies below the others' 9/28 = 0.321.
    assert proportion_confint(2, 20, method="wilson")[1] < 9 / 28
    assert skip.loc["Ann", "flag"] == "less"
    assert skip.loc["Cat", "flag"] == "too few"  # 8 steps < 10
    late = diffs[diffs["measure"] == "late"].set_index("name")
    # Lateness: Ann 3 of 18, Bob 0 of 12, Cat 1 of 7 (too few).
    assert late.loc["Ann", ["n", "events"]].tolist() == [18, 3]
    assert late.loc["Bob", ["n", "events"]].tolist() == [12, 0]
    # Ann's 3/18 interval starts at 0.058, above the others' 1/19 = 0.053.
    assert proportion_confint(3, 18, method="wilson")[0] > 1 / 19
    assert late.loc["Ann", "flag"] == "more"
    assert late.loc["Cat", "flag"] == "too few"
    # With the default minimum (20 steps) only Ann's and Bob's skips can be flagged.
    default = csm_differences(step_csm_matrix(ctx(store, Filters()), "pb"), 0.05)
    assert set(default.loc[default["flag"] != "too few", "name"]) == {"Ann", "Bob"}
    assert set(default.loc[(default["flag"] != "too few"), "measure"]) == {"skip"}

"""The outcome horizon, the as-of date, and windows that say why (designs.horizon, .assess)."""
from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from analysis.metrics.before_after import playbook_windows
from analysis.metrics.claims import Claim
from analysis.metrics.designs import horizon
from analysis.metrics.designs.assess import assess
from analysis.settings import Settings

INTRO = date(2024, 7, 1)
DEFAULTS = Settings()  # the declared settings: horizon 180 days, 12-month windows, 30 a side


def _catalog(intro=INTRO):
    return pd.DataFrame([{"playbook_id": "at_risk", "name": "At risk", "scenario": "at_risk",
                          "outcome_metric": "success_rate", "introduced_on": intro}])


def _runs(store, rows):
    """rows: (opened_on, closed_on, status, outcome)."""
    frame = pd.DataFrame(rows, columns=["opened_on", "closed_on", "status", "outcome"])
    frame.insert(0, "run_id", [f"r{i}" for i in range(len(frame))])
    frame["scenario"] = "at_risk"
    frame["account_id"] = "a1"
    store.register("new_runs", frame)
    store.execute("INSERT INTO playbook_runs (run_id, opened_on, closed_on, status, outcome, "
                  "scenario, account_id) SELECT run_id, opened_on, closed_on, status, outcome, "
                  "scenario, account_id FROM new_runs")
    store.unregister("new_runs")


def test_as_of_is_the_last_date_in_the_data_unless_set(store):
    assert horizon.data_as_of(store, None) is None
    _runs(store, [(date(2024, 5, 1), date(2024, 9, 3), "closed", "success")])
    store.execute("INSERT INTO renewals (renewal_id, account_id, renewal_date, outcome) "
                  "VALUES ('n1', 'a1', DATE '2024-08-20', 'renewed')")
    assert horizon.data_as_of(store, None) == date(2024, 9, 3)  # a closed_on
    assert horizon.data_as_of(store, "") == date(2024, 9, 3)
    assert horizon.data_as_of(store, "2024-06-30") == date(2024, 6, 30)


def test_ready_on_is_the_last_day_of_the_window_plus_the_horizon():
    assert horizon.ready_on(date(2025, 7, 1), 180) == date(2025, 12, 27)  # 30 Jun + 180 days
    assert horizon.ready_on(date(2025, 7, 1), 1) == date(2025, 7, 1)


def test_the_horizon_rule_on_each_kind_of_run(store):
    as_of = date(2025, 1, 31)
    _runs(store, [
        (date(2024, 6, 10), date(2024, 7, 1), "closed", "success"),    # success in time
        (date(2024, 6, 12), date(2024, 10, 15), "closed", "success"),  # success after 90 days
        (date(2024, 6, 15), None, "open", None),                       # still open, past horizon
        (date(2024, 6, 20), date(2024, 7, 1), "closed", "failure"),    # failure
        (date(2024, 6, 25), None, "closed", "success"),                # no closed_on: in time
        (date(2024, 11, 20), date(2025, 1, 5), "closed", "success"),   # horizon not passed
        (date(2024, 12, 1), None, "open", None),                       # pending
        (date(2025, 2, 10), None, "open", None),                       # after the as-of date
    ])
    windows = playbook_windows(_catalog(), None, months=12)
    monthly = horizon.matured_monthly(store, None, windows, as_of, 90).set_index("month")
    # June 2024 is month -1 of a 1 July introduction.
    assert monthly.loc[-1, ["n", "successes", "pending"]].tolist() == [5, 2, 0]
    # November 20 + 90 days = 18 Feb 2025 > as_of: pending, and so is 1 December.
    assert monthly.loc[4, ["n", "successes", "pending"]].tolist() == [0, 0, 1]
    assert monthly.loc[5, ["n", "successes", "pending"]].tolist() == [0, 0, 1]
    assert monthly["n"].sum() == 5 and monthly["pending"].sum() == 2


def _window(intro=INTRO, metric="success_rate"):
    row = playbook_windows(_catalog(intro), None, months=12).iloc[0].to_dict()
    row["metric"] = metric
    return row


def _monthly(months, n=40, successes=18, pending=0):
    return pd.DataFrame({"month": list(months), "n": n, "successes": successes,
                         "pending": pending})


def test_windows_that_say_why():
    empty = _monthly([]).astype(int)
    none = assess(_window(), empty, date(2026, 6, 1), runs_of_playbook=0, settings=DEFAULTS)
    assert (none.claim, none.why) == (Claim.NOT_ENOUGH_DATA, "no runs of this playbook in the data")
    no_outcomes = assess(_window(), empty, date(2026, 6, 1), runs_of_playbook=3,
                         settings=DEFAULTS)
    assert no_outcomes.why == ("no outcomes in the 12 months before or after the introduction "
                               "on 2024-07-01")
    # The after window is not over.
    early = assess(_window(), _monthly(range(-12, 3)), date(2024, 9, 30), 5, DEFAULTS)
    assert early.claim == Claim.TOO_EARLY and early.ready_on == date(2025, 12, 27)
    assert early.why == ("the after window ends on 2025-07-01; the data runs to 2024-09-30; "
                         "ready on 2025-12-27")
    # The window is over, the horizon of its last runs is not.
    series = pd.concat([_monthly(range(-12, 9)), _monthly(range(9, 12), n=30, pending=10)])
    waiting = assess(_window(), series, date(2025, 9, 1), 5, DEFAULTS)
    assert waiting.claim == Claim.TOO_EARLY and waiting.pending == {"before": 0, "after": 30}
    assert waiting.why.startswith("30 outcomes still open")
    # A window that ended long before the data does is never too early.
    late = assess(_window(date(2017, 3, 1)), _monthly(range(-24, 12)), date(2023, 1, 1), 5,
                  DEFAULTS)
    assert late.claim != Claim.TOO_EARLY
    assert late.to_json()["ready_on"] == "2018-08-27"


def test_too_few_outcomes_a_side_is_not_enough_data():
    result = assess(_window(), _monthly(range(-12, 12), n=2, successes=1), date(2026, 6, 1), 5,
                    DEFAULTS)
    assert result.claim == Claim.NOT_ENOUGH_DATA
    assert result.why == ("24 decided outcomes before the introduction and 24 after; an effect "
                          "needs 30 on each side")
    assert result.effect is None


@pytest.mark.parametrize("after_rate, expected", [(0.70, Claim.IMPROVED), (0.25, Claim.WORSE)])
def test_a_clear_step_is_claimed(after_rate, expected):
    series = pd.concat([_monthly(range(-24, 0), n=100, successes=45),
                        _monthly(range(0, 12), n=100, successes=int(after_rate * 100))])
    result = assess(_window(), series, date(2026, 6, 1), 5, DEFAULTS)
    assert result.claim == expected and result.why is None
    assert result.effect.estimate == pytest.approx(after_rate - 0.45, abs=1e-6)

"""Success rate per playbook version."""
from __future__ import annotations

import json
import math
from datetime import date, timedelta

import pandas as pd
import pytest

from analysis.filters import Filters
from analysis.metrics.versions import version_rates, versions_json
from tests.builders import ctx


def _runs(store, prefix, playbook_id, version, start, successes, failures, **extra):
    rows = [("success" if i < successes else "failure") for i in range(successes + failures)]
    for i, outcome in enumerate(rows):
        store.execute(
            "INSERT INTO playbook_runs (run_id, scenario, playbook_id, playbook_version,"
            " account_id, opened_on, status, outcome) VALUES (?, ?, ?, ?, 'a', ?, 'closed', ?)",
            [f"{prefix}{i}", playbook_id, playbook_id, version, start + timedelta(days=i),
             outcome])


def _fisher_two_sided(a, b, c, d):
    """Fisher's exact test by enumeration: sum of tables no more likely than the observed."""
    row1, col1, total = a + b, a + c, a + b + c + d
    prob = lambda x: math.comb(col1, x) * math.comb(total - col1, row1 - x) / math.comb(total, row1)
    observed = prob(a)
    return sum(prob(x) for x in range(max(0, row1 + col1 - total), min(row1, col1) + 1)
               if prob(x) <= observed * (1 + 1e-7))


@pytest.fixture
def versions_store(store):
    _runs(store, "v10_", "at_risk", "1.0", date(2024, 7, 1), 4, 6)
    _runs(store, "v11_", "at_risk", "1.1", date(2025, 3, 3), 8, 2)
    # Not counted: an open run, a run without a version, a closed run without an outcome.
    store.execute("INSERT INTO playbook_runs (run_id, scenario, playbook_id, playbook_version,"
                  " account_id, opened_on, status) VALUES"
                  " ('o1', 'at_risk', 'at_risk', '1.1', 'a', '2025-04-01', 'open'),"
                  " ('o2', 'at_risk', 'at_risk', '1.1', 'a', '2025-04-01', 'closed')")
    store.execute("INSERT INTO playbook_runs (run_id, scenario, playbook_id, account_id,"
                  " opened_on, status, outcome) VALUES"
                  " ('o3', 'at_risk', 'at_risk', 'a', '2025-04-01', 'closed', 'success')")
    _runs(store, "u1_", "usage_drop", "1.0", date(2024, 10, 1), 3, 1)
    return store


def test_version_rates(versions_store):
    frame = version_rates(ctx(versions_store))
    assert list(zip(frame["playbook_id"], frame["version"])) == [
        ("at_risk", "1.0"), ("at_risk", "1.1"), ("usage_drop", "1.0")]
    assert frame["n"].tolist() == [10, 10, 4]
    assert frame["successes"].tolist() == [4, 8, 3]
    assert frame["rate"].tolist() == pytest.approx([0.4, 0.8, 0.75])
    # Wilson 95%: 4/10 -> 0.1682–0.6873, 8/10 -> 0.4902–0.9433 (Newcombe 1998, table I style;
    # statsmodels proportion_confint(method="wilson") agrees).
    assert frame.loc[0, ["ci_low", "ci_high"]].tolist() == pytest.approx([0.16818, 0.68732],
                                                                         abs=1e-4)
    assert frame.loc[1, ["ci_low", "ci_high"]].tolist() == pytest.approx([0.49016, 0.94331],
                                                                         abs=1e-4)
    assert frame.loc[1, "first_opened_on"] == date(2025, 3, 3)
    v11 = frame.loc[1]
    assert v11["previous_version"] == "1.0"
    assert v11["diff"] == pytest.approx(0.4)
    # Newcombe hybrid score: 0.4 − sqrt((0.8 − 0.49016)² + (0.68732 − 0.4)²) and
    # 0.4 + sqrt((0.94331 − 0.8)² + (0.4 − 0.16818)²).
    low = 0.4 - math.sqrt((0.8 - 0.49016) ** 2 + (0.68732 - 0.4) ** 2)
    high = 0.4 + math.sqrt((0.94331 - 0.8) ** 2 + (0.4 - 0.16818) ** 2)
    assert v11["diff_ci_low"] == pytest.approx(low, abs=1e-4)
    assert v11["diff_ci_high"] == pytest.approx(high, abs=1e-4)
    # Expected failures in the 1.1 row are 4 < 5, so Fisher's exact test applies.
    assert v11["p_value"] == pytest.approx(_fisher_two_sided(8, 2, 4, 6))
    assert v11["verdict"].startswith("Not enough data: about ")
    assert frame.loc[0, "verdict"] == "First version in the data (10 closed runs)"
    assert pd.isna(frame.loc[0, "diff"])


def test_large_clear_improvement_says_better(store):
    _runs(store, "a", "renewal", "2.0", date(2024, 1, 1), 100, 100)
    _runs(store, "b", "renewal", "3.0", date(2025, 1, 1), 160, 40)
    frame = version_rates(ctx(store))
    assert frame.loc[1, "verdict"] == "Better than version 2.0: +30 points"
    assert frame.loc[1, "claim"] == "improved" and frame.loc[0, "claim"] == "not_enough_data"
    item = versions_json(ctx(store))[1]
    assert item["claim"] == "improved" and item["effect"]["method"] == "newcombe_difference"
    assert item["effect"]["estimate"] == pytest.approx(0.3)
    assert item["effect"]["p_value"] == item["p_value"] < 0.05


def test_playbook_and_period_filters(versions_store):
    only = version_rates(ctx(versions_store, Filters(playbook_id="usage_drop")))
    assert only["playbook_id"].tolist() == ["usage_drop"]
    # Runs are filtered by opened_on: 1.0 ran from 2024-07-01 for ten days.
    later = version_rates(ctx(versions_store, Filters(date_from=date(2025, 1, 1))))
    assert later["version"].tolist() == ["1.1"]
    assert later.loc[0, "verdict"].startswith("First version")


def test_versions_json(versions_store, store):
    result = versions_json(ctx(versions_store))
    assert {"playbook_id", "version", "n", "successes", "rate", "ci_low", "ci_high"} <= set(
        result[0])
    assert result[0]["diff"] is None and result[1]["n"] == 10
    json.dumps(result, allow_nan=False)


def test_empty(store):
    assert version_rates(ctx(store)).empty
    assert versions_json(ctx(store)) == []

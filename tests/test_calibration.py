"""A quick fixed-seed subset of the calibration benchmark (`make calibrate`, CALIBRATION.md):
false claims under drift stay rare and a planted 15-point step is found.

The bounds are loose versions of the full run's (200 replicates a world); with fixed seeds the
counts repeat exactly, so a failure means the design changed, not bad luck.
"""
from __future__ import annotations

import pytest

from bench.calibrate import runner
from bench.calibrate.world import World


def _claims(name: str, replicates: int) -> list[str]:
    results, _ = runner.run([name], replicates=replicates, workers=1, chunk=replicates)
    return [claim for rep in results[0].claims for claim in rep]


# Full run (CALIBRATION.md, 200 replicates): ba_drift 3 of 200 false claims, where the plain
# before/after comparison makes 74 of 200 (37%). rollouts_levels: teams at 25%-65% rolling
# out worst first, drift, CSMs that differ; the claim rests on the difference-in-differences
# against the teams not yet using the playbook.
@pytest.mark.parametrize("world", ["ba_drift", "rollouts_levels"])
def test_drift_is_rarely_a_false_claim(world):
    claims = _claims(world, 20)
    assert len(claims) == 20
    assert sum(c in ("improved", "worse") for c in claims) <= 2


# Full run: ba_planted_15_large 189 of 200 (94.5%) with ~900 outcomes a side;
# rollouts_planted_15_600 173 of 200 (86.5%).
@pytest.mark.parametrize("world", ["ba_planted_15_large", "rollouts_planted_15_600"])
def test_a_planted_15_point_step_is_found(world):
    claims = _claims(world, 20)
    assert sum(c == "improved" for c in claims) >= 15
    assert "worse" not in claims


def test_every_world_is_well_formed():
    worlds = runner.all_worlds()
    names = [w.name for w in worlds]
    assert len(names) == len(set(names))
    assert all(isinstance(w, World) and w.section in runner.TRUE_CLAIM for w in worlds)
    assert {"ba_drift", "ba_unfinished", "ba_regression_to_mean", "ba_twenty_null",
            "ba_planted_10", "ba_planted_15", "rollouts_drift", "rollouts_levels",
            "rollouts_planted_15"} <= set(names)


def test_wilson_monte_carlo_interval():
    # Newcombe (1998), Stat Med 17:857, Table I: 81/263 -> Wilson 0.2553 to 0.3662.
    low, high = runner.wilson(81, 263)
    assert abs(low - 0.2553) < 5e-5 and abs(high - 0.3662) < 5e-5


def test_rows_and_report_count_false_claims_and_power():
    null = World("n", "before_after", True, build=None, claims=None, describe="nothing works")
    result = runner.WorldResult(null, 4, claims=[["improved", "not_enough_data"],
                                                 ["not_enough_data", "not_enough_data"],
                                                 ["worse", "not_enough_data"],
                                                 ["no_clear_change", "not_enough_data"]])
    rows = {r["what"]: r for r in result.rows()}
    assert (rows["false `improved`"]["k"], rows["false `improved`"]["n"]) == (1, 8)
    assert rows["organisations with any false claim"]["k"] == 2
    assert rows["`not_enough_data`"]["info"]
    planted = World("p", "before_after", False, build=None, claims=None)
    power = runner.WorldResult(planted, 2, claims=[["improved"], ["not_enough_data"]])
    text = runner.report([result, power], wall=60.0, replicates=4, workers=2)
    assert "| n | yes | false `improved` | 1 / 8 | 12.5% |" in text
    assert "| p | no | power (`improved`) | 1 / 2 | 50.0% |" in text
    assert "- **Missed**: n, organisations with any false claim: 50.0%" in text

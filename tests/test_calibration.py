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


# Full run (CALIBRATION.md, 200 replicates): ba_drift 2 of 200 false claims, where the plain
# before/after comparison makes 74 of 200 (37%). rollouts_levels: teams at 25%-65% rolling
# out worst first, drift, CSMs that differ; the claim rests on the difference-in-differences
# against the teams not yet using the playbook (5 of 200). rollouts_shocks: teams' good and
# bad months, which the DiD's month deviations must absorb (10 of 200). ba_spells_long and
# rollouts_spells: good and bad stretches lasting about a quarter (AR(1), designs.spells; 10
# and 13 of 200, where reading months as independent made 31 and 27).
@pytest.mark.parametrize("world", ["ba_drift", "rollouts_levels", "rollouts_shocks",
                                   "ba_spells_long", "rollouts_spells"])
def test_drift_is_rarely_a_false_claim(world):
    claims = _claims(world, 20)
    assert len(claims) == 20
    assert sum(c in ("improved", "worse") for c in claims) <= 2


# Full run: ba_planted_15_large 161 of 200 (80.5%) with ~900 outcomes a side;
# rollouts_planted_15_600 164 of 200 (82.0%); rollouts_pilot_15, two teams piloting with
# ~300 outcomes a side, 156 of 200 (78.0%).
@pytest.mark.parametrize("world", ["ba_planted_15_large", "rollouts_planted_15_600",
                                   "rollouts_pilot_15"])
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
    tagged = World("t", "before_after", False, build=None, claims=None, tags=("power_at_300",))
    line = runner._power_at_300([power, runner.WorldResult(tagged, 4, claims=[
        ["improved"], ["improved"], ["improved"], ["not_enough_data"]])])
    assert line[1].startswith("- **Power for a 15-point effect at ~300 outcomes a side** "
                              "(not met by the best design): t 75.0% (")
    assert "p 50.0%" not in line[1]  # untagged worlds are not the target's


def test_the_time_series_power_bound_is_the_glm_information_at_the_true_rates():
    """bench/calibrate/bound.py against statsmodels: a binomial GLM fitted to the expected
    counts of the planted world (40% → 55%, 25 outcomes a month, 24 months before with the 2
    just before left out, 12 after) returns the true coefficients, and its covariance with the
    scale fixed at 1 is the inverse information; the step's standard error on the probability
    scale is the delta method over the after months, where every month's step is 15 points."""
    import warnings

    import numpy as np
    import statsmodels.api as sm
    from scipy import stats as sps

    from bench.calibrate.bound import step_bound

    months = np.array([m for m in range(-24, 12) if m not in (-2, -1)], float)
    after = (months >= 0).astype(float)
    rate = np.where(after > 0, 0.55, 0.40)
    x = np.column_stack([np.ones_like(months), months, after])
    with warnings.catch_warnings():  # expected counts fit perfectly: not a separation
        warnings.simplefilter("ignore")
        fit = sm.GLM(rate, x, family=sm.families.Binomial(),
                     var_weights=np.full(len(x), 25.0)).fit(scale=1.0)
    assert np.allclose(fit.params, [np.log(0.4 / 0.6), 0.0, np.log(0.55 / 0.45 * 0.6 / 0.4)])
    # With no trend, the step's derivative in (b0, b1, b2) is the same each after month,
    # so the gradient of their mean is that of one month at its mean t (5.5).
    gradient = np.array([0.55 * 0.45 - 0.40 * 0.60, (0.55 * 0.45 - 0.40 * 0.60) * 5.5,
                         0.55 * 0.45])
    se = float(np.sqrt(gradient @ fit.cov_params() @ gradient))
    found = step_bound(0.40, 0.55, 25)
    assert found.se == pytest.approx(se, rel=1e-6)  # statsmodels' IRLS tolerance
    assert found.plain_se == pytest.approx(np.sqrt((0.4 * 0.6 + 0.55 * 0.45) / 300))
    assert found.df == 34 - 3
    q = sps.t.ppf(0.975, 31)
    assert found.power == pytest.approx(sps.norm.cdf(0.15 / se - q) + sps.norm.cdf(-0.15 / se - q))
    # 80% power: the standard error must shrink to 0.15 / (q + z_0.8), outcomes grow by its square.
    assert found.side_for_80 == pytest.approx(300 * (se * (q + sps.norm.ppf(0.8)) / 0.15) ** 2)
    assert 2.5 < found.variance_ratio < 3.2 and found.power < 0.8

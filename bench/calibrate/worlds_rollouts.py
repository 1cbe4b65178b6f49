"""Rollout worlds of the calibration benchmark: a playbook rolled out team by team, its claim
resting on the difference-in-differences against the teams not yet using it
(analysis/metrics/designs/staggered.py).

Five teams of three CSMs, fifteen accounts each. The first team rolls the playbook out on
FIRST, the others a quarter apart (a team listed with no date never adopts it), or two teams
pilot it from FIRST and the other three follow a year later; a `rollouts` table dates each
adoption and the team's runs carry the playbook from its rollout on. A CSM's run succeeds
with logit p = logit(team level) + drift · months since FIRST + the CSM's own skill + the
team's shock that month (good and bad months; 0 unless set), plus the planted effect
(points of probability) once the team has rolled it out. Runs open and close as in the
before/after worlds (worlds_before_after._scenario_runs), so the outcome horizon and
too-early rules apply as they do there.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from bench.calibrate.world import POWER_AT_300, World, spells
from bench.calibrate.worlds_before_after import POST_MONTHS, PRE_MONTHS, _claims, _scenario_runs

FIRST = date(2024, 7, 1)
TEAMS = ("North", "South", "East", "West", "Central")
CSMS_PER_TEAM = 3
ACCOUNTS_PER_CSM = 15
DRIFT = 0.025  # logit a month: about 0.6 points a month at 40%, 24 points over the series


def _expit(x):
    return 1 / (1 + np.exp(-x))


def _logit(p):
    return np.log(p / (1 - p))


def _build(levels, adopted, effect: float = 0.0, per_team: float = 6.25,
           skill_sd: float = 0.0, shock_sd: float = 0.0, shock_rho: float = 0.0):
    """A world builder: team g at `levels[g]` on FIRST, rolling out `adopted[g]` months after
    FIRST (None: never), `per_team` runs a month per team, CSM skill SD `skill_sd` and the
    team's month-to-month shock SD `shock_sd` (logit), lag-1 correlated `shock_rho` (spells)."""
    last = max(a for a in adopted if a is not None)

    def build(rng):
        start = pd.Timestamp(FIRST) - pd.DateOffset(months=PRE_MONTHS)
        months = pd.date_range(start, periods=PRE_MONTHS + last + POST_MONTHS, freq="MS")
        since = np.arange(len(months)) - PRE_MONTHS
        export = pd.Timestamp(FIRST) + pd.DateOffset(months=last + POST_MONTHS)
        runs, csms, rollouts = [], [], []
        for g, (team, level, month) in enumerate(zip(TEAMS, levels, adopted)):
            shocks = spells(rng, len(months), shock_sd, shock_rho) if shock_sd else 0.0
            intro = (export + pd.DateOffset(months=1) if month is None
                     else pd.Timestamp(FIRST) + pd.DateOffset(months=month))
            if month is not None:
                rollouts.append({"playbook_id": "at_risk", "team": team,
                                 "rolled_out_on": intro.date()})
            for c, skill in enumerate(rng.normal(0, skill_sd, CSMS_PER_TEAM)):
                csm = f"c{g}{c}"
                rate = _expit(_logit(level) + DRIFT * since + skill + shocks)
                rate = np.clip(rate + np.where(months >= intro, effect, 0.0), 0.01, 0.99)
                runs.append(_csm_runs(rng, csm, months, rate, intro, per_team, export))
                csms.append({"csm_id": csm, "team": team})
        return _tables(runs, csms, rollouts), {}
    return build


def _csm_runs(rng, csm: str, months, rates, intro, per_team: float, export) -> pd.DataFrame:
    runs = _scenario_runs(rng, "at_risk", "at_risk", months, rates, intro,
                          per_team / CSMS_PER_TEAM, export)
    accounts = rng.integers(0, ACCOUNTS_PER_CSM, len(runs))
    return runs.assign(run_id=csm + "-" + runs["run_id"], csm_id=csm,
                       account_id=[f"{csm}-a{k}" for k in accounts])


def _tables(runs, csms, rollouts) -> dict[str, pd.DataFrame]:
    csms = pd.DataFrame(csms)
    accounts = pd.DataFrame([{"account_id": f"{c}-a{k}", "csm_id": c, "segment": "SMB"}
                             for c in csms["csm_id"] for k in range(ACCOUNTS_PER_CSM)])
    return {"csms": csms, "accounts": accounts,
            "playbook_runs": pd.concat(runs, ignore_index=True),
            "rollouts": pd.DataFrame(rollouts)}


def _world(name, null, build, describe, tags=()):
    return World(name=name, section="before_after", null=null, build=build, claims=_claims,
                 describe=describe, tags=("rollouts", *tags))


_QUARTERLY = (0, 3, 6, 9, None)  # four teams a quarter apart, one never
_PILOT = (0, 0, 12, 12, 12)  # two teams pilot it for a year, then the other three follow
WORLDS = [
    _world("rollouts_drift", True, _build((0.4,) * 5, (0, 3, 6, 9, 12), per_team=12.5),
           "five teams roll the playbook out a quarter apart (the last is a comparison "
           "only), 12.5 runs a team a month; success drifts up about 0.6 points a month in "
           "every team (24 points over the series); nothing works"),
    _world("rollouts_levels", True,
           _build((0.25, 0.35, 0.45, 0.55, 0.65), _QUARTERLY, per_team=12.5, skill_sd=0.3),
           "teams at 25%-65% roll it out worst first, the best team never; CSMs within a "
           "team differ (skill SD 0.3 logit); the same drift and volume; nothing works"),
    _world("rollouts_planted_15", False, _build((0.4,) * 5, _QUARTERLY, effect=0.15),
           "four teams a quarter apart, one never; the same drift; +15 points from each "
           "team's rollout, ~300 outcomes after a rollout", tags=(POWER_AT_300,)),
    _world("rollouts_planted_15_600", False,
           _build((0.4,) * 5, _QUARTERLY, effect=0.15, per_team=12.5),
           "the same with twice the runs: +15 points, ~600 outcomes after a rollout"),
    _world("rollouts_shocks", True,
           _build((0.4,) * 5, _QUARTERLY, per_team=12.5, skill_sd=0.3, shock_sd=0.5),
           "the same rollout and drift, but each team has good and bad months (a shock of SD "
           "0.5 logit, about 12 points, to the whole team each month) and CSMs differ; "
           "nothing works"),
    _world("rollouts_spells", True,
           _build((0.4,) * 5, _QUARTERLY, per_team=12.5, shock_sd=0.3, shock_rho=0.7),
           "the quarterly rollout and drift, each team's months running in spells (shocks of "
           "SD 0.3 logit, about 7 points, lag-1 correlation 0.7: a good or bad stretch lasts "
           "about a quarter); nothing works"),
    _world("rollouts_pilot_drift", True, _build((0.4,) * 5, _PILOT, per_team=12.5),
           "two of five teams pilot the playbook for a year, then the other three adopt it; "
           "12.5 runs a team a month; the same drift; nothing works"),
    _world("rollouts_pilot_15", False, _build((0.4,) * 5, _PILOT, effect=0.15, per_team=12.5),
           "the pilot, +15 points from each team's rollout: ~300 outcomes in the pilot teams' "
           "year before and ~300 in their year after, the other three teams the comparison",
           tags=(POWER_AT_300,)),
]

"""Before/after worlds of the calibration benchmark: organisations where a playbook does nothing
(drift, an unfinished window, regression to the mean, twenty null playbooks) and ones where it
works (a planted step of 10 or 15 points).

Every world runs one scenario per playbook. Runs before the introduction carry no playbook_id
and runs from the introduction on carry it, so the catalogue (built from the runs, the shipped
templates kept out) dates the introduction to the first run with the playbook. Each month opens
a Poisson number of runs (25 by default, about 300 a 12-month side); a run succeeds with the
month's true rate; successes close 5-90 days after opening, failures 20-200 days (failures take
longer, so a window read too early looks better than it is).
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from bench.calibrate.world import POWER_AT_300, World, spells

INTRO = date(2024, 7, 1)
PRE_MONTHS = 24  # history before the introduction (the time series' pre-trend reads 24)
POST_MONTHS = 19  # the 12-month after window, its 180-day horizon, and a month to spare
PER_MONTH = 25


def _months(start: date, count: int) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(start), periods=count, freq="MS")


def _scenario_runs(rng: np.random.Generator, scenario: str, playbook_id: str,
                   month_starts: pd.DatetimeIndex, rates: np.ndarray, intro: pd.Timestamp,
                   per_month: float, export: pd.Timestamp) -> pd.DataFrame:
    """Runs of one scenario: Poisson(per_month) a month, success with that month's rate."""
    counts = rng.poisson(per_month, len(month_starts))
    month = np.repeat(np.arange(len(month_starts)), counts)
    days_in = month_starts.days_in_month.to_numpy()[month]
    opened = month_starts.to_numpy()[month] + pd.to_timedelta(
        (rng.random(len(month)) * days_in).astype(int), unit="D").to_numpy()
    success = rng.random(len(month)) < rates[month]
    duration = np.where(success, rng.integers(5, 91, len(month)),
                        rng.integers(20, 201, len(month)))
    closed = opened + pd.to_timedelta(duration, unit="D").to_numpy()
    keep = opened <= export.to_datetime64()
    opened, closed, success = opened[keep], closed[keep], success[keep]
    is_closed = closed <= export.to_datetime64()
    after = opened >= intro.to_datetime64()
    if after.any():  # the catalogue dates the introduction to the first run with the playbook
        first = np.flatnonzero(after)[np.argmin(opened[after])]
        opened[first] = intro.to_datetime64()
    n = len(opened)
    return pd.DataFrame({
        "run_id": [f"{scenario}-{i}" for i in range(n)],
        "scenario": scenario,
        "playbook_id": np.where(after, playbook_id, None),
        "account_id": [f"a{k}" for k in rng.integers(0, 200, n)],
        "opened_on": pd.to_datetime(opened).date,
        "closed_on": [c.date() if ok else None for c, ok in zip(pd.to_datetime(closed), is_closed)],
        "status": np.where(is_closed, "closed", "open"),
        "outcome": np.where(is_closed, np.where(success, "success", "failure"), None),
    })


def _org(runs: list[pd.DataFrame], rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    csms = pd.DataFrame({"csm_id": [f"c{i}" for i in range(10)], "team": "Team"})
    accounts = pd.DataFrame({"account_id": [f"a{k}" for k in range(200)],
                             "csm_id": [f"c{k % 10}" for k in range(200)], "segment": "SMB"})
    frame = pd.concat(runs, ignore_index=True)
    frame["csm_id"] = frame["account_id"].map(dict(zip(accounts["account_id"],
                                                       accounts["csm_id"])))
    return {"csms": csms, "accounts": accounts, "playbook_runs": frame}


def _single(rates_of, per_month: float = PER_MONTH, export_months: int = POST_MONTHS):
    """A world builder: one scenario, introduced on INTRO, rates_of(month index from the
    introduction) -> true rate; data exported `export_months` after the introduction."""
    def build(rng):
        months = _months(date(INTRO.year - 2, INTRO.month, 1), PRE_MONTHS + POST_MONTHS)
        offset = np.arange(len(months)) - PRE_MONTHS
        export = pd.Timestamp(INTRO) + pd.DateOffset(months=export_months)
        runs = _scenario_runs(rng, "at_risk", "at_risk", months, rates_of(offset),
                              pd.Timestamp(INTRO), per_month, export)
        return _org([runs], rng), {}
    return build


def _in_spells(rho: float, sd: float):
    """A world builder: 45% on average, the month's rate off it by spells (world.spells:
    logit deviations of SD `sd`, lag-1 correlation `rho`); nothing happens at the
    introduction."""
    def build(rng):
        months = _months(date(INTRO.year - 2, INTRO.month, 1), PRE_MONTHS + POST_MONTHS)
        rates = 1 / (1 + np.exp(-(np.log(0.45 / 0.55) + spells(rng, len(months), sd, rho))))
        export = pd.Timestamp(INTRO) + pd.DateOffset(months=POST_MONTHS)
        runs = _scenario_runs(rng, "at_risk", "at_risk", months, rates, pd.Timestamp(INTRO),
                              PER_MONTH, export)
        return _org([runs], rng), {}
    return build


def _regression_to_mean(rng):
    """Stationary 45%; the organisation introduces its playbook on the first day of the month
    after its worst quarter (observed rate, runs decided by then) among the quarters that leave
    24 months of history and a full after window."""
    total = 72
    months = _months(date(2021, 1, 1), total)
    export = months[-1] + pd.DateOffset(months=1)
    runs = _scenario_runs(rng, "at_risk", "at_risk", months, np.full(total, 0.45),
                          months[-1] + pd.DateOffset(months=12), PER_MONTH, export)
    opened = pd.to_datetime(runs["opened_on"])
    month = (opened.dt.year - months[0].year) * 12 + opened.dt.month - months[0].month
    ok = runs["outcome"].eq("success").to_numpy()
    n = np.bincount(month, minlength=total)
    s = np.bincount(month, weights=ok, minlength=total)
    candidates = np.arange(PRE_MONTHS, total - POST_MONTHS + 1)
    quarter = [s[i - 3:i].sum() / max(n[i - 3:i].sum(), 1) for i in candidates]
    intro = months[candidates[int(np.argmin(quarter))]]
    after = opened >= intro
    runs["playbook_id"] = np.where(after, "at_risk", None)
    first = opened[after].idxmin()
    runs.loc[first, "opened_on"] = intro.date()
    return _org([runs], rng), {}


def _twenty_null(rng, playbooks: int = 20):
    """Twenty playbooks, each in its own scenario with its own flat rate (30-70%) and its own
    introduction month (2024-01 … 2024-12): nothing works."""
    runs = []
    for k in range(playbooks):
        intro = pd.Timestamp(2024, 1 + k % 12, 1)
        months = pd.date_range(intro - pd.DateOffset(months=PRE_MONTHS),
                               periods=PRE_MONTHS + POST_MONTHS, freq="MS")
        export = pd.Timestamp(2025, 12, 1) + pd.DateOffset(months=POST_MONTHS - 12)
        rate = rng.uniform(0.3, 0.7)
        runs.append(_scenario_runs(rng, f"s{k:02d}", f"pb{k:02d}", months,
                                   np.full(len(months), rate), intro, PER_MONTH, export))
    return _org(runs, rng), {}


def _claims(section) -> list[str]:
    return [entry["claim"] for entry in section]


def _world(name, null, build, describe, tags=()):
    return World(name=name, section="before_after", null=null, build=build, claims=_claims,
                 describe=describe, tags=tuple(tags))


WORLDS = [
    _world("ba_flat", True, _single(lambda m: np.full(len(m), 0.45)),
           "45% success every month; the playbook changes nothing"),
    _world("ba_drift", True, _single(lambda m: 0.40 + 0.005 * (m + PRE_MONTHS)),
           "success drifts up 0.5 points a month (40% → 61% over 43 months); nothing happens "
           "at the introduction"),
    _world("ba_unfinished", True, _single(lambda m: np.full(len(m), 0.45), export_months=3),
           "data exported 3 months after the introduction; failures take longer to close than "
           "successes; nothing works"),
    _world("ba_regression_to_mean", True, _regression_to_mean,
           "stationary 45%; the playbook is introduced right after the worst observed quarter"),
    _world("ba_spells", True, _in_spells(0.5, 0.2),
           "45% on average, months running in spells (logit deviations of SD 0.2, about 5 "
           "points, lag-1 correlation 0.5); nothing happens at the introduction"),
    _world("ba_spells_long", True, _in_spells(0.7, 0.3),
           "the same with longer, larger spells (SD 0.3, about 7 points, correlation 0.7: a "
           "good or bad stretch lasts about a quarter)"),
    _world("ba_twenty_null", True, _twenty_null,
           "20 playbooks in one organisation, none with an effect (claims BH-adjusted together)",
           tags=("family",)),
    _world("ba_planted_10", False, _single(lambda m: np.where(m >= 0, 0.50, 0.40)),
           "a true step of +10 points at the introduction (40% → 50%), ~300 outcomes a side"),
    _world("ba_planted_15", False, _single(lambda m: np.where(m >= 0, 0.55, 0.40)),
           "a true step of +15 points at the introduction (40% → 55%), ~300 outcomes a side",
           tags=(POWER_AT_300,)),
    _world("ba_planted_15_450", False,
           _single(lambda m: np.where(m >= 0, 0.55, 0.40), per_month=37.5),
           "a true step of +15 points, ~450 outcomes a side"),
    _world("ba_planted_15_600", False,
           _single(lambda m: np.where(m >= 0, 0.55, 0.40), per_month=50),
           "a true step of +15 points, ~600 outcomes a side"),
    _world("ba_planted_15_large", False,
           _single(lambda m: np.where(m >= 0, 0.55, 0.40), per_month=75),
           "a true step of +15 points, ~900 outcomes a side"),
]

"""Calibration worlds for the people sections: followers, consistency, proficiency.

Each world builds one simulated organisation as canonical tables (bench/calibrate/world.py).
Null worlds reproduce the audit's traps (issue 15) with no true effect, so every directional
claim in them is false; planted worlds carry a known effect and measure power.

- followers_abandon (null): runs heading for failure are abandoned part-way, so failed runs
  end with fewer steps done, while following has no effect; CSMs differ in both skill and
  diligence, and healthier accounts are both followed more and saved more.
- followers_no_dates (null): the same organisation without step dates: only an association.
- followers_planted: following the steps due by day 30 adds 15 points, ~300 outcomes a side.
- consistency_books_grow (null): CSMs' true rates keep their spread while books grow from
  ~12 to ~40 decided renewals a year.
- consistency_halved: the true-rate SD halves after launch, ~60 renewals a CSM a window
  (and consistency_halved_50: the same with twice the CSMs).
- proficiency_volume (null): new hires learn exactly as before but handle twice the renewals.
- proficiency_faster: new hires ramp 40% faster, the same volumes as before (and
  proficiency_faster_large: 40 hires a cohort with twice the renewals).
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from bench.calibrate.world import World

LAUNCH = date(2024, 7, 1)
SETTINGS = {"launch_date": LAUNCH.isoformat()}


def _days(start: date, offsets) -> np.ndarray:
    """`start` plus each offset in days, as datetime64[D] (DuckDB reads them as DATE)."""
    return np.datetime64(start, "D") + np.asarray(offsets, dtype="timedelta64[D]")


def _csms(k: int, prefix: str = "c", **columns) -> pd.DataFrame:
    return pd.DataFrame({"csm_id": [f"{prefix}{i:03d}" for i in range(k)], **columns})


def _accounts(ids) -> pd.DataFrame:
    return pd.DataFrame({"account_id": list(ids)})


# -- followers ---------------------------------------------------------------------------------
STEP_DUE_DAYS = np.array([7, 14, 21, 28, 45, 60])  # four steps fall due by the day-30 landmark


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _followers_org(rng, runs: int, effect: float, abandon: bool, step_dates: bool = True,
                   csms: int = 20):
    """One at_risk playbook's closed runs and their steps.

    CSMs differ in skill (success) and diligence (step completion), correlated 0.5; healthier
    accounts are both followed more and saved more. Success comes from skill, health and,
    when `effect` > 0, from having done every step due by day 30 (adds `effect` to the
    success probability). With `abandon`, a run heading for failure is dropped on a day drawn
    between 10 and 80: it closes then, failed, and its later steps are never done.
    """
    skill = rng.standard_normal(csms) * 0.5
    diligence = 0.5 * skill / 0.5 * 0.7 + np.sqrt(1 - 0.25) * 0.7 * rng.standard_normal(csms)
    csm = rng.integers(0, csms, runs)
    health = rng.uniform(30, 90, runs)
    arr = np.exp(rng.normal(10.5, 0.8, runs))
    segment = rng.choice(np.array(["SMB", "Mid-Market", "Enterprise"]), runs)
    steps = len(STEP_DUE_DAYS)
    step_p = _sigmoid(1.7 + diligence[csm] + 0.03 * (health - 60))
    done = rng.random((runs, steps)) < step_p[:, None]
    late = rng.integers(-4, 6, (runs, steps))          # completed a few days early or late
    completed_day = STEP_DUE_DAYS[None, :] + late
    landmark = 30
    followed = (done & (STEP_DUE_DAYS[None, :] <= landmark)
                & (completed_day <= landmark)).sum(axis=1) >= 4
    base = _sigmoid(-0.4 + skill[csm] + 0.035 * (health - 60))
    success = rng.random(runs) < np.clip(base + effect * followed, 0, 1)
    closed_day = rng.integers(60, 91, runs)
    if abandon:
        dropped = rng.integers(10, 81, runs)
        closed_day = np.where(success, closed_day, dropped)
        done &= completed_day < closed_day[:, None]
    opened = rng.integers(0, 365, runs)
    run_ids = np.array([f"r{i:05d}" for i in range(runs)])
    start = LAUNCH
    frame = pd.DataFrame({
        "run_id": run_ids, "scenario": "at_risk", "playbook_id": "at_risk",
        "account_id": [f"a{i:05d}" for i in range(runs)],
        "csm_id": [f"c{c:03d}" for c in csm],
        "opened_on": _days(start, opened), "closed_on": _days(start, opened + closed_day),
        "status": "closed", "steps_total": steps, "steps_completed": done.sum(axis=1),
        "outcome": np.where(success, "success", "failure"),
        "health_at_open": health.round(1), "arr_at_open": arr.round(0)})
    due = opened[:, None] + STEP_DUE_DAYS[None, :]
    step_frame = pd.DataFrame({
        "run_id": np.repeat(run_ids, steps),
        "step_id": np.tile([f"s{j + 1}" for j in range(steps)], runs),
        "due_on": _days(start, due.ravel()) if step_dates else None,
        "completed_on": np.where(done.ravel(),
                                 _days(start, (opened[:, None] + completed_day).ravel()),
                                 np.datetime64("NaT")) if step_dates else None,
        "status": np.where(done.ravel(), "done", "skipped")})
    accounts = pd.DataFrame({"account_id": frame["account_id"], "segment": segment})
    tables = {"csms": _csms(csms), "accounts": accounts, "playbook_runs": frame,
              "run_steps": step_frame}
    return tables, {}


def _claims_of_rows(section) -> list[str]:
    return [row["claim"] for row in section]


FOLLOWERS = [
    World("followers_abandon", "followers", True,
          lambda rng: _followers_org(rng, 900, 0.0, abandon=True), _claims_of_rows,
          "900 at_risk runs, 20 CSMs; failing runs abandoned part-way (fewer steps done); "
          "CSM skill and account health drive both following and success; following does "
          "nothing"),
    World("followers_no_dates", "followers", True,
          lambda rng: _followers_org(rng, 900, 0.0, abandon=True, step_dates=False),
          _claims_of_rows,
          "the same organisation whose steps carry no dates: only an association may be shown"),
    World("followers_planted", "followers", False,
          lambda rng: _followers_org(rng, 650, 0.15, abandon=False), _claims_of_rows,
          "650 at_risk runs (~300 outcomes a side at day 30), following the steps due by "
          "day 30 adds 15 points"),
]


# -- consistency -------------------------------------------------------------------------------
def _renewals(rng, csm_ids, rates, books, start: date, span_days: int, tag: str) -> pd.DataFrame:
    """Decided renewals: CSM i decides Poisson(books[i]) renewals in [start, start + span)."""
    counts = rng.poisson(books)
    csm = np.repeat(np.asarray(csm_ids, dtype=object), counts)
    p = np.repeat(rates, counts)
    renewed = rng.random(len(p)) < p
    offsets = rng.integers(0, span_days, len(p))
    ids = [f"{tag}{i}" for i in range(len(p))]
    return pd.DataFrame({"renewal_id": ids, "account_id": "acc", "csm_id": csm,
                         "renewal_date": _days(start, offsets),
                         "outcome": np.where(renewed, "renewed", "churned")})


def _consistency_org(rng, csms: int, sd_before: float, sd_after: float, book_before: float,
                     book_after: float):
    mean = 0.82
    z = rng.standard_normal(csms)  # the same CSMs, the same ranking, in both windows
    before = np.clip(mean + sd_before * z, 0.02, 0.99)
    after = np.clip(mean + sd_after * z, 0.02, 0.99)
    roster = _csms(csms)
    ids = roster["csm_id"]
    start = LAUNCH - timedelta(days=365)
    renewals = pd.concat([
        _renewals(rng, ids, before, np.full(csms, book_before), start, 365, "b"),
        _renewals(rng, ids, after, np.full(csms, book_after), LAUNCH, 365, "a")])
    return {"csms": roster, "accounts": _accounts(["acc"]), "renewals": renewals}, dict(SETTINGS)


def _claim(section) -> list[str]:
    return [section["claim"]]


CONSISTENCY = [
    World("consistency_books_grow", "consistency", True,
          lambda rng: _consistency_org(rng, 15, 0.06, 0.06, 12, 40), _claim,
          "15 CSMs, true-rate SD 6 points in both windows, books grow from ~12 to ~40 "
          "renewals a year"),
    World("consistency_halved", "consistency", False,
          lambda rng: _consistency_org(rng, 25, 0.08, 0.04, 60, 60), _claim,
          "25 CSMs, ~60 renewals a window, true-rate SD halves from 8 to 4 points"),
    World("consistency_halved_50", "consistency", False,
          lambda rng: _consistency_org(rng, 50, 0.08, 0.04, 60, 60), _claim,
          "the same halving with 50 CSMs"),
]

# -- proficiency -------------------------------------------------------------------------------
DATA_START, DATA_END = date(2021, 7, 1), date(2026, 6, 30)


def _renewal_stream(rng, csm_id: str, hired: date, until: date, per_year: float, rate_at,
                    tag: str) -> pd.DataFrame:
    """A CSM's decided renewals from max(hire, data start) to `until`: a Poisson stream of
    `per_year` a year, each renewed with probability rate_at(days since hire)."""
    first = max(hired, DATA_START)
    span = (until - first).days
    count = rng.poisson(per_year * max(span, 0) / 365)
    offsets = np.sort(rng.integers(0, max(span, 1), count))
    tenure = offsets + (first - hired).days
    renewed = rng.random(count) < rate_at(tenure)
    return pd.DataFrame({"renewal_id": [f"{tag}{csm_id}-{i}" for i in range(count)],
                         "account_id": "acc", "csm_id": csm_id,
                         "renewal_date": _days(first, offsets),
                         "outcome": np.where(renewed, "renewed", "churned")})


def _proficiency_org(rng, hires: int, volume_after: float, ramp_factor_after: float,
                     volume_before: float = 24.0):
    """Ten veterans (rates ~ N(0.85, 0.04), 30 renewals a year) set the target; `hires` CSMs
    hired in the two years before launch and `hires` in the 15 months after. A hire's renewal
    rate climbs linearly by 25 points to their own final rate (~ N(0.88, 0.03)) over T days,
    T log-normal with median 180 days (times `ramp_factor_after` after launch); 15% leave
    60–400 days after hire."""
    csm_rows, renewals = [], []
    for i in range(10):
        cid, p = f"v{i:02d}", float(np.clip(rng.normal(0.85, 0.04), 0.5, 0.99))
        csm_rows.append({"csm_id": cid, "hire_date": date(2018, 1, 1), "end_date": None})
        renewals.append(_renewal_stream(rng, cid, date(2018, 1, 1), DATA_END, 30,
                                        lambda t, p=p: np.full(len(t), p), "r"))
    cohorts = (("b", LAUNCH - timedelta(days=730), 730, volume_before, 1.0),
               ("a", LAUNCH, 456, volume_after, ramp_factor_after))
    for prefix, start, span, volume, factor in cohorts:
        for i in range(hires):
            cid = f"{prefix}{i:02d}"
            hired = start + timedelta(days=int(rng.integers(0, span)))
            leaves = rng.random() < 0.15
            end = hired + timedelta(days=int(rng.integers(60, 400))) if leaves else None
            until = min(end, DATA_END) if end else DATA_END
            final = float(np.clip(rng.normal(0.88, 0.03), 0.5, 0.99))
            ramp_days = float(np.exp(rng.normal(np.log(180), 0.35))) * factor

            def rate_at(t, final=final, ramp_days=ramp_days):
                return final - 0.25 * np.clip(1 - t / ramp_days, 0, 1)
            csm_rows.append({"csm_id": cid, "hire_date": hired, "end_date": end})
            renewals.append(_renewal_stream(rng, cid, hired, until, volume, rate_at, "r"))
    tables = {"csms": pd.DataFrame(csm_rows), "accounts": _accounts(["acc"]),
              "renewals": pd.concat(renewals, ignore_index=True)}
    return tables, dict(SETTINGS)


PROFICIENCY = [
    World("proficiency_volume", "proficiency", True,
          lambda rng: _proficiency_org(rng, 14, 48.0, 1.0), _claim,
          "14 hires a cohort learning exactly alike; hires after launch handle twice the "
          "renewals (48 a year against 24)"),
    World("proficiency_faster", "proficiency", False,
          lambda rng: _proficiency_org(rng, 14, 24.0, 0.6), _claim,
          "14 hires a cohort, 24 renewals a year each; hires after launch ramp 40% faster"),
    World("proficiency_faster_large", "proficiency", False,
          lambda rng: _proficiency_org(rng, 40, 48.0, 0.6, volume_before=48.0), _claim,
          "the same 40% faster ramp with 40 hires a cohort and 48 renewals a year each"),
]

WORLDS: list[World] = [*FOLLOWERS, *CONSISTENCY, *PROFICIENCY]

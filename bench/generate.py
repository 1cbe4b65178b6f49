"""Realistic benchmark data at any size, written as CSV and Parquet in a few seconds per million.

Everything is built with numpy and pyarrow compute (no per-row Python), then written per
canonical table of analysis/schema.py, in the schema's column order, so the Parquet files load
with one `INSERT ... SELECT * FROM read_parquet(...)` and the CSV files read like real exports.

Sizes are proportional to the number of playbook runs N:
accounts N/20, CSMs accounts/50 (at least 30), renewals 0.3 N, run steps ~3 N (playbook runs
carry 3-7 steps), views N, health snapshots 18 monthly rows per account, feedback N/100.

The data is internally consistent on purpose, so that every reasonable reading of DESIGN.md's
definitions gives the same numbers: a run is closed exactly when it has an outcome, and its
run_steps rows agree with steps_completed / steps_total.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from analysis import schema

DATA_START = np.datetime64("2022-07-01")
DATA_END = np.datetime64("2026-10-31")
LAUNCH = np.datetime64("2024-07-01")


@dataclass(frozen=True)
class CataloguePlaybook:
    id: str
    scenario: str
    introduced_on: str
    versions: tuple[tuple[str, str], ...]  # (version, first day it applies)


# How often each playbook's scenario comes up (relative weights), in the order runs are drawn;
# qbr_prep, not defined in playbooks/, must be picked up from the data alone.
MIX = {"onboarding": 8, "adoption": 8, "retention": 7, "renewal": 9, "expansion": 5,
       "churn_recovery": 3, "at_risk": 12, "executive_escalation": 3, "champion_change": 3,
       "competitive_threat": 3, "usage_drop": 6, "feature_adoption": 5, "qbr_prep": 4}


def _catalogue() -> tuple[CataloguePlaybook, ...]:
    """The generated organisation's playbooks in MIX's order: the shipped templates (the one
    catalogue, analysis.playbooks.catalog.template_playbooks), then the undefined qbr_prep."""
    from analysis.playbooks.catalog import template_playbooks
    templates = template_playbooks()
    defined = tuple(
        CataloguePlaybook(t.id, t.scenario, t.introduced_on.isoformat(),
                          tuple(sorted((c.version, c.date.isoformat()) for c in t.changelog)))
        for t in (templates[pid] for pid in MIX if pid in templates))
    return defined + (CataloguePlaybook("qbr_prep", "qbr", "2024-01-15", (("1.0", "2024-01-15"),)),)


CATALOGUE = _catalogue()
DEFINED = tuple(p for p in CATALOGUE if p.id != "qbr_prep")

SEGMENTS = ("Enterprise", "Mid-Market", "SMB")
TEAMS = ("Enterprise Team", "Growth Team", "Scale Team", "Strategic Team", "Digital Team")
INDUSTRIES = ("Software", "Healthcare", "Financial Services", "Retail", "Manufacturing",
              "Education", "Media", "Logistics")
REGIONS = ("North America", "EMEA", "APAC", "LATAM")
FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn",
         "Priya", "Wei", "Fatima", "Lukas", "Sofia", "Mateo", "Aisha", "Kenji", "Olga", "Noah")
LAST = ("Smith", "Garcia", "Chen", "Patel", "Müller", "Rossi", "Kowalski", "Okafor", "Silva",
        "Nguyen", "Johnson", "Brown", "Kim", "Haddad", "Larsen", "Dubois", "Tanaka", "Novak")
COMPANY = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay",
           "Soylent", "Tyrell", "Cyberdyne", "Wonka", "Aperture", "Monarch", "Gringotts")
COMPANY_SUFFIX = ("Inc", "GmbH", "Ltd", "LLC", "Group", "Systems", "Labs", "Holdings")
COMMENTS = ("Clear steps, saved me time.", "Too many steps for small accounts.",
            "The email templates need updating.", "Helped us save a big account.",
            "Not sure when to use this one.", "Great timeline, worked as described.")


@dataclass(frozen=True)
class Sizes:
    runs: int
    accounts: int
    csms: int
    renewals: int
    views: int
    feedback: int

    @classmethod
    def for_runs(cls, runs: int) -> "Sizes":
        accounts = max(200, runs // 20)
        return cls(runs=runs, accounts=accounts, csms=max(30, accounts // 50),
                   renewals=runs * 3 // 10, views=runs, feedback=max(50, runs // 100))


def parse_size(text: str) -> int:
    """'100k' -> 100000, '1m' -> 1000000, '20000' -> 20000."""
    t = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    number = t[:-1] if factor != 1 else t
    try:
        value = int(float(number) * factor)
    except ValueError:
        raise ValueError(f"size {text!r} is not a number like 100k, 1m or 20000") from None
    if value <= 0:
        raise ValueError(f"size {text!r} must be positive")
    return value


def size_label(runs: int) -> str:
    if runs % 1_000_000 == 0:
        return f"{runs // 1_000_000}M"
    if runs % 1_000 == 0:
        return f"{runs // 1_000}k"
    return str(runs)


# -- vectorised helpers ---------------------------------------------------------------------
def _ids(prefix: str, n: int, width: int) -> pa.Array:
    numbers = pc.cast(pa.array(np.arange(1, n + 1)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(numbers, width, "0"), "")


def _pick(options, index: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """options[index] as a string array; null where mask is True."""
    return pa.array(list(options), pa.string()).take(pa.array(index, mask=mask))


def _dates(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(days.astype("datetime64[D]"), pa.date32(), mask=mask)


def _uniform_dates(rng, n: int, start, end) -> np.ndarray:
    lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
    return lo + rng.integers(0, (hi - lo).astype(int) + 1, n).astype("timedelta64[D]")


def _table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    """A table in the schema's column order, every schema column present (null when unknown)."""
    spec = schema.TABLES[name]
    n = len(next(iter(columns.values())))
    arrays, names = [], []
    for col in spec.columns:
        arrays.append(columns[col.name] if col.name in columns else pa.nulls(n, pa.string()))
        names.append(col.name)
    unknown = set(columns) - set(names)
    if unknown:
        raise ValueError(f"{name} has no columns {sorted(unknown)}")
    return pa.table(arrays, names=names)


# -- tables -----------------------------------------------------------------------------------
def make_csms(rng, s: Sizes) -> tuple[pa.Table, dict]:
    n = s.csms
    hire = _uniform_dates(rng, n, "2018-01-01", "2026-06-30")
    # Planted ramp: ~180 days for hires before the launch, ~100 after.
    mean_ramp = np.where(hire < LAUNCH, 180.0, 100.0)
    ramp = np.round(rng.gamma(9.0, mean_ramp / 9.0)).astype(int)
    ramped_on = hire + ramp.astype("timedelta64[D]")
    leaves = rng.random(n) < 0.1
    end = hire + rng.integers(200, 2000, n).astype("timedelta64[D]")
    end_mask = ~leaves | (end > DATA_END)
    ramped_mask = (ramped_on > DATA_END) | (~end_mask & (ramped_on > end))
    first, last = rng.integers(0, len(FIRST), n), rng.integers(0, len(LAST), n)
    ids = _ids("csm_", n, 5)
    names = pc.binary_join_element_wise(_pick(FIRST, first), _pick(LAST, last), " ")
    emails = pc.binary_join_element_wise(ids, pa.scalar("@example.com"), "")
    managers = _pick([f"Manager {i + 1}" for i in range(max(1, n // 8))],
                     rng.integers(0, max(1, n // 8), n))
    table = _table("csms", {
        "csm_id": ids, "name": names, "email": emails,
        "team": _pick(TEAMS, rng.integers(0, len(TEAMS), n)), "manager": managers,
        "hire_date": _dates(hire), "end_date": _dates(end, end_mask),
        "ramped_on": _dates(ramped_on, ramped_mask),
    })
    # Per-CSM renewal skill: wide before the launch (0.65-0.95, mean ~0.73), narrow after.
    before = np.clip(rng.beta(2.0, 5.0, n) * 0.45 + 0.62, 0.6, 0.97)
    after = 0.85 + (before - before.mean()) * 0.25
    return table, {"before": before, "after": after}


def make_accounts(rng, s: Sizes, n_csms: int) -> tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray]:
    n = s.accounts
    segment = rng.choice(3, n, p=[0.2, 0.35, 0.45])
    arr = np.round(np.exp(rng.normal(np.array([12.2, 10.8, 9.4])[segment], 0.5)), 2)
    owner = rng.integers(0, n_csms, n)
    names = pc.binary_join_element_wise(
        _pick(COMPANY, rng.integers(0, len(COMPANY), n)),
        _pick(COMPANY_SUFFIX, rng.integers(0, len(COMPANY_SUFFIX), n)),
        pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), " ")
    table = _table("accounts", {
        "account_id": _ids("ACC-", n, 7), "name": names,
        "segment": _pick(SEGMENTS, segment),
        "industry": _pick(INDUSTRIES, rng.integers(0, len(INDUSTRIES), n)),
        "region": _pick(REGIONS, rng.integers(0, len(REGIONS), n)),
        "csm_id": _ids("csm_", n_csms, 5).take(pa.array(owner)),
        "arr": pa.array(arr), "customer_since": _dates(_uniform_dates(rng, n, "2015-01-01", "2024-12-31")),
    })
    return table, segment, arr, owner


def make_renewals(rng, s: Sizes, owner: np.ndarray, arr: np.ndarray, skill: dict) -> pa.Table:
    n = s.renewals
    account = rng.integers(0, s.accounts, n)
    csm = owner[account]
    day = _uniform_dates(rng, n, DATA_START, DATA_END)
    p = np.where(day < LAUNCH, skill["before"][csm], skill["after"][csm])
    renewed = rng.random(n) < p
    arr_before = arr[account]
    arr_after = np.where(renewed, np.round(arr_before * rng.uniform(0.9, 1.3, n), 2), 0.0)
    return _table("renewals", {
        "renewal_id": _ids("REN-", n, 8), "account_id": _ids("ACC-", s.accounts, 7).take(pa.array(account)),
        "csm_id": _ids("csm_", s.csms, 5).take(pa.array(csm)), "renewal_date": _dates(day),
        "outcome": _pick(("churned", "renewed"), renewed.astype(np.int8)),
        "arr_before": pa.array(arr_before), "arr_after": pa.array(arr_after),
    })


def _versions(opened: np.ndarray, playbook: np.ndarray, has: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Index into the version labels for each run (the latest version applying on opened_on)."""
    labels = sorted({v for p in CATALOGUE for v, _ in p.versions})
    out = np.zeros(len(opened), dtype=np.int64)
    for i, p in enumerate(CATALOGUE):
        rows = has & (playbook == i)
        for version, start in p.versions:  # versions are listed in date order
            out[rows & (opened >= np.datetime64(start))] = labels.index(version)
    return out, labels


def make_runs(rng, s: Sizes, owner: np.ndarray, arr: np.ndarray, segment: np.ndarray):
    """playbook_runs plus what run_steps needs (steps per run, completed, open flag, opened)."""
    n = s.runs
    weights = np.array([MIX[p.id] for p in CATALOGUE], dtype=float)
    scenario_of = rng.choice(len(CATALOGUE), n, p=weights / weights.sum())
    opened = _uniform_dates(rng, n, DATA_START, DATA_END)
    intro = np.array([np.datetime64(p.introduced_on) for p in CATALOGUE])[scenario_of]
    after = opened >= intro
    qbr = scenario_of == len(CATALOGUE) - 1
    has = after & ((rng.random(n) < 0.8) | qbr)
    version, labels = _versions(opened, scenario_of, has)

    account = rng.integers(0, s.accounts, n)
    health = np.round(np.clip(rng.normal(62 - 8 * (segment[account] == 2), 18, n), 1, 100), 1)
    arr_at_open = arr[account]
    # Recent runs are still open; everything older is closed with an outcome.
    closed = (opened < np.datetime64("2026-09-01")) | (rng.random(n) < 0.3)
    steps_total = rng.integers(3, 8, n)
    # Adherence drawn per run; healthier accounts get followed more (the confounding).
    p_done = np.clip(rng.beta(4.0, 1.3, n) + (health - 60) / 400, 0, 1)
    steps_completed = rng.binomial(steps_total, p_done)
    follower = has & (steps_completed / steps_total >= 0.8)
    p_success = np.clip(0.30 + 0.004 * (health - 60) + 0.12 * after + 0.13 * follower, 0.02, 0.98)
    success = rng.random(n) < p_success

    table = _table("playbook_runs", {
        "run_id": _ids("RUN-", n, 8),
        "scenario": _pick([p.scenario for p in CATALOGUE], scenario_of),
        "playbook_id": _pick([p.id for p in CATALOGUE], scenario_of, ~has),
        "playbook_version": _pick(labels, version, ~has),
        "account_id": _ids("ACC-", s.accounts, 7).take(pa.array(account)),
        "csm_id": _ids("csm_", s.csms, 5).take(pa.array(owner[account])),
        "opened_on": _dates(opened), "due_on": _dates(opened + np.timedelta64(30, "D")),
        "closed_on": _dates(opened + rng.integers(5, 90, n).astype("timedelta64[D]"), ~closed),
        "status": _pick(("open", "closed"), closed.astype(np.int8)),
        "steps_total": pa.array(steps_total.astype(np.int32), mask=~has),
        "steps_completed": pa.array(steps_completed.astype(np.int32), mask=~has),
        "outcome": _pick(("failure", "success"), success.astype(np.int8), ~closed),
        "health_at_open": pa.array(health), "arr_at_open": pa.array(arr_at_open),
    })
    return table, {"has": has, "steps_total": steps_total, "steps_completed": steps_completed,
                   "closed": closed, "opened": opened}


def make_run_steps(rng, run_ids: pa.Array, info: dict) -> pa.Table:
    has = np.flatnonzero(info["has"])
    k = info["steps_total"][has]
    run_index = np.repeat(has, k)
    # Step number within its run: 1..k, built without a loop.
    starts = np.repeat(np.cumsum(k) - k, k)
    step = np.arange(len(run_index)) - starts + 1
    done = step <= np.repeat(info["steps_completed"][has], k)
    run_open = ~info["closed"][run_index]
    status = np.where(done, 0, np.where(run_open, 2, 1))
    due = info["opened"][run_index] + (step * 7).astype("timedelta64[D]")
    completed = due - rng.integers(0, 5, len(step)).astype("timedelta64[D]")
    return _table("run_steps", {
        "run_id": run_ids.take(pa.array(run_index)),
        "step_id": pc.cast(pa.array(step), pa.string()),
        "due_on": _dates(due), "completed_on": _dates(completed, ~done),
        "status": _pick(("done", "skipped", "open"), status),
    })


def make_views(rng, s: Sizes) -> pa.Table:
    n = s.views
    playbook = rng.integers(0, len(DEFINED), n)
    intro = np.array([np.datetime64(p.introduced_on, "s") for p in DEFINED])[playbook]
    span = (np.datetime64(DATA_END, "s") - intro).astype(np.int64)
    viewed = intro + (rng.random(n) * span).astype("timedelta64[s]")
    return _table("playbook_views", {
        "viewed_at": pa.array(viewed.astype("datetime64[s]"), pa.timestamp("s")),
        "csm_id": _ids("csm_", s.csms, 5).take(pa.array(rng.integers(0, s.csms, n))),
        "playbook_id": _pick([p.id for p in DEFINED], playbook),
        "source": _pick(("library", "crm_link", "search", "email"), rng.integers(0, 4, n)),
    })


def make_health(rng, s: Sizes) -> pa.Table:
    months = np.arange(np.datetime64("2025-05"), np.datetime64("2026-11")).astype("datetime64[D]")
    account = np.repeat(np.arange(s.accounts), len(months))
    day = np.tile(months, s.accounts)
    n = len(account)
    return _table("health_snapshots", {
        "account_id": _ids("ACC-", s.accounts, 7).take(pa.array(account)),
        "snapshot_date": _dates(day),
        "health_score": pa.array(np.round(np.clip(rng.normal(65, 18, n), 0, 100), 1)),
        "active_users": pa.array(rng.integers(1, 400, n).astype(np.int32)),
    })


def make_feedback(rng, s: Sizes) -> pa.Table:
    n = s.feedback
    playbook = rng.integers(0, len(DEFINED), n)
    intro = np.array([np.datetime64(p.introduced_on, "s") for p in DEFINED])[playbook]
    span = (np.datetime64(DATA_END, "s") - intro).astype(np.int64)
    submitted = intro + (rng.random(n) * span).astype("timedelta64[s]")
    rating = rng.choice(5, n, p=[0.05, 0.1, 0.2, 0.4, 0.25]) + 1
    comment = rng.integers(0, len(COMMENTS), n)
    return _table("feedback", {
        "submitted_at": pa.array(submitted.astype("datetime64[s]"), pa.timestamp("s")),
        "csm_id": _ids("csm_", s.csms, 5).take(pa.array(rng.integers(0, s.csms, n))),
        "playbook_id": _pick([p.id for p in DEFINED], playbook),
        "rating": pa.array(rating.astype(np.int32)),
        "comment": _pick(COMMENTS, comment, rng.random(n) < 0.6),
    })


def _write(table: pa.Table, folder: Path, name: str) -> None:
    pacsv.write_csv(table, folder / f"{name}.csv",
                    write_options=pacsv.WriteOptions(quoting_style="needed"))
    pq.write_table(table, folder / f"{name}.parquet")


def generate(runs: int, folder: str | Path, seed: int = 20261123) -> dict[str, int]:
    """Write every table as `<table>.csv` and `<table>.parquet` into `folder`.

    Returns rows written per table. The same (runs, seed) always writes the same data.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    s = Sizes.for_runs(runs)
    csms, skill = make_csms(rng, s)
    accounts, segment, arr, owner = make_accounts(rng, s, s.csms)
    runs_table, info = make_runs(rng, s, owner, arr, segment)
    tables = {
        "csms": csms, "accounts": accounts,
        "renewals": make_renewals(rng, s, owner, arr, skill),
        "playbook_runs": runs_table,
        "run_steps": make_run_steps(rng, runs_table.column("run_id").combine_chunks(), info),
        "playbook_views": make_views(rng, s),
        "health_snapshots": make_health(rng, s),
        "feedback": make_feedback(rng, s),
    }
    for name, table in tables.items():
        _write(table, folder, name)
    return {name: table.num_rows for name, table in tables.items()}


def catalogue_intro() -> dict[str, date]:
    """playbook_id -> introduced_on of the catalogue (the undefined qbr_prep excluded)."""
    return {p.id: date.fromisoformat(p.introduced_on) for p in DEFINED}

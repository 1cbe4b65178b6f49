"""A deterministic demo organisation with the seed article's claims planted in it.

`load_demo(store)` fills an empty store with about 35 CSMs, 1,500 accounts, four years of
renewals, playbook runs (with and without playbooks), their steps, playbook views, feedback,
monthly health snapshots and one playbook's rollouts by team. The numbers are drawn from
seeded generators whose parameters plant the truths listed in `PLANTED`, exactly as
DESIGN.md's "What is measured" defines them, so every analysis has something real to find:

* at-risk save rate 35% before the program launch, about 58% for runs that followed the
  playbook after it;
* a true follower effect of +0.16 hidden behind confounding (healthier, larger accounts are
  both followed more often and saved more often), so the naive difference overstates it;
* renewal rate about 72% before and 87% after, with per-CSM rates narrowing from 65-95% to
  80-90%;
* new hires ramping in about 100 days instead of 180;
* a few rare playbook users, version differences, and accounts that currently meet the
  at-risk and usage-drop triggers, some with no run opened (missed plays);
* QBR prep rolled out team by team, dated in a `rollouts` table, each team's QBRs succeeding
  more often from its own rollout on: a difference in differences to find.

Everything is built with vectorised NumPy/pandas (loops run over months or CSMs, never over
rows), so the whole organisation loads in a few seconds.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
import unicodedata

import numpy as np
import pandas as pd

from analysis import schema
from analysis.settings import SETTINGS
from analysis.store import Store, quote_ident
from analysis.playbooks.catalog import template_playbooks, use_templates

DATA_START = date(2022, 7, 1)
DATA_END = date(2026, 10, 31)
LAUNCH = date(2024, 7, 1)  # earliest introduced_on of the catalogue
SNAPSHOT_MONTHS = 24  # monthly health snapshots up to DATA_END's month

SEGMENTS = ("Enterprise", "Mid-Market", "SMB")
TEAM_OF_SEGMENT = {"Enterprise": "Enterprise Team", "Mid-Market": "Growth Team", "SMB": "Scale Team"}
MANAGER_OF_TEAM = {"Enterprise Team": "Dana Whitfield", "Growth Team": "Marcus Oyelaran",
                   "Scale Team": "Priya Raman"}

# QBR prep was rolled out team by team: piloted by the Enterprise team, taken up by the Scale
# team a quarter later and by the Growth team last. The `rollouts` table dates each adoption and
# a team's QBRs carry the playbook only from its date on, so its before/after verdict rests on
# the difference in differences (analysis.metrics.designs.staggered): each team's QBRs after its
# rollout against the teams not yet using it, which the time series cannot tell apart.
ROLLOUT_PLAYBOOK = "qbr_prep"
ROLLOUTS: tuple[tuple[str, date], ...] = (("Enterprise Team", date(2025, 3, 3)),
                                          ("Scale Team", date(2025, 6, 2)),
                                          ("Growth Team", date(2025, 12, 1)))
# QBRs drawn a month beyond the 18 drawn with every other scenario (100 in all), after the rest
# of the organisation (build_demo): the difference in differences needs that many outcomes to
# find the planted effect under almost every seed (29 of 31 tried), and drawing them last left
# every earlier draw of the seeded stream, so every other table of the demo, where it was.
QBR_RUNS_DRAWN_LAST = 82


@dataclass(frozen=True)
class DemoPlaybook:
    """One playbook of the demo catalogue and how its scenario behaves in the data."""
    id: str
    scenario: str
    introduced_on: date
    versions: tuple[tuple[str, date], ...]
    steps: int
    runs_per_month: float
    duration_days: int
    base_success: float  # success probability of a run handled without following a playbook
    follow_effect: float  # added to it when the run followed the playbook (adherence >= 0.8)


def _pb(id_, per_month, duration, base, effect) -> DemoPlaybook:
    """A template as the demo runs it: its scenario, introduction, versions and step count come
    from the template's YAML (the one catalogue), the behaviour of its scenario from here."""
    t = template_playbooks()[id_]
    versions = tuple(sorted(((c.version, c.date) for c in t.changelog), key=lambda v: v[1]))
    return DemoPlaybook(t.id, t.scenario, t.introduced_on, versions, len(t.steps), per_month,
                        duration, base, effect)


# The shipped templates, which the demo organisation runs; at_risk's outcome is drawn by its
# own confounded model (_at_risk_outcomes).
CATALOGUE: tuple[DemoPlaybook, ...] = (
    _pb("onboarding", 22, 90, 0.62, 0.12),
    _pb("adoption", 30, 60, 0.55, 0.10),
    _pb("retention", 26, 60, 0.66, 0.02),
    _pb("renewal", 45, 120, 0.74, 0.14),
    _pb("expansion", 18, 75, 0.28, 0.10),
    _pb("churn_recovery", 9, 60, 0.18, 0.10),
    _pb("at_risk", 100, 45, 0.35, 0.13),
    _pb("executive_escalation", 7, 30, 0.55, 0.08),
    _pb("champion_change", 9, 45, 0.48, 0.10),
    _pb("competitive_threat", 7, 45, 0.40, 0.03),
    _pb("usage_drop", 26, 30, 0.47, 0.12),
    _pb("feature_adoption", 22, 45, 0.50, 0.10),
    # Not a template: exercises the "in the data, not yet defined" path. Introduced by its
    # first rollout (ROLLOUTS); a followed QBR prep (all four steps done) lifts a QBR's success
    # from 35% to 85%, and about half of a team's QBRs follow it once the team has it, so the
    # team's QBRs gain over 20 points from its rollout on.
    DemoPlaybook(ROLLOUT_PLAYBOOK, "qbr", ROLLOUTS[0][1], (("1.0", ROLLOUTS[0][1]),), 4, 18, 21,
                 0.35, 0.50),
)
PLAYBOOK_BY_ID = {p.id: p for p in CATALOGUE}

# The roster: (name, team, hire_date, end_date, ramp days, usage style). Fixed, so ids and
# cohorts are the same under every seed; ramp days of the unramped hires are latent only.
_E, _G, _S = "Enterprise Team", "Growth Team", "Scale Team"
_ROSTER = (
    ("Olivia Bennett", _E, date(2019, 2, 11), None, 176, "consistent"),
    ("Liam Carter", _G, date(2019, 6, 3), date(2023, 3, 31), 203, "consistent"),
    ("Sofia Martínez", _S, date(2019, 10, 14), None, 160, "consistent"),
    ("Noah Fischer", _G, date(2020, 1, 20), None, 224, "rare"),
    ("Emma Lindqvist", _E, date(2020, 5, 4), None, 145, "consistent"),
    ("Lucas Moreau", _S, date(2020, 9, 14), date(2024, 2, 29), 189, "mid"),
    ("Ava Thompson", _G, date(2021, 1, 11), None, 180, "consistent"),
    ("Mateo Rossi", _S, date(2021, 4, 19), None, 166, "consistent"),
    ("Chloe Nguyen", _E, date(2021, 8, 2), date(2025, 11, 28), 212, "consistent"),
    ("Ethan Walsh", _S, date(2021, 11, 15), None, 152, "mid"),
    ("Isabella Kowalski", _G, date(2022, 3, 7), None, 195, "rare"),
    ("James O'Connor", _E, date(2022, 6, 13), None, 171, "consistent"),
    ("Mia Johansson", _S, date(2022, 10, 3), None, 238, "consistent"),
    ("Benjamin Adeyemi", _G, date(2023, 1, 9), None, 184, "consistent"),
    ("Harper Sato", _S, date(2023, 5, 15), None, 132, "consistent"),
    ("Daniel Okafor", _G, date(2023, 9, 11), None, 179, "rare"),
    ("Grace Whitaker", _E, date(2024, 1, 22), None, 251, "consistent"),
    ("Samuel Becker", _S, date(2023, 12, 4), None, 180, "mid"),
    # Hired on or after the launch.
    ("Zoe Hamilton", _G, date(2024, 7, 8), None, 99, "consistent"),
    ("Leo Dubois", _S, date(2024, 8, 19), None, 123, "consistent"),
    ("Nora Petersen", _E, date(2024, 10, 7), date(2026, 5, 29), 86, "consistent"),
    ("Henry Alvarez", _S, date(2024, 11, 18), None, 105, "mid"),
    ("Lily Chen", _G, date(2025, 1, 13), None, 72, "consistent"),
    ("Jack Murphy", _S, date(2025, 2, 24), None, 112, "rare"),
    ("Aria Kapoor", _G, date(2025, 7, 7), None, 94, "consistent"),
    ("Owen Schmidt", _E, date(2025, 8, 4), None, 130, "consistent"),
    ("Ella Rodríguez", _S, date(2025, 8, 25), None, 100, "consistent"),
    ("Caleb Novak", _G, date(2025, 9, 8), None, 80, "mid"),
    ("Layla Haddad", _S, date(2025, 10, 20), None, 108, "consistent"),
    ("Ryan Gallagher", _G, date(2025, 12, 1), None, 90, "consistent"),
    ("Hannah Weiss", _E, date(2026, 1, 12), None, 117, "consistent"),
    ("Isaac Mensah", _S, date(2026, 3, 2), None, 102, "consistent"),
    ("Stella Park", _G, date(2026, 4, 13), None, 97, "consistent"),
    ("Adam Nowak", _S, date(2026, 6, 1), None, 138, "consistent"),
    ("Ruby Campbell", _G, date(2026, 9, 8), None, 100, None),  # not ramped yet
    ("Felix Sandberg", _S, date(2026, 10, 5), None, 100, None),  # not ramped yet
)
_STYLE = {  # playbook share and mean adherence a CSM's runs are drawn around
    "consistent": (0.93, 0.88), "mid": (0.62, 0.72), "rare": (0.16, 0.55), None: (0.85, 0.80),
}


def _csm_id(i: int) -> str:
    return f"csm_{i + 1:03d}"


def _account_id(i: int) -> str:
    return f"ACC-{i + 1:05d}"


# Accounts that currently (snapshot of 2026-10-01) meet a trigger; seed-independent positions.
_N_ACCOUNTS = 1500
_AT_RISK_TRIGGERED = tuple(range(6, _N_ACCOUNTS, 40))  # 38 accounts: health falls below 60
_USAGE_DROP_TRIGGERED = tuple(range(31, _N_ACCOUNTS, 50))  # 30 accounts: active users -30%+
# Every third triggered account got no run within 14 days of the trigger: a missed play.
_MISSED_AT_RISK = tuple(i for k, i in enumerate(_AT_RISK_TRIGGERED) if k % 3 == 2)
_MISSED_USAGE_DROP = tuple(i for k, i in enumerate(_USAGE_DROP_TRIGGERED) if k % 3 == 2)

_RAMP_BEFORE = sorted(d for (_, _, h, _, d, s) in _ROSTER if h < LAUNCH)
_RAMP_AFTER = sorted(d for (_, _, h, _, d, s) in _ROSTER if h >= LAUNCH and s is not None)

PLANTED: dict = {
    "launch_date": LAUNCH,
    "data_start": DATA_START,
    "data_end": DATA_END,
    # 1. at_risk success rate of closed runs by opened_on, 12 months either side of launch.
    "at_risk_before_rate": 0.35,
    "at_risk_followers_after_rate": 0.58,
    "at_risk_non_followers_after_rate": 0.34,
    "at_risk_after_rate": 0.47,
    # 2. True causal effect of following (adherence >= 0.8) on at_risk success probability,
    # additive and the same for every run; confounded by health_at_open, arr_at_open, segment.
    "follower_effect": 0.16,
    "follower_naive_diff_min": 0.18,
    # 3. Renewal rate (renewed / decided, by renewal_date) and its spread across CSMs.
    "renewal_before_rate": 0.72,
    "renewal_after_rate": 0.87,
    "csm_renewal_range_before": (0.65, 0.95),
    "csm_renewal_range_after": (0.80, 0.90),
    "sd_ratio_max": 0.6,
    # 4. Time to proficiency from the explicit ramped_on (Kaplan-Meier medians).
    "ramp_median_before_days": 180,
    "ramp_median_after_days": 100,
    "faster_pct": round(1 - 100 / 180, 4),
    "ramp_csms_before": len(_RAMP_BEFORE),
    "ramp_csms_after": len(_RAMP_AFTER),
    "not_ramped_csms": tuple(_csm_id(i) for i, r in enumerate(_ROSTER) if r[5] is None),
    # 5. Usage (DESIGN.md's playbook_share): the rare users are exactly these; "consistent"
    # is the planted style, which the observed rule may miss for CSMs with few runs.
    "rare_users": tuple(_csm_id(i) for i, r in enumerate(_ROSTER) if r[5] == "rare"),
    "consistent_users": tuple(_csm_id(i) for i, r in enumerate(_ROSTER) if r[5] == "consistent"),
    # 6. Versions: at_risk 1.1 better than 1.0 (more runs followed); usage_drop 1.1 ≈ 1.0.
    "better_version": ("at_risk", "1.1", "1.0"),
    "similar_version": ("usage_drop", "1.1", "1.0"),
    # Triggers on the latest snapshot (2026-10-01). Exactly these accounts have health < 60
    # there (it was above 60 a month before), and exactly those have active users down 30%
    # or more month over month; the two sets are disjoint. Each condition also fires other
    # playbooks' triggers (at_risk lists the users drop too). missed_* = the accounts of the
    # same-named set with no run of that playbook opened within 14 days after the snapshot.
    "latest_snapshot": date(2026, 10, 1),
    "health_below_60_accounts": tuple(_account_id(i) for i in _AT_RISK_TRIGGERED),
    "usage_drop_accounts": tuple(_account_id(i) for i in _USAGE_DROP_TRIGGERED),
    "missed_at_risk_accounts": tuple(_account_id(i) for i in _MISSED_AT_RISK),
    "missed_usage_drop_accounts": tuple(_account_id(i) for i in _MISSED_USAGE_DROP),
    "undefined_playbook": ("qbr_prep", "qbr"),
    # 7. The playbook rolled out team by team: one `rollouts` row per team in ROLLOUTS; a
    # team's QBRs carry it from its rollout date on, none before. Following it adds
    # rollout_follow_effect to a QBR's success probability.
    "rollout_playbook": ROLLOUT_PLAYBOOK,
    "rollouts": dict(ROLLOUTS),
    "rollout_follow_effect": PLAYBOOK_BY_ID[ROLLOUT_PLAYBOOK].follow_effect,
    "steps_total": {p.id: p.steps for p in CATALOGUE},
}


# -- public entry points ---------------------------------------------------------------------

# The seed the demo organisation is drawn with unless a caller passes another (the CLI passes
# its request's random_seed setting): the declared default, so the demo repeats.
DEMO_SEED = SETTINGS["random_seed"].default


def load_demo(store: Store, seed: int = DEMO_SEED) -> dict[str, int]:
    """Write the demo organisation (`build_demo(seed)`) into an empty store, in one
    transaction.

    Returns
    -------
    dict[str, int]
        Rows loaded per table (csms, accounts, renewals, playbook_runs, run_steps,
        playbook_views, health_snapshots, feedback, rollouts). One `imports` row per table
        records it with file_name 'demo'.
    """
    if not store.is_empty():
        raise ValueError("The demo data loads only into an empty database; this one holds data.")
    frames = build_demo(seed)
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    with store.transaction():
        for table, frame in frames.items():
            _insert(store, table, frame)
            n = len(frame)
            store.execute(
                "INSERT INTO imports (import_id, kind, file_name, sha256, imported_at, rows_read, "
                "rows_loaded, rows_rejected, mapping, rows_updated, warnings) "
                "VALUES (?, ?, 'demo', NULL, ?, ?, ?, 0, NULL, 0, NULL)",
                [store.next_import_id(), table, now, n, n])
        # The demo organisation was generated from the templates, so they are its playbooks;
        # and its database says it is the demo (pages show a banner, real imports are refused).
        use_templates(store)
        store.set_meta("demo", "true")
    return {table: len(frame) for table, frame in frames.items()}


def refuse_real_import(store: Store) -> None:
    """Raise ImportRefused when `store` is the demo organisation's database: an organisation's
    file never lands beside the demo's accounts. The message says how to start its own."""
    if not store.is_demo():
        return
    from analysis.ingest.readers import ImportRefused
    raise ImportRefused(
        f"{store.path} is the demo organisation's database; real files are never imported "
        "into it (it is unchanged). Start your organisation's own database with "
        "`python -m analysis init` (or the Import page's \"Start your organisation's "
        "database\" button), then import there.")


def build_demo(seed: int = DEMO_SEED) -> dict[str, pd.DataFrame]:
    """Build every demo table as a DataFrame with the schema's columns, in load order.

    Parameters
    ----------
    seed : int
        Seed of the generator (default: the declared random_seed). The same seed gives
        identical frames. The roster (csms) is fixed and the same under every seed.

    Returns
    -------
    dict[str, pandas.DataFrame]
        One frame per table (csms, accounts, renewals, playbook_runs, run_steps,
        playbook_views, health_snapshots, feedback, rollouts) with exactly schema.TABLES'
        columns; dates as datetime64, NULLs as NaT / None / <NA>.
    """
    rng = np.random.default_rng(seed)
    csms = _csms()
    accounts = _accounts(rng, csms)
    books = _books(rng, csms, accounts)
    renewals = _renewals(rng, csms, accounts, books)
    runs = _runs(rng, csms, accounts, books)
    steps = _run_steps(rng, runs)
    views = _views(rng, runs, csms)
    snapshots = _health_snapshots(rng, accounts)
    feedback = _feedback(rng, csms)
    _health_at_trigger(runs, snapshots)
    # Last, so that every draw above stays where it was (QBR_RUNS_DRAWN_LAST).
    more = _more_qbr_runs(rng, csms, accounts, books, first=len(runs) + 1)
    steps = pd.concat([steps, _run_steps(rng, more)], ignore_index=True)
    views = _sorted_views(pd.concat([views, _views(rng, more, csms, browsing=False)]))
    runs = _sorted_runs(pd.concat([runs, more], ignore_index=True))
    runs, steps, views = _withhold_before_rollout(csms, runs, steps, views)
    frames = {"csms": csms.drop(columns=["ramp_days", "style", "share", "adherence"]),
              "accounts": accounts, "renewals": renewals, "playbook_runs": runs,
              "run_steps": steps, "playbook_views": views, "health_snapshots": snapshots,
              "feedback": feedback, "rollouts": _rollouts()}
    return {name: frame[list(schema.TABLES[name].column_names)].reset_index(drop=True)
            for name, frame in frames.items()}


def _insert(store: Store, table: str, frame: pd.DataFrame) -> None:
    cols = schema.TABLES[table].columns
    select = ", ".join(f"CAST({quote_ident(c.name)} AS {c.type})" for c in cols)
    names = ", ".join(quote_ident(c.name) for c in cols)
    store.register("demo_frame", frame)
    try:
        store.execute(f"INSERT INTO {quote_ident(table)} ({names}) SELECT {select} FROM demo_frame")
    finally:
        store.unregister("demo_frame")


# -- helpers ---------------------------------------------------------------------------------

def _days(values) -> np.ndarray:
    """Dates as int64 day numbers since 1970-01-01 (NaT-free input)."""
    return np.asarray(pd.to_datetime(pd.Series(values)).values.astype("datetime64[D]")
                      .astype(np.int64))


def _day(d: date) -> int:
    return int(np.datetime64(d, "D").astype(np.int64))


def _to_dates(day_numbers, mask=None) -> pd.Series:
    """Day numbers back to datetime64 values; NaT where mask is False."""
    out = np.asarray(day_numbers, dtype=np.int64).astype("datetime64[D]").astype("datetime64[s]")
    if mask is not None:
        out = np.where(mask, out, np.datetime64("NaT", "s"))
    return pd.Series(out)


def _month_starts(start: date, end: date) -> np.ndarray:
    return _days(pd.date_range(start, end, freq="MS"))


def _month_end(month_start_days: np.ndarray) -> np.ndarray:
    starts = np.asarray(month_start_days).astype("datetime64[D]").astype("datetime64[M]")
    return ((starts + 1).astype("datetime64[D]").astype(np.int64)) - 1


# -- csms ------------------------------------------------------------------------------------

def _csms() -> pd.DataFrame:
    """The fixed roster with each CSM's latent ramp, usage style and share/adherence levels."""
    rows = []
    for i, (name, team, hire, end, ramp, style) in enumerate(_ROSTER):
        first, last = name.split(" ", 1)
        email = f"{_ascii(first)}.{_ascii(last)}@northwind-cs.example".lower()
        ramped = None
        if style is not None:
            ramped = pd.Timestamp(hire) + pd.Timedelta(days=ramp)
        share, adherence = _STYLE[style]
        rows.append({"csm_id": _csm_id(i), "name": name, "email": email, "team": team,
                     "manager": MANAGER_OF_TEAM[team], "hire_date": pd.Timestamp(hire),
                     "end_date": pd.Timestamp(end) if end else pd.NaT, "ramped_on": ramped,
                     "ramp_days": ramp, "style": style, "share": share, "adherence": adherence})
    frame = pd.DataFrame(rows)
    for col in ("hire_date", "end_date", "ramped_on"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[s]")
    return frame


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain if ch.isalnum())


def _active_days(csms: pd.DataFrame, month_starts: np.ndarray):
    """Per CSM x month: the first active day and the number of active days (0 = none)."""
    hire = _days(csms["hire_date"])[:, None]
    end_raw = csms["end_date"]
    end = np.where(end_raw.isna(), _day(DATA_END),
                   _days(end_raw.fillna(pd.Timestamp(DATA_END))))[:, None]
    ms = month_starts[None, :]
    me = np.minimum(_month_end(month_starts)[None, :], _day(DATA_END))
    first = np.maximum(ms, hire)
    last = np.minimum(me, end)
    return first, np.clip(last - first + 1, 0, None)


def _ramp_fraction(csms: pd.DataFrame, csm_idx: np.ndarray, day: np.ndarray) -> np.ndarray:
    """How far each CSM had ramped (0 at hire, 1 once ramped) on each day."""
    hire = _days(csms["hire_date"])[csm_idx]
    ramp = csms["ramp_days"].to_numpy()[csm_idx]
    return np.clip((day - hire) / ramp, 0.0, 1.0)


# -- accounts --------------------------------------------------------------------------------

_NAME_ROOTS = (
    "Acorn", "Alder", "Apex", "Arbor", "Aster", "Atlas", "Aurora", "Beacon", "Birch", "Blue Heron",
    "Bluestone", "Brightwater", "Canyon", "Cardinal", "Cascade", "Cedar", "Clearwater", "Cobalt",
    "Copper", "Coral", "Crescent", "Crestview", "Delta", "Driftwood", "Eastgate", "Ember",
    "Evergreen", "Falcon", "Fieldstone", "Foxglove", "Granite", "Greenleaf", "Harbor", "Hawthorn",
    "Highland", "Horizon", "Ironwood", "Juniper", "Keystone", "Lakeside", "Lantern", "Larkspur",
    "Maple", "Meridian", "Millbrook", "Northstar", "Oakridge", "Orchard", "Pinecrest", "Quarry",
    "Redwood", "Ridgeway", "Riverbend", "Sable", "Sagebrush", "Silverline", "Summit", "Tidewater",
    "Vantage", "Willow",
)
_NAME_KINDS = (
    "Analytics", "Bank", "Biotech", "Brands", "Capital", "Clinics", "Cloud", "Consulting",
    "Dynamics", "Energy", "Foods", "Freight", "Health", "Holdings", "Insurance", "Labs",
    "Learning", "Logistics", "Manufacturing", "Media", "Medical", "Networks", "Outfitters",
    "Partners", "Pharma", "Retail", "Robotics", "Software", "Systems", "Travel",
)
_NAME_SUFFIXES = ("Inc.", "LLC", "Ltd", "GmbH", "Group", "Corp.", "Co.", "S.A.", "")
_INDUSTRIES = ("Software", "Financial Services", "Healthcare", "Manufacturing", "Retail",
               "Logistics", "Education", "Media", "Energy", "Professional Services")
_REGIONS = ("North America", "EMEA", "APAC", "LATAM")
# Median ARR per segment in dollars, and the share of accounts in it.
_ARR_MEDIAN = {"Enterprise": 240_000.0, "Mid-Market": 58_000.0, "SMB": 14_000.0}
_SEGMENT_SHARE = (0.2, 0.35, 0.45)


def _accounts(rng: np.random.Generator, csms: pd.DataFrame) -> pd.DataFrame:
    """1,500 accounts, each owned today by an active CSM of the team serving its segment."""
    n = _N_ACCOUNTS
    combos = rng.permutation(len(_NAME_ROOTS) * len(_NAME_KINDS))[:n]
    roots = np.array(_NAME_ROOTS)[combos // len(_NAME_KINDS)]
    kinds = np.array(_NAME_KINDS)[combos % len(_NAME_KINDS)]
    suffixes = np.array(_NAME_SUFFIXES)[rng.integers(0, len(_NAME_SUFFIXES), n)]
    names = pd.Series(roots + " " + kinds + " " + suffixes).str.strip()
    segment = np.array(SEGMENTS)[rng.choice(3, n, p=_SEGMENT_SHARE)]
    median = pd.Series(segment).map(_ARR_MEDIAN).to_numpy()
    arr = np.round(median * np.exp(rng.normal(0, 0.55, n)), -2)
    since = _day(date(2014, 1, 1)) + rng.integers(0, _day(date(2022, 6, 1)) - _day(date(2014, 1, 1)), n)
    owner = np.empty(n, dtype=object)
    active = csms[csms["end_date"].isna()]
    for seg in SEGMENTS:
        team = active[active["team"] == TEAM_OF_SEGMENT[seg]]
        # Hires still ramping carry a smaller book.
        weight = np.where(team["ramped_on"].isna(), 0.3, 1.0)
        idx = np.flatnonzero(segment == seg)
        owner[idx] = rng.choice(team["csm_id"].to_numpy(), len(idx), p=weight / weight.sum())
    return pd.DataFrame({
        "account_id": [_account_id(i) for i in range(n)], "name": names, "segment": segment,
        "industry": np.array(_INDUSTRIES)[rng.integers(0, len(_INDUSTRIES), n)],
        "region": np.array(_REGIONS)[rng.choice(4, n, p=(0.55, 0.25, 0.13, 0.07))],
        "csm_id": owner, "arr": arr, "customer_since": _to_dates(since),
    })


def _books(rng: np.random.Generator, csms: pd.DataFrame, accounts: pd.DataFrame):
    """Accounts each CSM works on (flat array, offset and length per CSM).

    Active CSMs work their current accounts; CSMs who left worked a sample of their
    segment's accounts (those accounts moved to others since).
    """
    segment_of_team = {t: s for s, t in TEAM_OF_SEGMENT.items()}
    owner = accounts["csm_id"].to_numpy()
    seg = accounts["segment"].to_numpy()
    parts = []
    for cid, team in zip(csms["csm_id"], csms["team"]):
        own = np.flatnonzero(owner == cid)
        if len(own) == 0:
            pool = np.flatnonzero(seg == segment_of_team[team])
            own = rng.choice(pool, 45, replace=False)
        parts.append(own)
    lengths = np.array([len(p) for p in parts])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.concatenate(parts), offsets, lengths


def _pick_accounts(rng, books, csm_idx: np.ndarray) -> np.ndarray:
    flat, offsets, lengths = books
    return flat[offsets[csm_idx] + (rng.random(len(csm_idx)) * lengths[csm_idx]).astype(int)]


# -- renewals --------------------------------------------------------------------------------

# Per-CSM true renewal rates. Before the launch: spread 0.65..0.95, skewed low (mean ≈ .75);
# after: 0.845..0.895. A new hire renews less in the ramp months. The spread is wide enough,
# and its upper tail thick enough, for the consistency design (true-rate SD beyond binomial
# noise, bootstrap over ~17 CSMs) to find the narrowing under every seed.
_RATES_BEFORE = (0.65, 0.66, 0.67, 0.68, 0.69, 0.70, 0.70, 0.71, 0.72, 0.73, 0.74, 0.75,
                 0.77, 0.79, 0.82, 0.86, 0.90, 0.95)
_RENEWALS_PER_MONTH = 13.0


def _renewal_rates(rng, csms: pd.DataFrame):
    n = len(csms)
    pre = np.flatnonzero((csms["hire_date"] < pd.Timestamp(LAUNCH)).to_numpy())
    before = np.full(n, np.mean(_RATES_BEFORE))
    before[pre] = rng.permutation(np.array(_RATES_BEFORE))[: len(pre)]
    after = rng.permutation(np.linspace(0.845, 0.895, n))
    # Ramp dip: the pre-launch ramp cost more than the playbook-guided one.
    dip = np.where(csms["hire_date"] < pd.Timestamp(LAUNCH), 0.15, 0.05)
    return before, after, dip


def _renewals(rng, csms, accounts, books) -> pd.DataFrame:
    """Renewal decisions: each active CSM decides about 13 a month (several product lines)."""
    months = _month_starts(DATA_START, DATA_END)
    first, active = _active_days(csms, months)
    n_csm = len(csms)
    csm_grid = np.repeat(np.arange(n_csm)[:, None], len(months), axis=1)
    mid = first + active // 2
    volume = 0.6 + 0.4 * _ramp_fraction(csms, csm_grid.ravel(), mid.ravel()).reshape(mid.shape)
    days_in_month = (_month_end(months) - months + 1)[None, :]
    lam = _RENEWALS_PER_MONTH * volume * active / days_in_month
    counts = rng.poisson(lam).ravel()
    csm = np.repeat(csm_grid.ravel(), counts)
    day = np.repeat(first.ravel(), counts) + (rng.random(counts.sum())
                                              * np.repeat(active.ravel(), counts)).astype(int)
    before, after, dip = _renewal_rates(rng, csms)
    ramp = _ramp_fraction(csms, csm, day)
    p = np.where(day < _day(LAUNCH), before[csm], after[csm]) - dip[csm] * (1 - ramp)
    renewed = rng.random(len(p)) < p
    acct = _pick_accounts(rng, books, csm)
    arr_before = np.round(accounts["arr"].to_numpy()[acct] * rng.uniform(0.15, 0.6, len(acct)), -1)
    growth = np.clip(rng.normal(0.05, 0.08, len(acct)), -0.3, 0.5)
    order = np.argsort(day, kind="stable")
    frame = pd.DataFrame({
        "account_id": accounts["account_id"].to_numpy()[acct],
        "csm_id": csms["csm_id"].to_numpy()[csm], "renewal_date": _to_dates(day),
        "outcome": np.where(renewed, "renewed", "churned"), "arr_before": arr_before,
        "arr_after": np.where(renewed, np.round(arr_before * (1 + growth), -1), 0.0),
    }).iloc[order].reset_index(drop=True)
    frame.insert(0, "renewal_id", [f"REN-{i + 1:06d}" for i in range(len(frame))])
    return frame


# -- playbook runs ---------------------------------------------------------------------------

_HEALTH_AT_OPEN = {  # (mean, sd) of health_at_open per scenario
    "at_risk": (40, 14), "usage_drop": (52, 12), "churn_recovery": (30, 12),
    "executive_escalation": (45, 15), "competitive_threat": (55, 14), "champion_change": (60, 14),
}


def _runs(rng, csms, accounts, books) -> pd.DataFrame:
    """Runs of every scenario, with and without a playbook, plus the trigger follow-ups."""
    which, csm, day, acct = _draw_runs(rng, csms, books, [p.runs_per_month for p in CATALOGUE])
    # Accounts planted as (missed) trigger cases get no other run of those scenarios lately.
    planted = np.isin(acct, _AT_RISK_TRIGGERED + _USAGE_DROP_TRIGGERED)
    recent = day >= _day(date(2026, 9, 1))
    scen = _attr("scenario", which)
    keep = ~(planted & recent & np.isin(scen, ["at_risk", "usage_drop"]))
    which, csm, day, acct = which[keep], csm[keep], day[keep], acct[keep]
    frame = _run_frame(rng, csms, accounts, which, csm, day, acct)
    frame = _sorted_runs(pd.concat([frame, _trigger_runs(rng, csms, accounts)],
                                   ignore_index=True))
    frame.insert(0, "run_id", [f"RUN-{i + 1:06d}" for i in range(len(frame))])
    return frame


def _more_qbr_runs(rng, csms, accounts, books, first: int) -> pd.DataFrame:
    """QBR_RUNS_DRAWN_LAST more QBRs a month, numbered from RUN-`first` on."""
    per_month = [QBR_RUNS_DRAWN_LAST if p.id == ROLLOUT_PLAYBOOK else 0 for p in CATALOGUE]
    frame = _sorted_runs(_run_frame(rng, csms, accounts,
                                    *_draw_runs(rng, csms, books, per_month)))
    frame.insert(0, "run_id", [f"RUN-{first + i:06d}" for i in range(len(frame))])
    return frame


def _draw_runs(rng, csms, books, per_month):
    """(which, csm, day, acct) of runs drawn for each CATALOGUE playbook's scenario at its
    `per_month` rate, every month of the data: the playbook's index, the CSM's and the
    account's index, the day opened."""
    months = _month_starts(DATA_START, DATA_END)
    counts = rng.poisson(np.array(per_month)[:, None], (len(CATALOGUE), len(months)))
    which = np.repeat(np.repeat(np.arange(len(CATALOGUE))[:, None], len(months), 1).ravel(),
                      counts.ravel())
    month = np.repeat(np.tile(np.arange(len(months)), len(CATALOGUE)), counts.ravel())
    csm = _assign_csms(rng, csms, months, month)
    day = months[month] + (rng.random(len(month)) * (_month_end(months)[month] - months[month] + 1)).astype(int)
    return which, csm, day, _pick_accounts(rng, books, csm)


def _sorted_runs(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values(["opened_on", "scenario", "account_id"], kind="stable")
    return frame.reset_index(drop=True)


def _assign_csms(rng, csms, months, month) -> np.ndarray:
    """A CSM active for the whole month, weighted by how far they have ramped."""
    first, active = _active_days(csms, months)
    full = active == (np.minimum(_month_end(months), _day(DATA_END)) - months + 1)[None, :]
    out = np.empty(len(month), dtype=np.int64)
    for m in range(len(months)):
        idx = np.flatnonzero(month == m)
        cand = np.flatnonzero(full[:, m])
        if len(idx) == 0:
            continue
        w = 0.35 + 0.65 * _ramp_fraction(csms, cand, np.full(len(cand), months[m]))
        out[idx] = rng.choice(cand, len(idx), p=w / w.sum())
    return out


def _version_at(pb: DemoPlaybook, day: np.ndarray) -> np.ndarray:
    version = np.full(len(day), pb.versions[0][0], dtype=object)
    for v, since in pb.versions[1:]:
        version[day >= _day(since)] = v
    return version


def _attr(name: str, which: np.ndarray) -> np.ndarray:
    """One attribute of the catalogue playbook of each run."""
    return np.array([getattr(p, name) for p in CATALOGUE])[which]


def _playbook_use(rng, csms, which, csm, day):
    """Whether each run used its scenario's playbook, and how many of its steps were done.

    No run has a playbook before its introduction; after it, a run uses one with the CSM's
    share, and completes steps around the CSM's adherence level.
    """
    n = len(which)
    share = csms["share"].to_numpy()[csm]
    with_playbook = (day >= _attr("introduced_on", which).astype("datetime64[D]")
                     .astype(np.int64)) & (rng.random(n) < share)
    steps_total = np.where(with_playbook, _attr("steps", which), 0)
    level = np.clip(csms["adherence"].to_numpy()[csm] + rng.normal(0, 0.15, n), 0.05, 1.0)
    return with_playbook, steps_total, rng.binomial(steps_total, level)


def _run_frame(rng, csms, accounts, which, csm, day, acct) -> pd.DataFrame:
    """Runs drawn per catalogue playbook: covariates, playbook use, outcome and dates."""
    n = len(which)
    with_playbook, steps_total, completed = _playbook_use(rng, csms, which, csm, day)
    seg = accounts["segment"].to_numpy()[acct]
    arr_at_open = np.round(accounts["arr"].to_numpy()[acct] * rng.uniform(0.9, 1.1, n), -2)
    mean_sd = np.array([_HEALTH_AT_OPEN.get(p.scenario, (68, 13)) for p in CATALOGUE])[which]
    health = np.clip(np.round(rng.normal(mean_sd[:, 0], mean_sd[:, 1])), 3, 99)
    # A run of a team that has not rolled its playbook out yet cannot follow it; it loses the
    # playbook later (_withhold_before_rollout), once every draw that reads it is made.
    waiting = _awaiting_rollout(csms["team"].to_numpy()[csm], _attr("id", which), day)
    followed = with_playbook & ~waiting & (completed >= 0.8 * steps_total)
    p = _attr("base_success", which) + _attr("follow_effect", which) * followed
    # at_risk replaces the generic draw with the confounded model of PLANTED.
    is_risk = _attr("id", which) == "at_risk"
    risk = _at_risk_outcomes(rng, day[is_risk], seg[is_risk], arr_at_open[is_risk],
                             with_playbook[is_risk])
    health[is_risk] = risk["health"]
    completed[is_risk] = risk["completed"]
    p[is_risk] = risk["p"]
    success = rng.random(n) < p
    duration = _attr("duration_days", which)
    closed = day + np.maximum(3, np.round(duration * rng.uniform(0.5, 1.6, n))).astype(np.int64)
    is_closed = closed <= _day(DATA_END)
    version = np.full(n, None, dtype=object)
    for k, pb in enumerate(CATALOGUE):
        sel = (which == k) & with_playbook
        version[sel] = _version_at(pb, day[sel])
    return pd.DataFrame({
        "scenario": _attr("scenario", which),
        "playbook_id": np.where(with_playbook, _attr("id", which), None),
        "playbook_version": version, "account_id": accounts["account_id"].to_numpy()[acct],
        "csm_id": csms["csm_id"].to_numpy()[csm], "opened_on": _to_dates(day),
        "due_on": _to_dates(day + duration), "closed_on": _to_dates(closed, is_closed),
        "status": np.where(is_closed, "closed", "open"),
        "steps_total": pd.Series(steps_total, dtype="Int64").mask(~with_playbook),
        "steps_completed": pd.Series(completed, dtype="Int64").mask(~with_playbook),
        "outcome": np.where(is_closed, np.where(success, "success", "failure"), None),
        "health_at_open": health.astype(float), "arr_at_open": arr_at_open,
    })


_SEGMENT_SHIFT = {"Enterprise": 0.35, "Mid-Market": 0.0, "SMB": -0.35}


def _at_risk_outcomes(rng, day, seg, arr_at_open, with_playbook) -> dict:
    """The planted at-risk model: confounded following, a +0.16 true effect.

    A latent account strength z (higher health, larger ARR within the segment, Enterprise)
    raises both the chance the CSM follows the playbook and the base chance of a save.
    After the launch accounts are flagged earlier, so health at open is higher.
    """
    n = len(day)
    after = day >= _day(LAUNCH)
    health = np.clip(np.round(rng.normal(np.where(after, 46.0, 40.0), 13.0)), 12, 80)
    log_arr = np.log(arr_at_open)
    seg_mean = pd.Series(log_arr).groupby(seg).transform("mean").to_numpy()
    within = np.clip((log_arr - seg_mean) / 0.55, -2, 2)
    shift = pd.Series(seg).map(_SEGMENT_SHIFT).to_numpy()
    z = 0.8 * (health - 42) / 13 + shift + 0.15 * within
    base = np.clip(0.37 + 0.19 * z, 0.03, 0.85)
    # Propensity of following; version 1.1 (shorter, clearer) is followed more often.
    v11 = day >= _day(PLAYBOOK_BY_ID["at_risk"].versions[1][1])
    # Clipped to 0.1..0.9 so that followers and non-followers overlap everywhere.
    logit = np.clip(0.15 + 0.35 * v11 + 1.1 * z, -np.log(9), np.log(9))
    propensity = 1 / (1 + np.exp(-logit))
    followed = with_playbook & (rng.random(n) < propensity)
    steps = PLAYBOOK_BY_ID["at_risk"].steps
    need = int(np.ceil(0.8 * steps))
    completed = np.where(followed, need + rng.binomial(steps - need, 0.6, n),
                         rng.binomial(need - 1, 0.6, n))
    return {"health": health, "completed": np.where(with_playbook, completed, 0),
            "p": base + PLANTED["follower_effect"] * followed, "propensity": propensity}


def _trigger_runs(rng, csms, accounts) -> pd.DataFrame:
    """Runs opened within two weeks of the 2026-10-01 trigger, except for the missed plays."""
    rows = []
    owner_idx = pd.Series(np.arange(len(csms)), index=csms["csm_id"])
    for triggered, missed, pid in ((_AT_RISK_TRIGGERED, _MISSED_AT_RISK, "at_risk"),
                                   (_USAGE_DROP_TRIGGERED, _MISSED_USAGE_DROP, "usage_drop")):
        idx = np.array([i for i in triggered if i not in missed])
        pb = PLAYBOOK_BY_ID[pid]
        day = _day(PLANTED["latest_snapshot"]) + 1 + rng.integers(0, 12, len(idx))
        csm = owner_idx[accounts["csm_id"].to_numpy()[idx]].to_numpy()
        completed = rng.binomial(pb.steps, 0.35, len(idx))
        rows.append(pd.DataFrame({
            "scenario": pb.scenario, "playbook_id": pid, "playbook_version": pb.versions[-1][0],
            "account_id": accounts["account_id"].to_numpy()[idx],
            "csm_id": csms["csm_id"].to_numpy()[csm], "opened_on": _to_dates(day),
            "due_on": _to_dates(day + pb.duration_days),
            "closed_on": _to_dates(day, np.zeros(len(idx), dtype=bool)),
            "status": "open", "steps_total": pd.array(np.full(len(idx), pb.steps), dtype="Int64"),
            "steps_completed": pd.array(completed, dtype="Int64"), "outcome": None,
            "health_at_open": np.round(rng.uniform(35, 57, len(idx))),
            "arr_at_open": accounts["arr"].to_numpy()[idx],
        }))
    return pd.concat(rows, ignore_index=True)


def _health_at_trigger(runs: pd.DataFrame, snapshots: pd.DataFrame) -> None:
    """Runs opened on a planted trigger carry the health score of the snapshot that fired it."""
    latest = snapshots[snapshots["snapshot_date"] == pd.Timestamp(PLANTED["latest_snapshot"])]
    health = latest.set_index("account_id")["health_score"]
    follow_up = ((runs["opened_on"] > pd.Timestamp(PLANTED["latest_snapshot"]))
                 & runs["playbook_id"].isin(["at_risk", "usage_drop"])
                 & runs["account_id"].isin(PLANTED["health_below_60_accounts"]
                                           + PLANTED["usage_drop_accounts"]))
    runs.loc[follow_up, "health_at_open"] = runs.loc[follow_up, "account_id"].map(health)


# -- rollouts --------------------------------------------------------------------------------

def _rollouts() -> pd.DataFrame:
    """The `rollouts` table: one row per team that adopted ROLLOUT_PLAYBOOK, with its date."""
    return pd.DataFrame({
        "playbook_id": ROLLOUT_PLAYBOOK, "team": [team for team, _ in ROLLOUTS],
        "segment": None, "rolled_out_on": _to_dates([_day(on) for _, on in ROLLOUTS])})


def _awaiting_rollout(team: np.ndarray, playbook_id: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Per run (or view): ROLLOUT_PLAYBOOK's, by a team that had not rolled it out on `day`."""
    since = np.full(len(team), np.inf)  # a team without a rollout: never
    for rolled, on in ROLLOUTS:
        since[team == rolled] = _day(on)
    return (playbook_id == ROLLOUT_PLAYBOOK) & (day < since)


def _withhold_before_rollout(csms, runs, steps, views):
    """Runs, steps and views with ROLLOUT_PLAYBOOK only where the team had rolled it out.

    Runs of a team that had not rolled it out yet were drawn like every run of the scenario
    (playbook use, steps, views), so the seeded stream, and every other figure of the demo,
    stays where it was; their outcomes were drawn without the playbook (_run_frame). Here they
    lose it: no playbook, version or step counts, no steps, and no views of it by the team
    before its rollout.
    """
    team = csms.set_index("csm_id")["team"]

    def awaiting(frame: pd.DataFrame, on: str) -> np.ndarray:
        day = frame[on].to_numpy().astype("datetime64[D]").astype(np.int64)
        return _awaiting_rollout(frame["csm_id"].map(team).to_numpy(),
                                 frame["playbook_id"].to_numpy(), day)

    waiting = awaiting(runs, "opened_on")
    runs = runs.copy()
    runs.loc[waiting, ["playbook_id", "playbook_version"]] = None
    runs.loc[waiting, ["steps_total", "steps_completed"]] = pd.NA
    steps = steps[~steps["run_id"].isin(runs.loc[waiting, "run_id"])]
    views = views[~awaiting(views, "viewed_at")]
    return runs, steps.reset_index(drop=True), views.reset_index(drop=True)


# -- run steps -------------------------------------------------------------------------------

def _run_steps(rng, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per step of every run with a playbook; exactly steps_completed are done.

    Which steps get done is drawn with weights favouring early steps (Gumbel top-k), so the
    later steps are the ones skipped most often, as in real plays.
    """
    has = runs["steps_total"].notna().to_numpy()
    sub = runs.loc[has]
    total = sub["steps_total"].to_numpy(dtype=np.int64)
    done_n = sub["steps_completed"].to_numpy(dtype=np.int64)
    run_idx = np.repeat(np.arange(len(sub)), total)
    step_no = np.arange(len(run_idx)) - np.repeat(np.cumsum(total) - total, total) + 1
    weight = 1.0 / (step_no ** 0.6)
    key = np.log(weight) - np.log(-np.log(rng.random(len(run_idx))))
    # Rank of each step's key within its run (0 = most likely done).
    order = np.lexsort((-key, run_idx))
    rank = np.empty(len(run_idx), dtype=np.int64)
    starts = np.repeat(np.cumsum(total) - total, total)
    rank[order] = np.arange(len(run_idx)) - starts
    done = rank < np.repeat(done_n, total)
    opened = _days(sub["opened_on"])[run_idx]
    dur = (_days(sub["due_on"]) - _days(sub["opened_on"]))[run_idx]
    due = opened + np.maximum(0, np.round(dur * step_no / np.repeat(total, total))).astype(np.int64)
    is_open = (sub["status"].to_numpy() == "open")[run_idx]
    closed = _days(sub["closed_on"].fillna(pd.Timestamp(DATA_END)))[run_idx]
    completed = np.clip(due + rng.integers(-3, 6, len(due)), opened, closed)
    status = np.where(done, "done", np.where(is_open, "open", "skipped"))
    return pd.DataFrame({
        "run_id": sub["run_id"].to_numpy()[run_idx], "step_id": step_no.astype(str),
        "due_on": _to_dates(due), "completed_on": _to_dates(completed, done), "status": status,
    })


# -- views and feedback ----------------------------------------------------------------------

_VIEW_SOURCES = ("library", "search", "slack", "crm")


def _views(rng, runs: pd.DataFrame, csms: pd.DataFrame, browsing: bool = True) -> pd.DataFrame:
    """Views while working a run (about 4 per run) plus, unless `browsing` is False, library
    browsing by each CSM."""
    pb_runs = runs[runs["playbook_id"].notna()]
    k = rng.poisson(3.6, len(pb_runs))
    idx = np.repeat(np.arange(len(pb_runs)), k)
    opened = _days(pb_runs["opened_on"])[idx]
    dur = (_days(pb_runs["due_on"]) - _days(pb_runs["opened_on"]))[idx]
    # Most views come early in a run: when it opens and at the first steps.
    day = opened - 2 + (rng.beta(1.2, 3.0, len(idx)) * (dur + 2)).astype(int)
    intro = pb_runs["playbook_id"].map({p.id: _day(p.introduced_on) for p in CATALOGUE})
    day = np.maximum(day, intro.to_numpy(dtype=np.int64)[idx])
    run_views = pd.DataFrame({
        "day": day, "csm_id": pb_runs["csm_id"].to_numpy()[idx],
        "playbook_id": pb_runs["playbook_id"].to_numpy()[idx], "source": "crm"})
    browse = [_browsing_views(rng, csms)] if browsing else []
    both = pd.concat([run_views, *browse], ignore_index=True)
    both = both[both["day"] <= _day(DATA_END)]
    # Working hours, to the second.
    seconds = rng.integers(7 * 3600, 19 * 3600, len(both))
    viewed = (both["day"].to_numpy().astype("datetime64[D]").astype("datetime64[s]")
              + seconds.astype("timedelta64[s]"))
    frame = pd.DataFrame({"viewed_at": viewed, "csm_id": both["csm_id"].to_numpy(),
                          "playbook_id": both["playbook_id"].to_numpy(),
                          "source": both["source"].to_numpy()})
    return _sorted_views(frame)


def _sorted_views(frame: pd.DataFrame) -> pd.DataFrame:
    """Views in time order, one per key (viewed_at, csm_id, playbook_id)."""
    frame = frame.drop_duplicates(["viewed_at", "csm_id", "playbook_id"])
    return frame.sort_values("viewed_at", kind="stable").reset_index(drop=True)


def _browsing_views(rng, csms: pd.DataFrame) -> pd.DataFrame:
    months = _month_starts(LAUNCH, DATA_END)
    first, active = _active_days(csms, months)
    rate = np.where(csms["style"].to_numpy() == "rare", 1.0, 6.0)[:, None] * (active > 0)
    counts = rng.poisson(rate).ravel()
    csm = np.repeat(np.repeat(np.arange(len(csms))[:, None], len(months), 1).ravel(), counts)
    day = np.repeat(first.ravel(), counts) + (rng.random(counts.sum())
                                              * np.repeat(active.ravel(), counts)).astype(int)
    defined = [p for p in CATALOGUE if p.id != "qbr_prep"]
    pick = rng.integers(0, len(defined), len(day))
    intro = np.array([_day(p.introduced_on) for p in defined])[pick]
    keep = day >= intro
    return pd.DataFrame({
        "day": day[keep], "csm_id": csms["csm_id"].to_numpy()[csm][keep],
        "playbook_id": np.array([p.id for p in defined])[pick][keep],
        "source": np.array(_VIEW_SOURCES[:3])[rng.integers(0, 3, keep.sum())]})


# Mean rating per playbook (1-5) and the critical comments CSMs wrote about it.
_RATING = {"onboarding": 4.1, "adoption": 3.9, "retention": 3.5, "renewal": 4.3,
           "expansion": 3.7, "churn_recovery": 3.4, "at_risk": 4.2, "executive_escalation": 3.9,
           "champion_change": 3.8, "competitive_threat": 3.0, "usage_drop": 3.6,
           "feature_adoption": 3.8}
_POSITIVE = (
    "Clear steps, saved me time on the first call.",
    "The email templates are good and I use them as they are.",
    "Helped me structure the conversation with the customer's exec sponsor.",
    "The decision branches make it obvious what to do next.",
    "Good checklist; my manager and I now talk about the same things.",
    "Used it with two accounts this month, both went well.",
)
_NEUTRAL = (
    "Useful, but a bit long for smaller accounts.",
    "Fine overall. The timeline is tight when the customer is slow to respond.",
    "OK as a reference; I skip some steps for low-ARR accounts.",
    "Would be better with a shorter version for SMB.",
)
_CRITICAL = {
    "competitive_threat": ("The battlecards are out of date: two competitors changed pricing "
                           "this quarter.",
                           "Step 3 assumes we know which competitor it is; usually we don't."),
    "usage_drop": ("The 2-day deadline for the first outreach is unrealistic with 60 accounts.",
                   "Usage data arrives a week late, so by the time this triggers it's old news."),
    "retention": ("Too generic. It reads like a list of things we already do.",),
    "churn_recovery": ("Win-back offer needs finance approval that takes weeks; the play "
                       "stalls at step 4.",),
}
_CRITICAL_GENERIC = (
    "Too many steps; nobody has time to do all of them.",
    "The templates don't fit our customers' industries.",
    "Duplicates work already tracked in the CRM.",
)


def _feedback(rng, csms: pd.DataFrame) -> pd.DataFrame:
    """Survey answers after each playbook's introduction: rating 1-5, most with a comment."""
    parts = []
    months = _month_starts(LAUNCH, DATA_END)
    first, active = _active_days(csms, months)
    for pid, mean in _RATING.items():
        pb = PLAYBOOK_BY_ID[pid]
        # About three answers a month once the playbook exists, from CSMs active that month.
        per_month = rng.poisson(3.0 * (months >= _day(pb.introduced_on.replace(day=1))))
        m = np.repeat(np.arange(len(months)), per_month)
        csm = np.concatenate([rng.choice(np.flatnonzero(active[:, j] > 0), k)
                              for j, k in enumerate(per_month)]).astype(np.int64)
        n = len(m)
        day = first[csm, m] + (rng.random(n) * active[csm, m]).astype(int)
        day = np.maximum(day, _day(pb.introduced_on))
        # Ratings around the playbook's mean, 1..5.
        rating = np.clip(np.round(rng.normal(mean, 0.9, n)), 1, 5).astype(int)
        parts.append(pd.DataFrame({"day": day, "csm_id": csms["csm_id"].to_numpy()[csm],
                                   "playbook_id": pid, "rating": rating,
                                   "comment": _comments(rng, pid, rating)}))
    both = pd.concat(parts, ignore_index=True)
    seconds = rng.integers(8 * 3600, 18 * 3600, len(both))
    both["submitted_at"] = (both["day"].to_numpy().astype("datetime64[D]").astype("datetime64[s]")
                            + seconds.astype("timedelta64[s]"))
    both = both.drop_duplicates(["submitted_at", "csm_id", "playbook_id"])
    return both.sort_values("submitted_at", kind="stable").reset_index(drop=True)


def _comments(rng, pid: str, rating: np.ndarray) -> np.ndarray:
    critical = _CRITICAL.get(pid, ()) + _CRITICAL_GENERIC
    out = np.empty(len(rating), dtype=object)
    for r, pool in ((rating >= 4, _POSITIVE), (rating == 3, _NEUTRAL), (rating <= 2, critical)):
        idx = np.flatnonzero(r)
        out[idx] = np.array(pool, dtype=object)[rng.integers(0, len(pool), len(idx))]
    # About a third of answers leave the comment box empty.
    out[rng.random(len(rating)) < 0.35] = None
    return out


# -- health snapshots ------------------------------------------------------------------------

def _health_snapshots(rng, accounts: pd.DataFrame) -> pd.DataFrame:
    """Monthly health score and active users for the last 24 months.

    Ordinary accounts stay at 61+ with gentle month-to-month moves (never a 15-point fall or a
    30% user drop), apart from past dips; the planted accounts cross a trigger on the last one.
    """
    months = _month_starts(date(2024, 11, 1), DATA_END)
    n, m = len(accounts), len(months)
    base = rng.uniform(66, 94, n)[:, None]
    health = np.clip(base + rng.normal(0, 1.5, (n, m)), 61, 100)
    # Past dips below 60 for about 8% of accounts, over by the last three months.
    dip = rng.random(n) < 0.08
    start = rng.integers(1, m - 6, n)
    length = rng.integers(2, 4, n)
    col = np.arange(m)[None, :]
    in_dip = dip[:, None] & (col >= start[:, None]) & (col < (start + length)[:, None])
    # Dips fall gradually (about 8 points a month) so no month drops 15 points at once.
    depth = np.minimum(col - start[:, None] + 1, length[:, None]) * 8.0
    health = np.where(in_dip, np.maximum(health - depth, 44.0), health)
    seats = pd.Series(accounts["segment"]).map(
        {"Enterprise": (300, 1500), "Mid-Market": (60, 300), "SMB": (15, 60)})
    low = np.array([s[0] for s in seats])
    high = np.array([s[1] for s in seats])
    users0 = rng.uniform(low, high)[:, None]
    trend = (1 + rng.normal(0.008, 0.004, n))[:, None] ** col
    users = users0 * trend * np.exp(rng.normal(0, 0.025, (n, m)))
    risk = np.array(_AT_RISK_TRIGGERED)
    health[risk, -2] = rng.uniform(66, 80, len(risk))
    health[risk, -1] = rng.uniform(35, 57, len(risk))
    drop = np.array(_USAGE_DROP_TRIGGERED)
    users[drop, -1] = users[drop, -2] * rng.uniform(0.42, 0.66, len(drop))
    return pd.DataFrame({
        "account_id": np.repeat(accounts["account_id"].to_numpy(), m),
        "snapshot_date": _to_dates(np.tile(months, n)),
        "health_score": np.round(health, 1).ravel(),
        "active_users": np.round(users).astype(np.int64).ravel(),
    })

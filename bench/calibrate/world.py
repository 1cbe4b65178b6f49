"""A simulated organisation for the calibration benchmark, and how its tables reach a store.

A world builds the canonical tables (DESIGN.md's data model) of one organisation straight as
DataFrames, without CSV, so thousands of replicates stay fast. `null` worlds have no true effect:
every directional claim (improved, worse, followers_better, narrower, faster, ...) in them is a
false claim. Worlds with a planted effect measure power.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from analysis.schema import TABLES
from analysis.store import Store, quote_ident


# The tag of the worlds that measure the power target: a 15-point effect with about
# 300 outcomes a side (CALIBRATION.md sums them up in one line).
POWER_AT_300 = "power_at_300"


@dataclass(frozen=True)
class World:
    """One kind of organisation.

    name      short id, e.g. "drift" (rows of CALIBRATION.md)
    section   the metrics key whose claims it tests: before_after, followers, consistency,
              proficiency
    null      True when nothing works (false-claim rate), False for a planted effect (power)
    build     rng -> (tables, settings): the canonical tables by name, and the setting
              overrides this organisation is analysed with (e.g. {"as_of": "2025-03-31"})
    claims    the section's `metrics --json` value -> the claims it makes (one string each)
    describe  one line for CALIBRATION.md: what is simulated and what is true
    tags      e.g. "family" (claims BH-adjusted together), "rollouts", POWER_AT_300
    """
    name: str
    section: str
    null: bool
    build: Callable[[np.random.Generator], tuple[dict[str, pd.DataFrame], dict]]
    claims: Callable[[object], list[str]]
    describe: str = ""
    tags: tuple[str, ...] = field(default=())


def spells(rng: np.random.Generator, months: int, sd: float, rho: float = 0.0) -> np.ndarray:
    """Month-to-month deviations (logit) of SD `sd` that run in spells: a stationary AR(1)
    series with lag-1 correlation `rho` (0: independent months, one normal draw each)."""
    e = rng.normal(0, sd * np.sqrt(1 - rho ** 2), months)
    if rho == 0:
        return e
    u = np.empty(months)
    u[0] = e[0] / np.sqrt(1 - rho ** 2)
    for t in range(1, months):
        u[t] = rho * u[t - 1] + e[t]
    return u


def load_tables(store: Store, tables: dict[str, pd.DataFrame]) -> None:
    """Insert each frame into its canonical table, columns by name (missing ones stay NULL)."""
    for name, frame in tables.items():
        known = [c for c in TABLES[name].column_names if c in frame.columns]
        unknown = set(frame.columns) - set(known)
        if unknown:
            raise ValueError(f"{name} has no column(s) {sorted(unknown)}")
        cols = ", ".join(quote_ident(c) for c in known)
        store.register("world_frame", frame[known])
        try:
            store.execute(f"INSERT INTO {quote_ident(name)} ({cols}) SELECT {cols} FROM world_frame")
        finally:
            store.unregister("world_frame")

"""What the sidebar filters can choose from: segments, teams, playbooks and the data's period."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from analysis.store import Store


@dataclass(frozen=True)
class FilterOptions:
    segments: tuple[str, ...]
    teams: tuple[str, ...]
    playbooks: tuple[str, ...]
    first_date: date | None
    last_date: date | None


def _values(store: Store, sql: str) -> tuple[str, ...]:
    return tuple(store.query(sql)["v"].dropna().astype(str).tolist())


def filter_options(store: Store) -> FilterOptions:
    """Distinct segments, teams and playbook ids, and the first and last date in the data."""
    period = store.query("""
        with dates as (
            select min(opened_on) as lo, max(opened_on) as hi from playbook_runs
            union all select min(renewal_date), max(renewal_date) from renewals
        )
        select min(lo) as first_date, max(hi) as last_date from dates
    """).iloc[0]
    first, last = (None if pd.isna(v) else pd.Timestamp(v).date()
                   for v in (period["first_date"], period["last_date"]))
    return FilterOptions(
        segments=_values(store, "select distinct segment as v from accounts order by 1"),
        teams=_values(store, "select distinct team as v from csms order by 1"),
        playbooks=_values(store, "select distinct playbook_id as v from playbook_runs order by 1"),
        first_date=first,
        last_date=last,
    )

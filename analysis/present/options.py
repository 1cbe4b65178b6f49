"""What the sidebar filters can choose from: segments, teams, CSMs, playbooks and the data's period."""
from __future__ import annotations

from dataclasses import dataclass, field
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
    # CSM ids in the order of their names, and the name shown for each (the id when unnamed).
    csms: tuple[str, ...] = ()
    csm_names: dict[str, str] = field(default_factory=dict)


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
        **_csms(store),
    )


def _csms(store: Store) -> dict:
    roster = store.query("select csm_id, shown as name from (select csm_id, "
                         "coalesce(nullif(trim(name), ''), csm_id) as shown from csms) "
                         "order by lower(shown), csm_id")
    return {"csms": tuple(roster["csm_id"]),
            "csm_names": dict(zip(roster["csm_id"], roster["name"]))}

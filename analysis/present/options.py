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


# The date each table's rows happen on (None: the table has no such date).
_EVENT_DATES = {"csms": None, "accounts": None, "renewals": "renewal_date",
                "playbook_runs": "opened_on", "run_steps": "completed_on",
                "playbook_views": "viewed_at", "health_snapshots": "snapshot_date",
                "feedback": "submitted_at"}


def data_coverage(store: Store) -> pd.DataFrame:
    """How far each table's data runs: its first and last event date.

    Returns
    -------
    DataFrame with table, first_date, last_date (datetime.date, None for a table without
    dates or rows), in the order of `_EVENT_DATES`.
    """
    rows = []
    for table, column in _EVENT_DATES.items():
        first = last = None
        if column:
            found = store.query(f"select cast(min({column}) as date) as lo, "
                                f"cast(max({column}) as date) as hi from {table}").iloc[0]
            first, last = (None if pd.isna(v) else pd.Timestamp(v).date()
                           for v in (found["lo"], found["hi"]))
        rows.append({"table": table, "first_date": first, "last_date": last})
    return pd.DataFrame(rows, dtype=object)


def data_version(store: Store) -> str:
    """A token that changes with every import or undo (the import log's count and last id):
    part of the key of anything cached per data, such as the review pack."""
    row = store.query("select count(*) as n, coalesce(max(import_id), 0) as last "
                      "from imports").iloc[0]
    return f"{int(row['n'])}-{int(row['last'])}"

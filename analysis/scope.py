"""Filtered views of the base tables: the one place Filters become SQL.

`scoped(table, filters)` returns a parenthesised subquery and its bound parameters, to be
used as `FROM {sql} AS r`. Every analysis reads the base tables through it, so a period,
segment, team or CSM filter means the same thing on every page and in `metrics --json`.
The playbook filter is not applied here: before/after needs a scenario's runs without a
playbook too, so each analysis decides which playbooks it reports.
"""
from __future__ import annotations

from analysis.filters import Filters

# table: (date column the period applies to, has account_id, has csm_id)
_SCOPE = {
    "renewals": ("renewal_date", True, True),
    "playbook_runs": ("opened_on", True, True),
    "playbook_views": ("viewed_at", False, True),
    "feedback": ("submitted_at", False, True),
    "health_snapshots": ("snapshot_date", True, False),
    "accounts": (None, True, True),
    "csms": (None, False, True),
    # The semantic layer's views (analysis/semantic/) filter like the tables they select from.
    "runs_with_status": ("opened_on", True, True),
    "runs_with_adherence": ("opened_on", True, True),
    "closed_runs": ("opened_on", True, True),
    "decided_renewals": ("renewal_date", True, True),
}


def scoped(table: str, filters: Filters | None = None, *, period: bool = True):
    """Rows of `table` within `filters`; returns (sql, params).

    period=False ignores date_from/date_to (before/after and proficiency define their own
    windows around a date and must see rows on both sides of it).
    """
    if table not in _SCOPE and table != "run_steps":
        raise ValueError(f"no scope is defined for table {table!r}")
    f = filters or Filters()
    if table == "run_steps":
        runs_sql, params = scoped("playbook_runs", f, period=period)
        return (f"(SELECT s.* FROM run_steps s WHERE s.run_id IN (SELECT run_id FROM {runs_sql} q))",
                params)
    date_col, has_account, has_csm = _SCOPE[table]
    where, params = [], []
    if period and date_col and f.date_from:
        where.append(f"CAST(t.{date_col} AS DATE) >= ?")
        params.append(f.date_from)
    if period and date_col and f.date_to:
        where.append(f"CAST(t.{date_col} AS DATE) <= ?")
        params.append(f.date_to)
    if f.segment is not None:
        if table == "accounts":
            where.append("t.segment = ?")
        elif has_account:
            where.append("t.account_id IN (SELECT account_id FROM accounts WHERE segment = ?)")
        else:
            # Views and feedback belong to no account: a segment filter leaves them whole.
            pass
        if table == "accounts" or has_account:
            params.append(f.segment)
    if f.team is not None and has_csm:
        if table == "csms":
            where.append("t.team = ?")
        else:
            where.append("t.csm_id IN (SELECT csm_id FROM csms WHERE team = ?)")
        params.append(f.team)
    if f.csm is not None and has_csm:
        where.append("t.csm_id = ?")
        params.append(f.csm)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    return f"(SELECT t.* FROM {table} t{clause})", params

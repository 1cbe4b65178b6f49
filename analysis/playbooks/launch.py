"""The program launch date: when the playbook program began, for before/after-launch comparisons."""
from __future__ import annotations

from datetime import date, datetime

import pandas as pd


def as_date(value, what: str = "the launch_date setting") -> date:
    """A date from a date, a timestamp or ISO text; `what` names the value in the error."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an ISO date like 2024-07-01") from None


def program_launch_date(catalog: pd.DataFrame, launch_date=None) -> date | None:
    """The launch date: `launch_date` when given (the `launch_date` setting), else the earliest
    introduced_on of the organisation's catalogue (`playbook_catalog`: never a template it did
    not adopt); None when there is no playbook at all.

    When the organisation defined some playbooks, only they count: a playbook seen in the runs
    without a definition is dated by its first run, which may be a practice older than the
    program. With no definition, the first playbook run is the launch.
    """
    if launch_date is not None:
        return as_date(launch_date)
    if catalog["defined"].any():
        catalog = catalog[catalog["defined"]]
    introduced = catalog["introduced_on"].dropna()
    return as_date(min(introduced)) if len(introduced) else None

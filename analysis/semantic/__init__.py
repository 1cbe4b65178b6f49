"""The semantic layer: each concept the metrics share, defined once in a SQL file named for it.

Like a dbt staging layer, every file here is one query shaped as import CTEs -> logic CTEs ->
`final` -> `select * from final`, and becomes a DuckDB view of the same name when the schema is
created (`Store.ensure_schema` runs `create_statements()`). Metrics select from the views
through `analysis.scope.scoped` (so every filter still applies) and never recompute what they
define:

- `runs_with_status`: every playbook_runs column plus its status derived when absent, whether
  it is closed and whether it succeeded.
- `runs_with_adherence`: runs_with_status plus adherence (DESIGN.md's one rule) and its source.
- `step_count_disagreements`: runs whose step counts and run_steps rows disagree (the counts
  win; the import says how many).
- `closed_runs`: the runs of runs_with_status that are closed.
- `decided_renewals`: renewals that were renewed or churned.
- `rollout_kinds`: per playbook a `rollouts` export dates, the kind of group its rows name
  (team or segment) and its first and last rollout.
- `rollout_adoptions`: per playbook and group (lower case) of that kind, its rollout date.
- `scenario_introductions`: when each scenario's first playbook was introduced to everyone,
  and `scenario_rollouts`: when its playbooks that a rollouts export dates reached each team or
  segment. Table macros, not views, because the playbook catalogue is built in Python;
  `introductions(store, catalog)` registers the catalogue and names both calls.

A file whose header holds a `-- macro: name(parameter)` line becomes a table macro with that
parameter; every other file a view. Files are created in VIEW_ORDER (a view after the views it
reads).
"""
from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Iterator

import pandas as pd

FOLDER = Path(__file__).parent

# A view is created after every view it selects from.
VIEW_ORDER = ("runs_with_status", "runs_with_adherence", "step_count_disagreements",
              "closed_runs", "decided_renewals", "rollout_kinds", "rollout_adoptions",
              "scenario_introductions", "scenario_rollouts")

_MACRO = re.compile(r"^-- macro: (\w+)\((\w+)\)\s*$", re.MULTILINE)


@cache
def definition(name: str) -> str:
    """The SQL text of one concept (the file `analysis/semantic/<name>.sql`)."""
    if name not in VIEW_ORDER:
        raise ValueError(f"no semantic definition named {name!r}")
    return (FOLDER / f"{name}.sql").read_text(encoding="utf-8")


def create_statement(name: str) -> str:
    """`CREATE OR REPLACE VIEW` (or `MACRO ... AS TABLE`) for one concept."""
    sql = definition(name)
    macro = _MACRO.search(sql)
    if macro is None:
        return f"CREATE OR REPLACE VIEW {name} AS\n{sql}"
    if macro.group(1) != name:
        raise ValueError(f"{name}.sql declares a macro named {macro.group(1)!r}")
    return f"CREATE OR REPLACE MACRO {name}({macro.group(2)}) AS TABLE\n{sql}"


def create_statements() -> list[str]:
    """Every concept's CREATE statement, in dependency order."""
    return [create_statement(name) for name in VIEW_ORDER]


@dataclass(frozen=True)
class Introductions:
    """The table expressions of one registered catalogue, to use as `FROM {it} AS i`.

    to_everyone  scenario_introductions: scenario, introduced_on (DATE, the first
                 introduction among the scenario's playbooks without rollouts).
    to_groups    scenario_rollouts: scenario, group_kind ('team' | 'segment'), group (lower
                 case), introduced_on (DATE, the first rollout to that group among the
                 scenario's playbooks with rollouts); no rows without a rollouts export.
    """
    to_everyone: str
    to_groups: str


@contextmanager
def introductions(store, catalog: pd.DataFrame) -> Iterator[Introductions]:
    """`scenario_introductions` and `scenario_rollouts` over one catalogue, for the queries
    run inside the block.

    Parameters
    ----------
    store : Store
    catalog : DataFrame
        The playbook catalogue as `analysis.playbooks.catalog.playbook_catalog` returns it
        (only its playbook_id, scenario and introduced_on columns are read).

    Yields
    ------
    Introductions
    """
    # The name is made here, never taken from input, so it may be written into the SQL.
    name = f"playbook_introductions_{uuid.uuid4().hex}"
    frame = pd.DataFrame({
        "playbook_id": pd.Series(catalog["playbook_id"].tolist(), dtype=object),
        "scenario": pd.Series(catalog["scenario"].tolist(), dtype=object),
        # Dates as ISO text: an all-missing column still has a type DuckDB can cast to DATE.
        "introduced_on": pd.Series([None if pd.isna(d) else pd.Timestamp(d).date().isoformat()
                                    for d in catalog["introduced_on"]], dtype=object),
    })
    store.register(name, frame)
    try:
        yield Introductions(f"scenario_introductions('{name}')", f"scenario_rollouts('{name}')")
    finally:
        store.unregister(name)

"""The playbook catalogue: every playbook the product knows, defined in YAML or only seen in runs.

Definitions enrich the analysis but never gate it (DESIGN.md): a playbook id that appears in
`playbook_runs` without a definition file is still listed, with introduced_on = the earliest
opened_on of its runs and outcome metric `renewal_rate` when its scenario is renewal.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

import pandas as pd

from analysis.playbooks.library import load_playbooks
from analysis.ingest.names import slugify
from analysis.store import Store

# Catalogues already built inside a `shared_catalog()` block, keyed by (store, folder).
_SHARED: ContextVar[dict | None] = ContextVar("shared_playbook_catalog", default=None)

COLUMNS = ("playbook_id", "name", "category", "scenario", "introduced_on", "outcome_metric",
           "defined", "current_version")


def _defined(folder) -> pd.DataFrame:
    rows = [{
        "playbook_id": p.id, "name": p.name, "category": p.category, "scenario": p.scenario,
        "introduced_on": p.introduced_on, "outcome_metric": p.outcome_metric,
        "defined": True, "current_version": str(p.version) if p.version is not None else None,
    } for p in load_playbooks(folder)]
    return _objects(pd.DataFrame(rows, columns=list(COLUMNS)))


def _seen_in_runs(store: Store) -> pd.DataFrame:
    """One row per playbook_id in the runs: first opened, most common scenario, latest version."""
    return store.query("""
        with runs as (
            select playbook_id, scenario, playbook_version, opened_on
            from playbook_runs
            where playbook_id is not null and trim(playbook_id) <> ''
        ),
        scenarios as (
            select playbook_id, scenario, count(*) as n
            from runs group by playbook_id, scenario
        ),
        final as (
            select playbook_id,
                   min(opened_on) as introduced_on,
                   max(opened_on) as last_opened_on,
                   arg_max(playbook_version, opened_on)
                       filter (where playbook_version is not null) as current_version,
                   (select arg_max(s.scenario, s.n) from scenarios s
                     where s.playbook_id = runs.playbook_id) as scenario
            from runs group by playbook_id
        )
        select * from final order by playbook_id
    """)


def _undefined(seen: pd.DataFrame, known: set[str]) -> pd.DataFrame:
    """Playbooks of the runs that no definition covers, keyed by DESIGN.md's id rule."""
    seen = seen.assign(slug=seen["playbook_id"].astype(str).map(slugify))
    seen = seen[~seen["slug"].isin(known) & (seen["slug"] != "")]
    if seen.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    # Several spellings ("Save Play - At Risk", "save_play_at_risk") are one playbook; a
    # spelling that is not already an id is the name a person gave it.
    seen["is_name"] = seen["playbook_id"].astype(str) != seen["slug"]
    by_name = seen.sort_values(["is_name", "introduced_on"], ascending=[False, True])
    by_recency = seen.sort_values("last_opened_on")
    frame = pd.DataFrame({
        "name": by_name.groupby("slug")["playbook_id"].first(),
        "introduced_on": seen.groupby("slug")["introduced_on"].min(),
        "scenario": by_name.groupby("slug")["scenario"].first(),
        "current_version": by_recency.dropna(subset=["current_version"])
                                     .groupby("slug")["current_version"].last(),
    }).rename_axis("playbook_id").reset_index()
    frame["introduced_on"] = pd.to_datetime(frame["introduced_on"]).dt.date
    frame["outcome_metric"] = frame["scenario"].map(
        lambda s: "renewal_rate" if s == "renewal" else "success_rate")
    frame["category"] = None
    frame["defined"] = False
    return _objects(frame[list(COLUMNS)])


def _objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as objects holding None for missing (pandas' str dtype would say NaN)."""
    frame = frame.copy()
    for column in ("playbook_id", "name", "category", "scenario", "outcome_metric",
                   "current_version", "introduced_on"):
        values = frame[column].astype(object)
        frame[column] = values.where(values.notna(), None)
    return frame


def playbook_catalog(store: Store, folder=None) -> pd.DataFrame:
    """Defined playbooks plus those seen in `playbook_runs` without a definition.

    Parameters
    ----------
    store : Store
    folder : path, optional
        Folder of playbook YAML files; None means the `playbooks_dir` setting.

    Returns
    -------
    DataFrame, one row per playbook sorted by playbook_id:
        playbook_id, name, category (lifecycle / situational; None when undefined), scenario,
        introduced_on (datetime.date), outcome_metric (renewal_rate / success_rate),
        defined (bool), current_version (str or None).
    """
    shared = _SHARED.get()
    if shared is None:
        return _build(store, folder)
    key = (id(store), str(folder))
    if key not in shared:
        shared[key] = _build(store, folder)
    return shared[key].copy()  # a copy: callers may add columns to what they get


@contextmanager
def shared_catalog():
    """Build each (store, folder) catalogue once inside the block, then hand out copies.

    For a suite of analyses over one unchanging database (metrics_json): every analysis asks
    for the catalogue, and rebuilding it (YAML load plus a scan of the runs) each time is
    wasted work. Nothing is kept after the block, so a later import is always seen.
    """
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def _build(store: Store, folder) -> pd.DataFrame:
    defined = _defined(folder)
    known = set(defined["playbook_id"]) | {slugify(n) for n in defined["name"]}
    undefined = _undefined(_seen_in_runs(store), known)
    parts = [f for f in (defined, undefined) if not f.empty]
    if not parts:
        return _objects(pd.DataFrame(columns=list(COLUMNS)).astype({"defined": bool}))
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    frame["defined"] = frame["defined"].astype(bool)
    return _objects(frame.sort_values("playbook_id", ignore_index=True))


def first_introduction_by_scenario(catalog: pd.DataFrame) -> pd.DataFrame:
    """When each scenario got its first playbook: scenario, introduced_on (datetime.date)."""
    if catalog.empty:
        return pd.DataFrame({"scenario": pd.Series(dtype=object),
                             "introduced_on": pd.Series(dtype=object)})
    known = catalog.dropna(subset=["scenario", "introduced_on"])
    first = known.groupby("scenario", sort=True)["introduced_on"].min()
    return first.reset_index()

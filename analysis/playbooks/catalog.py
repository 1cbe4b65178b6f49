"""The organisation's playbook catalogue: the playbooks its runs name plus the definitions it
adopted or wrote.

The shipped definitions are a template library (`playbooks_dir`, playbooks/templates/):
browsable and adoptable, analysed only for a database that says it uses them (the demo
organisation, a benchmark world: `use_templates`). Any other organisation's definitions live in
its own folder (`org_playbooks_dir`); `adopt_template` copies a template there with the
organisation's own introduced_on and aliases.

Definitions enrich the analysis but never gate it (DESIGN.md): a playbook id that appears in
`playbook_runs` without a definition file is still listed, with introduced_on = the earliest
opened_on of its runs and outcome metric `renewal_rate` when its scenario is renewal. When a
definition's introduced_on and its first run disagree by more than a month, the definition's
date is used and `introduced_note` says so.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from analysis.playbooks.library import load_playbooks
from analysis.ingest.names import display_name, slugify
from analysis.settings import SETTINGS, Settings
from analysis.store import Store

# The template library the product ships (the declared playbooks_dir): what the demo
# organisation and the benchmark's generated organisation run.
SHIPPED_TEMPLATES = Path(SETTINGS["playbooks_dir"].default)

COLUMNS = ("playbook_id", "name", "category", "scenario", "introduced_on", "outcome_metric",
           "defined", "current_version", "first_run_on", "introduced_source", "introduced_note")
# schema_meta key: this database's organisation uses the template library as its definitions.
_USES_TEMPLATES = "playbook_definitions"


# -- whose definitions ----------------------------------------------------------------------
def templates_folder(settings: Settings) -> Path:
    """The template library (the `playbooks_dir` setting)."""
    return Path(settings.playbooks_dir)


def template_playbooks(folder: str | Path = SHIPPED_TEMPLATES) -> dict:
    """A template library's definitions by id (default: the shipped one): the one catalogue the
    demo organisation, the benchmark's generated organisation and the tests take the shipped
    playbooks from."""
    return {pb.id: pb for pb in load_playbooks(folder)}


def org_folder(settings: Settings) -> Path:
    """The organisation's own definitions (the `org_playbooks_dir` setting); refused when it
    is the template folder, which would make every template the organisation's."""
    folder = Path(settings.org_playbooks_dir)
    if folder.resolve() == templates_folder(settings).resolve():
        raise ValueError(f"org_playbooks_dir ({folder}) must not be the template folder; "
                         "adopt the templates the organisation uses instead")
    return folder


def uses_templates(store: Store) -> bool:
    """True when the database's organisation uses the template library as its definitions."""
    return store.meta(_USES_TEMPLATES) == "templates"


def use_templates(store: Store) -> None:
    """Mark the database as an organisation whose definitions are the templates (the demo,
    generated from them; a benchmark world)."""
    store.set_meta(_USES_TEMPLATES, "templates")


def definitions_folder(store: Store, settings: Settings) -> Path:
    """The folder holding this database's organisation's definitions."""
    return templates_folder(settings) if uses_templates(store) else org_folder(settings)


def _defined(playbooks) -> pd.DataFrame:
    rows = [{
        "playbook_id": p.id, "name": p.name, "category": p.category, "scenario": p.scenario,
        "introduced_on": p.introduced_on, "outcome_metric": p.outcome_metric,
        "defined": True, "current_version": str(p.version) if p.version is not None else None,
        "aliases": {slugify(a) for a in (p.id, p.name, *p.aliases)} - {""},
        "source": Path(p.source).name if p.source else f"{p.id}.yaml",
    } for p in playbooks]
    return pd.DataFrame(rows, columns=[*COLUMNS[:8], "aliases", "source"])


def _first_runs(defined: pd.DataFrame, seen: pd.DataFrame) -> pd.DataFrame:
    """first_run_on, introduced_source and introduced_note of each defined playbook.

    A definition's runs are those stored under its id, its name or an alias (runs imported
    before it was adopted carry the name's id). When the first of them is more than a month
    from introduced_on, the definition's date is still used and the note says so.
    """
    slugs = seen["playbook_id"].astype(str).map(slugify)
    firsts, notes = [], []
    for pb in defined.itertuples(index=False):
        runs = seen.loc[slugs.isin(pb.aliases), "introduced_on"].dropna()
        first = pd.Timestamp(runs.min()).date() if len(runs) else None
        firsts.append(first)
        notes.append(_date_note(pb, first))
    return defined.assign(first_run_on=firsts, introduced_source="definition",
                          introduced_note=notes)


def _date_note(pb, first: date | None) -> str | None:
    introduced = pd.Timestamp(pb.introduced_on)
    if first is None or introduced - pd.DateOffset(months=1) <= pd.Timestamp(first) \
            <= introduced + pd.DateOffset(months=1):
        return None
    return (f"Dated {pb.introduced_on:%Y-%m-%d} by its definition ({pb.source}), but its "
            f"first run in the data opened {first:%Y-%m-%d}; the definition's date is used "
            f"(change introduced_on in {pb.source} to use another).")


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
    spelled = by_name.groupby("slug")["playbook_id"].first()
    # An id that no export spelled as a name is shown as words: qbr_prep as "QBR prep".
    named = spelled.where(spelled != spelled.index, spelled.index.map(display_name))
    frame = pd.DataFrame({
        "name": named,
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
    frame["first_run_on"] = frame["introduced_on"]
    frame["introduced_source"] = "first run"
    frame["introduced_note"] = None
    return _objects(frame[list(COLUMNS)])


def _objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as objects holding None for missing (pandas' str dtype would say NaN)."""
    frame = frame.copy()
    for column in ("playbook_id", "name", "category", "scenario", "outcome_metric",
                   "current_version", "introduced_on", "first_run_on", "introduced_source",
                   "introduced_note"):
        values = frame[column].astype(object)
        frame[column] = values.where(values.notna(), None)
    return frame


def playbook_catalog(store: Store, folder: str | Path) -> pd.DataFrame:
    """The organisation's catalogue: its defined playbooks plus those seen in `playbook_runs`
    without a definition.

    Parameters
    ----------
    store : Store
    folder : path
        Folder of the organisation's playbook YAML files (`definitions_folder`: the templates
        for a database that uses them, else `org_playbooks_dir`).

    Returns
    -------
    DataFrame, one row per playbook sorted by playbook_id:
        playbook_id, name, category (lifecycle / situational; None when undefined), scenario,
        introduced_on (datetime.date), outcome_metric (renewal_rate / success_rate),
        defined (bool), current_version (str or None), first_run_on (datetime.date of its
        first run, None without runs), introduced_source ("definition" / "first run": where
        introduced_on comes from), introduced_note (str when the definition's date and the
        first run are more than a month apart, else None).
    """
    return catalog_of(store, load_playbooks(folder))


def catalog_of(store: Store, playbooks) -> pd.DataFrame:
    """`playbook_catalog` of definitions already loaded (`load_playbooks`)."""
    seen = _seen_in_runs(store)
    defined = _defined(playbooks)
    known = set().union(*defined["aliases"]) if len(defined) else set()
    undefined = _undefined(seen, known)
    defined = _objects(_first_runs(defined, seen)[list(COLUMNS)])
    parts = [f for f in (defined, undefined) if not f.empty]
    if not parts:
        return _objects(pd.DataFrame(columns=list(COLUMNS)).astype({"defined": bool}))
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    frame["defined"] = frame["defined"].astype(bool)
    return _objects(frame.sort_values("playbook_id", ignore_index=True))


def introduction_notes(catalog: pd.DataFrame) -> dict[str, dict]:
    """Per playbook_id, where its introduced_on comes from, as `metrics --json` carries it:
    {"introduced_source": "definition" | "first run", "introduced_note": text or None,
    "first_run_on": ISO date or None}. Empty for a catalogue without those columns."""
    wanted = ("introduced_source", "introduced_note", "first_run_on")
    if catalog.empty or not set(wanted) <= set(catalog.columns):
        return {}
    out = {}
    for row in catalog[["playbook_id", *wanted]].itertuples(index=False):
        first = row.first_run_on
        out[row.playbook_id] = {
            "introduced_source": row.introduced_source,
            "introduced_note": row.introduced_note if isinstance(row.introduced_note, str)
            else None,
            "first_run_on": first.isoformat() if isinstance(first, date) else None}
    return out

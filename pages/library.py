"""Playbook library: search the definitions, open one, see who should be getting it now."""
from __future__ import annotations

import pyarrow as pa
import streamlit as st

from analysis.metrics.before_after import before_after
from analysis.playbooks.adopt import adoptable_templates, adopt_template
from analysis.playbooks.catalog import definitions_folder, templates_folder, uses_templates
from analysis.present.charts.effect import before_after_bars
from analysis.present.charts.library import flowchart_dot, timeline_figure
from analysis.present.export import to_safe_csv
from analysis.playbooks.library import (CATEGORIES, TRIGGER_KINDS, load_playbooks, playbook_table,
                              quick_reference, search_playbooks, steps_table)
from analysis.playbooks.triggers import FEATURES, account_features, matching_accounts, missed_plays
from analysis.metrics.versions import version_rates
from pages.common import CACHE_KEYS, download_csv, md_text, page_context, show_table

ALL = "All"
# Cached results are keyed on the store's data version (a new import changes it); the TTL
# only bounds how long an edit made outside the app (a direct SQL update) can go unseen.
CACHE_TTL_SECONDS = 600


# Features of 50k accounts and the missed plays over every snapshot take seconds at 1M runs;
# reruns (a click in another tab) must not recompute them. Each is keyed on what it reads:
# the store (file and data version, CACHE_KEYS), the filters, the playbook, the setting.
@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False, max_entries=32, hash_funcs=CACHE_KEYS)
def _account_features(store, filters, max_age_days: int):
    return account_features(store, filters=filters, max_age_days=max_age_days)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False, max_entries=64, hash_funcs=CACHE_KEYS)
def _matching(store, filters, playbook, max_age_days: int):
    features = _account_features(store, filters, max_age_days)
    return matching_accounts(store, playbook, filters=filters, features=features)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner="Looking for missed plays…", max_entries=64,
               hash_funcs=CACHE_KEYS)
def _missed(store, filters, playbook, days: int):
    """The missed plays as an Arrow table: they can run to 100k+ rows, and a cache hit
    unpickles an Arrow table in milliseconds where a frame of Python dates takes ~0.5 s."""
    missed = missed_plays(store, playbook, days, filters=filters)
    return pa.Table.from_pandas(missed, preserve_index=False)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False, max_entries=64, hash_funcs=CACHE_KEYS)
def _figures(ctx, playbook_id: str):
    """This playbook's before/after row and its success rate by version."""
    mine = ctx.with_filters(playbook_id=playbook_id)
    effect, versions = before_after(mine), version_rates(mine)
    return (effect[effect["playbook_id"] == playbook_id],
            versions[versions["playbook_id"] == playbook_id])


def _template_library(store, settings) -> None:
    """The shipped templates: browsable, and adoptable by the organisation in one action."""
    if "adopt_message" in st.session_state:  # what the last Adopt click did
        st.success(st.session_state.pop("adopt_message"))
    with st.expander("Template library: the shipped playbooks", expanded=not playbooks):
        if uses_templates(store):
            st.caption("This organisation's playbooks are the templates themselves.")
            st.dataframe(playbook_table(load_playbooks(templates_folder(settings))),
                         hide_index=True, key="templates_list")
            return
        st.caption("What the seed article says good playbooks look like. Adopting one copies "
                   "it into your organisation's folder with your own introduction date; only "
                   "adopted and run playbooks are analysed.")
        open_ = adoptable_templates(settings)
        st.dataframe(playbook_table(open_), hide_index=True, key="templates_list")
        if not open_:
            return
        names = {p.id: p.name for p in open_}
        left, middle, right = st.columns(3)
        picked = left.selectbox("Template", list(names), format_func=names.get,
                                key="adopt_template")
        introduced = middle.date_input("Introduced in your organisation on",
                                       key="adopt_introduced_on")
        aliases = right.text_input("Names your runs use for it (comma-separated)",
                                   key="adopt_aliases", placeholder="Save Play - At Risk")
        if st.button("Adopt", key="adopt_button", type="primary"):
            try:
                path = adopt_template(picked, introduced, aliases.split(","),
                                      settings=settings, store=store)
            except ValueError as exc:
                st.error(md_text(exc))
                return
            st.cache_data.clear()
            # Rerun so the adopted playbook is listed and opened at once.
            st.session_state["adopt_message"] = (f"Adopted {md_text(names[picked])} as "
                                                 f"{md_text(path.name)}.")
            st.rerun()


st.title("Playbook library")
ctx = page_context()
store, filters, settings, catalog = ctx.store, ctx.filters, ctx.settings, ctx.catalog
st.caption("Your organisation's playbook definitions: when to use each one, its steps and "
           "decision logic, its templates, and the accounts that meet its triggers.")

playbooks = load_playbooks(definitions_folder(store, settings))

# -- search --------------------------------------------------------------------------------
text = st.text_input("Search", key="search",
                     placeholder="a word from a name, trigger, step or template, e.g. renewal")
c1, c2, c3 = st.columns(3)
category = c1.selectbox("Category", [ALL, *CATEGORIES], key="lib_category")
scenario = c2.selectbox("Scenario", [ALL, *sorted({p.scenario for p in playbooks})],
                        key="lib_scenario")
kind = c3.selectbox("Trigger kind", [ALL, *TRIGGER_KINDS], key="lib_trigger_kind",
                    format_func=lambda k: k.replace("_", " "))
found = search_playbooks(playbooks, text, category=None if category == ALL else category,
                         scenario=None if scenario == ALL else scenario,
                         trigger_kind=None if kind == ALL else kind)
st.subheader(f"{len(found)} of {len(playbooks)} playbooks")
st.dataframe(playbook_table(found), hide_index=True, key="library_list")

undefined = catalog[~catalog["defined"]]
if len(undefined):
    st.subheader("In the data, not yet defined")
    st.caption("Runs name these playbooks but your organisation has no definition for them; "
               "they are still analysed (introduced on their first run). Adopt a template "
               "below (with the name as an alias) or add a YAML file to describe them.")
    st.dataframe(undefined[["playbook_id", "name", "scenario", "introduced_on", "outcome_metric"]],
                 hide_index=True, key="undefined_list")
_template_library(store, settings)

if not found:
    st.info("No playbook matches the search and filters.")
    st.stop()

# -- one playbook --------------------------------------------------------------------------
ids = [p.id for p in found]
if st.session_state.get("playbook") not in ids:
    st.session_state["playbook"] = filters.playbook_id if filters.playbook_id in ids else ids[0]
names = {p.id: p.name for p in found}
pb = found[ids.index(st.selectbox("Open a playbook", ids, key="playbook",
                                  format_func=lambda i: names[i]))]

st.header(pb.name)
st.caption(f"{pb.category.title()} · scenario `{pb.scenario}` · version {pb.version} · "
           f"introduced {pb.introduced_on:%d %b %Y} · owner: {pb.owner} · "
           f"outcome: {pb.outcome_metric.replace('_', ' ')}")
introduced_note = catalog.set_index("playbook_id")["introduced_note"].get(pb.id)
if introduced_note:
    st.caption(f"📅 {md_text(introduced_note)}")
if pb.summary:
    st.markdown(pb.summary)
st.download_button("Download quick-reference card", quick_reference(pb),
                   file_name=f"{pb.id}_quick_reference.md", mime="text/markdown", key="card")

definition, flow, templates, accounts, history, figures = st.tabs(
    ["Definition", "Flowchart & timeline", "Templates", "Accounts", "Version history",
     "In the data"])

with definition:
    st.subheader("When to use")
    st.markdown(pb.when_to_use)
    st.dataframe([{"kind": t.kind.replace("_", " "), "trigger": t.description,
                   "expression": t.expression or "(judged by the CSM)"} for t in pb.triggers],
                 hide_index=True, key="triggers_table")
    st.subheader("Steps")
    st.caption(f"Due days count from day 0 = {pb.day_zero}.")
    st.dataframe(steps_table(pb), hide_index=True, key="steps_table")
    for step in pb.steps:
        with st.expander(f"{step.number}. {step.title} — {step.owner_role}, day {step.due_day}"):
            st.markdown(f"**Call to action:** {step.call_to_action}")
            if step.activities:
                st.markdown("\n".join(f"- {a}" for a in step.activities))
            if step.resources or step.templates:
                refs = [*step.resources, *(pb.template(t).title for t in step.templates)]
                st.markdown("**Resources:** " + "; ".join(refs))
            for branch in step.branches:
                st.markdown(f"- *If {branch.condition}* → {branch.target}")
    if pb.success_criteria:
        st.subheader("Success criteria")
        st.dataframe([{"metric": c.metric, "target": f"{c.comparison} {c.threshold:g}",
                       "window_days": c.window_days, "meaning": c.description}
                      for c in pb.success_criteria], hide_index=True, key="criteria_table")
    if pb.pitfalls:
        st.subheader("Pitfalls")
        st.markdown("\n".join(f"- {p}" for p in pb.pitfalls))
    if pb.resources:
        st.subheader("Resources")
        st.markdown("\n".join(f"- **{r.title}**" + (f": {r.description}" if r.description else "")
                              for r in pb.resources))

with flow:
    st.subheader("Decision logic")
    st.graphviz_chart(flowchart_dot(pb), alt=f"Flowchart of {pb.name}")
    st.subheader("Timeline")
    st.plotly_chart(timeline_figure(pb), key="timeline_chart")

with templates:
    if not pb.templates:
        st.info("This playbook has no templates yet.")
    for template in pb.templates:
        st.markdown(f"**{template.title}** ({template.kind.replace('_', ' ')})")
        if template.subject:
            st.code(f"Subject: {template.subject}", language=None)
        st.code(template.body, language=None)

with accounts:
    with st.expander("How triggers are checked"):
        st.markdown(
            "A trigger's expression is checked against each account's latest health snapshot "
            "(at most " + str(settings.snapshot_max_age_days) + " days old). It may "
            "use `< <= > >= == !=`, `in [...]`, `and`, `or`, `not` and parentheses over these "
            "features; a missing value never fires a trigger.")
        st.dataframe([{"feature": name, "type": kind, "meaning": meaning}
                      for name, (kind, meaning) in FEATURES.items()],
                     hide_index=True, key="features_table")
    features = _account_features(store, filters, settings.snapshot_max_age_days)
    if features["snapshot_date"].notna().sum() == 0:
        st.info("Import `health_snapshots` to see which accounts meet this playbook's triggers.")
    elif not pb.checkable_triggers:
        st.info("This playbook's triggers are all judged by people; none can be checked in data.")
    else:
        as_of = features["as_of"].max()
        matches = _matching(store, filters, pb, settings.snapshot_max_age_days)
        st.subheader(f"Meeting a trigger now ({len(matches)})")
        st.caption(f"Latest health snapshot on or before {as_of:%d %b %Y}; churned accounts "
                   "left out.")
        st.dataframe(matches, hide_index=True, key="matches_table")
        download_csv(matches, f"{pb.id}_matching_accounts.csv", key="matches_csv")
        days = settings.missed_play_days
        missed = _missed(store, filters, pb, int(days))
        st.subheader(f"Missed plays ({missed.num_rows})")
        st.caption(f"A trigger fired and no run of this playbook opened within {days} days "
                   "(and none was already open). Counted since the playbook was introduced.")
        st.dataframe(missed, hide_index=True, key="missed_table")
        # The CSV of 100k+ rows takes about a second: made only when the button is clicked.
        st.download_button("Download CSV", lambda table=missed: to_safe_csv(table.to_pandas()),
                           file_name=f"{pb.id}_missed_plays.csv", mime="text/csv",
                           key="missed_csv")

with history:
    for entry in reversed(pb.changelog):
        st.markdown(f"**v{entry.version}** — {entry.date:%d %b %Y}")
        st.markdown("\n".join(f"- {c}" for c in entry.changes))
        st.caption(f"Why: {entry.why}")

with figures:
    # This playbook's own figures, from the same functions as the Before/after page.
    effect, versions = _figures(ctx, pb.id)
    if len(effect):
        row = effect.iloc[0]
        st.plotly_chart(before_after_bars(row, f"{pb.outcome_metric.replace('_', ' ')} "
                                               "before and after introduction"),
                        key="effect_chart")
        st.markdown(f"**Verdict:** {row['verdict']}")
    if len(versions):
        st.subheader("Success rate by version")
        show_table(ctx, versions, {
            "version": ("Version", "text"), "rate": ("Success rate", "percent"),
            "n": ("Closed runs", "count", "The rate's n."), "successes": ("Succeeded", "count"),
            "ci_low": ("Rate, low", "percent", "Lower end of the interval (Wilson)."),
            "ci_high": ("Rate, high", "percent", "Upper end of the interval (Wilson)."),
            "verdict": ("Reading", "text")}, key="versions_table")

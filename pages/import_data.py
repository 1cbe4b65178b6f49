"""Import data: upload exports, confirm the table and the column mapping, preview, import."""
import hashlib
import re
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from analysis.ingest.headers import match_headers
from analysis.ingest.history import import_history, rejected_rows
from analysis.ingest.importer import (ImportRefused, archive_members, guess_kind, import_file,
                                      preview_import, read_export)
from analysis.ingest.mapping import Mapping, load_mapping, save_mapping
from analysis.schema import IMPORTABLE_KINDS, TABLES
from analysis.ingest.undo import UndoRefused, list_imports, undo_import
from analysis.store import StoreError
from pages.common import (demo_banner, download_csv, md_text, page_context, require_admin,
                          start_organisation_database)

IGNORE = "(ignore)"
TYPES = ["csv", "txt", "tsv", "xlsx", "parquet", "zip"]
DAY_FIRST = {"Work it out from the file": None, "Month first (03/04 = 4 March)": False,
             "Day first (03/04 = 3 April)": True}
UPLOAD_DIR = Path(tempfile.gettempdir()) / "playbook-impact-uploads"


def _saved_copy(upload) -> Path:
    """The upload written to a temporary file (named by content, so reruns reuse it)."""
    data = upload.getbuffer()  # a view of the upload Streamlit holds, not a copy of it
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(upload.name).name)[-80:] or "export"
    path = UPLOAD_DIR / f"{hashlib.sha256(data).hexdigest()[:16]}-{safe}"
    if not path.exists():
        UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")  # never a half-written copy under the name
        partial.write_bytes(data)
        partial.replace(path)
    return path


def _saved_mappings(kind: str) -> dict[str, Mapping]:
    """Saved mappings of `kind` by name; a file that does not load is named in a warning."""
    out = {}
    for path in sorted(Path(ctx.settings.mappings_dir).glob("*.y*ml")):
        try:
            mapping = load_mapping(path)
        except ValueError as exc:
            st.warning(f"Saved mapping skipped: {md_text(exc)}")
            continue
        if mapping.kind == kind:
            out[path.stem] = mapping
    return out


def _example(series: pd.Series) -> str:
    found = series[series.astype(str).str.strip() != ""]
    return str(found.iloc[0]) if len(found) else ""


def _mapping_editor(i: int, kind: str, frame: pd.DataFrame, start: Mapping | None) -> dict:
    """An editable table: export header → table column (or ignored). Returns header → column."""
    headers = [str(h) for h in frame.columns]
    matched = match_headers(headers, kind, start.columns if start else None).mapping
    table = pd.DataFrame({
        "export header": headers,
        "column": [matched.get(h, IGNORE) for h in headers],
        "example": [_example(frame[h].head(50)) for h in frame.columns],
    })
    edited = st.data_editor(
        table, key=f"mapping_{i}_{kind}", hide_index=True, width="stretch",
        disabled=["export header", "example"],
        column_config={"column": st.column_config.SelectboxColumn(
            f"{kind} column", options=[IGNORE, *TABLES[kind].column_names], required=True)})
    chosen = edited[edited["column"] != IGNORE]
    for column, headers_of in chosen.groupby("column")["export header"]:
        if len(headers_of) > 1:
            st.warning(f"{len(headers_of)} headers map to {column} "
                       f"({md_text(', '.join(headers_of))}); only "
                       f"{md_text(repr(headers_of.iloc[-1]))} will be read.")
    return {row["export header"]: (None if row["column"] == IGNORE else row["column"])
            for row in edited.to_dict("records")}


def _show_result(result) -> None:
    if result.unchanged:
        st.info(f"{md_text(result.file_name)} was imported before; nothing changed.")
        return
    cols = st.columns(4)
    cols[0].metric("Rows read", f"{result.rows_read:,}")
    cols[1].metric("Loaded", f"{result.rows_loaded:,}")
    cols[2].metric("Updated", f"{result.rows_updated:,}")
    cols[3].metric("Rejected", f"{result.rows_rejected:,}")
    if result.rows_skipped or result.rows_unchanged:
        st.caption(f"Skipped {result.rows_skipped:,} by a rule; {result.rows_unchanged:,} "
                   "loaded rows were unchanged.")
    st.success(f"Imported {md_text(result.file_name)} into {result.kind}.")
    _reason_counts(result.reason_counts())
    for warning in result.warnings:
        st.warning(md_text(warning))
    if len(result.rejected):
        st.dataframe(result.rejected, hide_index=True)
        download_csv(result.rejected, f"rejected-{result.import_id}.csv",
                     key=f"rejected_{result.import_id}")


def _forget_choices(i: int) -> None:
    """Another file of the archive: guess its table and mapping afresh."""
    for key in [k for k in st.session_state if re.match(
            rf"(kind|saved|day_first)_{i}$|mapping_{i}_", str(k))]:
        del st.session_state[key]


def _file_panel(i: int, upload, store) -> None:
    st.subheader(md_text(upload.name))
    limit = int(ctx.settings.upload_limit_mb)
    if upload.size > limit * 1024 * 1024:
        st.error(f"{md_text(upload.name)} is {upload.size / 1024 / 1024:,.0f} MB, over the {limit:,} MB "
                 "limit; split the export or import it with `python -m analysis import`.")
        return
    path = _saved_copy(upload)
    members = archive_members(path)  # a ZIP holding several files: pick one
    member = st.selectbox("File in the archive", members, key=f"member_{i}",
                          on_change=_forget_choices, args=(i,)) if members else None
    try:
        # The first rows only: the mapping, the examples and the preview need no more, and a
        # 1 GB export is read whole only by the import itself, a chunk at a time.
        frame = read_export(path, member=member,
                            max_rows=int(ctx.settings.import_preview_rows),
                            settings=ctx.settings)
    except ImportRefused as exc:
        st.error(md_text(exc))
        return
    guessed = guess_kind(list(frame.columns))
    kind = st.selectbox(
        "Table", IMPORTABLE_KINDS, key=f"kind_{i}",
        index=IMPORTABLE_KINDS.index(guessed) if guessed else None,
        help="Guessed from the headers" + (f": {guessed}." if guessed else "; none matched."),
        placeholder="Which table does this export fill?")
    if kind is None:
        st.warning("The headers match no table; choose one to map the columns by hand.")
        return
    saved = _saved_mappings(kind)
    start_name = st.selectbox("Start from a saved mapping", ["(none)", *saved], key=f"saved_{i}")
    start = saved.get(start_name)
    day_first_label = st.selectbox("Dates", list(DAY_FIRST), key=f"day_first_{i}",
                                   index=list(DAY_FIRST.values()).index(start.day_first if start else None))
    columns = _mapping_editor(i, kind, frame, start)
    mapping = Mapping(kind, DAY_FIRST[day_first_label], columns,
                      start.values if start else {}, source="the upload page")

    # The real import on the first rows, rolled back: it shows exactly what Import would do.
    validation = preview_import(store, kind, path, mapping, member=member,
                                file_name=upload.name, settings=ctx.settings)
    _show_preview(validation)
    kind_ok = _kind_confirmation(i, kind, validation)

    left, right = st.columns(2)
    name = left.text_input("Mapping name", key=f"mapping_name_{i}",
                           placeholder="e.g. gainsight-ctas")
    if left.button("Save mapping", key=f"save_{i}"):
        slug = re.sub(r"[^a-z0-9_-]+", "-", name.strip().lower()).strip("-")
        if not slug:
            left.error("Give the mapping a name first.")
        else:
            path_saved = save_mapping(mapping, Path(ctx.settings.mappings_dir) / f"{slug}.yaml")
            left.success(f"Saved {path_saved.name}; it is offered for the next {kind} export.")
    if right.button("Import", key=f"import_{i}", type="primary",
                    disabled=validation.refusal is not None or not kind_ok):
        bar = st.progress(0.0, text="Reading…")
        try:
            result = import_file(store, kind, path, mapping=mapping, file_name=upload.name,
                                 kind_ok=validation.doubt is not None and kind_ok,
                                 member=member, settings=ctx.settings,
                                 progress=lambda fraction, message: bar.progress(
                                     min(max(float(fraction), 0.0), 1.0), text=message))
        except ImportRefused as exc:
            bar.empty()
            st.error(md_text(exc))
            return
        bar.empty()
        # The rows are in the database now; the copy is rewritten if the upload is used again.
        path.unlink(missing_ok=True)
        st.session_state[f"result_{upload.file_id}"] = result
        # Every page caches its figures; new rows must show everywhere.
        st.cache_data.clear()
    if f"result_{upload.file_id}" in st.session_state:
        _show_result(st.session_state[f"result_{upload.file_id}"])


def _kind_confirmation(i: int, kind: str, validation) -> bool:
    """True when the file looks like `kind`, or the user ticked that it is one anyway."""
    doubt = validation.doubt
    if doubt is None or validation.refusal:
        return True
    st.warning(f"This file {md_text(doubt)}. Choose the table it fills above, or confirm.")
    article = "an" if kind[0] in "aeiou" else "a"
    return st.checkbox(f"It is {article} {kind} export, not {md_text(doubt.looks_like)}",
                       key=f"kind_ok_{i}")


def _reason_counts(counts) -> None:
    """Rows skipped (by a rule) and rejected (a fault), per reason."""
    if len(counts):
        st.caption("Rows set aside, per reason (skipped: by a rule; rejected: a fault)")
        st.dataframe(counts, hide_index=True)


def _show_preview(validation) -> None:
    st.markdown("**Preview before importing**")
    if validation.refusal:
        st.error(md_text(validation.refusal))
    for warning in validation.warnings:
        st.warning(md_text(warning))
    if validation.ignored_columns:
        st.caption("Ignored headers: " + md_text(", ".join(map(str, validation.ignored_columns))))
    cols = st.columns(3)
    # A long file is previewed on its first rows (import_preview_rows); its warning says so.
    cols[0].metric("Rows read" if validation.complete else "First rows checked",
                   f"{validation.rows_read:,}")
    cols[1].metric("Would load", f"{validation.rows_valid:,}")
    cols[2].metric("Would reject", f"{len(validation.rejected):,}")
    if len(validation.skipped):
        st.metric("Would skip", f"{len(validation.skipped):,}")
    _reason_counts(validation.reason_counts())
    if len(validation.clean):
        st.caption("First rows as they would be stored")
        # A static table: a few rows, readable (and searchable) as plain text.
        st.table(validation.clean.head(5))
    if len(validation.rejected):
        st.caption("Rows that would be rejected")
        st.dataframe(validation.rejected, hide_index=True)


# Which exports unlock which pages, in the order that lets each file find what it refers to.
IMPORT_GUIDE = """
| Order | Export | Unlocks |
|---|---|---|
| 1 | **csms** — the CSM roster (csm_id, name, team, hire_date; ramped_on if tracked) | names everywhere, Team and CSM filters, Time to proficiency |
| 2 | **accounts** (account_id, name, segment, csm_id, arr) | the Segment filter, adjustment on Followers |
| 3 | **renewals** (account_id, renewal_date, outcome) | Overview, Before/after (renewal playbooks), Consistency across CSMs |
| 4 | **playbook_runs** (run_id, scenario, playbook_id, account_id, csm_id, opened_on, outcome, steps) | Usage, Before/after, Followers, Playbook library's effects, Quarterly review |
| 5 | **run_steps** (run_id, step_id, due_on, completed_on, status) | Usage's step funnel, Coaching |
| 6 | **playbook_views**, **feedback**, **health_snapshots** | views on Usage, Feedback, the library's missed plays |
| 7 | **rollouts** — when each team or segment started using a playbook (Playbook, Team or Segment, Rolled out on) | Before/after compares each team with the teams not yet using it (difference-in-differences): no pre-trend to extrapolate, so a pilot in a few teams finds an effect from far fewer outcomes than the time series alone (CALIBRATION.md) |

Runs and renewals name accounts and CSMs, so bring the roster and the accounts first; rollouts
name teams (the roster's team column) or segments (the accounts' segment column).
"""


def _undo_panel(store) -> None:
    """Undo one import: rows it inserted removed, rows it updated restored."""
    imports = list_imports(store)
    undoable = imports[imports["undoable"]].sort_values("import_id", ascending=False)
    if undoable.empty:
        return
    labels = {f"#{r.import_id} {r.file_name} ({r.kind})": int(r.import_id)
              for r in undoable.itertuples()}
    left, right = st.columns([3, 1])
    picked = left.selectbox("Undo an import", list(labels), key="undo_pick",
                            help="Rows it inserted are removed and rows it updated get back "
                                 "the values they had, in one transaction.")
    if right.button("Undo", key="undo_import"):
        try:
            st.session_state["undo_message"] = ("done",
                                                undo_import(store, labels[picked]).summary())
            st.cache_data.clear()  # every page caches its figures
        except UndoRefused as exc:
            st.session_state["undo_message"] = ("refused", str(exc))
        st.rerun()


ctx = page_context(sidebar=False)
store = ctx.store
require_admin()
st.title("Import data")
demo_banner(store)
if store.is_demo():  # an organisation's file never lands beside the demo's accounts
    st.warning("This is the demo organisation's database: your exports are not imported into "
               "it. Start your organisation's own database (an empty one, shown from then on "
               "instead of the demo), then import there; `python -m analysis init` does the "
               "same from the command line.")
    if st.button("Start your organisation's database", key="start_org", type="primary"):
        try:
            start_organisation_database(ctx.settings)
        except StoreError as exc:
            st.error(md_text(exc))
            st.stop()
        st.cache_data.clear()
        st.rerun()
    st.stop()
st.write("Upload exports from your CRM or CS platform (Salesforce, HubSpot, Gainsight, "
         "ChurnZero, Totango, Planhat or a spreadsheet). Each file fills one table; headers and "
         "values are recognised automatically and you can correct the mapping before importing.")
with st.expander("Import guide: which exports to bring, in which order", expanded=store.is_empty()):
    st.markdown(IMPORT_GUIDE)
uploads = st.file_uploader("Exports", type=TYPES, accept_multiple_files=True, key="upload",
                           help=f"CSV, TXT, TSV, XLSX, Parquet or a ZIP holding them; "
                                f"up to {int(ctx.settings.upload_limit_mb):,} MB each.")
for i, upload in enumerate(uploads or []):
    with st.container(border=True, key=f"panel_{i}"):
        _file_panel(i, upload, store)

st.header("Import history")
if "undo_message" in st.session_state:  # what the last Undo click did
    outcome, text = st.session_state.pop("undo_message")
    (st.success if outcome == "done" else st.error)(md_text(text))
history = import_history(store)
if history.empty:
    st.info("Nothing imported yet.")
else:
    st.dataframe(history, hide_index=True, key="history")
    _undo_panel(store)
    with_rejects = history[history["rows_rejected"].fillna(0) > 0]
    if len(with_rejects):
        labels = {f"#{r.import_id} {r.file_name} ({r.kind}, {int(r.rows_rejected)} rejected)": r.import_id
                  for r in with_rejects.itertuples()}
        picked = st.selectbox("Rejected rows of a past import", list(labels), key="past_rejects")
        rejected = rejected_rows(store, labels[picked])
        st.dataframe(rejected, hide_index=True, key="past_rejected_rows")
        download_csv(rejected, f"rejected-{labels[picked]}.csv", key="past_rejects_csv")

"""The tolerant importer: one export file into one canonical table (DESIGN.md, import rules).

open (analysis.ingest.readers: hash the file, settle its header) -> match headers (analysis.ingest.headers)
-> per chunk of rows: parse and check every value (analysis.ingest.values) and stage the rows -> settle
duplicate keys and unknown accounts in SQL -> load, all in one transaction. A row that cannot be
loaded goes to `rejected_rows` with its spreadsheet row number and a reason a person can act on;
a file that cannot be loaded at all raises `ImportRefused` and leaves the database unchanged.
Importing the same file again (same bytes, kind and mapping) writes nothing. The upload page's
preview is this same import on the first rows, in a transaction that is rolled back.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd


from analysis.ingest import readers

from analysis.ingest import values as V
from analysis.ingest.headers import (HeaderMatch, KindDoubt, absent_mapping_headers,
                                     guess_kind, header_key, kind_doubt, match_headers,
                                     missing_required, prefer_filled)
from analysis.ingest.mapping import Mapping, as_mapping
from analysis.ingest.undo import record_history
from analysis.ingest.names import (looks_like_id, normalise_person, slugify,
                                   strip_person_status)
# read_export, guess_kind and archive_members are re-exported: the upload page needs only
# this module.
from analysis.ingest.readers import (ImportRefused, RawExport, Source, archive_members,
                                     blank_rows, frame_source, open_export)
from analysis.schema import IMPORTABLE_KINDS, TABLES
from analysis.settings import Settings, given_or_resolved
from analysis.store import Store, quote_ident

__all__ = ["ImportRefused", "ImportResult", "Validation", "import_file", "preview_import",
           "preview", "read_export", "guess_kind", "archive_members"]

Progress = Callable[[float, str], None]
_SHOWN = 5  # reasons and names listed in a summary or warning before "and N more"
# A row set aside by a rule (an open opportunity), not for a fault, is kept in rejected_rows
# with its reason behind this prefix; it counts as skipped, not rejected.
SKIPPED = "skipped: "
OPEN_NOT_DECIDED = "is open, not yet decided"


@dataclass(frozen=True)
class ImportResult:
    """What one import did; `summary()` says it in a few lines."""

    import_id: int | None
    kind: str
    file_name: str
    rows_read: int
    rows_loaded: int
    rows_updated: int
    rows_rejected: int
    rejected: pd.DataFrame  # row_number, raw, reason
    warnings: tuple[str, ...] = ()
    ignored_columns: tuple[str, ...] = ()
    unchanged: bool = False
    rows_skipped: int = 0  # set aside by a rule (open, not yet decided), kept with the reason
    rows_unchanged: int = 0  # loaded rows identical to the stored row of their key
    skipped: pd.DataFrame = field(default_factory=lambda: _empty_rejected())

    def reason_counts(self) -> pd.DataFrame:
        """Rows per outcome and reason (values shown as '…'), commonest first: outcome
        (skipped / rejected), reason, rows."""
        return reason_counts(self.skipped, self.rejected)

    def summary(self) -> str:
        """Rows read / loaded / updated / skipped / rejected, counts per reason, the first
        rejected rows and the warnings."""
        if self.unchanged:
            return (f"{self.file_name} was already imported as {self.kind} (import "
                    f"{self.import_id}) and has not changed: nothing to do.")
        lines = [f"{self.file_name} -> {self.kind} (import {self.import_id})",
                 f"rows read {self.rows_read:,}, loaded {self.rows_loaded:,} "
                 f"({self.rows_updated:,} updated existing rows, {self.rows_unchanged:,} "
                 f"unchanged), skipped {self.rows_skipped:,}, rejected {self.rows_rejected:,}"]
        for outcome, reason, rows in self.reason_counts().itertuples(index=False):
            lines.append(f"  {outcome} {rows:,}: {reason}")
        if self.rows_rejected:
            lines.append("rejected rows:")
            for row in self.rejected.head(_SHOWN).itertuples():
                lines.append(f"  row {row.row_number}: {row.reason}")
            if self.rows_rejected > _SHOWN:
                lines.append(f"  ... and {self.rows_rejected - _SHOWN:,} more "
                             "(all are kept in the rejected_rows table)")
        if self.ignored_columns:
            lines.append("columns not used: " + ", ".join(self.ignored_columns))
        for warning in self.warnings:
            lines.append(f"warning: {warning}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Validation:
    """What an import would do, without writing: the upload page's preview."""

    kind: str
    file_name: str
    headers: tuple[str, ...]
    columns: dict[str, str]  # canonical column -> export header
    ignored_columns: tuple[str, ...]
    missing_required: tuple[str, ...]
    refusal: str | None  # why the file would be refused, None when it would load
    rows_read: int
    rows_valid: int
    rejected: pd.DataFrame  # row_number, raw, reason
    warnings: tuple[str, ...]
    day_first: bool
    clean: pd.DataFrame = field(repr=False)  # the rows that would load, canonical columns
    complete: bool = True  # False: only the first `import_preview_rows` rows were checked
    # Why the file may be another kind (the page asks for a confirmation), None when not.
    doubt: KindDoubt | None = None
    skipped: pd.DataFrame = field(default_factory=lambda: _empty_rejected(), repr=False)

    def reason_counts(self) -> pd.DataFrame:
        """Rows per outcome (skipped / rejected) and reason, commonest first."""
        return reason_counts(self.skipped, self.rejected)
    rows_updated: int = 0  # rows of `clean` whose key is already stored

    @property
    def mapping(self) -> dict[str, str]:
        """export header -> canonical column."""
        return {header: column for column, header in self.columns.items()}


# -- public entry points --------------------------------------------------------------------
def import_file(store: Store, kind: str, path: str | Path, *, mapping=None,
                day_first: bool | None = None, sheet: str | None = None,
                file_name: str | None = None, progress: Progress | None = None,
                kind_ok: bool = False, member: str | None = None,
                settings: Settings | None = None) -> ImportResult:
    """Import one export file into table `kind`, streaming it a chunk of rows at a time.

    Parameters
    ----------
    mapping : path to a mapping YAML, a `Mapping`, or None (auto-detect everything).
    day_first : read 03/04/2024 as 3 April (True) or 4 March (False); None = the mapping's
        setting, else what the first rows' dates settle (`import_sample_rows`), else
        month-first with a warning.
    sheet : XLSX sheet name (default: the first sheet holding data).
    member : the file of a ZIP archive to import (needed when it holds several).
    file_name : the name to record and show (an upload's original name).
    progress : called as progress(fraction, message) while reading, per chunk checked
        ("Checked 1,400,000 of ~8,000,000 rows") and when loading.
    kind_ok : import even when the file looks like another kind (`headers.kind_doubt`);
        without it such a file is refused.
    settings : the import's settings (sizes, limits, the playbook folders); an import is a
        request of its own, so None resolves them here (`Settings.resolve()`), once.

    Returns
    -------
    ImportResult. Raises ImportRefused (database unchanged) when the file cannot be imported.

    The file is hashed first, so an unchanged file is answered before any row is parsed. Then
    every chunk (`import_chunk_rows`) is checked and staged in a staging table inside the
    one write transaction that ends with the imports row: a failure (or a kill) at any chunk
    leaves the database as it was. Duplicate keys across chunks are settled in SQL.
    """
    report = progress or (lambda fraction, message: None)
    path = Path(path)
    name = file_name or path.name
    _check_kind(kind)
    from analysis.demo import refuse_real_import
    refuse_real_import(store)  # the demo database never takes an organisation's file
    plan = _mapping_for(mapping, kind, name)
    report(0.0, f"Reading {name}")
    settings = given_or_resolved(settings)
    source = open_export(path, name, sheet=sheet, member=member, settings=settings)
    head, malformed, complete = source.head(int(settings.import_sample_rows))
    checks = _FileChecks(store, kind, source, plan, day_first, head,
                         complete and malformed.empty)
    if checks.refusal:
        raise ImportRefused(checks.refusal)
    if checks.doubt is not None and not kind_ok:
        raise ImportRefused(f"{name} {checks.doubt}; if it is one, confirm (--kind-ok, or "
                            "the tick on the Import page)")
    recorded = _mapping_record(checks.mapping, plan, checks.day_first)
    earlier = _earlier_import(store, source.sha256, kind, recorded)
    result = None
    if earlier is None:
        # _load checks again under the write lock: the same file may have been loaded by
        # another session (an upload clicked twice) while this one was reading it.
        result, earlier = _load(store, kind, source, checks, recorded, report)
    if earlier is not None:
        report(1.0, "Already imported")
        rows_read = store.scalar("SELECT rows_read FROM imports WHERE import_id = ?",
                                 [int(earlier)])
        return ImportResult(int(earlier), kind, name, int(rows_read or 0), 0, 0, 0,
                            _empty_rejected(), (), checks.match.ignored, unchanged=True)
    report(1.0, "Done")
    return result


def preview_import(store: Store, kind: str, source, mapping=None, *,
                   day_first: bool | None = None, sheet: str | None = None,
                   member: str | None = None, file_name: str | None = None,
                   settings: Settings | None = None) -> Validation:
    """What importing `source` would load, update and reject, and why, without writing.

    The real import (the same checks, staging, duplicate and reference checks in SQL, and
    upsert) runs on the first `import_preview_rows` rows inside a transaction that is
    rolled back, so the preview cannot disagree with the import. When the file is longer,
    a warning ("checked the first 200,000 of ~8,000,000 rows") and `complete=False` say so.

    Parameters
    ----------
    source : a file path, an open `Source`, or a DataFrame of strings (as `read_export`
        returns; its attrs say whether it holds every row of its file).
    mapping, day_first, sheet, member, file_name, settings : as for `import_file`.

    Returns
    -------
    Validation. A file that cannot be read raises ImportRefused; a missing required column
    (or no data row) is reported in `refusal` (and `missing_required`) so the page can offer
    a mapping instead.
    """
    _check_kind(kind)
    settings = given_or_resolved(settings)
    source, whole, estimate = _preview_source(source, sheet, member, file_name, settings)
    plan = _mapping_for(mapping, kind, source.file_name)
    frame, malformed, complete = source.head(int(settings.import_preview_rows))
    complete = complete and whole
    sample = frame.iloc[:int(settings.import_sample_rows)]
    checks = _FileChecks(store, kind, source, plan, day_first, sample, False)
    base = dict(kind=kind, file_name=source.file_name, headers=tuple(source.headers),
                columns=checks.match.columns, ignored_columns=checks.match.ignored,
                missing_required=checks.missing, doubt=checks.doubt)
    refusal, result, clean = checks.refusal, None, pd.DataFrame()
    if refusal is None:
        try:
            result, clean = _dry_run(store, kind, source, checks, plan, frame, malformed)
        except ImportRefused as exc:  # no data row
            refusal = str(exc)
    if refusal is not None:
        rows_read = int((~blank_rows(frame)).sum()) + len(malformed)
        return Validation(**base, refusal=refusal, rows_read=rows_read, rows_valid=0,
                          rejected=_empty_rejected(), warnings=(), day_first=False,
                          clean=pd.DataFrame())
    warnings = list(result.warnings)
    if not complete:
        warnings.append(f"checked the first {result.rows_read:,} of "
                        f"~{max(estimate, source.rows_estimate, result.rows_read):,} "
                        "rows; the import checks every row")
    # A file none of whose rows would load is refused by the import: say so before.
    nothing = (f"{source.file_name}: no row would load "
               f"({_why_none(result.skipped, result.rejected)})"
               if complete and not result.rows_loaded else None)
    return Validation(**base, refusal=nothing, rows_read=result.rows_read,
                      rows_valid=result.rows_loaded, rejected=result.rejected,
                      warnings=tuple(warnings), day_first=checks.day_first, clean=clean,
                      complete=complete, rows_updated=result.rows_updated,
                      skipped=result.skipped)


def _dry_run(store: Store, kind: str, source: Source, checks: "_FileChecks", plan: Mapping,
             frame: pd.DataFrame, malformed: pd.DataFrame) -> tuple[ImportResult, pd.DataFrame]:
    """The import of `frame` (the first rows of `source`) in a transaction that is rolled
    back: its result, and the rows it stored as stored (indexed by row number)."""
    first = frame_source(RawExport(frame, source.file_name, source.format, source.delimiter,
                                   malformed), source.settings)
    recorded = _mapping_record(checks.mapping, plan, checks.day_first)
    with store.rollback_only():
        # import_id 0 is never drawn from the sequence, which a rollback would not restore.
        result, stage = _write_import(store, kind, first, checks, recorded,
                                      lambda fraction, message: None, import_id=0,
                                      dry_run=True)
        return result, stage.clean_rows()


def preview(store: Store, kind: str, path_or_frame, mapping=None, *,
            day_first: bool | None = None, sheet: str | None = None,
            file_name: str | None = None, member: str | None = None,
            settings: Settings | None = None) -> Validation:
    """`preview_import` under its earlier name."""
    return preview_import(store, kind, path_or_frame, mapping, day_first=day_first,
                          sheet=sheet, member=member, file_name=file_name, settings=settings)


def _preview_source(source, sheet, member, file_name,
                    settings: Settings) -> tuple[Source, bool, int]:
    """(the Source to preview, whether it can hold every row of its file, a row estimate
    for a frame that holds only the first rows)."""
    if isinstance(source, Source):
        return source, True, 0
    if not isinstance(source, pd.DataFrame):
        path = Path(source)
        return open_export(path, file_name or path.name, sheet=sheet, member=member,
                           scan=False, settings=settings), True, 0
    frame = source.astype(object).where(source.notna(), "").astype(str)
    if isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0:
        frame.index = pd.RangeIndex(2, len(frame) + 2)  # spreadsheet rows; header is 1
    attrs = source.attrs  # set by read_export
    raw = RawExport(frame, file_name or "upload", attrs.get("format", "frame"),
                    attrs.get("delimiter"), notes=tuple(attrs.get("notes", ())))
    # A frame from read_export(max_rows=...) may be the first rows of a longer file.
    return (frame_source(raw, settings), attrs.get("complete", True),
            attrs.get("rows_estimate", 0))


def read_export(path: str | Path, *, sheet: str | None = None, member: str | None = None,
                max_rows: int | None = None, settings: Settings | None = None) -> pd.DataFrame:
    """The export at `path` as a DataFrame of strings (index = spreadsheet row number),
    blank rows left out.

    max_rows : read only the first that many data rows (a preview of a big file); the
        frame's attrs["complete"] says whether that was every row.
    settings : the reading limits (as for `import_file`; None resolves them here).
    Raises ImportRefused when the file is empty, unreadable or not tabular.
    """
    settings = given_or_resolved(settings)
    source = open_export(path, sheet=sheet, member=member, scan=False, settings=settings)
    frame, malformed, complete = source.head(sys.maxsize if max_rows is None else max_rows)
    frame = frame[~blank_rows(frame)]
    if complete and frame.empty and malformed.empty:
        raise ImportRefused(f"{source.file_name} has no data rows")
    frame = frame.assign(**{c: readers.as_text(frame[c]) for c in frame.columns})
    frame.attrs.update(format=source.format, delimiter=source.delimiter,
                       notes=tuple(source.notes), complete=complete,
                       rows_estimate=source.rows_estimate)
    return frame


def _check_kind(kind: str) -> None:
    if kind not in IMPORTABLE_KINDS:
        raise ImportRefused(f"{kind!r} is not a table one can import; kinds are: "
                            + ", ".join(IMPORTABLE_KINDS))


def _mapping_for(mapping, kind: str, name: str) -> Mapping:
    try:
        plan = as_mapping(mapping, kind)
    except (ValueError, OSError) as exc:
        raise ImportRefused(f"mapping for {name}: {exc}") from exc
    if plan.kind != kind:
        named = f" {plan.source}" if plan.source else ""
        raise ImportRefused(f"the mapping{named} is for {plan.kind} exports, not {kind}")
    return plan


# -- validation -----------------------------------------------------------------------------
class _FileChecks:
    """What is decided once per file (header mapping, date order, roster, playbook names),
    the checks of each chunk, and the warnings counted over all of them."""

    def __init__(self, store: Store, kind: str, source: Source, plan: Mapping,
                 day_first: bool | None, sample: pd.DataFrame, refuse_empty: bool):
        self.store, self.kind, self.plan, self.source = store, kind, plan, source
        sample = sample[~blank_rows(sample)]
        # An empty better-ranked header gives way to a filled one (Case: Reason vs Type).
        self.match = prefer_filled(match_headers(list(source.headers), kind, plan.columns),
                                   sample)
        self.missing = _missing_required(kind, self.match)
        self.refusal = None
        # `refuse_empty`: the sample is every row of the file (and none was malformed).
        if refuse_empty and sample.empty:
            raise ImportRefused(f"{source.file_name} has no data rows")
        absent = absent_mapping_headers(source.headers, plan.columns)
        self.doubt = kind_doubt(source.headers, kind, plan.columns, sample)
        self.outcomes = None  # the renewal outcome vocabulary, set by _outcome_polarity
        if self.missing:
            self.refusal = _refusal(kind, source.file_name, source.headers, self.missing)
        elif absent:
            self.refusal = f"{source.file_name}: " + "; ".join(absent) + \
                "; its headers are: " + ", ".join(map(str, source.headers))
        else:
            self.outcomes, self.refusal = _outcome_polarity(kind, self.match, plan, sample,
                                                            source.file_name)
        if self.refusal:
            self.day_first, self.order_warning = False, None
        else:
            self.day_first, self.order_warning = _date_order(kind, sample, self.match, plan,
                                                             day_first)
        self.decimal_comma = source.delimiter == ";"
        self.rows_read = 0
        self.spelling: dict[str, str] = {}  # person -> the first spelling of an unknown CSM
        self.unknown_people: dict[str, int] = {}  # spelling -> rows
        self.undefined: dict[str, str] = {}  # playbook as written -> the id it gets
        self.undefined_rows: dict[str, int] = {}
        self._roster: dict | None = None
        self._account_names: dict[str, str] | None = None
        self._playbook_ids: dict[str, str] | None = None
        self._scenarios: dict[str, str] | None = None

    @property
    def mapping(self) -> dict[str, str]:
        """export header -> canonical column."""
        return {header: column for column, header in self.match.columns.items()}

    def check(self, frame: pd.DataFrame, malformed: pd.DataFrame):
        """(clean canonical columns, reason per row or None) of one chunk's non-blank rows."""
        self.rows_read += len(frame) + len(malformed)
        return _RowChecker(self, frame).run()

    def warnings(self) -> list[str]:
        """The file's notes, the date-order guess and the per-column counts, in that order."""
        warnings = list(self.source.notes) + list(self.match.notes)
        if self.order_warning:
            warnings.append(self.order_warning)
        for column in TABLES[self.kind].columns:
            if column.name == "csm_id" and self.unknown_people:
                warnings.append(f"{sum(self.unknown_people.values()):,} rows name CSMs not in "
                                "the roster: " + _top_counts(self.unknown_people)
                                + " (kept as written)")
            if column.name == "playbook_id" and self.undefined_rows:
                warnings.append(f"{sum(self.undefined_rows.values()):,} rows name playbooks "
                                "with no definition (analysed under their own id): "
                                + _top_counts(self.undefined_rows,
                                              lambda v: f"{v!r} as {self.undefined[v]}"))
        return warnings

    @property
    def roster(self) -> dict:
        """csm_id as stored -> itself, and ("person", normalised name or email) -> csm_id,
        read once per file: ids are compared exactly (Salesforce's 005Ec000004oBPN and
        005Ec000004obPN are two people), names and emails case-insensitively."""
        if self._roster is None:
            roster = self.store.query("SELECT csm_id, name, email FROM csms")
            known: dict = {}
            for column in ("name", "email"):
                for value, csm_id in zip(roster[column], roster["csm_id"]):
                    if isinstance(value, str) and value.strip():
                        known[("person", normalise_person(value))] = csm_id
            for csm_id in roster["csm_id"]:
                if isinstance(csm_id, str) and csm_id.strip():
                    known[csm_id.strip()] = csm_id
            self._roster = known
        return self._roster

    @property
    def account_names(self) -> dict[str, str]:
        """normalised account name -> account_id, for names only one account holds."""
        if self._account_names is None:
            accounts = self.store.query(
                "SELECT lower(trim(name)) AS name, min(account_id) AS account_id FROM accounts "
                "WHERE name IS NOT NULL GROUP BY 1 HAVING count(*) = 1")
            self._account_names = {" ".join(str(n).split()): a for n, a in
                                   zip(accounts["name"], accounts["account_id"])}
        return self._account_names

    @property
    def playbook_ids(self) -> dict[str, str]:
        if self._playbook_ids is None:
            self._playbook_ids = _library_ids(self.store, self.source.settings)
        return self._playbook_ids

    @property
    def scenarios(self) -> dict[str, str]:
        if self._scenarios is None:
            self._scenarios = {pb.id: pb.scenario
                               for pb in _library_playbooks(self.store, self.source.settings)}
        return self._scenarios


def _missing_required(kind: str, match: HeaderMatch) -> tuple[str, ...]:
    # A runs export without a scenario column takes each run's scenario from its playbook;
    # a rollouts export needs a team or a segment column (headers.missing_required).
    return missing_required(match)


def _refusal(kind: str, name: str, headers, missing: tuple[str, ...]) -> str:
    headers = list(headers)
    # Every header: the one a person is looking for may be the 90th of 110.
    listed = ", ".join(map(str, headers))
    problem = f"has no column for {', '.join(missing)} (required); its columns are: {listed}"
    guess = guess_kind(headers)
    # Only hint when the other kind explains the file better than the one asked for.
    if guess is not None and guess != kind and \
            len(match_headers(headers, guess).columns) > len(match_headers(headers, kind).columns):
        return f"{name} does not look like a {kind} export (it looks like {guess}): {problem}"
    return f"{name} {problem}"


def _outcome_polarity(kind: str, match: HeaderMatch, plan: Mapping, sample: pd.DataFrame,
                      name: str) -> tuple[dict | None, str | None]:
    """(the renewal outcome vocabulary of this file, a refusal or None).

    A churn-named outcome column (churn, churned, is_churned, lost, churn_flag) holding
    True/1/Yes means churned on true; a renewed/won-named one renewed. A column whose name
    says neither, holding booleans the mapping's values do not translate, is refused: which
    of the two is churn cannot be known.
    """
    if kind != "renewals" or "outcome" not in match.columns:
        return None, None
    header = match.columns["outcome"]
    true_means = V.renewal_polarity(header)
    if true_means is not None:
        return {**V.RENEWAL_OUTCOMES, **V.boolean_outcomes(true_means)}, None
    if header not in sample.columns:
        return V.RENEWAL_OUTCOMES, None
    column = sample[header]
    if isinstance(column, pd.DataFrame):  # a repeated header: the first one is read
        column = column.iloc[:, 0]
    text = readers.as_text(column).str.strip()
    if plan.values.get("outcome"):
        text = _override(text, plan.values["outcome"])
    words = {V.value_key(w) for w in V.RENEWAL_OUTCOMES}
    seen = [v for v in text.unique() if v and V.value_key(v) not in words
            and V.truth(v) is not None]
    if not seen:
        return V.RENEWAL_OUTCOMES, None
    yes = next((v for v in seen if V.truth(v)), "True")
    no = next((v for v in seen if V.truth(v) is False), "False")
    return None, (f"{name}: column {header!r} (outcome) holds {yes!r} and {no!r}, and its "
                  f"name does not say which of them is a churn; add a values line to a "
                  f"mapping, e.g. `values: {{outcome: {{'{yes}': churned, '{no}': renewed}}}}` "
                  "(or the other way round)")


def _date_order(kind, frame, match, plan, day_first) -> tuple[bool, str | None]:
    """Day-first or month-first, and a warning when that was a guess."""
    if day_first is not None:
        return day_first, None
    if plan.day_first is not None:
        return plan.day_first, None
    date_columns = [c.name for c in TABLES[kind].columns
                    if c.type in ("DATE", "TIMESTAMP") and c.name in match.columns]
    # Both tests look at distinct values only; find them once per column.
    distinct = {c: frame[match.columns[c]].drop_duplicates() for c in date_columns}
    votes = {V.slash_order(distinct[c]) for c in date_columns} - {None}
    if len(votes) == 1:
        return votes.pop(), None
    ambiguous = [c for c in date_columns if V.has_ambiguous_slash_dates(distinct[c])]
    if ambiguous:
        return False, (f"dates such as 03/04/2024 in {', '.join(ambiguous)} could be "
                       "month-first or day-first; read as month-first (M/D/YYYY). Use "
                       "--day-first or day_first: true in a mapping if they are D/M/YYYY")
    return False, None


# (kind, column) -> (vocabulary, prefixes, what a value outside it is not)
_VOCABULARIES = {
    ("renewals", "outcome"): (V.RENEWAL_OUTCOMES, None,
                              "is not a decided renewal (renewed/churned)"),
    ("playbook_runs", "outcome"): (V.RUN_OUTCOMES, None, "is not success or failure"),
    ("playbook_runs", "status"): (V.RUN_STATUSES, V.RUN_STATUS_PREFIXES,
                                  "is not open or closed"),
    ("run_steps", "status"): (V.STEP_STATUSES, None, "is not done, skipped or open"),
}


class _RowChecker:
    """Parses every mapped column of one chunk and collects one reason per bad row; names
    it cannot resolve are counted in the file's `_FileChecks`."""

    def __init__(self, checks: "_FileChecks", frame: pd.DataFrame):
        self.checks, self.store, self.kind, self.frame = checks, checks.store, checks.kind, frame
        self.match, self.plan = checks.match, checks.plan
        self.day_first, self.decimal_comma = checks.day_first, checks.decimal_comma
        self.table = TABLES[self.kind]
        self.reasons = pd.Series(None, index=frame.index, dtype=object)
        self.skips = pd.Series(None, index=frame.index, dtype=object)
        self.flagged: dict[str, pd.Series] = {}  # column -> rows whose value was faulty
        self.unresolved: pd.Series | None = None  # people not in the roster, per row

    def run(self) -> tuple[pd.DataFrame, pd.Series]:
        clean = pd.DataFrame(index=self.frame.index)
        for column in self.table.columns:
            if column.name in self.match.columns:
                clean[column.name] = self._column(column)
        self._derive(clean)
        for column in self.table.required:
            if column in clean:
                # A value already reported as unreadable is not reported again as empty.
                told = self.flagged.get(column, pd.Series(False, index=clean.index))
                self._reject(clean[column].isna() & ~told, f"{column} is empty")
        self._check_ranges(clean)
        self._check_run_dates(clean)
        self._check_rollout_group(clean)
        # A row set aside by a rule with no fault is skipped; with a fault it is rejected.
        only_skipped = self.reasons.isna() & self.skips.notna()
        self.reasons[only_skipped] = SKIPPED + self.skips[only_skipped]
        if self.unresolved is not None:
            loads = self.reasons[self.unresolved.index].isna()
            _count_into(self.checks.unknown_people, self.unresolved[loads])
        return clean, self.reasons

    # Every fault of a row is listed, "; "-separated, in column order. `reason` is a string
    # or a function building the reasons of the rows it is given (only the rejected ones).
    def _reject(self, mask: pd.Series, reason) -> None:
        if not mask.any():
            return
        rows = mask[mask].index
        new = pd.Series(reason(rows) if callable(reason) else reason, index=rows, dtype=object)
        before = self.reasons[rows]
        self.reasons[rows] = new.where(before.isna(), before + "; " + new)

    def _reject_value(self, mask: pd.Series, name: str, text: pd.Series, problem: str) -> None:
        self.flagged[name] = self.flagged.get(name, False) | mask
        self._reject(mask, lambda rows: f"{name} '" + text[rows].str.slice(0, 60)
                     + f"' {problem}")

    def _skip(self, mask: pd.Series, name: str, text: pd.Series, problem: str) -> None:
        """Set rows aside by a rule (counted as skipped, kept with the reason)."""
        self.flagged[name] = self.flagged.get(name, False) | mask
        mask = mask & self.skips.isna()
        if mask.any():
            self.skips[mask] = f"{name} '" + text[mask].str.slice(0, 60) + f"' {problem}"

    def _text(self, name: str, values_of: str | None = None) -> pd.Series:
        """Column `name`'s text with the mapping's value overrides of `values_of` (itself)."""
        text = readers.as_text(self.frame[self.match.columns[name]]).str.strip()
        overrides = self.plan.values.get(values_of or name)
        return _override(text, overrides) if overrides else text

    def _column(self, column) -> pd.Series:
        values = self.frame[self.match.columns[column.name]]
        if readers.is_typed(values) and not self.plan.values.get(column.name):
            typed = self._typed_column(column, values)
            if typed is not None:
                return typed
        name, text = column.name, self._text(column.name)
        if column.type in ("DATE", "TIMESTAMP"):
            parsed = V.parse_dates(text, day_first=self.day_first,
                                   timestamp=column.type == "TIMESTAMP")
            self._reject_value(parsed.bad, name, text, "is not a date")
            return parsed.values
        if column.type == "DOUBLE":
            parsed = V.parse_numbers(text, decimal_comma=self.decimal_comma)
            self._reject_value(parsed.bad, name, text, "is not a number")
            return parsed.values.astype("Float64")
        if column.type == "INTEGER":
            parsed = V.parse_integers(text, decimal_comma=self.decimal_comma)
            self._reject_value(parsed.bad, name, text, "is not a whole number")
            return parsed.values.round().astype("Int64")
        return self._text_column(name, text)

    def _typed_column(self, column, values: pd.Series) -> pd.Series | None:
        """A date or number column a Parquet file stored typed, checked without text (None
        when the column is not a date or number column, or holds the other kind)."""
        dates = pd.api.types.is_datetime64_any_dtype(values)
        if column.type in ("DATE", "TIMESTAMP") and dates:
            out = values.astype("datetime64[ns]")
            # As parse_dates reads "2024-01-05T13:00:00" for a date column: that day.
            return out if column.type == "TIMESTAMP" else out.dt.normalize()
        if column.type not in ("DOUBLE", "INTEGER") or dates:
            return None
        numbers = values.astype("Float64")
        bad = numbers.isin([np.inf, -np.inf]).fillna(False).astype(bool)
        if column.type == "INTEGER":
            bad |= (numbers.notna() & (numbers % 1 != 0)).fillna(False).astype(bool)
        if bad.any():
            self._reject_value(bad, column.name, readers.as_text(values),
                               "is not a number" if column.type == "DOUBLE"
                               else "is not a whole number")
            numbers = numbers.where(~bad)
        return numbers if column.type == "DOUBLE" else numbers.round().astype("Int64")

    def _text_column(self, name: str, text: pd.Series) -> pd.Series:
        vocabulary = _VOCABULARIES.get((self.kind, name))
        if vocabulary is not None:
            words, prefixes, problem = vocabulary
            if (self.kind, name) == ("renewals", "outcome"):
                return self._renewal_outcomes(text, self.checks.outcomes or words, problem)
            parsed = V.map_vocabulary(text, words, prefixes=prefixes)
            self._reject_value(parsed.bad, name, text, problem)
            return parsed.values
        if name == "account_id" and self.kind != "accounts":
            text = self._account_ids(text)
        if name == "scenario":
            return V.parse_scenarios(text).values
        if name == "csm_id" and self.kind != "csms":
            return self._people(text)
        if name == "playbook_id":
            return self._playbooks(text)
        # Arrow-backed text stays so (missing = NaN): a third of the memory of objects.
        if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
            return text.where(text != "")
        return text.where(text != "", None).astype(object)

    def _renewal_outcomes(self, text: pd.Series, words: dict, problem: str) -> pd.Series:
        """renewed / churned; an open stage (Negotiation, appointmentscheduled) is skipped,
        anything else unknown is a fault."""
        parsed = V.map_vocabulary(text, words)
        open_stage = parsed.bad.copy()
        if open_stage.any():  # only the unknown values are looked at again
            open_stage[parsed.bad] = text[parsed.bad].map(V.value_key) \
                .isin(V.OPEN_RENEWAL_STAGES).to_numpy()
        self._skip(open_stage, "outcome", text, OPEN_NOT_DECIDED)
        self._reject_value(parsed.bad & ~open_stage, "outcome", text, problem)
        return parsed.values

    def _account_ids(self, text: pd.Series) -> pd.Series:
        """HubSpot's "123;123" is one company; "123;456" several (a fault). A column of
        company names (HubSpot "Associated Company") resolves through the accounts' names."""
        header = self.match.columns["account_id"]
        # Only a plural column (HubSpot "Associated Company IDs") lists ids; elsewhere a ";"
        # is part of the id.
        listed = text.str.contains(";", regex=False) & header_key(header).endswith("ids")
        if listed.any():
            parts = text[listed].map(lambda v: list(dict.fromkeys(
                p.strip() for p in v.split(";") if p.strip())))
            several = parts.map(len) > 1
            text = text.copy()
            text[listed] = parts.map(lambda p: p[0] if p else "")
            mask = pd.Series(False, index=text.index)
            mask[several[several].index] = True
            self._reject_value(mask, "account_id", self._text("account_id"),
                               "names several companies (one row holds one)")
        if not _id_header(header):
            names = self.checks.account_names
            if names:
                codes, uniques = _distinct(text)
                resolved = [names.get(" ".join(v.split()).casefold(), v) for v in uniques]
                text = _spread(codes, resolved, text.index, missing="")
        return text

    def _check_run_dates(self, clean: pd.DataFrame) -> None:
        """A run closed before it opened, or opened more than a year from now, is a fault."""
        if self.kind != "playbook_runs" or "opened_on" not in clean:
            return
        opened = pd.to_datetime(clean["opened_on"])
        if "closed_on" in clean:
            closed = pd.to_datetime(clean["closed_on"])
            before = (closed < opened).fillna(False).astype(bool)
            self._reject(before, lambda rows: "closed_on " + _days(closed[rows])
                         + " is before opened_on " + _days(opened[rows]))
        horizon = pd.Timestamp.now().normalize() + pd.DateOffset(years=1)
        future = (opened > horizon).fillna(False).astype(bool)
        self._reject(future, lambda rows: "opened_on " + _days(opened[rows])
                     + " is more than a year in the future")

    def _check_rollout_group(self, clean: pd.DataFrame) -> None:
        """A rollout row names one group: a team or a segment, not neither and not both."""
        if self.kind != "rollouts":
            return
        nowhere = pd.Series(False, index=clean.index)  # a column the file does not have
        named = {c: clean[c].notna() if c in clean else nowhere for c in ("team", "segment")}
        self._reject(~named["team"] & ~named["segment"],
                     "team and segment are empty (a row names the team or the segment that "
                     "rolled the playbook out)")
        self._reject(named["team"] & named["segment"],
                     "team and segment are both given (a row is one group: give each its own "
                     "row)")

    def _derive(self, clean: pd.DataFrame) -> None:
        if self.kind != "playbook_runs":
            return
        columns = self.match.columns
        # Gainsight's single Status column ("Closed Success") carries the outcome too.
        if "outcome" not in columns and "status" in columns:
            # A mapping's outcome values apply to it ({Closed Success: success}).
            outcome = V.map_vocabulary(self._text("status", values_of="outcome"),
                                       V.RUN_OUTCOMES, default="").values
            clean["outcome"] = outcome.where(outcome != "", None)
        if "status" not in columns:
            closed = pd.Series(False, index=clean.index)
            for source in ("outcome", "closed_on"):
                if source in clean:
                    closed |= clean[source].notna()
            clean["status"] = np.where(closed, "closed", "open").astype(object)
        if "scenario" not in columns:
            clean["scenario"] = self._scenario_from_playbook(clean["playbook_id"])

    def _scenario_from_playbook(self, playbook_ids: pd.Series) -> pd.Series:
        scenarios = self.checks.scenarios
        return playbook_ids.map(scenarios).astype(object).where(lambda s: s.notna(), None)

    def _check_ranges(self, clean: pd.DataFrame) -> None:
        def shown(name):
            return lambda rows: _numbers(clean.loc[rows, name])

        for name in ("steps_total", "steps_completed", "active_users"):
            if name in clean:
                negative = (clean[name] < 0).fillna(False).astype(bool)
                self._reject(negative, lambda rows, n=name: f"{n} " + shown(n)(rows)
                             + " is negative")
        if "steps_total" in clean and "steps_completed" in clean:
            over = (clean["steps_completed"] > clean["steps_total"]).fillna(False).astype(bool)
            self._reject(over, lambda rows: "steps_completed " + shown("steps_completed")(rows)
                         + " is more than steps_total " + shown("steps_total")(rows))
        if "rating" in clean:
            outside = ((clean["rating"] < 1) | (clean["rating"] > 5)).fillna(False).astype(bool)
            self._reject(outside, lambda rows: "rating " + shown("rating")(rows)
                         + " is outside 1-5")

    # -- people and playbooks, resolved once per distinct value ---------------------------
    def _people(self, text: pd.Series) -> pd.Series:
        known, spelling = self.checks.roster, self.checks.spelling
        codes, uniques = _distinct(text)
        resolved, unknown = [], []
        for value in uniques:
            # Salesforce and HubSpot keep a leaver's records as "x@y (Deactivated User)".
            value = strip_person_status(value)
            person = value.strip() if looks_like_id(value) \
                else ("person", normalise_person(value))
            found = known.get(value.strip()) or known.get(("person", normalise_person(value)))
            # Unknown people keep their text, one spelling per person ("Jane Doe", "jane doe")
            # over the whole file: the first one met; ids only as written.
            resolved.append(found or spelling.setdefault(person, value))
            unknown.append(found is None)
        out = _spread(codes, resolved, text.index)
        # Counted in run(), once the row's outcome is known: the roster warning counts only
        # rows that load.
        self.unresolved = out[_spread(codes, unknown, text.index, missing=False).astype(bool)]
        return out

    def _playbooks(self, text: pd.Series) -> pd.Series:
        known, undefined = self.checks.playbook_ids, self.checks.undefined
        codes, uniques = _distinct(text)
        resolved, here = [], set()
        for value in uniques:
            found = (known.get(value) or known.get(" ".join(value.split()).casefold())
                     or known.get(slugify(value)))
            resolved.append(found or slugify(value) or None)
            if not found:
                undefined[value] = resolved[-1]
                here.add(value)
        out = _spread(codes, resolved, text.index)
        if here:
            written = _spread(codes, list(uniques), text.index)
            _count_into(self.checks.undefined_rows, written[written.isin(list(here))])
        return out


def _id_header(header: str) -> bool:
    """True when a header names ids ("Account ID", "Associated Company IDs", "GSID"), not
    names ("Associated Company", "Account")."""
    key = re.sub(r"[^0-9a-z]+", "", str(header).casefold())
    return key.endswith(("id", "ids", "gsid")) or key in ("externalid", "hsobjectid")


def _days(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d")


def _distinct(text: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes and distinct non-empty values of a text column (code -1 = empty), so names
    are resolved once per distinct value, not once per row."""
    codes, uniques = pd.factorize(text.where(text != ""), use_na_sentinel=True)
    return codes, [str(v) for v in uniques]


def _spread(codes: np.ndarray, per_value: list, index, missing=None) -> pd.Series:
    """Per-distinct-value results back over the rows (`missing` where the code is -1)."""
    table = np.empty(len(per_value) + 1, dtype=object)
    table[:-1] = per_value
    table[-1] = missing
    return pd.Series(table[codes], index=index, dtype=object)


def _override(text: pd.Series, overrides: dict) -> pd.Series:
    """A mapping file's values: exact text first, then case/punctuation-insensitive, then
    (for keys that are boolean words: True, yes, 1) any boolean word of the same truth, so
    `{True: churned}` also reads the 1 or Yes a file holds."""
    keyed = {V.value_key(k): v for k, v in overrides.items() if not isinstance(k, bool)}
    truths = {}
    for k, v in overrides.items():
        if V.truth(k) is not None:
            truths.setdefault(V.truth(k), v)
    lookup = {}
    for value in text.unique():
        if value in overrides:
            lookup[value] = overrides[value]
        elif V.value_key(value) in keyed:
            lookup[value] = keyed[V.value_key(value)]
        elif value and V.truth(value) in truths:
            lookup[value] = truths[V.truth(value)]
        else:
            lookup[value] = value
    return text.map(lookup).fillna("").astype(str)


def _numbers(values: pd.Series) -> pd.Series:
    """Numbers as a person writes them: 9, not 9.0."""
    return values.astype(object).map(lambda v: "" if v is None or v is pd.NA else f"{v:g}")


def _count_into(counts: dict, values: pd.Series) -> None:
    """Add each value's rows to `counts`, keeping the order values are first met."""
    for value, n in values.value_counts(sort=False).items():
        counts[value] = counts.get(value, 0) + int(n)


def _top_counts(counts: dict, show=repr) -> str:
    """The commonest values with their rows, as value_counts orders them (ties: first met)."""
    ordered = pd.Series(list(counts.values()), index=pd.Index(list(counts), dtype=object))
    ordered = ordered.sort_values(ascending=False, kind="stable")
    parts = [f"{show(v)} ({n:,})" for v, n in ordered.head(_SHOWN).items()]
    if len(ordered) > _SHOWN:
        parts.append(f"and {len(ordered) - _SHOWN:,} more")
    return ", ".join(parts)


def _library_playbooks(store: Store, settings: Settings):
    # Definitions enrich the import but never gate it: a broken library only loses names.
    # The organisation's definitions only: a template it did not adopt names no run.
    try:
        from analysis.playbooks.catalog import definitions_folder
        from analysis.playbooks.library import load_playbooks
        return load_playbooks(definitions_folder(store, settings))
    except Exception:
        return ()


def _library_ids(store: Store, settings: Settings) -> dict[str, str]:
    try:
        from analysis.playbooks.catalog import definitions_folder
        from analysis.playbooks.library import playbook_ids_by_name
        return playbook_ids_by_name(definitions_folder(store, settings))
    except Exception:
        return {}


def _rejected_frame(frame: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    rows = frame.loc[reasons.index]
    # A rejected row is kept as the text it showed, typed columns (Parquet) included.
    rows = rows.assign(**{c: readers.as_text(rows[c]) for c in rows.columns
                          if readers.is_typed(rows[c])})
    raw = [json.dumps(r, ensure_ascii=False) for r in rows.to_dict("records")]
    return pd.DataFrame({"row_number": reasons.index.astype("int64"), "raw": raw,
                         "reason": reasons.to_numpy()})


def split_skipped(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(skipped rows, rejected rows) of row_number/raw/reason frames, by the reason's
    `SKIPPED` prefix; the skipped ones lose the prefix."""
    skipped = rows["reason"].astype(str).str.startswith(SKIPPED)
    out = rows[skipped].reset_index(drop=True)
    out = out.assign(reason=out["reason"].str.slice(len(SKIPPED)))
    return out, rows[~skipped].reset_index(drop=True)


def reason_counts(skipped: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    """Rows per outcome and reason, commonest first (the value a reason quotes is shown as
    '…', so "renewal_date 'TBD' is not a date" and "... '13/13' ..." count together):
    outcome, reason, rows."""
    parts = []
    for outcome, rows in (("skipped", skipped), ("rejected", rejected)):
        if len(rows):
            # A row with several faults counts under each.
            reasons = rows["reason"].astype(str).str.split(_NEXT_FAULT).explode()
            reasons = reasons.map(_reason_pattern)
            counts = reasons.value_counts(sort=False)
            parts.append(pd.DataFrame({"outcome": outcome, "reason": counts.index,
                                       "rows": counts.to_numpy()}))
    if not parts:
        return pd.DataFrame({"outcome": pd.Series(dtype=object),
                             "reason": pd.Series(dtype=object),
                             "rows": pd.Series(dtype="int64")})
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["rows"], ascending=False, kind="stable", ignore_index=True)


# Faults of one row are "; "-joined, each starting with a column name; a value quoted in a
# reason may itself hold "; " or quotes, so splits and masks lean on the column names.
_COLUMN_NAMES = sorted({c for t in TABLES.values() for c in t.column_names}, key=len,
                       reverse=True)
_NEXT_FAULT = re.compile("; (?=(?:" + "|".join(_COLUMN_NAMES) + ") )")


def _reason_pattern(reason: str) -> str:
    """A reason with its quoted value and its numbers shown as '…'."""
    reason = re.sub(r"'.*'", "'…'", reason, count=1, flags=re.DOTALL)  # greedy: quotes inside
    return re.sub(r"(?<![\w'…])-?\d[\d.:/-]*", "…", reason)


def _why_none(skipped: pd.DataFrame, rejected: pd.DataFrame) -> str:
    counts = reason_counts(skipped, rejected)
    shown = "; ".join(f"{o} {n:,}: {r}" for o, r, n in counts.head(3).itertuples(index=False))
    return shown or "no data rows"


def _missing_warning(missing: pd.DataFrame, rows: str, what: str, advice: str = "") -> list[str]:
    """The warning for rows naming keys not imported yet (`missing`: key, count; commonest
    first): "12 steps reference runs not imported yet: 'R9' (7), 'R4' (5)"."""
    if missing.empty:
        return []
    shown = ", ".join(f"{a!r} ({n:,})" for a, n in missing.head(_SHOWN).itertuples(index=False))
    more = f", and {len(missing) - _SHOWN:,} more" if len(missing) > _SHOWN else ""
    return [f"{int(missing['count'].sum()):,} {rows} reference {what} not imported yet: "
            f"{shown}{more}{advice}"]


def _staged_unknown_runs(store: Store, kind: str, rows: str, columns: list[str]) -> list[str]:
    """Steps whose run_id no imported run has still load: say how many (staged rows)."""
    if kind != "run_steps" or "run_id" not in columns:
        return []
    return _missing_warning(store.query(
        f"SELECT run_id, count(*) AS count FROM {rows} WHERE run_id NOT IN "
        "(SELECT run_id FROM playbook_runs) GROUP BY run_id ORDER BY count DESC, run_id"),
        "steps", "runs",
        " (import the runs first, or check which header holds the run id)")


def _staged_unknown_groups(store: Store, kind: str, rows: str, columns: list[str]
                           ) -> list[str]:
    """Rollouts naming a team no CSM of the roster is in (or a segment no account is in)
    still load: say how many. Groups match by name, case and spacing ignored."""
    if kind != "rollouts":
        return []
    out = []
    for column, table in (("team", "csms"), ("segment", "accounts")):
        if column in columns:
            out += _missing_warning(store.query(
                f"SELECT {column}, count(*) AS count FROM {rows} WHERE {column} IS NOT NULL "
                f"AND lower(trim({column})) NOT IN (SELECT lower(trim({column})) FROM {table} "
                f"WHERE {column} IS NOT NULL) GROUP BY 1 ORDER BY count DESC, 1"),
                "rollouts", f"{column}s",
                f" (their {column} is read from {table}.{column}; import it first, or check "
                "the spelling)")
    return out


def _count_unchanged(store: Store, table, view: str, columns: list[str]) -> int:
    """Staged rows identical to the stored row of their key (every column the file has)."""
    if not columns:
        return 0
    types = {c.name: c.type for c in table.columns}
    target = quote_ident(table.name)
    same = " AND ".join(
        f"t.{quote_ident(c)} IS NOT DISTINCT FROM CAST(v.{quote_ident(c)} AS {types[c]})"
        for c in columns)
    keys_null = " AND ".join(f"t.{quote_ident(k)} IS NULL" for k in table.key
                             if k not in columns)
    condition = same + (f" AND {keys_null}" if keys_null else "")
    return int(store.scalar(f"SELECT count(*) FROM {view} v WHERE EXISTS "
                            f"(SELECT 1 FROM {target} t WHERE {condition})"))


def _supersede_rejected(store: Store, sha256: str, kind: str, import_id: int) -> None:
    """The same file imported again (with another mapping) keeps one list of its rows set
    aside: the earlier imports' rejected_rows of these bytes and kind give way to this one's."""
    store.execute("DELETE FROM rejected_rows WHERE import_id IN (SELECT import_id FROM imports "
                  "WHERE sha256 = ? AND kind = ? AND import_id <> ?)",
                  [sha256, kind, import_id])


def _empty_rejected() -> pd.DataFrame:
    return pd.DataFrame({"row_number": pd.Series(dtype="int64"),
                         "raw": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})


def _step_sources_disagree(store: Store, kind: str, staged: str) -> list[str]:
    """One warning when runs this file loaded or gave steps to have step counts that disagree
    with their run_steps rows (read after the write, from the semantic layer's
    step_count_disagreements): adherence then follows the counts (DESIGN.md "Usage")."""
    if kind not in ("playbook_runs", "run_steps"):
        return []
    runs = store.scalar(f"SELECT count(*) FROM step_count_disagreements "
                        f"WHERE run_id IN (SELECT run_id FROM {staged})")
    if not runs:
        return []
    return [f"{runs:,} run{' has' if runs == 1 else 's have'} step counts (steps_completed of "
            "steps_total) that disagree with their run_steps rows; adherence uses the step counts"]


# -- loading --------------------------------------------------------------------------------
def _mapping_record(columns: dict[str, str], plan: Mapping, day_first: bool) -> str:
    """The imports.mapping text: header mapping, value overrides and date order used."""
    return json.dumps({"columns": columns, "values": plan.values, "day_first": day_first},
                      sort_keys=True, ensure_ascii=False)


def _earlier_import(store: Store, sha256: str, kind: str, recorded: str) -> int | None:
    """The import that already loaded these bytes as `kind` with this mapping, if any."""
    return store.scalar("SELECT max(import_id) FROM imports WHERE sha256 = ? AND kind = ? "
                        "AND mapping = ?", [sha256, kind, recorded])


def _load(store: Store, kind: str, source: Source, checks: _FileChecks, recorded: str,
          report: Progress) -> tuple[ImportResult | None, int | None]:
    """Check and stage every chunk, then write the rows, the rejected rows and the imports
    row, all in one transaction.

    Returns (result, None), or (None, earlier import id) when another session recorded the
    same import first; then nothing is written.
    """
    with store.transaction():
        earlier = _earlier_import(store, source.sha256, kind, recorded)
        if earlier is not None:
            return None, int(earlier)
        result, stage = _write_import(store, kind, source, checks, recorded, report,
                                      store.next_import_id())
        stage.drop()  # before the commit: the stage never exists outside this transaction
    return result, None


def _write_import(store: Store, kind: str, source: Source, checks: _FileChecks,
                  recorded: str, report: Progress, import_id: int, *,
                  dry_run: bool = False) -> tuple[ImportResult, "_Stage"]:
    """The import itself, inside the caller's transaction (committed by an import, rolled
    back by a preview): every chunk checked and staged, duplicates and unknown accounts
    and runs found in SQL over the stage, then the rows, the rejected rows and the imports
    row written. Returns the result and the stage (still there, for the caller to read or
    drop). A file none of whose rows loads is refused, so a script sees a failure; a
    `dry_run` (the preview) reports it instead.
    """
    stage = _Stage(store, kind, import_id, source.rows_estimate,
                   source.settings.import_stage_memory_rows)
    _check_chunks(source, checks, stage, report)
    if checks.rows_read == 0:
        raise ImportRefused(f"{source.file_name} has no data rows")
    stage.reject_duplicates(source)
    warnings = checks.warnings() + stage.unknown_accounts() \
        + _staged_unknown_runs(store, kind, stage.rows, stage.columns) \
        + _staged_unknown_groups(store, kind, stage.rows, stage.columns)
    skipped, rejected = split_skipped(stage.rejected_rows())
    if not stage.rows_valid and not dry_run:
        raise ImportRefused(f"{source.file_name}: no row could be loaded "
                            f"({_why_none(skipped, rejected)})")
    report(0.9, f"Loading {stage.rows_valid:,} rows")
    if stage.columns:  # what the upsert replaces, kept so this import can be undone
        record_history(store, kind, import_id, stage.rows, stage.columns)
    unchanged = _count_unchanged(store, TABLES[kind], stage.rows, stage.columns)
    updated = (_write_rows(store, TABLES[kind], stage.rows, stage.columns)
               if stage.columns else 0) - unchanged
    warnings += _step_sources_disagree(store, kind, stage.rows)
    _supersede_rejected(store, source.sha256, kind, import_id)
    store.execute(f"INSERT INTO rejected_rows SELECT ?, row_number, raw, reason "
                  f"FROM {stage.rejected} ORDER BY row_number", [import_id])
    store.execute(
        "INSERT INTO imports (import_id, kind, file_name, sha256, imported_at, "
        "rows_read, rows_loaded, rows_rejected, mapping, rows_updated, warnings) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [import_id, kind, source.file_name, source.sha256,
         datetime.now(timezone.utc).replace(tzinfo=None), checks.rows_read,
         stage.rows_valid, len(rejected), recorded, updated,
         "\n".join(warnings) or None])
    return ImportResult(import_id, kind, source.file_name, checks.rows_read, stage.rows_valid,
                        updated, len(rejected), rejected, tuple(warnings),
                        checks.match.ignored, rows_skipped=len(skipped),
                        rows_unchanged=unchanged, skipped=skipped), stage


def _check_chunks(source: Source, checks: _FileChecks, stage: "_Stage",
                  report: Progress) -> None:
    """Every chunk checked, its clean rows and rejected rows staged; progress per chunk."""
    estimate = source.rows_estimate
    for chunk in source.chunks(int(source.settings.import_chunk_rows)):
        frame = chunk.frame[~blank_rows(chunk.frame)]
        clean, reasons = checks.check(frame, chunk.malformed)
        good = reasons.isna()
        everything = bool(good.all())  # the usual chunk: no copy of its clean rows
        stage.add(clean if everything else clean[good],
                  pd.concat([_rejected_frame(frame, reasons[~good]), chunk.malformed],
                            ignore_index=True))
        report(0.05 + 0.8 * chunk.done, f"Checked {checks.rows_read:,} of "
               f"~{max(estimate, checks.rows_read):,} rows")


class _Stage:
    """Tables holding a file's clean rows (with row_number) and rejected rows until the
    whole file is checked. Created and dropped inside the import's transaction, so no other
    session ever sees them and a failure or kill leaves no trace.

    A file of up to `memory_rows` rows (the import_stage_memory_rows setting) stages in TEMP
    tables (in memory: the
    fastest); a longer one in ordinary tables, whose rows DuckDB writes to the database file
    as they arrive, so its memory does not grow with the file (slower: they are compressed
    and written, then read back)."""

    def __init__(self, store: Store, kind: str, import_id: int, rows_estimate: int,
                 memory_rows: int):
        self.store, self.kind, self.table = store, kind, TABLES[kind]
        in_memory = rows_estimate <= int(memory_rows)
        self.create = "CREATE TEMP TABLE" if in_memory else "CREATE TABLE"
        self.rows = f"_import_{import_id}_stage_rows"
        self.rejected = f"_import_{import_id}_stage_rejected"
        self.columns: list[str] = []
        self.rows_valid = 0
        store.execute(f"{self.create} {self.rejected} (row_number BIGINT, raw VARCHAR, "
                      "reason VARCHAR)")
        self._created = False

    def add(self, clean: pd.DataFrame, rejected: pd.DataFrame) -> None:
        types = {c.name: c.type for c in self.table.columns}
        if not self._created:
            self.columns = list(clean.columns)
            spec = ", ".join(f"{quote_ident(c)} {types[c]}" for c in self.columns)
            self.store.execute(f"{self.create} {self.rows} (row_number BIGINT"
                               + (f", {spec})" if spec else ")"))
            self._created = True
        if len(clean):
            view = f"{self.rows}_chunk"
            frame = clean.reset_index(drop=True)
            frame.insert(0, "row_number", clean.index.to_numpy(dtype="int64"))
            select = ", ".join(["row_number"] + [f"CAST({quote_ident(c)} AS {types[c]})"
                                                 for c in self.columns])
            self._insert(self.rows, view, frame, select)
            self.rows_valid += len(clean)
        if len(rejected):
            self._insert(self.rejected, f"{self.rejected}_chunk", rejected,
                         "row_number, raw, reason")

    def _insert(self, table: str, view: str, frame: pd.DataFrame, select: str) -> None:
        self.store.register(view, frame)
        try:
            self.store.execute(f"INSERT INTO {table} SELECT {select} FROM {view}")
        finally:
            self.store.unregister(view)

    def reject_duplicates(self, source: Source) -> None:
        """Within one file the last row of a key wins; earlier ones are rejected, naming it.

        Found in SQL over the staged rows; the rejected rows' raw text is read again from
        the file only when there are duplicates (rare), so no row's text is kept meanwhile.
        """
        key = [c for c in self.table.key if c in self.columns]
        if not key or not self.rows_valid:
            return
        keys = ", ".join(quote_ident(k) for k in key)
        same = " AND ".join(f"s.{quote_ident(k)} IS NOT DISTINCT FROM g.{quote_ident(k)}"
                            for k in key)
        dups = self.store.query(
            f"WITH g AS (SELECT {keys}, max(row_number) AS last_row FROM {self.rows} "
            f"GROUP BY {keys} HAVING count(*) > 1) "
            f"SELECT s.row_number, {', '.join('s.' + quote_ident(k) for k in key)}, g.last_row "
            f"FROM {self.rows} s JOIN g ON {same} WHERE s.row_number < g.last_row "
            "ORDER BY s.row_number")
        if dups.empty:
            return
        described = None
        for c in key:
            part = c + " " + dups[c].astype(object).map(
                lambda v: "(empty)" if v is None or pd.isna(v) else repr(str(v)))
            described = part if described is None else described + ", " + part
        reasons = ("duplicate " + described + " (also row " + dups["last_row"].astype(str)
                   + "): the last one is kept")
        reasons.index = dups["row_number"].to_numpy()
        rejected = pd.concat([_rejected_frame(frame, reasons.loc[frame.index])
                              for frame in _rows_again(source, reasons.index)],
                             ignore_index=True)
        self._insert(self.rejected, f"{self.rejected}_chunk", rejected,
                     "row_number, raw, reason")
        numbers = f"{self.rows}_dups"
        self.store.register(numbers, rejected[["row_number"]])
        try:
            self.store.execute(f"DELETE FROM {self.rows} WHERE row_number IN "
                               f"(SELECT row_number FROM {numbers})")
        finally:
            self.store.unregister(numbers)
        self.rows_valid -= len(rejected)

    def unknown_accounts(self) -> list[str]:
        """Rows pointing at accounts not imported yet still load; say how many."""
        if self.kind == "accounts" or "account_id" not in self.columns or not self.rows_valid:
            return []
        missing = self.store.query(
            f"SELECT account_id, count(*) AS count FROM {self.rows} WHERE account_id IS NOT "
            "NULL AND account_id NOT IN (SELECT account_id FROM accounts) "
            "GROUP BY account_id ORDER BY count DESC, account_id")
        return _missing_warning(missing, "rows", "accounts")

    def rejected_rows(self) -> pd.DataFrame:
        rejected = self.store.query(f"SELECT row_number, raw, reason FROM {self.rejected} "
                                    "ORDER BY row_number")
        return rejected.astype({"row_number": "int64", "raw": object, "reason": object})

    def clean_rows(self) -> pd.DataFrame:
        """The rows that load, as stored (canonical columns), indexed by row number."""
        if not self.rows_valid:
            return pd.DataFrame(columns=self.columns)
        return self.store.query(f"SELECT * FROM {self.rows} ORDER BY row_number") \
            .set_index("row_number").rename_axis(None)

    def drop(self) -> None:
        for table in (self.rows, self.rejected):
            self.store.execute(f"DROP TABLE IF EXISTS {table}")


def _rows_again(source: Source, wanted) -> "Iterator[pd.DataFrame]":
    """The rows numbered `wanted`, read again from the file (blank rows never are)."""
    wanted = pd.Index(wanted)
    for chunk in source.chunks(int(source.settings.import_chunk_rows)):
        found = chunk.frame.index.intersection(wanted)
        if len(found):
            yield chunk.frame.loc[found]


def _write_rows(store: Store, table, view: str, columns: list[str]) -> int:
    """Upsert by key: present columns replace, absent ones keep their stored values.

    Returns the number of rows whose key was already stored.
    """
    target = quote_ident(table.name)
    types = {c.name: c.type for c in table.columns}
    select = ", ".join(f"CAST(v.{quote_ident(c)} AS {types[c]})" for c in columns)
    names = ", ".join(quote_ident(c) for c in columns)
    # Keys the file lacks (csm_id of an id-less table) are stored NULL, so compare with NULL.
    key_of = {k: (f"CAST(v.{quote_ident(k)} AS {types[k]})" if k in columns
                  else f"CAST(NULL AS {types[k]})") for k in table.key}
    same_key = " AND ".join(f"t.{quote_ident(k)} IS NOT DISTINCT FROM {expr}"
                            for k, expr in key_of.items())
    updated = int(store.scalar(
        f"SELECT count(*) FROM {view} v WHERE EXISTS (SELECT 1 FROM {target} t WHERE {same_key})"))
    others = [c for c in columns if c not in table.key]
    if not updated:
        # No stored row shares a key (a first import): a plain insert, about half the cost
        # of ON CONFLICT, which checks the index row by row. Keys are unique within a file.
        store.execute(f"INSERT INTO {target} ({names}) SELECT {select} FROM {view} v")
        return 0
    if table.primary_key:
        action = ("DO UPDATE SET " + ", ".join(f"{quote_ident(c)} = excluded.{quote_ident(c)}"
                                                for c in others)) if others else "DO NOTHING"
        store.execute(f"INSERT INTO {target} ({names}) SELECT {select} FROM {view} v "
                      f"ON CONFLICT ({', '.join(quote_ident(k) for k in table.key)}) {action}")
        return updated
    if others and updated:
        sets = ", ".join(f"{quote_ident(c)} = CAST(v.{quote_ident(c)} AS {types[c]})"
                         for c in others)
        store.execute(f"UPDATE {target} AS t SET {sets} FROM {view} v WHERE {same_key}")
    store.execute(f"INSERT INTO {target} ({names}) SELECT {select} FROM {view} v "
                  f"WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {same_key})")
    return updated

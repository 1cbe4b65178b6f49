"""The tolerant importer: one export file into one canonical table (DESIGN.md, import rules).

open (analysis.ingest.readers: hash the file, settle its header) -> match headers (analysis.ingest.headers)
-> per chunk of rows: parse and check every value (analysis.ingest.values) and stage the rows -> settle
duplicate keys in SQL -> load, all in one transaction. A row that cannot be loaded goes to
`rejected_rows` with its spreadsheet row number and a reason a person can act on; a file that
cannot be loaded at all raises `ImportRefused` and leaves the database unchanged. Importing
the same file again (same bytes, kind and mapping) writes nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from analysis import settings

from analysis.ingest import readers

from analysis.ingest import values as V
from analysis.ingest.headers import HeaderMatch, guess_kind, match_headers
from analysis.ingest.mapping import Mapping, as_mapping
from analysis.ingest.names import normalise_person, slugify
# read_export and guess_kind are re-exported: the upload page needs only this module.
from analysis.ingest.readers import (ImportRefused, RawExport, Source, blank_rows, frame_source,
                              open_export)
from analysis.schema import IMPORTABLE_KINDS, TABLES
from analysis.store import Store, quote_ident

__all__ = ["ImportRefused", "ImportResult", "Validation", "import_file", "preview",
           "read_export", "guess_kind"]

Progress = Callable[[float, str], None]
_SHOWN = 5  # reasons and names listed in a summary or warning before "and N more"


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

    def summary(self) -> str:
        """Rows read / loaded / updated / rejected, the first reasons and the warnings."""
        if self.unchanged:
            return (f"{self.file_name} was already imported as {self.kind} (import "
                    f"{self.import_id}) and has not changed: nothing to do.")
        lines = [f"{self.file_name} -> {self.kind} (import {self.import_id})",
                 f"rows read {self.rows_read:,}, loaded {self.rows_loaded:,} "
                 f"({self.rows_updated:,} updated existing rows), rejected {self.rows_rejected:,}"]
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

    @property
    def mapping(self) -> dict[str, str]:
        """export header -> canonical column."""
        return {header: column for column, header in self.columns.items()}


# -- public entry points --------------------------------------------------------------------
def import_file(store: Store, kind: str, path: str | Path, *, mapping=None,
                day_first: bool | None = None, sheet: str | None = None,
                file_name: str | None = None, progress: Progress | None = None) -> ImportResult:
    """Import one export file into table `kind`, streaming it a chunk of rows at a time.

    Parameters
    ----------
    mapping : path to a mapping YAML, a `Mapping`, or None (auto-detect everything).
    day_first : read 03/04/2024 as 3 April (True) or 4 March (False); None = the mapping's
        setting, else what the first rows' dates settle (`import_sample_rows`), else
        month-first with a warning.
    sheet : XLSX sheet name (default: the first sheet holding data).
    file_name : the name to record and show (an upload's original name).
    progress : called as progress(fraction, message) while reading, per chunk checked
        ("Checked 1,400,000 of ~8,000,000 rows") and when loading.

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
    source = open_export(path, name, sheet=sheet)
    head, malformed, complete = source.head(int(settings.default("import_sample_rows")))
    checks = _FileChecks(store, kind, source, plan, day_first, head,
                         complete and malformed.empty)
    if checks.refusal:
        raise ImportRefused(checks.refusal)
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


def preview(store: Store, kind: str, path_or_frame, mapping=None, *,
            day_first: bool | None = None, sheet: str | None = None,
            file_name: str | None = None) -> Validation:
    """What importing would load and reject, without writing anything.

    `path_or_frame` is a file path or a DataFrame of strings (as `read_export` returns).
    Only the first `import_preview_rows` rows are checked, so a big file previews fast; a
    warning ("checked the first 200,000 of ~8,000,000 rows") and `complete=False` say so.
    A file that cannot be read raises ImportRefused; a missing required column is reported
    in `missing_required` and `refusal` so the page can offer a mapping instead.
    """
    _check_kind(kind)
    if isinstance(path_or_frame, pd.DataFrame):
        name = file_name or "upload"
        frame = path_or_frame.astype(object).where(path_or_frame.notna(), "").astype(str)
        if isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0:
            frame.index = pd.RangeIndex(2, len(frame) + 2)  # spreadsheet rows; header is 1
        attrs = path_or_frame.attrs  # set by read_export
        source = frame_source(RawExport(frame, name, attrs.get("format", "frame"),
                                        attrs.get("delimiter"),
                                        notes=tuple(attrs.get("notes", ()))))
        # A frame from read_export(max_rows=...) may be the first rows of a longer file.
        whole, estimate = attrs.get("complete", True), attrs.get("rows_estimate", 0)
    else:
        path = Path(path_or_frame)
        name = file_name or path.name
        source = open_export(path, name, sheet=sheet, scan=False)
        whole, estimate = True, 0
    plan = _mapping_for(mapping, kind, name)
    limit = int(settings.default("import_preview_rows"))
    frame, malformed, complete = source.head(limit)
    return _validate(store, kind, source, plan, day_first, frame, malformed,
                     complete and whole, max(estimate, source.rows_estimate))


def read_export(path: str | Path, *, sheet: str | None = None,
                max_rows: int | None = None) -> pd.DataFrame:
    """The export at `path` as a DataFrame of strings (index = spreadsheet row number).

    max_rows : read only the first that many data rows (a preview of a big file); the
        frame's attrs["complete"] says whether that was every row.
    Raises ImportRefused when the file is empty, unreadable or not tabular.
    """
    if max_rows is None:
        return readers.read_export(path, sheet=sheet)
    source = open_export(path, sheet=sheet, scan=False)
    frame, malformed, complete = source.head(max_rows)
    frame = frame[~blank_rows(frame)]
    if complete and frame.empty and malformed.empty:  # as the whole-file reader says
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
def _validate(store: Store, kind: str, source: Source, plan: Mapping, day_first: bool | None,
              frame: pd.DataFrame, malformed: pd.DataFrame, complete: bool,
              estimate: int) -> Validation:
    """The preview: the first rows checked as one chunk, duplicates settled in pandas."""
    sample = frame.iloc[:int(settings.default("import_sample_rows"))]
    checks = _FileChecks(store, kind, source, plan, day_first, sample, False)
    base = dict(kind=kind, file_name=source.file_name, headers=tuple(source.headers),
                columns=checks.match.columns, ignored_columns=checks.match.ignored,
                missing_required=checks.missing)
    frame = frame[~blank_rows(frame)]
    rows_read = len(frame) + len(malformed)
    refusal = checks.refusal or (f"{source.file_name} has no data rows" if rows_read == 0
                                 else None)
    if refusal:
        return Validation(**base, refusal=refusal, rows_read=rows_read, rows_valid=0,
                          rejected=_empty_rejected(), warnings=(), day_first=False,
                          clean=pd.DataFrame())
    clean, reasons = checks.check(frame, malformed)
    clean, reasons = _reject_duplicates(kind, clean, reasons)
    good = reasons.isna()
    rejected = pd.concat([_rejected_frame(frame, reasons[~good]), malformed],
                         ignore_index=True).sort_values("row_number", ignore_index=True)
    clean = clean[good]
    warnings = checks.warnings() + _unknown_accounts(store, kind, clean)
    if not complete:
        warnings.append(f"checked the first {rows_read:,} of ~{max(estimate, rows_read):,} "
                        "rows; the import checks every row")
    return Validation(**base, refusal=None, rows_read=rows_read, rows_valid=int(good.sum()),
                      rejected=rejected, warnings=tuple(warnings), day_first=checks.day_first,
                      clean=clean, complete=complete)


class _FileChecks:
    """What is decided once per file (header mapping, date order, roster, playbook names),
    the checks of each chunk, and the warnings counted over all of them."""

    def __init__(self, store: Store, kind: str, source: Source, plan: Mapping,
                 day_first: bool | None, sample: pd.DataFrame, refuse_empty: bool):
        self.store, self.kind, self.plan, self.source = store, kind, plan, source
        self.match = match_headers(list(source.headers), kind, plan.columns)
        self.missing = _missing_required(kind, self.match)
        sample = sample[~blank_rows(sample)]
        self.refusal = None
        # `refuse_empty`: the sample is every row of the file (and none was malformed).
        if refuse_empty and sample.empty:
            raise ImportRefused(f"{source.file_name} has no data rows")
        if self.missing:
            self.refusal = _refusal(kind, source.file_name, source.headers, self.missing)
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
        self._roster: dict[str, str] | None = None
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
    def roster(self) -> dict[str, str]:
        """normalised name, email or id -> csm_id, read once per file."""
        if self._roster is None:
            roster = self.store.query("SELECT csm_id, name, email FROM csms")
            known: dict[str, str] = {}
            for column in ("name", "email", "csm_id"):  # an id wins over a same-named person
                for value, csm_id in zip(roster[column], roster["csm_id"]):
                    if isinstance(value, str) and value.strip():
                        known[normalise_person(value)] = csm_id
            self._roster = known
        return self._roster

    @property
    def playbook_ids(self) -> dict[str, str]:
        if self._playbook_ids is None:
            self._playbook_ids = _library_ids(self.store)
        return self._playbook_ids

    @property
    def scenarios(self) -> dict[str, str]:
        if self._scenarios is None:
            self._scenarios = {pb.id: pb.scenario for pb in _library_playbooks(self.store)}
        return self._scenarios


def _missing_required(kind: str, match: HeaderMatch) -> tuple[str, ...]:
    missing = match.missing_required
    # A runs export without a scenario column takes each run's scenario from its playbook.
    if kind == "playbook_runs" and "playbook_id" in match.columns:
        missing = tuple(c for c in missing if c != "scenario")
    return missing


def _refusal(kind: str, name: str, headers, missing: tuple[str, ...]) -> str:
    headers = list(headers)
    listed = ", ".join(headers[:30]) + (f" and {len(headers) - 30} more" if len(headers) > 30
                                        else "")
    problem = f"has no column for {', '.join(missing)} (required); its columns are: {listed}"
    guess = guess_kind(headers)
    # Only hint when the other kind explains the file better than the one asked for.
    if guess is not None and guess != kind and \
            len(match_headers(headers, guess).columns) > len(match_headers(headers, kind).columns):
        return f"{name} does not look like a {kind} export (it looks like {guess}): {problem}"
    return f"{name} {problem}"


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

    def run(self) -> tuple[pd.DataFrame, pd.Series]:
        clean = pd.DataFrame(index=self.frame.index)
        for column in self.table.columns:
            if column.name in self.match.columns:
                clean[column.name] = self._column(column)
        self._derive(clean)
        for column in self.table.required:
            if column in clean:
                self._reject(clean[column].isna(), f"{column} is empty")
        self._check_ranges(clean)
        return clean, self.reasons

    # Each reject keeps a row's first reason, in column order. `reason` is a string or a
    # function building the reasons of the rows it is given (only the rejected ones).
    def _reject(self, mask: pd.Series, reason) -> None:
        mask = mask & self.reasons.isna()
        if mask.any():
            self.reasons[mask] = reason(mask[mask].index) if callable(reason) else reason

    def _reject_value(self, mask: pd.Series, name: str, text: pd.Series, problem: str) -> None:
        self._reject(mask, lambda rows: f"{name} '" + text[rows].str.slice(0, 60)
                     + f"' {problem}")

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
            parsed = V.map_vocabulary(text, words, prefixes=prefixes)
            self._reject_value(parsed.bad, name, text, problem)
            return parsed.values
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
            person = normalise_person(value)
            # Unknown people keep their text, one spelling per person ("Jane Doe", "jane doe")
            # over the whole file: the first one met.
            resolved.append(known.get(person) or spelling.setdefault(person, value))
            unknown.append(person not in known)
        out = _spread(codes, resolved, text.index)
        unresolved = out[_spread(codes, unknown, text.index, missing=False).astype(bool)]
        _count_into(self.checks.unknown_people, unresolved)
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
    """A mapping file's values: exact text first, then case/punctuation-insensitive."""
    keyed = {V.value_key(k): v for k, v in overrides.items()}
    lookup = {}
    for value in text.unique():
        if value in overrides:
            lookup[value] = overrides[value]
        elif V.value_key(value) in keyed:
            lookup[value] = keyed[V.value_key(value)]
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


def _library_playbooks(store: Store):
    # Definitions enrich the import but never gate it: a broken library only loses names.
    # The organisation's definitions only: a template it did not adopt names no run.
    try:
        from analysis.playbooks.catalog import definitions_folder
        from analysis.playbooks.library import load_playbooks
        return load_playbooks(definitions_folder(store))
    except Exception:
        return ()


def _library_ids(store: Store) -> dict[str, str]:
    try:
        from analysis.playbooks.catalog import definitions_folder
        from analysis.playbooks.library import playbook_ids_by_name
        return playbook_ids_by_name(definitions_folder(store))
    except Exception:
        return {}


def _reject_duplicates(kind: str, clean: pd.DataFrame, reasons: pd.Series):
    """Within one file the last row of a key wins; earlier ones are rejected, naming it.
    (The preview's rows, in memory; an import does the same in SQL: `_Stage`.)"""
    key = [c for c in TABLES[kind].key if c in clean]
    good = reasons.isna()
    valid = clean.loc[good, key]
    dup = valid.duplicated(keep="last")
    if not dup.any():
        return clean, reasons
    row_numbers = pd.Series(valid.index, index=valid.index)
    last_row = row_numbers.groupby([valid[c] for c in key], dropna=False).transform("last")
    described = None
    for c in key:
        part = c + " " + valid[c].astype(object).map(
            lambda v: "(empty)" if v is None or pd.isna(v) else repr(str(v)))
        described = part if described is None else described + ", " + part
    message = ("duplicate " + described + " (also row " + last_row.astype(str)
               + "): the last one is kept")
    reasons = reasons.copy()
    reasons[dup[dup].index] = message[dup]
    return clean, reasons


def _rejected_frame(frame: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    rows = frame.loc[reasons.index]
    # A rejected row is kept as the text it showed, typed columns (Parquet) included.
    rows = rows.assign(**{c: readers.as_text(rows[c]) for c in rows.columns
                          if readers.is_typed(rows[c])})
    raw = [json.dumps(r, ensure_ascii=False) for r in rows.to_dict("records")]
    return pd.DataFrame({"row_number": reasons.index.astype("int64"), "raw": raw,
                         "reason": reasons.to_numpy()})


def _empty_rejected() -> pd.DataFrame:
    return pd.DataFrame({"row_number": pd.Series(dtype="int64"),
                         "raw": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})


def _unknown_accounts(store: Store, kind: str, clean: pd.DataFrame) -> list[str]:
    """Rows pointing at accounts not imported yet still load; say how many."""
    if kind == "accounts" or "account_id" not in clean or clean.empty:
        return []
    # Count per distinct id with factorize + bincount (no million-row object hashing twice).
    codes, uniques = pd.factorize(clean["account_id"], use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    ids = pd.DataFrame({"account_id": np.asarray(uniques, dtype=object), "count": counts})
    view = "_import_account_ids"
    store.register(view, ids)
    try:
        missing = store.query(f"SELECT account_id, count FROM {view} WHERE account_id NOT IN "
                              "(SELECT account_id FROM accounts) ORDER BY count DESC, account_id")
    finally:
        store.unregister(view)
    return _accounts_warning(missing)


def _accounts_warning(missing: pd.DataFrame) -> list[str]:
    """The warning for rows naming accounts not imported yet (account_id, count; commonest
    first)."""
    if missing.empty:
        return []
    shown = ", ".join(f"{a!r} ({n:,})" for a, n in missing.head(_SHOWN).itertuples(index=False))
    more = f", and {len(missing) - _SHOWN:,} more" if len(missing) > _SHOWN else ""
    return [f"{int(missing['count'].sum()):,} rows reference accounts not imported yet: "
            f"{shown}{more}"]


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
        import_id = store.next_import_id()
        stage = _Stage(store, kind, import_id, source.rows_estimate)
        _check_chunks(source, checks, stage, report)
        if checks.rows_read == 0:
            raise ImportRefused(f"{source.file_name} has no data rows")
        stage.reject_duplicates(source)
        warnings = checks.warnings() + stage.unknown_accounts()
        report(0.9, f"Loading {stage.rows_valid:,} rows")
        if stage.columns:  # what the upsert replaces, kept so this import can be undone
            from analysis.ingest.undo import record_history
            record_history(store, kind, import_id, stage.rows, stage.columns)
        updated = (_write_rows(store, TABLES[kind], stage.rows, stage.columns)
                   if stage.columns else 0)
        rejected = stage.rejected_rows()
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
        stage.drop()  # before the commit: the stage never exists outside this transaction
    return ImportResult(import_id, kind, source.file_name, checks.rows_read, stage.rows_valid,
                        updated, len(rejected), rejected, tuple(warnings),
                        checks.match.ignored), None


def _check_chunks(source: Source, checks: _FileChecks, stage: "_Stage",
                  report: Progress) -> None:
    """Every chunk checked, its clean rows and rejected rows staged; progress per chunk."""
    estimate = source.rows_estimate
    for chunk in source.chunks(int(settings.default("import_chunk_rows"))):
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

    A file of up to `import_stage_memory_rows` rows stages in TEMP tables (in memory: the
    fastest); a longer one in ordinary tables, whose rows DuckDB writes to the database file
    as they arrive, so its memory does not grow with the file (slower: they are compressed
    and written, then read back)."""

    def __init__(self, store: Store, kind: str, import_id: int, rows_estimate: int):
        self.store, self.kind, self.table = store, kind, TABLES[kind]
        in_memory = rows_estimate <= int(settings.default("import_stage_memory_rows"))
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
        return _accounts_warning(missing)

    def rejected_rows(self) -> pd.DataFrame:
        rejected = self.store.query(f"SELECT row_number, raw, reason FROM {self.rejected} "
                                    "ORDER BY row_number")
        return rejected.astype({"row_number": "int64", "raw": object, "reason": object})

    def drop(self) -> None:
        for table in (self.rows, self.rejected):
            self.store.execute(f"DROP TABLE IF EXISTS {table}")


def _rows_again(source: Source, wanted) -> "Iterator[pd.DataFrame]":
    """The rows numbered `wanted`, read again from the file (blank rows never are)."""
    wanted = pd.Index(wanted)
    for chunk in source.chunks(int(settings.default("import_chunk_rows"))):
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

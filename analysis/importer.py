"""The tolerant importer: one export file into one canonical table (DESIGN.md, import rules).

read (analysis.readers) -> match headers (analysis.headers) -> parse and check every value
(analysis.values) -> load in one transaction. A row that cannot be loaded goes to
`rejected_rows` with its spreadsheet row number and a reason a person can act on; a file that
cannot be loaded at all raises `ImportRefused` and leaves the database unchanged. Importing
the same file again (same bytes, kind and mapping) writes nothing.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from analysis import values as V
from analysis.headers import HeaderMatch, guess_kind, match_headers
from analysis.mapping import Mapping, as_mapping
from analysis.names import normalise_person, slugify
# read_export and guess_kind are re-exported: the upload page needs only this module.
from analysis.readers import ImportRefused, RawExport, blank_rows, read_bytes, read_export
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

    @property
    def mapping(self) -> dict[str, str]:
        """export header -> canonical column."""
        return {header: column for column, header in self.columns.items()}


# -- public entry points --------------------------------------------------------------------
def import_file(store: Store, kind: str, path: str | Path, *, mapping=None,
                day_first: bool | None = None, sheet: str | None = None,
                file_name: str | None = None, progress: Progress | None = None) -> ImportResult:
    """Import one export file into table `kind`.

    Parameters
    ----------
    mapping : path to a mapping YAML, a `Mapping`, or None (auto-detect everything).
    day_first : read 03/04/2024 as 3 April (True) or 4 March (False); None = the mapping's
        setting, else what the file's dates settle, else month-first with a warning.
    sheet : XLSX sheet name (default: the first sheet holding data).
    file_name : the name to record and show (an upload's original name).
    progress : called as progress(fraction, message) at the read, check and load stages.

    Returns
    -------
    ImportResult. Raises ImportRefused (database unchanged) when the file cannot be imported.
    """
    report = progress or (lambda fraction, message: None)
    path = Path(path)
    name = file_name or path.name
    _check_kind(kind)
    plan = _mapping_for(mapping, kind, name)
    report(0.05, f"Reading {name}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportRefused(f"{name} cannot be read: {exc.strerror or exc}") from exc
    raw = read_bytes(data, name, sheet=sheet)
    sha256 = hashlib.sha256(data).hexdigest()
    del data  # the bytes are not needed again: free them before the rows are checked
    report(0.3, f"Checking {len(raw.frame):,} rows")
    check = _validate(store, kind, raw, plan, day_first)
    del raw  # `check` holds what loading needs
    if check.refusal:
        raise ImportRefused(check.refusal)
    recorded = _mapping_record(check, plan)
    earlier = _earlier_import(store, sha256, kind, recorded)
    if earlier is None:
        report(0.7, f"Loading {check.rows_valid:,} rows")
        # _load checks again under the write lock: the same file may have been loaded by
        # another session (an upload clicked twice) while this one was checking it.
        import_id, updated, earlier = _load(store, kind, check, sha256, recorded)
    if earlier is not None:
        report(1.0, "Already imported")
        return ImportResult(int(earlier), kind, name, check.rows_read, 0, 0, 0,
                            _empty_rejected(), (), check.ignored_columns, unchanged=True)
    report(1.0, "Done")
    return ImportResult(import_id, kind, name, check.rows_read, check.rows_valid, updated,
                        len(check.rejected), check.rejected, check.warnings,
                        check.ignored_columns)


def preview(store: Store, kind: str, path_or_frame, mapping=None, *,
            day_first: bool | None = None, sheet: str | None = None,
            file_name: str | None = None) -> Validation:
    """What importing would load and reject, without writing anything.

    `path_or_frame` is a file path or a DataFrame of strings (as `read_export` returns).
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
        raw = RawExport(frame, name, attrs.get("format", "frame"), attrs.get("delimiter"),
                        notes=tuple(attrs.get("notes", ())))
    else:
        path = Path(path_or_frame)
        name = file_name or path.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImportRefused(f"{name} cannot be read: {exc.strerror or exc}") from exc
        raw = read_bytes(data, name, sheet=sheet)
    return _validate(store, kind, raw, _mapping_for(mapping, kind, name), day_first)


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
def _validate(store: Store, kind: str, raw: RawExport, plan: Mapping,
              day_first: bool | None) -> Validation:
    frame = raw.frame[~blank_rows(raw.frame)]
    match = match_headers(frame.columns, kind, plan.columns)
    missing = _missing_required(kind, match)
    headers = tuple(frame.columns)
    rows_read = len(frame) + len(raw.malformed)
    base = dict(kind=kind, file_name=raw.file_name, headers=headers, columns=match.columns,
                ignored_columns=match.ignored, missing_required=missing)
    if missing:
        return Validation(**base, refusal=_refusal(kind, raw.file_name, headers, missing),
                          rows_read=rows_read, rows_valid=0, rejected=_empty_rejected(),
                          warnings=(), day_first=False, clean=pd.DataFrame())
    if rows_read == 0:
        return Validation(**base, refusal=f"{raw.file_name} has no data rows", rows_read=0,
                          rows_valid=0, rejected=_empty_rejected(), warnings=(),
                          day_first=False, clean=pd.DataFrame())
    warnings = list(raw.notes) + list(match.notes)
    order, order_warning = _date_order(kind, frame, match, plan, day_first)
    if order_warning:
        warnings.append(order_warning)
    rows = _RowChecker(store, kind, frame, match, plan, order, raw.delimiter == ";")
    clean, reasons = rows.run()
    warnings += rows.warnings
    clean, reasons = _reject_duplicates(kind, clean, reasons)
    good = reasons.isna()
    rejected = pd.concat([_rejected_frame(frame, reasons[~good]), raw.malformed],
                         ignore_index=True).sort_values("row_number", ignore_index=True)
    clean = clean[good]
    warnings += _unknown_accounts(store, kind, clean)
    return Validation(**base, refusal=None, rows_read=rows_read, rows_valid=int(good.sum()),
                      rejected=rejected, warnings=tuple(warnings), day_first=order,
                      clean=clean)


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
    """Parses every mapped column of a file and collects one reason per bad row."""

    def __init__(self, store, kind, frame, match, plan, day_first, decimal_comma):
        self.store, self.kind, self.frame, self.match = store, kind, frame, match
        self.plan, self.day_first, self.decimal_comma = plan, day_first, decimal_comma
        self.table = TABLES[kind]
        self.reasons = pd.Series(None, index=frame.index, dtype=object)
        self.warnings: list[str] = []

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
        text = self.frame[self.match.columns[name]].str.strip()
        overrides = self.plan.values.get(values_of or name)
        return _override(text, overrides) if overrides else text

    def _column(self, column) -> pd.Series:
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
        scenarios = {pb.id: pb.scenario for pb in _library_playbooks()}
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
        roster = self.store.query("SELECT csm_id, name, email FROM csms")
        known: dict[str, str] = {}
        for column in ("name", "email", "csm_id"):  # an id wins over a same-named person
            for value, csm_id in zip(roster[column], roster["csm_id"]):
                if isinstance(value, str) and value.strip():
                    known[normalise_person(value)] = csm_id
        codes, uniques = _distinct(text)
        resolved, spelling, unknown = [], {}, []
        for value in uniques:
            person = normalise_person(value)
            # Unknown people keep their text, one spelling per person ("Jane Doe", "jane doe").
            resolved.append(known.get(person) or spelling.setdefault(person, value))
            unknown.append(person not in known)
        out = _spread(codes, resolved, text.index)
        unresolved = out[_spread(codes, unknown, text.index, missing=False).astype(bool)]
        if len(unresolved):
            self.warnings.append(f"{len(unresolved):,} rows name CSMs not in the roster: "
                                 + _top_values(unresolved) + " (kept as written)")
        return out

    def _playbooks(self, text: pd.Series) -> pd.Series:
        known = _library_ids()
        codes, uniques = _distinct(text)
        resolved, undefined = [], {}
        for value in uniques:
            found = (known.get(value) or known.get(" ".join(value.split()).casefold())
                     or known.get(slugify(value)))
            resolved.append(found or slugify(value) or None)
            if not found:
                undefined[value] = resolved[-1]
        out = _spread(codes, resolved, text.index)
        if undefined:
            written = _spread(codes, list(uniques), text.index)
            names = written[written.isin(list(undefined))]
            self.warnings.append(f"{len(names):,} rows name playbooks with no definition "
                                 "(analysed under their own id): " + _top_values(
                                     names, lambda v: f"{v!r} as {undefined[v]}"))
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


def _top_values(values: pd.Series, show=repr) -> str:
    counts = values.value_counts()
    parts = [f"{show(v)} ({n:,})" for v, n in counts.head(_SHOWN).items()]
    if len(counts) > _SHOWN:
        parts.append(f"and {len(counts) - _SHOWN:,} more")
    return ", ".join(parts)


def _library_playbooks():
    # Definitions enrich the import but never gate it: a broken library only loses names.
    try:
        from analysis.library import load_playbooks
        return load_playbooks()
    except Exception:
        return ()


def _library_ids() -> dict[str, str]:
    try:
        from analysis.library import playbook_ids_by_name
        return playbook_ids_by_name()
    except Exception:
        return {}


def _reject_duplicates(kind: str, clean: pd.DataFrame, reasons: pd.Series):
    """Within one file the last row of a key wins; earlier ones are rejected, naming it."""
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
    if missing.empty:
        return []
    shown = ", ".join(f"{a!r} ({n:,})" for a, n in missing.head(_SHOWN).itertuples(index=False))
    more = f", and {len(missing) - _SHOWN:,} more" if len(missing) > _SHOWN else ""
    return [f"{int(missing['count'].sum()):,} rows reference accounts not imported yet: "
            f"{shown}{more}"]


# -- loading --------------------------------------------------------------------------------
def _mapping_record(check: Validation, plan: Mapping) -> str:
    """The imports.mapping text: header mapping, value overrides and date order used."""
    return json.dumps({"columns": check.mapping, "values": plan.values,
                       "day_first": check.day_first}, sort_keys=True, ensure_ascii=False)


def _earlier_import(store: Store, sha256: str, kind: str, recorded: str) -> int | None:
    """The import that already loaded these bytes as `kind` with this mapping, if any."""
    return store.scalar("SELECT max(import_id) FROM imports WHERE sha256 = ? AND kind = ? "
                        "AND mapping = ?", [sha256, kind, recorded])


def _load(store: Store, kind: str, check: Validation, sha256: str,
          recorded: str) -> tuple[int | None, int, int | None]:
    """Write the clean rows, the rejected rows and the imports row in one transaction.

    Returns (import id, rows updated, None), or (None, 0, earlier import id) when another
    session recorded the same import first; then nothing is written.
    """
    table = TABLES[kind]
    clean = check.clean.reset_index(drop=True)
    with store.transaction():
        earlier = _earlier_import(store, sha256, kind, recorded)
        if earlier is not None:
            return None, 0, int(earlier)
        import_id = store.next_import_id()
        view = f"_import_{import_id}_rows"
        store.register(view, clean)
        try:
            updated = _write_rows(store, table, view, list(clean.columns))
        finally:
            store.unregister(view)
        if len(check.rejected):
            rejects = f"_import_{import_id}_rejected"
            store.register(rejects, check.rejected)
            try:
                store.execute(f"INSERT INTO rejected_rows SELECT ?, row_number, raw, reason "
                              f"FROM {rejects}", [import_id])
            finally:
                store.unregister(rejects)
        store.execute(
            "INSERT INTO imports (import_id, kind, file_name, sha256, imported_at, rows_read, "
            "rows_loaded, rows_rejected, mapping, rows_updated, warnings) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [import_id, kind, check.file_name, sha256,
             datetime.now(timezone.utc).replace(tzinfo=None), check.rows_read,
             check.rows_valid, len(check.rejected), recorded, updated,
             "\n".join(check.warnings) or None])
    return import_id, updated, None


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

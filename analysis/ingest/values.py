"""Text from exports into typed values: dates, numbers, booleans and vocabularies.

Every parser takes a Series of strings and returns the parsed Series plus a boolean mask of
the values it could not read (blank is not "bad": it is a missing value). Parsing is
vectorised over the whole column, or done once per distinct value and mapped back, so a
million-row export stays fast. No parser raises on odd input.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.ingest.names import slugify
from analysis.schema import SCENARIOS

# Excel's day zero (it counts 1900 as a leap year, so serials from March 1900 on use this).
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_SERIAL = re.compile(r"^\d{5}(\.\d+)?$")
_SLASH = r"^\s*(\d{1,2})[/\-](\d{1,2})[/\-](\d{4}|\d{2})\b"
# Formats tried after ISO 8601, in order; %m/%d or %d/%m is chosen by day_first.
_TIME_SUFFIXES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
_OTHER_FORMATS = ("%d.%m.%Y", "%Y/%m/%d", "%d-%b-%Y", "%d %b %Y", "%b %d, %Y", "%d %B %Y",
                  "%B %d, %Y")


def blank(values: pd.Series) -> pd.Series:
    """True where a value is missing or only whitespace."""
    return values.isna() | (values.astype(str).str.strip() == "")


# What database tools and spreadsheets write for "no value" in a number or date column.
NULL_TOKENS = ("null", "none", "nan", "n/a", "na", "#n/a", "-", "--", "nat")


def null_tokens(values: pd.Series) -> pd.Series:
    """True where a number or date cell holds a "no value" word (NULL, N/A, -)."""
    return values.astype(str).str.strip().str.casefold().isin(NULL_TOKENS) & values.notna()


@dataclass(frozen=True)
class Parsed:
    """A parsed column: `values` (NaN/NaT/None where missing or bad) and `bad` (unreadable)."""

    values: pd.Series
    bad: pd.Series


def _by_unique(parse):
    """Run `parse` once per distinct value and spread the result back over the rows.

    Exports repeat values (dates, stages, amounts), so this turns a million-row column into
    a few thousand parses; factorize and take are vectorised.
    """
    def wrapper(values: pd.Series, *args, **options) -> Parsed:
        # Arrow-backed text factorizes in C (dictionary encoding); other dtypes as objects.
        arrow_text = isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"
        codes, uniques = pd.factorize(values if arrow_text else values.astype(object),
                                      use_na_sentinel=True)
        if len(uniques) * 2 > len(values):
            return parse(values, *args, **options)
        # One extra blank value stands for every missing row.
        distinct = np.empty(len(uniques) + 1, dtype=object)
        # np.asarray converts Arrow text in C; iterating it would cost a call per value.
        distinct[:-1] = np.asarray(uniques, dtype=object)
        distinct[-1] = ""
        parsed = parse(pd.Series(distinct, dtype=object), *args, **options)
        codes = np.where(codes < 0, len(uniques), codes)
        taken = parsed.values.array.take(codes)
        # Objects stay objects: letting pandas infer "str" would re-scan a million values.
        out = pd.Series(taken, index=values.index, name=values.name,
                        dtype=object if parsed.values.dtype == object else None)
        if out.dtype == object:
            out = out.where(out.notna(), None)
        bad = parsed.bad.to_numpy(dtype=bool)[codes]
        return Parsed(out, pd.Series(bad, index=values.index))
    wrapper.__doc__, wrapper.__name__ = parse.__doc__, parse.__name__
    return wrapper


# -- dates ----------------------------------------------------------------------------------
def slash_order(values: pd.Series) -> bool | None:
    """What the slash dates of a column say: True day-first, False month-first, None unsure.

    A first field above 12 can only be a day; a second field above 12 only a day.
    """
    parts = values.dropna().drop_duplicates().astype(str).str.extract(_SLASH)
    if parts.empty:
        return None
    first = pd.to_numeric(parts[0], errors="coerce")
    second = pd.to_numeric(parts[1], errors="coerce")
    day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
    if day_first != month_first:
        return day_first
    return None


def has_ambiguous_slash_dates(values: pd.Series) -> bool:
    """True when some slash date reads differently month-first and day-first (03/04/2024)."""
    parts = values.dropna().drop_duplicates().astype(str).str.extract(_SLASH)
    first = pd.to_numeric(parts[0], errors="coerce")
    second = pd.to_numeric(parts[1], errors="coerce")
    return bool(((first <= 12) & (second <= 12) & (first != second)).any())


@_by_unique
def parse_dates(values: pd.Series, *, day_first: bool = False, timestamp: bool = False,
                serials: bool = True) -> Parsed:
    """Read dates as exports write them.

    ISO 8601 with or without time and zone, M/D/YYYY or D/M/YYYY (`day_first`), with
    optional time, 2-digit years, DD.MM.YYYY, YYYY/MM/DD, "5 Jan 2024", "Jan 5, 2024", and
    Excel serial numbers 20000-80000 (1954-2119) when `serials`.

    Returns
    -------
    Parsed whose values are datetime64 (dates at midnight unless `timestamp`); a time
    zone is converted to UTC for timestamps and ignored for dates (the date as written).
    """
    text = values.astype(object).where(~(blank(values) | null_tokens(values)), None)
    text = text.map(lambda v: v.strip() if isinstance(v, str) else v)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    todo = text.notna()

    iso = todo & text.str.match(r"^\d{4}-\d{2}-\d{2}", na=False)
    if iso.any():
        out[iso] = _parse_iso(text[iso], timestamp)
        todo &= out.isna()
    slash = "%d/%m" if day_first else "%m/%d"
    formats = [f"{slash}/%Y{t}" for t in _TIME_SUFFIXES]
    formats += [f"{slash}/%y{t}" for t in ("", " %H:%M")]
    formats += [f"{slash.replace('/', '-')}-%Y"]
    formats += [f + t for f in _OTHER_FORMATS for t in ("", " %H:%M", " %H:%M:%S")]
    for fmt in formats:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        out[todo] = parsed
        todo &= out.isna()
    if serials and todo.any():
        numeric = text[todo].str.match(_SERIAL, na=False)
        number = pd.to_numeric(text[todo][numeric], errors="coerce")
        number = number[(number >= 20000) & (number <= 80000)]
        out[number.index] = _EXCEL_EPOCH + pd.to_timedelta(number, unit="D")
        todo &= out.isna()
    if not timestamp:
        out = out.dt.normalize()
    return Parsed(out, todo)


def _parse_iso(text: pd.Series, timestamp: bool) -> pd.Series:
    if not timestamp:
        # The date as written: 2024-03-01T23:30-05:00 is 1 March to the person who wrote it.
        return pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    return parsed.dt.tz_localize(None)


# -- numbers --------------------------------------------------------------------------------
_SUFFIX = {"k": 1e3, "m": 1e6, "mm": 1e6, "b": 1e9, "bn": 1e9}
_CURRENCY = re.compile(r"(?i)[$€£¥₹]|\b(?:usd|eur|gbp|chf|cad|aud|jpy)\b")


@_by_unique
def parse_numbers(values: pd.Series, *, decimal_comma: bool = False) -> Parsed:
    """Read numbers as exports write them.

    "$12,400.00", "€1.234,56", "58.8k", "1.2M", "(1,000)" (negative), "12 400", "1'000",
    "-3", "45%" (45, the number as shown). `decimal_comma` (`;`-separated files) reads
    "1,5" as 1.5 and "1.234" as 1234; otherwise a lone comma is a thousands separator
    when followed by exactly three digits, else a decimal comma.

    Returns
    -------
    Parsed whose values are float64.
    """
    missing = blank(values) | null_tokens(values)
    # Plain numbers ("1200.5", "-3") need none of the work below; most columns are all plain.
    plain = pd.to_numeric(values.where(~missing), errors="coerce").astype(float)
    plain = plain.where(np.isfinite(plain))
    rest = ~missing & plain.isna()
    if decimal_comma:
        # In a `;` file 1.234 is a thousands group, not one point two three four.
        rest |= values.astype(str).str.match(r"^\s*-?\d{1,3}(\.\d{3})+\s*$")
        plain = plain.where(~rest)
    if not rest.any():
        return Parsed(plain, pd.Series(False, index=values.index))
    slow = _parse_formatted(values[rest], decimal_comma)
    number = plain.copy()
    number[rest] = slow
    return Parsed(number, rest & slow.reindex(values.index).isna())


def _parse_formatted(values: pd.Series, decimal_comma: bool) -> pd.Series:
    """The numbers to_numeric cannot read: currency, separators, suffixes, parentheses."""
    s = values.astype(str).str.strip()
    negative = s.str.match(r"^\(.*\)$") | s.str.match(r"^-")
    s = s.str.replace(r"^\((.*)\)$", r"\1", regex=True).str.lstrip("-+").str.strip()
    s = s.str.replace(_CURRENCY, "", regex=True)
    s = s.str.replace(r"[\s\u00a0\u202f'’%]", "", regex=True)
    negative |= s.str.match(r"^-")
    s = s.str.lstrip("-")
    suffix = s.str.extract(r"(?i)(k|mm|m|bn|b)$")[0].str.lower()
    scale = suffix.map(_SUFFIX).fillna(1.0).astype(float)
    s = s.str.replace(r"(?i)(k|mm|m|bn|b)$", "", regex=True)
    s = _normalise_separators(s, decimal_comma)
    number = pd.to_numeric(s.where(s.str.match(r"^\d*\.?\d+(e[+-]?\d+)?$", case=False), "x"),
                           errors="coerce")
    number = number.astype(float) * scale
    return number.where(~negative, -number)


def _normalise_separators(s: pd.Series, decimal_comma: bool) -> pd.Series:
    has_dot, has_comma = s.str.contains(".", regex=False), s.str.contains(",", regex=False)
    both = has_dot & has_comma
    # With both, the last separator is the decimal one: 1,234.56 or 1.234,56.
    comma_last = both & (s.str.rfind(",") > s.str.rfind("."))
    out = s.copy()
    out[both & comma_last] = s[both & comma_last].str.replace(".", "", regex=False) \
        .str.replace(",", ".", regex=False)
    out[both & ~comma_last] = s[both & ~comma_last].str.replace(",", "", regex=False)
    comma_only = has_comma & ~has_dot
    grouped = s.str.match(r"^\d{1,3}(,\d{3})+$")
    if decimal_comma:
        # 1.234 is a thousands group; 1,5 a decimal comma.
        dot_only = has_dot & ~has_comma & s.str.match(r"^\d{1,3}(\.\d{3})+$")
        out[dot_only] = s[dot_only].str.replace(".", "", regex=False)
        out[comma_only] = s[comma_only].str.replace(",", ".", regex=False)
    else:
        out[comma_only & grouped] = s[comma_only & grouped].str.replace(",", "", regex=False)
        decimal = comma_only & ~grouped
        out[decimal] = s[decimal].str.replace(",", ".", regex=False)
    return out


def parse_integers(values: pd.Series, *, decimal_comma: bool = False) -> Parsed:
    """Whole numbers; 5.0 is 5, 5.5 is bad. Values are float64 (NaN where missing)."""
    parsed = parse_numbers(values, decimal_comma=decimal_comma)
    fractional = parsed.values.notna() & (parsed.values % 1 != 0)
    return Parsed(parsed.values.where(~fractional), parsed.bad | fractional)


# -- booleans and vocabularies --------------------------------------------------------------
TRUE_WORDS = ("true", "yes", "y", "t", "1", "x", "checked", "on", "ja", "oui", "si")
FALSE_WORDS = ("false", "no", "n", "f", "0", "unchecked", "off", "nein", "non")


def value_key(value) -> str:
    """How vocabulary values are compared: case, spacing and punctuation ignored."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", str(value).casefold()).split())


def truth(value) -> bool | None:
    """True or False when `value` is a boolean word (True, yes, 1, x, checked...), else None.
    A Python bool (a mapping built in code) is itself."""
    if isinstance(value, bool):
        return value
    key = value_key(value)
    return True if key in TRUE_WORDS else False if key in FALSE_WORDS else None


def parse_booleans(values: pd.Series) -> Parsed:
    """TRUE/Yes/1/Y/x -> True, FALSE/No/0/N -> False. Values are object (True/False/None)."""
    words = {**{w: True for w in TRUE_WORDS}, **{w: False for w in FALSE_WORDS}}
    return map_vocabulary(values, words)


@_by_unique
def map_vocabulary(values: pd.Series, vocabulary: dict, *, overrides: dict | None = None,
                   prefixes: dict | None = None, default=None, fallback=None) -> Parsed:
    """Map each distinct value through `overrides` (exact text, then value_key), then
    `vocabulary` (keyed by value_key), then `prefixes` (value_key starts with), then
    `fallback(text)` if given. A value none of them knows is bad, unless `default` is
    not None (then it maps to that). Values are object (canonical text or None).
    """
    missing = blank(values)
    text = values.astype(object).where(~missing, "").astype(str).str.strip()
    vocab = {value_key(k): v for k, v in vocabulary.items()}
    exact = dict(overrides or {})
    keyed = {value_key(k): v for k, v in exact.items()}
    unknown = object()
    lookup = {}
    for raw in text[~missing].unique():
        key = value_key(raw)
        if raw in exact:
            lookup[raw] = exact[raw]
        elif key in keyed:
            lookup[raw] = keyed[key]
        elif key in vocab:
            lookup[raw] = vocab[key]
        elif prefixes and any(key.startswith(p) for p in prefixes):
            lookup[raw] = next(v for p, v in prefixes.items() if key.startswith(p))
        elif fallback is not None:
            lookup[raw] = fallback(raw)
        elif default is not None:
            lookup[raw] = default
        else:
            lookup[raw] = unknown
    mapped = text.map(lookup).where(~missing, None)
    bad = mapped.map(lambda v: v is unknown).astype(bool)
    mapped = mapped.where(~bad, None).astype(object)
    mapped = mapped.where(mapped.notna(), None)
    return Parsed(mapped, bad)


# Booleans (True/1/Yes) are not here: which of renewed/churned "true" means depends on the
# column (renewal_polarity), so a bare True never defaults to renewed.
RENEWAL_OUTCOMES = {
    "renewed": "renewed", "closed won": "renewed", "won": "renewed", "renewal": "renewed",
    "closed renewed": "renewed", "retained": "renewed",
    # HubSpot's deal stage internal values (an "all deals" export writes these).
    "closedwon": "renewed", "closedlost": "churned",
    "churned": "churned", "closed lost": "churned", "lost": "churned", "cancelled": "churned",
    "canceled": "churned", "churn": "churned", "not renewed": "churned",
    "closed churned": "churned",
}
# Stages of a renewal not decided yet (Salesforce and HubSpot defaults): skipped, not faults.
OPEN_RENEWAL_STAGES = (
    "open", "new", "pending", "in progress", "prospecting", "qualification", "needs analysis",
    "value proposition", "id decision makers", "perception analysis", "proposal price quote",
    "proposal", "negotiation", "negotiation review", "review", "commit", "best case",
    "pipeline", "forecast", "upside", "appointmentscheduled", "appointment scheduled",
    "qualifiedtobuy", "qualified to buy", "presentationscheduled", "presentation scheduled",
    "decisionmakerboughtin", "decision maker bought in", "contractsent", "contract sent",
    "renewal pending", "not yet renewed", "upcoming", "scheduled", "discovery", "closing",
)
_CHURN_NAMES = ("churn", "lost", "cancel", "notrenew", "nonrenew", "attrit", "terminat",
                "lapsed")
_RENEW_NAMES = ("renew", "won", "win", "retain", "retention", "kept")


def renewal_polarity(header: str) -> str | None:
    """What a true value means in an outcome column named `header`: "churned" for churn,
    churned, is_churned, lost, churn_flag...; "renewed" for renewed, is_won, retained...;
    None when the name says neither (or both)."""
    key = re.sub(r"[^0-9a-z]+", "", str(header).casefold())
    churn = any(word in key for word in _CHURN_NAMES)
    # "not renewed" holds "renew" too: a churn word decides it.
    renew = not churn and any(word in key for word in _RENEW_NAMES)
    return "churned" if churn else "renewed" if renew else None


def boolean_outcomes(true_means: str) -> dict[str, str]:
    """The boolean words mapped to renewed/churned, `true_means` on a true value."""
    other = "renewed" if true_means == "churned" else "churned"
    return {**{w: true_means for w in TRUE_WORDS}, **{w: other for w in FALSE_WORDS}}
RUN_OUTCOMES = {
    "success": "success", "successful": "success", "closed success": "success", "won": "success",
    "closed won": "success", "saved": "success", "succeeded": "success", "achieved": "success",
    "failure": "failure", "failed": "failure", "fail": "failure", "closed lost": "failure",
    "closed failure": "failure", "closed failed": "failure", "churned": "failure",
    "lost": "failure", "not saved": "failure",
    "open": None, "in progress": None, "new": None, "work in progress": None, "pending": None,
    "closed": None, "closed invalid": None, "closed no action": None,
}
RUN_STATUSES = {
    "open": "open", "in progress": "open", "new": "open", "work in progress": "open",
    "pending": "open", "not started": "open", "active": "open", "snoozed": "open",
    "closed": "closed", "done": "closed", "complete": "closed", "completed": "closed",
    "success": "closed", "failure": "closed", "won": "closed", "lost": "closed",
    "cancelled": "closed", "canceled": "closed", "saved": "closed", "failed": "closed",
}
RUN_STATUS_PREFIXES = {"closed": "closed"}
STEP_STATUSES = {
    "done": "done", "completed": "done", "complete": "done", "closed": "done",
    "finished": "done", "skipped": "skipped", "skip": "skipped", "n a": "skipped",
    "na": "skipped", "not applicable": "skipped", "not needed": "skipped",
    "open": "open", "pending": "open", "not started": "open", "in progress": "open",
    "new": "open", "to do": "open", "todo": "open", "overdue": "open",
}
SCENARIO_SYNONYMS = {
    **{s: s for s in SCENARIOS},
    "risk": "at_risk", "at risk": "at_risk", "churn risk": "at_risk", "risk alert": "at_risk",
    "save": "at_risk", "renewal": "renewal", "renewals": "renewal", "onboarding": "onboarding",
    "implementation": "onboarding", "kickoff": "onboarding", "expansion": "expansion",
    "upsell": "expansion", "cross sell": "expansion", "opportunity": "expansion",
    "escalation": "executive_escalation", "executive escalation": "executive_escalation",
    "exec escalation": "executive_escalation", "adoption": "adoption",
    "retention": "retention", "champion change": "champion_change",
    "champion left": "champion_change", "sponsor change": "champion_change",
    "competitive threat": "competitive_threat", "competitor": "competitive_threat",
    "competition": "competitive_threat", "usage drop": "usage_drop",
    "low usage": "usage_drop", "usage decline": "usage_drop",
    "feature adoption": "feature_adoption", "churn recovery": "churn_recovery",
    "win back": "churn_recovery", "winback": "churn_recovery",
}
SCENARIO_SYNONYMS.update({value_key(s): s for s in SCENARIOS})


def parse_scenarios(values: pd.Series, overrides: dict | None = None) -> Parsed:
    """Scenario labels to canonical scenarios; unknown text becomes a custom slug, never bad."""
    return map_vocabulary(values, SCENARIO_SYNONYMS, overrides=overrides,
                          fallback=lambda raw: slugify(raw) or None)

"""Machine-checkable playbook triggers: a small, safe expression language and its evaluation.

A trigger expression such as ``health_score < 60 and active_users_change_mom <= -0.30`` is
tokenised and parsed by recursive descent into a tiny AST; nothing is ever passed to `eval`.
The grammar::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | atom
    atom       := "(" expr ")" | comparison
    comparison := FEATURE ("<" | "<=" | ">" | ">=" | "==" | "!=") literal
                | FEATURE ["not"] "in" "[" literal ("," literal)* "]"
    literal    := NUMBER | "-" NUMBER | STRING ('single' or "double" quoted)

Features are a fixed set (`FEATURES`), each a number or a text. A missing value (an account
with no snapshot, or `nps`, which no table holds yet) makes its comparison *unknown*; unknown
propagates through and/or/not the way SQL's NULL does, and an unknown result does not fire.

The features of every account are computed in SQL (`account_features`, `feature_history`);
an AST is evaluated over such a frame with vectorised pandas masks (`evaluate`), or compiled
to a SQL condition (`to_sql`, same three-valued logic) so `missed_plays` can find where
triggers fire without bringing a row per snapshot into Python.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import pandas as pd

from analysis.scope import scoped
from analysis.store import quote_ident

MAX_LENGTH = 500
MAX_DEPTH = 20

# name: (kind, what it means). Kind "number" compares with numbers, "text" with strings.
FEATURES: dict[str, tuple[str, str]] = {
    "health_score": ("number", "latest health score on or before the date"),
    "health_change_30d": (
        "number", "health score minus the score of the snapshot nearest to 30 days earlier"),
    "active_users": ("number", "active users in the latest health snapshot"),
    "active_users_change_mom": (
        "number", "active users' change versus that snapshot, as a fraction (-0.30 = down 30%)"),
    "days_to_renewal": (
        "number", "days until the next renewal (renewals table, else the customer_since anniversary)"),
    "days_since_customer": ("number", "days since the account's customer_since date (tenure)"),
    "arr": ("number", "annual recurring revenue of the account"),
    "open_runs": ("number", "playbook runs of the account open on the date"),
    "nps": ("number", "latest NPS answer (0-10); no table holds NPS yet, so it is always missing"),
    "segment": ("text", "account segment, e.g. 'Enterprise'"),
    "industry": ("text", "account industry"),
    "region": ("text", "account region"),
}

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<string>"[^"\\]*"|'[^'\\]*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|<|>)
  | (?P<punct>[()\[\],-])
""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "in"}


class TriggerError(ValueError):
    """A trigger expression that cannot be used, with a plain-language reason."""


# -- AST ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compare:
    feature: str
    op: str
    value: float | str


@dataclass(frozen=True)
class InList:
    feature: str
    values: tuple
    negate: bool = False


@dataclass(frozen=True)
class And:
    items: tuple


@dataclass(frozen=True)
class Or:
    items: tuple


@dataclass(frozen=True)
class Not:
    item: object


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, keyword, op, punct, end
    text: str
    pos: int


def tokenise(text: str) -> list[_Token]:
    """The tokens of an expression; an unexpected character raises TriggerError."""
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise TriggerError(f"unexpected character {text[pos]!r} at position {pos + 1}")
        kind = m.lastgroup
        if kind != "space":
            word = m.group()
            if kind == "name" and word.lower() in _KEYWORDS:
                kind, word = "keyword", word.lower()
            tokens.append(_Token(kind, word, pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenise(text)
        self.i = 0
        self.depth = 0

    # helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, text: str | None = None) -> bool:
        if self.tok.kind == kind and (text is None or self.tok.text == text):
            self.i += 1
            return True
        return False

    def fail(self, expected: str):
        found = "the end" if self.tok.kind == "end" else repr(self.tok.text)
        raise TriggerError(f"expected {expected} at position {self.tok.pos + 1}, found {found}")

    def nested(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TriggerError(f"the expression is nested more than {MAX_DEPTH} levels deep")

    # grammar
    def parse(self):
        node = self.or_()
        if self.tok.kind != "end":
            self.fail("'and', 'or' or the end")
        return node

    def or_(self):
        items = [self.and_()]
        while self.accept("keyword", "or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self):
        items = [self.not_()]
        while self.accept("keyword", "and"):
            items.append(self.not_())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self):
        if self.accept("keyword", "not"):
            self.nested()
            node = Not(self.not_())
            self.depth -= 1
            return node
        return self.atom()

    def atom(self):
        if self.accept("punct", "("):
            self.nested()
            node = self.or_()
            self.depth -= 1
            if not self.accept("punct", ")"):
                self.fail("')'")
            return node
        return self.comparison()

    def comparison(self):
        if self.tok.kind != "name":
            self.fail("a feature name")
        name = self.take().text
        if name not in FEATURES:
            raise TriggerError(f"unknown feature {name!r}; known features: {', '.join(FEATURES)}")
        kind = FEATURES[name][0]
        if self.tok.kind == "op":
            op = self.take().text
            value = self.literal()
            self.check_type(name, kind, value)
            if kind == "text" and op not in ("==", "!="):
                raise TriggerError(f"{name} is a text; compare it with == or != or 'in'")
            return Compare(name, op, value)
        negate = self.accept("keyword", "not")
        if self.accept("keyword", "in"):
            if not self.accept("punct", "["):
                self.fail("'['")
            values = [self.literal()]
            while self.accept("punct", ","):
                values.append(self.literal())
            if not self.accept("punct", "]"):
                self.fail("',' or ']'")
            for v in values:
                self.check_type(name, kind, v)
            return InList(name, tuple(values), negate)
        self.fail(f"a comparison after {name!r} (< <= > >= == != in)")

    def literal(self):
        negative = self.accept("punct", "-")
        tok = self.tok
        if tok.kind == "number":
            self.take()
            value = float(tok.text)
            return -value if negative else value
        if tok.kind == "string" and not negative:
            self.take()
            return tok.text[1:-1]
        self.fail("a number" if negative else "a number or a quoted text")

    @staticmethod
    def check_type(name: str, kind: str, value) -> None:
        if kind == "number" and isinstance(value, str):
            raise TriggerError(f"{name} is a number; compare it with a number, not {value!r}")
        if kind == "text" and not isinstance(value, str):
            raise TriggerError(f"{name} is a text; compare it with a quoted text, not {value:g}")


@lru_cache(maxsize=512)
def parse(text: str):
    """The AST of a trigger expression; raises TriggerError with a plain reason when unusable."""
    if not isinstance(text, str) or not text.strip():
        raise TriggerError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise TriggerError(f"the expression is {len(text)} characters long; at most {MAX_LENGTH} are allowed")
    return _Parser(text).parse()


def features_used(node) -> set[str]:
    """The feature names an AST reads."""
    if isinstance(node, (Compare, InList)):
        return {node.feature}
    if isinstance(node, Not):
        return features_used(node.item)
    return set().union(*(features_used(i) for i in node.items))


# -- evaluation -----------------------------------------------------------------------------
_OPS = {
    "<": lambda s, v: s < v, "<=": lambda s, v: s <= v, ">": lambda s, v: s > v,
    ">=": lambda s, v: s >= v, "==": lambda s, v: s == v, "!=": lambda s, v: s != v,
}


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    # Nullable dtypes give three-valued (Kleene) logic: a missing value compares to <NA>.
    kind = FEATURES[name][0]
    if name not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="Float64" if kind == "number" else "string")
    col = frame[name]
    return col.astype("Float64") if kind == "number" else col.astype("string")


def _mask(node, frame: pd.DataFrame) -> pd.Series:
    if isinstance(node, Compare):
        return _OPS[node.op](_column(frame, node.feature), node.value).astype("boolean")
    if isinstance(node, InList):
        col = _column(frame, node.feature)
        hit = col.isin(list(node.values)).astype("boolean")
        hit[col.isna()] = pd.NA
        return ~hit if node.negate else hit
    if isinstance(node, Not):
        return ~_mask(node.item, frame)
    masks = [_mask(i, frame) for i in node.items]
    out = masks[0]
    for m in masks[1:]:
        out = (out & m) if isinstance(node, And) else (out | m)
    return out


def evaluate(expression: str, frame: pd.DataFrame) -> pd.Series:
    """A boolean Series (same index as `frame`): True where the expression holds.

    Rows where the answer is unknown (a missing value decided it) are False.
    """
    node = parse(expression)
    return _mask(node, frame).fillna(False).astype(bool)


_SQL_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=", "!=": "<>"}


def to_sql(node) -> tuple[str, list]:
    """An AST as a SQL boolean expression over feature columns, with its bound parameters.

    SQL's NULL logic is the three-valued logic `evaluate` uses, so the two agree row by row;
    feature names come from FEATURES (the parser checks them) and every value is a parameter.
    """
    if isinstance(node, Compare):
        return f"({quote_ident(node.feature)} {_SQL_OPS[node.op]} ?)", [node.value]
    if isinstance(node, InList):
        marks = ", ".join(["?"] * len(node.values))
        negate = "not " if node.negate else ""
        return f"({quote_ident(node.feature)} {negate}in ({marks}))", list(node.values)
    if isinstance(node, Not):
        inner, params = to_sql(node.item)
        return f"(not {inner})", params
    parts = [to_sql(i) for i in node.items]
    joiner = " and " if isinstance(node, And) else " or "
    return "(" + joiner.join(p[0] for p in parts) + ")", [v for p in parts for v in p[1]]


# -- features from the data -----------------------------------------------------------------
# One row per point (account_id, as_of, snapshot_date): the snapshot is the account's latest on
# or before as_of. Everything else is measured relative to as_of. The SQL is assembled from
# parts, each with its own parameters, so the placeholders always match their values.

# Each account's daily snapshot with its 30-day comparison. The comparison snapshot is the one
# nearest to 30 days earlier, 15 to 45 days back; ties go to the older one. The candidates are
# the latest snapshot on or before day -30 and the first one after it, read with RANGE windows
# over the account's own snapshots (days -45..-30 and -29..-15) instead of self-joins.
_SNAP_SQL = """
snap_day as (
    select account_id, cast(snapshot_date as date) as snapshot_date,
           avg(health_score) as health_score, max(active_users) as active_users
    from {snapshots} s
    where cast(snapshot_date as date) between ? and ?
    group by all
),
{snap_window}
snap_pick as (
    select *, case when after_d is not null
                    and (before_d is null
                         or after_d - (snapshot_date - 30) < (snapshot_date - 30) - before_d)
                   then 'after' when before_d is not null then 'before' end as pick
    from snap_window
),
snap as (
    select account_id, snapshot_date, health_score, active_users,
           health_score - case pick when 'after' then after_health
                                    when 'before' then before_health end as health_change_30d,
           (active_users - prior_users) / prior_users as active_users_change_mom
    from (select *, nullif(case pick when 'after' then after_users
                                     when 'before' then before_users end, 0) as prior_users
          from snap_pick)
)"""

_SNAP_WINDOW_SQL = """
snap_window as (
    -- one struct per frame: a window function per column would walk each frame three times
    select account_id, snapshot_date, health_score, active_users,
           b.d as before_d, b.h as before_health, b.u as before_users,
           a.d as after_d, a.h as after_health, a.u as after_users
    from (
        select *,
               last_value({'d': snapshot_date, 'h': health_score, 'u': active_users})
                   over back as b,
               first_value({'d': snapshot_date, 'h': health_score, 'u': active_users})
                   over ahead as a
        from snap_day
        window back as (partition by account_id order by snapshot_date
                        range between interval 45 days preceding and interval 30 days preceding),
               ahead as (partition by account_id order by snapshot_date
                         range between interval 29 days preceding and interval 15 days preceding)
    ) w
),"""

# When no trigger reads a 30-day change, the comparison columns are left missing.
_SNAP_NO_WINDOW_SQL = """snap_window as (
    select *, cast(null as date) as before_d, cast(null as double) as before_health,
           cast(null as integer) as before_users, cast(null as date) as after_d,
           cast(null as double) as after_health, cast(null as integer) as after_users
    from snap_day
),"""

# account_features: every account (accounts table or snapshots) on one date.
_CURRENT_POINTS_SQL = """
ids as (select account_id from acct union select account_id from {snapshots} s),
latest as (
    select account_id, max(snapshot_date) as snapshot_date from snap
    where snapshot_date >= ? group by account_id
),
points as (
    select ids.account_id, cast(? as date) as as_of, latest.snapshot_date
    from ids left join latest on latest.account_id = ids.account_id
)"""

# One date for every account: the next renewal, the last outcome and the open runs are plain
# aggregates (a run is open on the date when opened on or before it and not closed by then;
# a run closed without a date is never open).
_CURRENT_EVENTS_SQL = """
renewal_now as (
    select account_id,
           min(renewal_date) filter (where renewal_date >= ?) as next_renewal,
           arg_max(churned, renewal_date) filter (where renewal_date <= ?) as last_churned
    from renew group by account_id
),
open_now as (
    select account_id, count(*) as open_runs from {runs} q
    where cast(opened_on as date) <= ?
      and (cast(closed_on as date) > ? or (closed_on is null and status is distinct from 'closed'))
    group by account_id
),
events as (
    select p.account_id, p.as_of, r.next_renewal, r.last_churned,
           coalesce(o.open_runs, 0) as open_runs
    from points p
    left join renewal_now r on r.account_id = p.account_id
    left join open_now o on o.account_id = p.account_id
)"""

# feature_history: every snapshot is a point.
_HISTORY_POINTS_SQL = """
points as (
    select account_id, snapshot_date as as_of, snapshot_date from snap where snapshot_date >= ?
)"""

# Many dates: the next and the last renewal by ASOF join on the points.
_NEXT_RENEWAL_SQL = """
next_renewal as (
    select p.account_id, p.as_of, r.renewal_date as next_renewal
    from points p asof join renew r on p.account_id = r.account_id and p.as_of <= r.renewal_date
),"""
# When no trigger reads days_to_renewal it is not needed: an empty relation, pruned at once.
_NO_NEXT_RENEWAL_SQL = """
next_renewal as (
    select account_id, as_of, cast(null as date) as next_renewal from points where false
),"""

_HISTORY_EVENTS_SQL = """{next_renewal_cte}
last_renewal as (
    select p.account_id, p.as_of, r.churned as last_churned
    from points p asof join renew r on p.account_id = r.account_id and p.as_of >= r.renewal_date
),
{open_runs_cte}
events as (
    select p.account_id, p.as_of, nr.next_renewal, lr.last_churned{open_runs_column}
    from points p
    left join next_renewal nr on nr.account_id = p.account_id and nr.as_of = p.as_of
    left join last_renewal lr on lr.account_id = p.account_id and lr.as_of = p.as_of
    {open_runs_join}
)"""

# Runs open on each date = runs opened on or before it minus runs closed on or before it, read
# from a running count per account (a run closed without a date is never open). Only computed
# when a trigger reads open_runs: it scans every run.
_HISTORY_OPEN_RUNS_SQL = """
run_events as (
    select account_id, d, sum(delta) over (partition by account_id order by d) as open_count
    from (
        select account_id, d, sum(delta) as delta from (
            select account_id, cast(opened_on as date) as d, 1 as delta from {runs} q
            where q.closed_on is not null or q.status is distinct from 'closed'
            union all
            select account_id, cast(closed_on as date), -1 from {runs} q
            where q.closed_on is not null
        ) e group by all
    ) g
),
open_history as (
    select p.account_id, p.as_of, greatest(e.open_count, 0) as open_runs
    from points p asof join run_events e on p.account_id = e.account_id and p.as_of >= e.d
),"""

_FINAL_SQL = """
select b.account_id, b.name, b.segment, b.industry, b.region, b.csm_id, b.as_of,
       b.snapshot_date, s.health_score, s.active_users, s.health_change_30d,
       s.active_users_change_mom,
       {days_to_renewal} as days_to_renewal,
       b.as_of - b.customer_since as days_since_customer,
       b.arr, {open_runs} as open_runs, cast(null as double) as nps,
       e.last_churned is not true as active
from (
    select p.*, a.name, a.segment, a.industry, a.region, a.csm_id, a.arr,
           cast(a.customer_since as date) as customer_since,
           -- the customer_since anniversary on or after as_of (first one a year after signing)
           cast(cast(a.customer_since as date) + to_years(
               greatest(year(p.as_of) - year(cast(a.customer_since as date)), 1)) as date)
               as anniversary
    from points p left join acct a on a.account_id = p.account_id
) b
left join snap s on s.account_id = b.account_id and s.snapshot_date = b.snapshot_date
left join events e on e.account_id = b.account_id and e.as_of = b.as_of
{order}
"""
_ORDER = "order by b.account_id, b.as_of"
_DAYS_TO_RENEWAL = """coalesce(e.next_renewal,
                case when b.anniversary < b.as_of
                     then cast(b.anniversary + interval 1 year as date)
                     else b.anniversary end) - b.as_of"""



def _sources(filters) -> dict[str, tuple[str, list]]:
    return {name: scoped(table, filters, period=False) for name, table in (
        ("snapshots", "health_snapshots"), ("accounts", "accounts"),
        ("renewals", "renewals"), ("runs", "playbook_runs"))}


def _build(parts: list[tuple[str, list]], final: str) -> tuple[str, list]:
    """`with part, part, ... final` and its parameters; each part carries its own."""
    sql = "with " + ",\n".join(text for text, _ in parts) + final
    return sql, [p for _, params in parts for p in params]


def _common(src, lo: date, hi: date, comparisons: bool = True) -> list[tuple[str, list]]:
    accounts, snapshots, renewals = src["accounts"], src["snapshots"], src["renewals"]
    return [
        (f"acct as (select * from {accounts[0]} a)", accounts[1]),
        # One row per account and renewal date; a churn on a date wins over a renewal on it
        # (otherwise which of the two is 'the last renewal' would be arbitrary).
        (f"renew as (select account_id, cast(renewal_date as date) as renewal_date, "
         f"bool_or(outcome = 'churned') as churned from {renewals[0]} r group by all)",
         renewals[1]),
        (_SNAP_SQL.format(snapshots=snapshots[0], snap_window=_SNAP_WINDOW_SQL if comparisons
                          else _SNAP_NO_WINDOW_SQL), snapshots[1] + [lo, hi]),
    ]


# The tables the features read, plus imports (an import that replaces rows changes no count).
_VERSION_SQL = """
select (select max(import_id) from imports), (select count(*) from accounts),
       (select count(*) from health_snapshots), (select count(*) from renewals),
       (select count(*) from playbook_runs)
"""


def data_version(store) -> tuple:
    """A cheap fingerprint of what the triggers read: the database file, the last import id
    and the row counts of accounts, health_snapshots, renewals and playbook_runs.

    Pages key their caches on it, so a new import is seen at once (counts are metadata in
    DuckDB: this costs milliseconds, not a scan).
    """
    row = store.query(_VERSION_SQL).iloc[0]
    return (str(store.path), *(None if pd.isna(v) else int(v) for v in row))


def default_as_of(store, filters=None) -> date:
    """The latest health snapshot date in scope, else today."""
    sql, params = scoped("health_snapshots", filters, period=False)
    latest = store.scalar(f"select max(cast(snapshot_date as date)) from {sql} s", params)
    return pd.Timestamp(latest).date() if latest is not None else date.today()


def account_features(store, as_of: date | None = None, filters=None, *,
                     max_age_days: int) -> pd.DataFrame:
    """Every account's trigger features on a date.

    Parameters
    ----------
    as_of : the date to evaluate on (default: the latest health snapshot date).
    max_age_days : the oldest snapshot that still counts (the snapshot_max_age_days setting).

    Returns
    -------
    DataFrame
        One row per account (accounts table plus accounts seen only in snapshots): account_id,
        name, segment, industry, region, csm_id, as_of, snapshot_date (latest on or before
        as_of and at most `max_age_days` old, else missing), health_score,
        active_users, health_change_30d, active_users_change_mom, days_to_renewal,
        days_since_customer, arr, open_runs, nps (always missing), active (False once the
        account churned on or before as_of).
    """
    as_of = as_of or default_as_of(store, filters)
    oldest = as_of - timedelta(days=int(max_age_days))
    src = _sources(filters)
    snapshots, runs = src["snapshots"], src["runs"]
    # Only snapshots that can be a point (oldest..as_of) or its comparison (45 days before).
    parts = _common(src, oldest - timedelta(days=45), as_of) + [
        (_CURRENT_POINTS_SQL.format(snapshots=snapshots[0]), snapshots[1] + [oldest, as_of]),
        (_CURRENT_EVENTS_SQL.format(runs=runs[0]), [as_of, as_of] + runs[1] + [as_of, as_of]),
    ]
    final = _FINAL_SQL.format(open_runs="e.open_runs", days_to_renewal=_DAYS_TO_RENEWAL,
                              order=_ORDER)
    return store.query(*_build(parts, final))


def feature_history(store, since: date | None = None, filters=None,
                    features: set[str] | frozenset[str] | None = None) -> pd.DataFrame:
    """The trigger features of every account on each of its snapshot dates (on or after
    `since`); same columns as `account_features`, with as_of = snapshot_date.

    `features` names the features the caller will read (default: all). The costly ones
    (open_runs, days_to_renewal, health_change_30d, active_users_change_mom) are left missing
    unless they are among them.
    """
    return store.query(*_history_sql(since, filters, features, _ORDER))


def _history_sql(since: date | None, filters, features, order: str = "") -> tuple[str, list]:
    since = since or date(1900, 1, 1)
    def wanted(*names):
        return features is None or any(n in features for n in names)

    with_open = wanted("open_runs")
    src = _sources(filters)
    runs = src["runs"]
    events = _HISTORY_EVENTS_SQL.format(
        next_renewal_cte=_NEXT_RENEWAL_SQL if wanted("days_to_renewal") else _NO_NEXT_RENEWAL_SQL,
        open_runs_cte=_HISTORY_OPEN_RUNS_SQL.format(runs=runs[0]) if with_open else "",
        open_runs_column=", coalesce(o.open_runs, 0) as open_runs" if with_open else "",
        open_runs_join=("left join open_history o on o.account_id = p.account_id "
                        "and o.as_of = p.as_of") if with_open else "")
    comparisons = wanted("health_change_30d", "active_users_change_mom")
    parts = _common(src, since - timedelta(days=45), date(9999, 12, 31), comparisons) + [
        (_HISTORY_POINTS_SQL, [since]),
        (events, runs[1] + runs[1] if with_open else []),
    ]
    final = _FINAL_SQL.format(
        open_runs="e.open_runs" if with_open else "cast(null as bigint)",
        days_to_renewal=_DAYS_TO_RENEWAL if wanted("days_to_renewal") else "cast(null as bigint)",
        order=order)
    return _build(parts, final)


def _fired(playbook, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(any trigger met, description of the triggers met) per row, active accounts only."""
    met = pd.Series(False, index=frame.index)
    names = pd.Series("", index=frame.index)
    active = frame["active"].fillna(False).astype(bool) if len(frame) else met
    for trigger in playbook.checkable_triggers:
        hit = evaluate(trigger.expression, frame) & active
        joined = names.where(names.eq(""), names + "; ") + trigger.description
        names = names.where(~hit, joined)
        met |= hit
    return met, names


def matching_accounts(store, playbook, as_of: date | None = None, filters=None,
                      features: pd.DataFrame | None = None, *,
                      max_age_days: int | None = None) -> pd.DataFrame:
    """Accounts that meet any of the playbook's checkable triggers on `as_of`: on `features`
    (`account_features`) when given, else on those computed here with `max_age_days`.

    Returns
    -------
    DataFrame
        account_id, name, segment, csm_id, health_score, health_change_30d,
        active_users_change_mom, days_to_renewal, open_runs, triggers (the descriptions of
        the triggers met, "; "-separated); lowest health first.
    """
    frame = (features if features is not None
             else account_features(store, as_of, filters, max_age_days=max_age_days))
    met, names = _fired(playbook, frame)
    out = frame.loc[met, ["account_id", "name", "segment", "csm_id", "health_score",
                          "health_change_30d", "active_users_change_mom", "days_to_renewal",
                          "open_runs"]].assign(triggers=names[met])
    return out.sort_values(["health_score", "account_id"], na_position="last").reset_index(drop=True)


_COVERED_SQL = """
    with starts as (select account_id, cast(triggered_on as date) as triggered_on from {starts}),
    runs as (
        select account_id, cast(opened_on as date) as opened_on, cast(closed_on as date) as closed_on,
               status
        from {runs} q where q.playbook_id = ?
    )
    select s.account_id, s.triggered_on,
           exists (select 1 from runs r where r.account_id = s.account_id and (
                       r.opened_on between s.triggered_on and s.triggered_on + ?
                       or (r.opened_on < s.triggered_on
                           and (r.closed_on >= s.triggered_on
                                or (r.closed_on is null and r.status is distinct from 'closed')))
                   )) as covered
    from starts s
"""


def missed_plays(store, playbook, days: int, filters=None,
                 history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Times a trigger fired and no run of the playbook followed.

    A trigger *fires* on the first snapshot date of an unbroken stretch of snapshots on which
    any of the playbook's checkable triggers is met (on or after its introduction). The play
    is *missed* when no run of that playbook for the account opened within `days` after that
    date (the missed_play_days setting) and none was already open; stretches whose
    window has not ended by the last date in the data are not judged yet.

    Returns
    -------
    DataFrame
        account_id, name, triggered_on (date), days_since (days from triggered_on to the last
        date in the data: latest snapshot or run), triggers; most recent first.
    """
    days = int(days)
    columns = ["account_id", "name", "triggered_on", "days_since", "triggers"]
    if not playbook.checkable_triggers:
        return pd.DataFrame(columns=columns)
    starts = (_starts_in_sql(store, playbook, filters) if history is None
              else _starts_in_frame(playbook, history))
    if starts.empty:
        return pd.DataFrame(columns=columns)
    starts["triggered_on"] = pd.to_datetime(starts["triggered_on"]).dt.date
    data_end = _data_end(store, filters)
    starts = starts[starts["triggered_on"] + timedelta(days=days) <= data_end]
    if starts.empty:
        return pd.DataFrame(columns=columns)
    covered = _covered(store, playbook.id, starts, days, filters)
    out = starts.merge(covered, on=["account_id", "triggered_on"], how="left")
    out = out[~out["covered"].fillna(False).astype(bool)].copy()
    out["days_since"] = (pd.Timestamp(data_end) - pd.to_datetime(out["triggered_on"])).dt.days
    return (out[columns].sort_values(["triggered_on", "account_id"], ascending=[False, True])
            .reset_index(drop=True))


def _starts_in_frame(playbook, history: pd.DataFrame) -> pd.DataFrame:
    """Stretch starts (account_id, name, triggered_on, triggers) from a feature_history frame."""
    frame = history[pd.to_datetime(history["as_of"]).dt.date >= playbook.introduced_on]
    frame = frame.sort_values(["account_id", "as_of"]).reset_index(drop=True)
    met, names = _fired(playbook, frame)
    # A stretch starts where the trigger is met and was not met on the account's previous snapshot.
    previous = met.groupby(frame["account_id"]).shift(1, fill_value=False).astype(bool)
    return frame.loc[met & ~previous, ["account_id", "name", "as_of"]].assign(
        triggers=names[met & ~previous]).rename(columns={"as_of": "triggered_on"})


# The same rule as _starts_in_frame, in the database: only the starts come back, not a row
# per snapshot. hit_i = trigger i met by an active account (unknown counts as not met).
_STARTS_SQL = """
select account_id, name, as_of as triggered_on, {hit_columns} from (
    select *, lag(met, 1, false) over (partition by account_id order by as_of) as was_met
    from (
        select *, {met} as met
        from (select account_id, name, as_of, {hits} from ({features}) f) h
    ) m
) s
where met and not was_met
"""


def _starts_in_sql(store, playbook, filters) -> pd.DataFrame:
    """Stretch starts (account_id, name, triggered_on, triggers) computed in SQL."""
    triggers = playbook.checkable_triggers
    nodes = [parse(t.expression) for t in triggers]
    compiled = [to_sql(node) for node in nodes]
    used = set().union(*(features_used(node) for node in nodes))
    features_sql, features_params = _history_sql(playbook.introduced_on, filters, used)
    names = [f"hit_{i}" for i in range(len(triggers))]
    hits = ", ".join(f"coalesce({expr}, false) and coalesce(active, false) as {name}"
                     for (expr, _), name in zip(compiled, names))
    sql = _STARTS_SQL.format(hit_columns=", ".join(names), met=" or ".join(names), hits=hits,
                             features=features_sql)
    frame = store.query(sql, [v for _, params in compiled for v in params] + features_params)
    described = pd.Series("", index=frame.index)
    for trigger, name in zip(triggers, names):
        hit = frame[name].astype(bool)
        joined = described.where(described.eq(""), described + "; ") + trigger.description
        described = described.where(~hit, joined)
    return frame[["account_id", "name", "triggered_on"]].assign(triggers=described)


def _data_end(store, filters) -> date:
    """The last date the data speaks for: latest snapshot, run opened or run closed."""
    snaps, p1 = scoped("health_snapshots", filters, period=False)
    runs, p2 = scoped("playbook_runs", filters, period=False)
    latest = store.scalar(f"""
        select greatest(max(cast(snapshot_date as date)),
                        (select max(greatest(cast(opened_on as date),
                                             coalesce(cast(closed_on as date), cast(opened_on as date))))
                         from {runs} q))
        from {snaps} s""", p1 + p2)
    return pd.Timestamp(latest).date() if latest is not None else date.today()


def _covered(store, playbook_id: str, starts: pd.DataFrame, days: int, filters) -> pd.DataFrame:
    runs_sql, runs_params = scoped("playbook_runs", filters, period=False)
    # A unique view name: pages share one store across sessions.
    view = f"_missed_starts_{uuid.uuid4().hex}"
    store.register(view, starts[["account_id", "triggered_on"]])
    try:
        sql = _COVERED_SQL.format(runs=runs_sql, starts=quote_ident(view))
        frame = store.query(sql, runs_params + [playbook_id, days])
    finally:
        store.unregister(view)
    frame["triggered_on"] = pd.to_datetime(frame["triggered_on"]).dt.date
    return frame

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
an AST is evaluated over that frame with vectorised pandas masks.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import pandas as pd

from analysis import settings
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


# -- features from the data -----------------------------------------------------------------
# One row per point (account_id, as_of, snapshot_date): the snapshot is the account's latest on
# or before as_of. Everything else is measured relative to as_of.
_FEATURES_SQL = """
with snap as (
    select account_id, cast(snapshot_date as date) as snapshot_date,
           avg(health_score) as health_score, max(active_users) as active_users
    from {snapshots} s group by all
),
acct as (select * from {accounts} a),
renew as (
    select account_id, cast(renewal_date as date) as renewal_date, outcome from {renewals} r
),
points as ({points}),
pts as (select p.*, p.snapshot_date - 30 as ref_date from points p),
-- The snapshot nearest to 30 days before the point's snapshot, 15 to 45 days back: the
-- latest one on or before day -30 and the first one after it are the two candidates.
prior_before as (
    select p.account_id, p.as_of, s.snapshot_date as d, s.health_score, s.active_users
    from pts p asof join snap s on p.account_id = s.account_id and p.ref_date >= s.snapshot_date
),
prior_after as (
    select p.account_id, p.as_of, s.snapshot_date as d, s.health_score, s.active_users
    from pts p asof join snap s on p.account_id = s.account_id and p.ref_date < s.snapshot_date
),
next_renewal as (
    select p.account_id, p.as_of, r.renewal_date
    from pts p asof join renew r on p.account_id = r.account_id and p.as_of <= r.renewal_date
),
last_renewal as (
    select p.account_id, p.as_of, r.outcome
    from pts p asof join renew r on p.account_id = r.account_id and p.as_of >= r.renewal_date
),
-- Runs open on a date = runs opened on or before it minus runs closed on or before it,
-- read from a running count per account (a run closed without a date is never open).
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
open_runs as (
    select p.account_id, p.as_of, greatest(e.open_count, 0) as open_runs
    from pts p asof join run_events e on p.account_id = e.account_id and p.as_of >= e.d
),
base as (
    select p.*, a.name, a.segment, a.industry, a.region, a.csm_id, a.arr,
           cast(a.customer_since as date) as customer_since,
           -- the customer_since anniversary on or after as_of (first one a year after signing)
           cast(cast(a.customer_since as date) + to_years(
               greatest(year(p.as_of) - year(cast(a.customer_since as date)), 1)) as date)
               as anniversary,
           case when pb.d >= p.snapshot_date - 45 then pb.d end as before_d,
           case when pa.d <= p.snapshot_date - 15 then pa.d end as after_d,
           pb.health_score as before_health, pb.active_users as before_users,
           pa.health_score as after_health, pa.active_users as after_users
    from pts p
    left join acct a on a.account_id = p.account_id
    left join prior_before pb on pb.account_id = p.account_id and pb.as_of = p.as_of
    left join prior_after pa on pa.account_id = p.account_id and pa.as_of = p.as_of
),
chosen as (
    -- ties go to the older snapshot
    select *, case when after_d is not null
                    and (before_d is null or after_d - ref_date < ref_date - before_d)
                   then 'after' when before_d is not null then 'before' end as pick
    from base
),
final as (
    select b.account_id, b.name, b.segment, b.industry, b.region, b.csm_id, b.as_of,
           b.snapshot_date, s.health_score, s.active_users,
           s.health_score - case b.pick when 'after' then b.after_health
                                        when 'before' then b.before_health end
               as health_change_30d,
           (s.active_users - pu.users) / pu.users as active_users_change_mom,
           coalesce(nr.renewal_date,
                    case when b.anniversary < b.as_of
                         then cast(b.anniversary + interval 1 year as date)
                         else b.anniversary end) - b.as_of as days_to_renewal,
           b.as_of - b.customer_since as days_since_customer,
           b.arr, coalesce(o.open_runs, 0) as open_runs,
           cast(null as double) as nps,
           lr.outcome is distinct from 'churned' as active
    from chosen b
    cross join lateral (select nullif(case b.pick when 'after' then b.after_users
                                                  when 'before' then b.before_users end, 0)
                        as users) pu
    left join snap s on s.account_id = b.account_id and s.snapshot_date = b.snapshot_date
    left join next_renewal nr on nr.account_id = b.account_id and nr.as_of = b.as_of
    left join last_renewal lr on lr.account_id = b.account_id and lr.as_of = b.as_of
    left join open_runs o on o.account_id = b.account_id and o.as_of = b.as_of
)
select * from final order by account_id, as_of
"""

_CURRENT_POINTS = """
    select ids.account_id, cast(? as date) as as_of, latest.snapshot_date
    from (select account_id from acct union select account_id from snap) ids
    left join (
        select account_id, max(snapshot_date) as snapshot_date from snap
        where snapshot_date <= cast(? as date) and snapshot_date >= cast(? as date)
        group by account_id
    ) latest on latest.account_id = ids.account_id
"""

_HISTORY_POINTS = """
    select account_id, snapshot_date as as_of, snapshot_date from snap
    where snapshot_date >= cast(? as date)
"""


def _features(store, points: str, point_params: list, filters) -> pd.DataFrame:
    parts = {name: scoped(table, filters, period=False) for name, table in (
        ("snapshots", "health_snapshots"), ("accounts", "accounts"),
        ("renewals", "renewals"), ("runs", "playbook_runs"))}
    sql = _FEATURES_SQL.format(points=points, **{k: v[0] for k, v in parts.items()})
    # Placeholders appear in text order: snapshots, accounts, renewals, points, runs twice.
    params = (parts["snapshots"][1] + parts["accounts"][1] + parts["renewals"][1]
              + list(point_params) + parts["runs"][1] + parts["runs"][1])
    return store.query(sql, params)


def default_as_of(store, filters=None) -> date:
    """The latest health snapshot date in scope, else today."""
    sql, params = scoped("health_snapshots", filters, period=False)
    latest = store.scalar(f"select max(cast(snapshot_date as date)) from {sql} s", params)
    return pd.Timestamp(latest).date() if latest is not None else date.today()


def account_features(store, as_of: date | None = None, filters=None) -> pd.DataFrame:
    """Every account's trigger features on a date.

    Parameters
    ----------
    as_of : the date to evaluate on (default: the latest health snapshot date).

    Returns
    -------
    DataFrame
        One row per account (accounts table plus accounts seen only in snapshots): account_id,
        name, segment, industry, region, csm_id, as_of, snapshot_date (latest on or before
        as_of and at most `snapshot_max_age_days` old, else missing), health_score,
        active_users, health_change_30d, active_users_change_mom, days_to_renewal,
        days_since_customer, arr, open_runs, nps (always missing), active (False once the
        account churned on or before as_of).
    """
    as_of = as_of or default_as_of(store, filters)
    oldest = as_of - timedelta(days=int(settings.default("snapshot_max_age_days")))
    return _features(store, _CURRENT_POINTS, [as_of, as_of, oldest], filters)


def feature_history(store, since: date | None = None, filters=None) -> pd.DataFrame:
    """The trigger features of every account on each of its snapshot dates (on or after
    `since`); same columns as `account_features`, with as_of = snapshot_date."""
    return _features(store, _HISTORY_POINTS, [since or date(1900, 1, 1)], filters)


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
                      features: pd.DataFrame | None = None) -> pd.DataFrame:
    """Accounts that meet any of the playbook's checkable triggers on `as_of`.

    Returns
    -------
    DataFrame
        account_id, name, segment, csm_id, health_score, health_change_30d,
        active_users_change_mom, days_to_renewal, open_runs, triggers (the descriptions of
        the triggers met, "; "-separated); lowest health first.
    """
    frame = features if features is not None else account_features(store, as_of, filters)
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


def missed_plays(store, playbook, days: int | None = None, filters=None,
                 history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Times a trigger fired and no run of the playbook followed.

    A trigger *fires* on the first snapshot date of an unbroken stretch of snapshots on which
    any of the playbook's checkable triggers is met (on or after its introduction). The play
    is *missed* when no run of that playbook for the account opened within `days` after that
    date (default setting `missed_play_days`) and none was already open; stretches whose
    window has not ended by the last date in the data are not judged yet.

    Returns
    -------
    DataFrame
        account_id, name, triggered_on (date), days_since (days from triggered_on to the last
        date in the data: latest snapshot or run), triggers; most recent first.
    """
    days = int(settings.default("missed_play_days") if days is None else days)
    columns = ["account_id", "name", "triggered_on", "days_since", "triggers"]
    frame = history if history is not None else feature_history(store, playbook.introduced_on,
                                                                filters)
    frame = frame[pd.to_datetime(frame["as_of"]).dt.date >= playbook.introduced_on]
    if frame.empty or not playbook.checkable_triggers:
        return pd.DataFrame(columns=columns)
    frame = frame.sort_values(["account_id", "as_of"]).reset_index(drop=True)
    met, names = _fired(playbook, frame)
    # A stretch starts where the trigger is met and was not met on the account's previous snapshot.
    previous = met.groupby(frame["account_id"]).shift(1, fill_value=False).astype(bool)
    starts = frame.loc[met & ~previous, ["account_id", "name", "as_of"]].assign(
        triggers=names[met & ~previous]).rename(columns={"as_of": "triggered_on"})
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

"""Which export header is which canonical column.

Headers are compared with case, spacing and punctuation ignored and Salesforce's custom-field
suffix dropped ("Account ID", "AccountId", "account_id" and "Account_ID__c" are one key). Each
kind has a synonym table of the labels and API names Salesforce, HubSpot, Gainsight,
ChurnZero, Totango and Planhat use; a mapping file's `columns` override it.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace

from analysis.schema import TABLES

_ACCOUNT = ("Account ID", "AccountId", "Account.Id", "Company ID", "Company GSID", "GSID",
            "Customer ID", "Associated Company ID", "Associated Company IDs",
            "Associated Company IDs (Primary)", "Account External ID", "Account",
            # HubSpot's company *name* column: resolved to an id through the accounts table.
            "Associated Company")
_CSM = ("CSM", "CSM ID", "CSM Name", "CSM Email", "Customer Success Manager", "Account Owner",
        "Owner Name", "Owner", "OwnerId", "Owner Email", "Assignee", "Assigned To",
        "Assigned CSM", "Company Owner", "Deal Owner", "Opportunity Owner", "CTA Owner",
        "Play Owner", "Task Owner", "User", "User Name", "User Email")
_PLAYBOOK = ("Playbook ID", "Playbook", "Playbook Name", "Play Name", "SuccessPlay",
             "SuccessPlay Name", "Success Play", "Play", "Sequence Name")

# kind -> canonical column -> labels, best first (the first label found wins a column).
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "csms": {
        "csm_id": ("CSM ID", "User ID", "UserId", "Employee ID", "Id", "Record ID",
                   "Hs Object Id"),
        "name": ("Name", "Full Name", "CSM Name", "User Name", "Employee Name", "CSM"),
        "email": ("Email", "Email Address", "Work Email", "CSM Email"),
        "team": ("Team", "Department", "Pod", "Group", "Team Name"),
        "manager": ("Manager", "Manager Name", "Reports To", "Manager Email"),
        "hire_date": ("Hire Date", "Hired On", "Date Hired", "Start Date", "Joined On"),
        "end_date": ("End Date", "Termination Date", "Left On", "Leave Date", "Exit Date"),
        "ramped_on": ("Ramped On", "Ramp Date", "Fully Ramped", "Fully Ramped On", "Ramped Date"),
    },
    "accounts": {
        "account_id": _ACCOUNT[:-2] + ("Id", "Record ID", "Hs Object Id", "Company Record ID",
                                       "External ID"),
        "name": ("Account Name", "Name", "Company Name", "Company", "Customer Name", "Customer"),
        "segment": ("Segment", "Customer Segment", "Account Segment", "Tier", "Account Tier",
                    "Company Segment"),
        "industry": ("Industry", "Company Industry"),
        "region": ("Region", "Territory", "Sales Region", "Geo", "Geography"),
        "csm_id": _CSM,
        "arr": ("ARR", "Annual Recurring Revenue", "ARR (USD)", "Current ARR", "Company ARR",
                "Total ARR"),
        "customer_since": ("Customer Since", "Customer Since Date", "Became a Customer Date",
                           "Original Contract Date", "Contract Start Date", "Start Date"),
    },
    "renewals": {
        "renewal_id": ("Renewal ID", "Opportunity ID", "OpportunityId", "Opportunity.Id",
                       "Deal ID", "Id", "Record ID", "Hs Object Id", "Renewal Opportunity ID"),
        "account_id": _ACCOUNT,
        "csm_id": _CSM,
        "renewal_date": ("Renewal Date", "Close Date", "Closed Date", "CloseDate",
                         "Contract End Date", "Renewal Due Date", "Date"),
        "outcome": ("Outcome", "Stage", "StageName", "Deal Stage", "Renewal Status",
                    "Renewal Outcome", "Result", "Status", "Is Won", "IsWon", "Won",
                    # Flag columns: what True means comes from the name (values.renewal_polarity).
                    "Churned", "Is Churned", "Churn", "Churn Flag", "Renewed", "Is Renewed"),
        "arr_before": ("ARR Before", "Prior ARR", "Previous ARR", "Original ARR",
                       "Renewable ARR", "Available to Renew", "Current ARR"),
        "arr_after": ("ARR After", "Renewed ARR", "New ARR", "Renewal Amount", "Amount",
                      "Opportunity Amount", "Deal Amount", "ARR"),
    },
    "playbook_runs": {
        "run_id": ("Run ID", "CTA ID", "CTA GSID", "Play ID", "SuccessPlay ID",
                   "Success Play ID", "Task Group ID", "Playbook Run ID", "Id", "Record ID",
                   "Hs Object Id"),
        "scenario": ("Scenario", "Reason", "CTA Reason", "Situation", "Type", "CTA Type",
                     "Play Type"),
        "playbook_id": _PLAYBOOK,
        "playbook_version": ("Playbook Version", "Version", "Play Version"),
        "account_id": _ACCOUNT,
        "csm_id": _CSM,
        "opened_on": ("Opened On", "Open Date", "Created Date", "CreatedDate", "Created On",
                      "Create Date", "Created", "Date Created", "Start Date", "Started On",
                      "Triggered On"),
        "due_on": ("Due On", "Due Date", "Due", "Original Due Date"),
        "closed_on": ("Closed On", "Closed Date", "Close Date", "Date Closed", "Completed On",
                      "Completed Date", "Closed", "End Date", "Finished On"),
        "status": ("Status", "CTA Status", "Play Status", "State"),
        "steps_total": ("Steps Total", "Total Task Count", "Total Tasks", "Task Count",
                        "Number of Tasks", "Tasks Total", "Total Steps"),
        "steps_completed": ("Steps Completed", "Closed Task Count", "Completed Task Count",
                            "Completed Tasks", "Tasks Completed", "Closed Tasks",
                            "Completed Steps"),
        "outcome": ("Outcome", "Result", "Play Outcome", "CTA Outcome"),
        "health_at_open": ("Health at Open", "Health Score at Creation", "Health Score at Open",
                           "Health at Creation", "Health Score", "Health"),
        "arr_at_open": ("ARR at Open", "ARR at Creation", "Company ARR", "ARR"),
    },
    "run_steps": {
        "run_id": ("Run ID", "CTA ID", "Parent CTA ID", "CTA GSID", "Play ID",
                   "SuccessPlay ID", "Task Group ID", "WhatId", "What ID", "Related To ID"),
        # A Salesforce Task's Id identifies it; its Subject repeats across runs ("Call").
        "step_id": ("Step ID", "Task ID", "Id", "Record ID", "Step", "Step Number",
                    "Step Name", "Task Name", "Task", "Subject"),
        "due_on": ("Due On", "Due Date", "Activity Date", "ActivityDate", "Due"),
        "completed_on": ("Completed On", "Completed Date", "Closed Date", "Completion Date",
                         "Done On", "CompletedDateTime", "Closed On"),
        "status": ("Status", "Task Status", "Step Status", "State"),
    },
    "playbook_views": {
        "viewed_at": ("Viewed At", "Viewed On", "View Date", "Viewed", "Event Time",
                      "Timestamp", "Date", "Time"),
        "csm_id": _CSM + ("Viewer", "Email"),
        "playbook_id": _PLAYBOOK + ("Page", "Document"),
        "source": ("Source", "Channel", "Referrer"),
    },
    "health_snapshots": {
        "account_id": _ACCOUNT,
        "snapshot_date": ("Snapshot Date", "As Of", "As Of Date", "Score Date", "Measured On",
                          "Date"),
        "health_score": ("Health Score", "Health", "Overall Score", "Scorecard Score",
                         "Overall Health", "Score"),
        "active_users": ("Active Users", "Monthly Active Users", "MAU", "Weekly Active Users",
                         "Users Active"),
    },
    "feedback": {
        "submitted_at": ("Submitted At", "Submitted On", "Submission Date", "Response Date",
                         "Timestamp", "Date", "Created Date"),
        "csm_id": _CSM + ("Respondent", "Respondent Email", "Submitted By", "Email"),
        "playbook_id": _PLAYBOOK,
        "rating": ("Rating", "Score", "Stars", "Usefulness"),
        "comment": ("Comment", "Comments", "Feedback", "Response", "Notes", "Text"),
    },
    # A small spreadsheet: "Playbook, Team, Rolled out on" (or a Segment column).
    "rollouts": {
        "playbook_id": _PLAYBOOK,
        "team": ("Team", "Team Name", "CSM Team", "Pod", "Group", "Department"),
        "segment": ("Segment", "Customer Segment", "Account Segment", "Tier", "Account Tier"),
        "rolled_out_on": ("Rolled Out On", "Rolled Out", "Rollout Date", "Rolled Out Date",
                          "Roll Out Date", "Adopted On", "Adoption Date", "Launched On",
                          "Launch Date", "Go Live Date", "Go Live", "Live Since",
                          "Start Date", "Started On", "Introduced On", "Date"),
    },
}


def header_key(header: str) -> str:
    """Case, spacing, punctuation and Salesforce's `__c` suffix ignored."""
    text = re.sub(r"__c$", "", str(header).strip(), flags=re.IGNORECASE)
    return re.sub(r"[^0-9a-z]+", "", text.casefold())


def _lookup(kind: str) -> dict[str, tuple[str, int]]:
    """header key -> (canonical column, priority); the canonical name itself ranks first."""
    out: dict[str, tuple[str, int]] = {}
    for column in TABLES[kind].column_names:
        out.setdefault(header_key(column), (column, 0))
    for column, labels in SYNONYMS[kind].items():
        for rank, label in enumerate(labels, start=1):
            out.setdefault(header_key(label), (column, rank))
    return out


@dataclass(frozen=True)
class HeaderMatch:
    """How a file's headers map onto a kind's columns."""

    kind: str
    columns: dict[str, str]  # canonical column -> export header
    ignored: tuple[str, ...]  # headers no column takes
    missing_required: tuple[str, ...]
    notes: tuple[str, ...] = ()
    # canonical column -> every header that could fill it, best first (overrides excluded)
    candidates: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    forced: tuple[str, ...] = field(default=(), compare=False)  # columns a mapping named

    @property
    def mapping(self) -> dict[str, str]:
        """export header -> canonical column, in file order (what an imports row records)."""
        return {header: column for column, header in self.columns.items()}


def match_headers(headers, kind: str, overrides: dict | None = None) -> HeaderMatch:
    """Map `headers` onto `kind`'s columns.

    `overrides` (a mapping file's `columns`: export header -> canonical column, or None to
    ignore the header) win; then each header's key is looked up in the synonym table.
    When two headers claim one column, the better-ranked label wins and the other is
    ignored with a note.
    """
    if kind not in SYNONYMS:
        raise ValueError(f"unknown kind {kind!r}; kinds are: {', '.join(SYNONYMS)}")
    headers = [str(h) for h in headers]
    lookup = _lookup(kind)
    columns: dict[str, str] = {}
    ranks: dict[str, int] = {}
    notes: list[str] = []
    forced = _resolve_overrides(headers, overrides or {})
    found_by: dict[str, list[tuple[int, str]]] = {}
    for header, column in forced.items():
        if column is not None:
            columns[column] = header
            ranks[column] = -1
    for header in headers:
        if header in forced:
            continue
        found = lookup.get(header_key(header))
        if found is None:
            continue
        column, rank = found
        found_by.setdefault(column, []).append((rank, header))
        if column in columns:
            if rank < ranks[column]:
                notes.append(f"column {column} read from {header!r}, not {columns[column]!r}")
                columns[column], ranks[column] = header, rank
            else:
                notes.append(f"column {column} read from {columns[column]!r}, not {header!r}")
            continue
        columns[column], ranks[column] = header, rank
    _key_names_too(kind, forced, columns, lookup, notes)
    ordered = {c: columns[c] for c in TABLES[kind].column_names if c in columns}
    used = set(ordered.values())
    ignored = tuple(h for h in headers if h not in used)
    missing = tuple(c for c in TABLES[kind].required if c not in ordered)
    candidates = {c: tuple(h for _, h in sorted(found, key=lambda f: f[0]))
                  for c, found in found_by.items()}
    named = tuple(c for c in forced.values() if c is not None)
    return HeaderMatch(kind, ordered, ignored, missing, tuple(notes), candidates, named)


def _key_names_too(kind, forced, columns, lookup, notes) -> None:
    """A header a mapping made the key that is also the natural name column ("Name" ->
    csm_id in a roster keyed by name) fills the name too, unless another header does."""
    for header, column in forced.items():
        if column is None or column not in TABLES[kind].key:
            continue
        natural = lookup.get(header_key(header))
        if natural and natural[0] == "name" and "name" not in columns:
            columns["name"] = header
            notes.append(f"{header!r} fills both {column} and name")


def prefer_filled(match: HeaderMatch, sample) -> HeaderMatch:
    """The match with each auto-detected column read from a filled header when the
    better-ranked one is empty in `sample` (Salesforce Case: `Reason` empty, `Type` filled).

    `sample` is a DataFrame of the file's first rows (text); a mapping's choices stay.
    """
    columns, notes = dict(match.columns), list(match.notes)
    for column, header in match.columns.items():
        others = [h for h in match.candidates.get(column, ()) if h != header]
        if column in match.forced or not others or _filled(sample, header):
            continue
        filled = next((h for h in others if _filled(sample, h)
                       and h not in columns.values()), None)
        if filled is not None:
            columns[column] = filled
            notes.append(f"column {column} read from {filled!r}: {header!r} is empty")
    if columns == match.columns:
        return match
    used = set(columns.values())
    ignored = tuple(h for h in list(match.ignored) + list(match.columns.values())
                    if h not in used)
    return replace(match, columns=columns, ignored=tuple(dict.fromkeys(ignored)),
                   notes=tuple(notes))


def _filled(sample, header: str) -> bool:
    if header not in sample.columns or sample.empty:
        return False
    values = sample[header]
    if isinstance(values, type(sample)):  # repeated header: the first one is read
        values = values.iloc[:, 0]
    return bool((values.notna() & (values.astype(str).str.strip() != "")).any())


def absent_mapping_headers(headers, overrides: dict | None) -> list[str]:
    """One line per header a mapping assigns a column to that the file does not hold,
    naming the closest header the file has."""
    headers = [str(h) for h in headers]
    keys = {header_key(h) for h in headers}
    out = []
    for header, column in (overrides or {}).items():
        if column is None or header in headers or header_key(header) in keys:
            continue
        close = difflib.get_close_matches(str(header), headers, n=1, cutoff=0.0)
        hint = f" (closest: {close[0]!r})" if close else ""
        out.append(f"the mapping reads {column} from {header!r}, which is not a header of "
                   f"the file{hint}")
    return out


def _resolve_overrides(headers: list[str], overrides: dict) -> dict[str, str | None]:
    """Override keys matched to the file's headers exactly, else by header key."""
    by_key = {header_key(h): h for h in reversed(headers)}
    out = {}
    for header, column in overrides.items():
        found = header if header in headers else by_key.get(header_key(header))
        if found is not None:
            out[found] = column
    return out


def missing_required(match: HeaderMatch) -> tuple[str, ...]:
    """Required columns the file lacks; a runs export without a scenario column takes each
    run's scenario from its playbook, so scenario is not missing when playbook_id is there;
    a rollouts export needs a team or a segment column."""
    missing = match.missing_required
    if match.kind == "playbook_runs" and "playbook_id" in match.columns:
        missing = tuple(c for c in missing if c != "scenario")
    # A rollout names its group by a team or a segment column: one of the two is needed.
    if match.kind == "rollouts" and not {"team", "segment"} & set(match.columns):
        missing += ("team or segment",)
    return missing


def guess_kind(headers) -> str | None:
    """The kind whose required columns all match and which matches the most headers."""
    best, best_score = None, 0
    for kind in SYNONYMS:
        match = match_headers(headers, kind)
        if missing_required(match):
            continue
        score = len(match.columns) + len(TABLES[kind].required) / 10
        if score > best_score:
            best, best_score = kind, score
    return best


# -- is this file the kind it is imported as? -------------------------------------------------
# Header words that say what one row of a file is, and the table such rows belong in (None:
# no table of ours holds them).
# Words an account or CSM spreadsheet also uses for its own columns ("Contract End",
# "Invoice Date", "Survey Score") are left out: only record types that are rows elsewhere.
ENTITIES = {
    "deal": "renewals", "opportunity": "renewals", "subscription": "renewals",
    "contact": None, "lead": None, "case": "playbook_runs", "ticket": "playbook_runs",
    "cta": "playbook_runs", "task": "run_steps",
}
# Per kind, words its own exports use for columns about something else (an account's
# primary contact): never a sign of another sort of row.
_ROW_WORDS = {"accounts": ("account", "company", "customer", "contact", "lead"),
              "csms": ("csm", "user", "employee", "owner", "manager")}
_DUPLICATE_SHARE = 0.5  # of sample rows repeating a key: one row per key is not what it is
_DUPLICATE_ROWS = 10


@dataclass(frozen=True)
class KindDoubt:
    """Why a file does not look like the kind it is imported as."""

    kind: str
    looks_like: str  # a kind, or what its rows seem to be ("contacts")
    why: str

    def __str__(self) -> str:
        article = "an" if self.kind[0] in "aeiou" else "a"
        return (f"does not look like {article} {self.kind} export: it looks like "
                f"{self.looks_like} ({self.why})")


def kind_doubt(headers, kind: str, overrides: dict | None = None,
               sample=None) -> KindDoubt | None:
    """Score the file against every kind; a `KindDoubt` when another kind fits clearly
    better, when only `kind`'s key matched, when its headers name rows of another sort
    (Deal Stage, Contact owner) or when its key repeats row after row; else None.

    A file whose mapping names its columns (`overrides`) was looked at by a person: only a
    file no column of which the mapping or the synonyms fill beyond the key is doubted.
    """
    headers = [str(h) for h in headers]
    match = match_headers(headers, kind, overrides)
    if missing_required(match):
        return None  # refused anyway, for the missing column
    mine = set(match.columns)
    key = set(TABLES[kind].key)
    # The upload page hands every header as a mapping: only columns a person changed count.
    auto = match_headers(headers, kind).columns
    chosen = {c for c in match.forced if auto.get(c) != match.columns.get(c)}
    better = _better_kind(headers, kind, len(mine))
    if better is not None and not chosen:
        other, columns = better
        return KindDoubt(kind, other, f"{len(columns)} of its headers fit {other} "
                         f"({', '.join(columns)}), {len(mine)} fit {kind}")
    # Only for tables an id alone can fill (accounts, csms): the others need more anyway.
    id_only = set(TABLES[kind].required) == key
    if id_only and mine <= key and match.ignored and not (chosen - key):
        nearest = _nearest_kind(headers, kind)
        return KindDoubt(kind, nearest or "another table",
                         f"only {', '.join(sorted(mine))} matched; "
                         f"{len(match.ignored)} headers fit no {kind} column")
    entity = _row_entity(kind, match)
    if entity is not None:
        return KindDoubt(kind, *entity)
    if sample is not None and TABLES[kind].primary_key and kind in ("accounts", "csms"):
        return _repeated_key(kind, match, sample)
    return None


def _better_kind(headers, kind: str, mine: int):
    """(kind, its matched columns) of the complete kind matching at least two more columns."""
    best = None
    for other in SYNONYMS:
        if other == kind:
            continue
        match = match_headers(headers, other)
        if missing_required(match) or len(match.columns) < mine + 2:
            continue
        if best is None or len(match.columns) > len(best[1]):
            best = (other, tuple(match.columns))
    return best


def _nearest_kind(headers, kind: str) -> str | None:
    """The other kind matching the most headers beyond its key (complete or not)."""
    best, score = None, 0
    for other in SYNONYMS:
        if other == kind:
            continue
        match = match_headers(headers, other)
        found = len(match.columns) - len(set(match.columns) & set(TABLES[other].key))
        if found > score:
            best, score = other, found
    if best is None:
        return None
    lacking = missing_required(match_headers(headers, best))
    return best + (f" without {', '.join(lacking)}" if lacking else "")


def _row_entity(kind: str, match: HeaderMatch):
    """(what the rows look like, why) when headers no column takes name another sort of
    record twice ("Deal Name", "Deal Stage") or by its id ("Subscription ID")."""
    words: dict[str, list[str]] = {}
    # A header filling a reference (a step's "CTA ID" run_id) says what rows point at; the
    # one filling the row's own id, or none, what they are.
    identity = {"run_steps": "step_id"}.get(kind, TABLES[kind].key[0])
    own = (match.columns[identity],) if identity in match.columns else ()
    for header in match.ignored + own:
        first = re.findall(r"[a-z]+", _split_camel(header).casefold())
        if first and first[0] in ENTITIES and first[0] not in _ROW_WORDS.get(kind, ()):
            words.setdefault(first[0], []).append(header)
    for word, found in words.items():
        with_id = [h for h in found if header_key(h).endswith("id")]
        owner = [h for h in found if header_key(h).endswith("owner")]
        if len(found) >= 2 or with_id or (kind == "csms" and owner):
            table = ENTITIES[word]
            plural = f"{word}s" if not word.endswith("y") else f"{word[:-1]}ies"
            looks = f"{plural} ({table})" if table and table != kind else plural
            if table == kind:
                continue
            named = ", ".join(repr(h) for h in found[:4])
            return looks, (f"its header {named} describes" if len(found) == 1 else
                           f"its headers {named} describe") + f" {plural}, not {kind}"
    if kind == "csms":
        owners = [h for h in match.ignored if header_key(h).endswith(("owner", "ownerid"))]
        if owners:
            return ("records owned by CSMs",
                    f"its column {owners[0]!r} names an owner: its rows are owned by people")
    return None


def _split_camel(header: str) -> str:
    """"OpportunityId" -> "Opportunity Id"."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(header))


def _repeated_key(kind: str, match: HeaderMatch, sample) -> KindDoubt | None:
    key = TABLES[kind].key[0]
    header = match.columns.get(key)
    if header is None or header not in sample.columns:
        return None
    values = sample[header]
    if isinstance(values, type(sample)):
        values = values.iloc[:, 0]
    values = values[values.notna() & (values.astype(str).str.strip() != "")]
    repeated = int(values.duplicated().sum())
    if repeated < _DUPLICATE_ROWS or repeated < _DUPLICATE_SHARE * len(values):
        return None
    return KindDoubt(kind, f"a file of many rows per {key}",
                     f"{repeated:,} of its first {len(values):,} rows repeat an earlier "
                     f"{key} ({values.nunique():,} distinct)")

"""Which export header is which canonical column.

Headers are compared with case, spacing and punctuation ignored and Salesforce's custom-field
suffix dropped ("Account ID", "AccountId", "account_id" and "Account_ID__c" are one key). Each
kind has a synonym table of the labels and API names Salesforce, HubSpot, Gainsight,
ChurnZero, Totango and Planhat use; a mapping file's `columns` override it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from analysis.schema import TABLES

_ACCOUNT = ("Account ID", "AccountId", "Account.Id", "Company ID", "Company GSID", "GSID",
            "Customer ID", "Associated Company ID", "Account External ID", "Account")
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
        "account_id": _ACCOUNT[:-1] + ("Id", "Record ID", "Hs Object Id", "Company Record ID",
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
                    "Renewal Outcome", "Result", "Status", "Is Won", "IsWon", "Won"),
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
                   "SuccessPlay ID", "Task Group ID"),
        "step_id": ("Step ID", "Task ID", "Step", "Step Number", "Step Name", "Task Name",
                    "Task", "Subject", "Id", "Record ID"),
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
        if column in columns:
            if rank < ranks[column]:
                notes.append(f"column {column} read from {header!r}, not {columns[column]!r}")
                columns[column], ranks[column] = header, rank
            else:
                notes.append(f"column {column} read from {columns[column]!r}, not {header!r}")
            continue
        columns[column], ranks[column] = header, rank
    ordered = {c: columns[c] for c in TABLES[kind].column_names if c in columns}
    used = set(ordered.values())
    ignored = tuple(h for h in headers if h not in used)
    missing = tuple(c for c in TABLES[kind].required if c not in ordered)
    return HeaderMatch(kind, ordered, ignored, missing, tuple(notes))


def _resolve_overrides(headers: list[str], overrides: dict) -> dict[str, str | None]:
    """Override keys matched to the file's headers exactly, else by header key."""
    by_key = {header_key(h): h for h in reversed(headers)}
    out = {}
    for header, column in overrides.items():
        found = header if header in headers else by_key.get(header_key(header))
        if found is not None:
            out[found] = column
    return out


def guess_kind(headers) -> str | None:
    """The kind whose required columns all match and which matches the most headers."""
    best, best_score = None, 0
    for kind in SYNONYMS:
        match = match_headers(headers, kind)
        if match.missing_required:
            continue
        score = len(match.columns) + len(TABLES[kind].required) / 10
        if score > best_score:
            best, best_score = kind, score
    return best

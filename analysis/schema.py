"""The canonical data model: every table of DESIGN.md, its columns, types and keys.

This module is the single declaration the store creates tables from and the importer maps
exports onto. Column order here is the column order in DuckDB.
"""
from __future__ import annotations

from dataclasses import dataclass

# 1: DESIGN.md's tables. 2: imports gained rows_updated and warnings (store.MIGRATIONS[1]).
# 3: accepted values are CHECK constraints (store.MIGRATIONS[2] rebuilds those tables), and
# import_history_<kind> keeps what each import replaced, so an import can be undone.
# 4: rollouts, each group's (team or segment) adoption date of a playbook (store.MIGRATIONS[3]).
SCHEMA_VERSION = 4


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type: VARCHAR, DATE, TIMESTAMP, DOUBLE, INTEGER
    required: bool = False
    # Canonical values a column accepts (None = free text).
    accepted: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    # Columns that identify a row. A newer export replaces the row with the same key.
    key: tuple[str, ...]
    # True when the key is a single id column declared PRIMARY KEY; compound keys of the
    # id-less tables may hold NULLs (csm_id), so the importer deduplicates them itself.
    primary_key: bool = True
    importable: bool = True

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _c(name: str, type_: str = "VARCHAR", required: bool = False, accepted=None) -> Column:
    return Column(name, type_, required, tuple(accepted) if accepted else None)


SCENARIOS = (
    "onboarding", "adoption", "retention", "renewal", "expansion", "at_risk",
    "executive_escalation", "champion_change", "competitive_threat", "usage_drop",
    "feature_adoption", "churn_recovery",
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("csms", (
            _c("csm_id", required=True), _c("name"), _c("email"), _c("team"), _c("manager"),
            _c("hire_date", "DATE"), _c("end_date", "DATE"), _c("ramped_on", "DATE"),
        ), key=("csm_id",)),
        Table("accounts", (
            _c("account_id", required=True), _c("name"), _c("segment"), _c("industry"),
            _c("region"), _c("csm_id"), _c("arr", "DOUBLE"), _c("customer_since", "DATE"),
        ), key=("account_id",)),
        Table("renewals", (
            _c("renewal_id", required=True), _c("account_id", required=True), _c("csm_id"),
            _c("renewal_date", "DATE", required=True),
            _c("outcome", required=True, accepted=("renewed", "churned")),
            _c("arr_before", "DOUBLE"), _c("arr_after", "DOUBLE"),
        ), key=("renewal_id",)),
        Table("playbook_runs", (
            _c("run_id", required=True), _c("scenario", required=True), _c("playbook_id"),
            _c("playbook_version"), _c("account_id", required=True), _c("csm_id"),
            _c("opened_on", "DATE", required=True), _c("due_on", "DATE"), _c("closed_on", "DATE"),
            _c("status", accepted=("open", "closed")),
            _c("steps_total", "INTEGER"), _c("steps_completed", "INTEGER"),
            _c("outcome", accepted=("success", "failure")),
            _c("health_at_open", "DOUBLE"), _c("arr_at_open", "DOUBLE"),
        ), key=("run_id",)),
        Table("run_steps", (
            _c("run_id", required=True), _c("step_id", required=True), _c("due_on", "DATE"),
            _c("completed_on", "DATE"), _c("status", accepted=("done", "skipped", "open")),
        ), key=("run_id", "step_id"), primary_key=False),
        Table("playbook_views", (
            _c("viewed_at", "TIMESTAMP", required=True), _c("csm_id"),
            _c("playbook_id", required=True), _c("source"),
        ), key=("viewed_at", "csm_id", "playbook_id"), primary_key=False),
        Table("health_snapshots", (
            _c("account_id", required=True), _c("snapshot_date", "DATE", required=True),
            _c("health_score", "DOUBLE"), _c("active_users", "INTEGER"),
        ), key=("account_id", "snapshot_date"), primary_key=False),
        Table("feedback", (
            _c("submitted_at", "TIMESTAMP", required=True), _c("csm_id"),
            _c("playbook_id", required=True), _c("rating", "INTEGER"), _c("comment"),
        ), key=("submitted_at", "csm_id", "playbook_id"), primary_key=False),
        # One row per group that adopted a playbook: a team (csms.team) or a segment
        # (accounts.segment), one of the two per row; before/after compares each group with
        # the groups not yet using it (analysis.metrics.designs.staggered).
        Table("rollouts", (
            _c("playbook_id", required=True), _c("team"), _c("segment"),
            _c("rolled_out_on", "DATE", required=True),
        ), key=("playbook_id", "team", "segment"), primary_key=False),
        Table("imports", (
            _c("import_id", "INTEGER", required=True), _c("kind"), _c("file_name"), _c("sha256"),
            _c("imported_at", "TIMESTAMP"), _c("rows_read", "INTEGER"),
            _c("rows_loaded", "INTEGER"), _c("rows_rejected", "INTEGER"), _c("mapping"),
            # Added beyond DESIGN.md: rows that replaced an existing key, and warnings
            # (unknown accounts/CSMs) as text a person reads.
            _c("rows_updated", "INTEGER"), _c("warnings"),
        ), key=("import_id",), importable=False),
        Table("rejected_rows", (
            _c("import_id", "INTEGER", required=True), _c("row_number", "INTEGER", required=True),
            _c("raw"), _c("reason"),
        ), key=("import_id", "row_number"), primary_key=False, importable=False),
    )
}

IMPORTABLE_KINDS = tuple(name for name, t in TABLES.items() if t.importable)


def history_table(kind: str) -> Table:
    """What imports into `kind` replaced, so each can be undone (analysis.ingest.undo).

    One row per row an import touched: action 'inserted' holds the key it added (other
    columns NULL); action 'updated' holds the whole row as it was before the update, in the
    table's own column types, so undo puts back exactly those values.
    """
    table = TABLES[kind]
    return Table(f"import_history_{kind}", (
        _c("import_id", "INTEGER", required=True),
        _c("action", required=True, accepted=("inserted", "updated")),
        *(Column(c.name, c.type) for c in table.columns),
    ), key=("import_id", *table.key), primary_key=False, importable=False)


# Declared with the other tables: the store creates them (schema version 3) like any other.
HISTORY_TABLES: dict[str, Table] = {kind: history_table(kind) for kind in IMPORTABLE_KINDS}


def _literal(value: str) -> str:
    """A canonical value as a SQL literal; they are identifiers-like words declared above."""
    return "'" + value.replace("'", "''") + "'"


def create_table_sql(table: Table, name: str | None = None) -> str:
    """CREATE TABLE for `table` (under `name` when given): types, NOT NULL for required
    columns, the primary key, and a CHECK for every column with accepted values, so the
    database itself refuses a value the data model does not know."""
    cols = []
    for c in table.columns:
        null = " NOT NULL" if c.required else ""
        pk = " PRIMARY KEY" if table.primary_key and table.key == (c.name,) else ""
        check = (f" CHECK ({c.name} IN ({', '.join(map(_literal, c.accepted))}))"
                 if c.accepted else "")
        cols.append(f"{c.name} {c.type}{null}{pk}{check}")
    return (f"CREATE TABLE IF NOT EXISTS {name or table.name} (\n  " + ",\n  ".join(cols)
            + "\n)")


def tables_with_checks() -> tuple[Table, ...]:
    """The tables that have a column with accepted values (a CHECK constraint)."""
    return tuple(t for t in TABLES.values() if any(c.accepted for c in t.columns))

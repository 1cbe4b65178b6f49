"""The one door to the database: DuckDB connection, schema, queries and transactions.

Nothing else in the project imports duckdb. Values always go in as bound parameters;
identifiers only through `quote_ident`.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence
import threading

import duckdb
import pandas as pd

from analysis import schema, semantic

# Never reach for the network: no extension can be installed offline anyway.
_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def quote_ident(name: str) -> str:
    """Quote an identifier for SQL; the only way a name enters a statement."""
    return '"' + str(name).replace('"', '""') + '"'


def _rebuild_with_checks() -> tuple[str, ...]:
    """Version 2 -> 3: DuckDB cannot add a CHECK to an existing table, so each table with
    accepted values is copied into a new one that has them (its columns are unchanged)."""
    statements = []
    for table in schema.tables_with_checks():
        new = quote_ident(table.name + "__v3")
        statements += [schema.create_table_sql(table, new),
                       f"INSERT INTO {new} SELECT * FROM {quote_ident(table.name)}",
                       f"DROP TABLE {quote_ident(table.name)}",
                       f"ALTER TABLE {new} RENAME TO {quote_ident(table.name)}"]
    return tuple(statements)


# Upgrades from each older schema version, applied in order. Each entry takes the store from
# version N to N + 1 and must keep every row (tests open a database made by version N).
MIGRATIONS: dict[int, Sequence[str]] = {
    1: ("ALTER TABLE imports ADD COLUMN IF NOT EXISTS rows_updated INTEGER",
        "ALTER TABLE imports ADD COLUMN IF NOT EXISTS warnings VARCHAR"),
    # Version 2 -> 3: the CHECK constraints (tables with accepted values rebuilt).
    # The import_history_<kind> tables are created from schema.HISTORY_TABLES after the
    # migrations run; older imports have no history, so undo refuses them and says why.
    # A file holding only what `init --demo` loaded (every import named 'demo') is the demo
    # organisation: marked so (banner, imports refused), with the templates as its playbooks.
    2: _rebuild_with_checks() + tuple(
        "INSERT OR REPLACE INTO schema_meta SELECT " + pair + " WHERE EXISTS "
        "(SELECT 1 FROM imports) AND NOT EXISTS (SELECT 1 FROM imports "
        "WHERE file_name IS DISTINCT FROM 'demo')"
        for pair in ("'demo', 'true'", "'playbook_definitions', 'templates'")),
    # Version 3 -> 4: the rollouts table (team or segment adoption dates) and its history.
    3: tuple(schema.create_table_sql(table) for table in
             (schema.TABLES["rollouts"], schema.HISTORY_TABLES["rollouts"])),
}


class StoreError(RuntimeError):
    """A database problem a person can act on (locked file, newer schema...).

    `busy` is True when another process holds the file: closing it is the remedy.
    """

    def __init__(self, message: str, *, busy: bool = False):
        super().__init__(message)
        self.busy = busy


class Store:
    """A DuckDB database with the Playbook Impact schema.

    `query` returns a DataFrame, `scalar` one value, `execute` nothing; `transaction` wraps a
    block so that it commits whole or not at all.
    """

    def __init__(self, path: str | Path | None = None, read_only: bool = False):
        if path is None:  # the store boundary: PLAYBOOK_IMPACT_DB, else the db_path setting
            from analysis.settings import Settings, db_path
            path = db_path(Settings.resolve())
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path, read_only=read_only, config=_CONFIG)
        except duckdb.Error as exc:
            raise _open_error(self.path, exc) from exc
        self.read_only = read_only
        # Each thread reads through its own cursor (DuckDB's MVCC lets readers go on while a
        # write transaction is open elsewhere); writes are serialised by one lock so two
        # sessions importing at once queue instead of failing on a conflict.
        self._local = threading.local()
        self._write_lock = threading.RLock()
        if not read_only:
            try:
                self.ensure_schema()
            except duckdb.Error as exc:  # a damaged file can open and fail on first read
                self._con.close()
                raise _open_error(self.path, exc) from exc
            except BaseException:
                self._con.close()
                raise

    def _cursor(self):
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self._con.cursor()
        return cursor

    # -- queries ----------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence | dict | None = None) -> pd.DataFrame:
        """Run a SELECT and return the whole result as a DataFrame."""
        return self._cursor().execute(sql, params or []).df()

    def scalar(self, sql: str, params: Sequence | dict | None = None):
        """The first column of the first row, or None when there is no row."""
        rows = self._cursor().execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def execute(self, sql: str, params: Sequence | dict | None = None) -> None:
        """Run a statement; outside a transaction it commits on its own, under the write lock."""
        with self._write_lock:
            self._cursor().execute(sql, params or []).fetchall()

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Make a DataFrame visible to this thread's SQL as a view named `name`."""
        self._cursor().register(name, frame)

    def unregister(self, name: str) -> None:
        self._cursor().unregister(name)

    @contextmanager
    def transaction(self) -> Iterator["Store"]:
        """Commit the block whole, or roll it back and re-raise. One writer at a time."""
        with self._write_lock:
            cursor = self._cursor()
            cursor.execute("BEGIN TRANSACTION")
            try:
                yield self
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            else:
                cursor.execute("COMMIT")

    @contextmanager
    def rollback_only(self) -> Iterator["Store"]:
        """Run the block in a transaction that is always rolled back: a dry run (the import
        preview) that writes as the real thing would and leaves no trace. Sequences are
        not transactional in DuckDB, so the block must not draw from one."""
        with self._write_lock:
            cursor = self._cursor()
            cursor.execute("BEGIN TRANSACTION")
            try:
                yield self
            finally:
                cursor.execute("ROLLBACK")

    def close(self) -> None:
        with self._write_lock:
            self._con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create every table that is missing and migrate an older schema; idempotent."""
        with self.transaction():
            self._cursor().execute(
                "CREATE TABLE IF NOT EXISTS schema_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
            found = self._cursor().execute(
                "SELECT value FROM schema_meta WHERE key = 'schema_version'").fetchall()
            version = int(found[0][0]) if found else None
            if version is not None and version > schema.SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer Playbook Impact (schema version "
                    f"{version}, this release reads up to {schema.SCHEMA_VERSION}).")
            for v in range(version or schema.SCHEMA_VERSION, schema.SCHEMA_VERSION):
                for statement in MIGRATIONS[v]:
                    self._cursor().execute(statement)
            for table in (*schema.TABLES.values(), *schema.HISTORY_TABLES.values()):
                self._cursor().execute(schema.create_table_sql(table))
            self._cursor().execute("CREATE SEQUENCE IF NOT EXISTS import_id_seq START 1")
            # The semantic layer's views over the tables, replaced so a release's definitions win.
            for statement in semantic.create_statements():
                self._cursor().execute(statement)
            self._cursor().execute(
                "INSERT OR REPLACE INTO schema_meta VALUES ('schema_version', ?)",
                [str(schema.SCHEMA_VERSION)])

    def meta(self, key: str) -> str | None:
        """A value of schema_meta (what the database says about itself), None when unset."""
        return self.scalar("SELECT value FROM schema_meta WHERE key = ?", [key])

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT OR REPLACE INTO schema_meta VALUES (?, ?)", [key, str(value)])

    def is_demo(self) -> bool:
        """True for the demo organisation's database (marked by analysis.demo.load_demo)."""
        return self.meta("demo") == "true"

    def schema_version(self) -> int:
        return int(self.scalar("SELECT value FROM schema_meta WHERE key = 'schema_version'"))

    def row_counts(self) -> dict[str, int]:
        """Rows per canonical table."""
        return {name: int(self.scalar(f"SELECT count(*) FROM {quote_ident(name)}"))
                for name in schema.TABLES}

    def is_empty(self) -> bool:
        """True when no data table holds a row (the demo loads into such a database)."""
        counts = self.row_counts()
        return not any(counts[name] for name in schema.IMPORTABLE_KINDS)

    def next_import_id(self) -> int:
        return int(self.scalar("SELECT nextval('import_id_seq')"))


def _open_error(path: str, exc: Exception) -> StoreError:
    """Say why a database file cannot be opened: busy (another process) or unreadable."""
    text = str(exc)
    if "Could not set lock" in text or "Conflicting lock" in text:
        return StoreError(f"The database {path} is in use by another process: {text}",
                          busy=True)
    return StoreError(f"The database {path} is not a readable Playbook Impact database "
                      f"(damaged, truncated or another kind of file): {text}. Restore it from "
                      "a backup, or point PLAYBOOK_IMPACT_DB at a new file and import again.")


def organisation_started(path: str | Path) -> bool:
    """True when the file at `path` is an organisation's database in use: it holds data or
    `init` started it on purpose (schema_meta 'started'), and it is not the demo."""
    if not Path(path).exists():
        return False
    try:
        with Store(path, read_only=True) as store:
            if store.scalar("SELECT count(*) FROM duckdb_tables() "
                            "WHERE table_name = 'schema_meta'") == 0:
                return False
            return not store.is_demo() and (store.meta("started") == "true"
                                            or not store.is_empty())
    except StoreError as exc:
        # Another process (busy) or this one (a read-write connection: "different
        # configuration") has it open: it is in use.
        return exc.busy or "different configuration" in str(exc)


def app_db_path(pinned: str | None, org: str | Path, demo: str | Path) -> str:
    """The database the app opens (DESIGN.md, "Demo, own data, undo").

    `pinned` (PLAYBOOK_IMPACT_DB) when set; else the organisation's database `org` (the
    db_path setting) when it holds data or was started with `init`; else the demo's `demo`
    (demo_db_path) when `init --demo` wrote it; else the organisation's, empty.
    """
    if pinned:
        return str(pinned)
    if organisation_started(org) or not Path(demo).exists():
        return str(org)
    return str(demo)


def start_organisation(path: str | Path, demo: str | Path) -> Store:
    """Open (creating) the organisation's own database at `path` and mark it started, so the
    app opens it instead of the demo even before the first import. Refuses the demo's file
    (`demo`, the demo_db_path setting)."""
    path = str(path)
    if Path(path).resolve() == Path(demo).resolve():
        raise StoreError(f"{path} is the demo database; the organisation's database must be "
                         "another file (the db_path setting or PLAYBOOK_IMPACT_DB)")
    store = Store(path)
    if store.is_demo():
        store.close()
        raise StoreError(f"{path} holds the demo organisation; point PLAYBOOK_IMPACT_DB at "
                         "another file for the organisation's own data")
    store.set_meta("started", "true")
    return store


def open_store(path: str | Path | None = None, read_only: bool = False) -> Store:
    """Open (and create when missing) the database at `path`; None: PLAYBOOK_IMPACT_DB, else
    the db_path setting."""
    return Store(path, read_only=read_only)

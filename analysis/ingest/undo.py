"""Every import can be undone: what it inserted and what it replaced, kept per import id.

While an import upserts its rows, `record_history` writes into `import_history_<kind>` (same
transaction) the key of every row it is about to insert and the whole stored row of every key
it is about to update. `undo_import` reverses one import from that record in one transaction:
inserted keys are deleted, updated rows get back exactly their previous values, and the
import's rejected rows, history and `imports` row are removed (so the same file can be imported
again later). The same record is the audit trail of what each import changed.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.schema import HISTORY_TABLES, IMPORTABLE_KINDS, TABLES
from analysis.store import Store, quote_ident


class UndoRefused(ValueError):
    """An import that cannot be undone (unknown, no history, or built on by a later one)."""


@dataclass(frozen=True)
class UndoResult:
    import_id: int
    kind: str
    file_name: str
    rows_removed: int  # rows the import had inserted, now deleted
    rows_restored: int  # rows the import had updated, now back to their previous values

    def summary(self) -> str:
        return (f"Undid import {self.import_id} ({self.file_name} -> {self.kind}): "
                f"{self.rows_removed:,} inserted rows removed, {self.rows_restored:,} updated "
                "rows restored to their previous values.")


def _same_key(kind: str, left: str, right: str) -> str:
    # Keys of the id-less tables may hold NULL (csm_id): NULL matches NULL.
    return " AND ".join(f"{left}.{quote_ident(k)} IS NOT DISTINCT FROM {right}.{quote_ident(k)}"
                        for k in TABLES[kind].key)


def record_history(store: Store, kind: str, import_id: int, view: str,
                   columns: list[str]) -> None:
    """Keep what loading `view` (the import's checked rows) into `kind` will replace.

    Call inside the import's transaction, just before the rows are upserted: the stored row of
    every key the file holds is copied (action 'updated'), and every key not yet stored is
    recorded (action 'inserted'). Keys the file lacks (csm_id of an id-less table) are NULL,
    as the upsert stores them.
    """
    table, history = TABLES[kind], HISTORY_TABLES[kind]
    types = {c.name: c.type for c in table.columns}
    keys = ", ".join(
        (f"CAST(v.{quote_ident(k)} AS {types[k]})" if k in columns
         else f"CAST(NULL AS {types[k]})") + f" AS {quote_ident(k)}" for k in table.key)
    target, stored = quote_ident(kind), quote_ident(history.name)
    names = ", ".join(quote_ident(c) for c in table.column_names)
    key_names = ", ".join(quote_ident(k) for k in table.key)
    # Keys are unique within the checked rows (the importer rejected duplicates), so no
    # DISTINCT: a million-row first import pays one anti-join, not a sort.
    file_keys = f"(SELECT {keys} FROM {view} v)"
    store.execute(
        f"INSERT INTO {stored} (import_id, action, {names}) "
        f"SELECT ?, 'updated', {', '.join('t.' + quote_ident(c) for c in table.column_names)} "
        f"FROM {target} t WHERE EXISTS (SELECT 1 FROM {file_keys} f "
        f"WHERE {_same_key(kind, 't', 'f')})", [int(import_id)])
    store.execute(
        f"INSERT INTO {stored} (import_id, action, {key_names}) "
        f"SELECT ?, 'inserted', {', '.join('f.' + quote_ident(k) for k in table.key)} "
        f"FROM {file_keys} f WHERE NOT EXISTS (SELECT 1 FROM {target} t "
        f"WHERE {_same_key(kind, 't', 'f')})", [int(import_id)])


def list_imports(store: Store) -> pd.DataFrame:
    """Every import, oldest first.

    Returns
    -------
    DataFrame with import_id, kind, file_name, imported_at, rows_loaded, rows_updated,
    rows_rejected, undoable (bool: a history was kept, so `undo_import` can reverse it).
    """
    parts = [f"SELECT DISTINCT import_id FROM {quote_ident(h.name)}"
             for h in HISTORY_TABLES.values()]
    return store.query(f"""
        with recorded as ({' UNION '.join(parts)})
        select i.import_id, i.kind, i.file_name, i.imported_at, i.rows_loaded,
               i.rows_updated, i.rows_rejected,
               (r.import_id is not null or coalesce(i.rows_loaded, 0) = 0) as undoable
        from imports i left join recorded r using (import_id)
        order by i.import_id
    """)


def _import_row(store: Store, import_id: int) -> dict:
    found = store.query("SELECT import_id, kind, file_name, rows_loaded FROM imports "
                        "WHERE import_id = ?", [int(import_id)])
    if found.empty:
        raise UndoRefused(f"there is no import {import_id}; `python -m analysis imports` "
                          "lists them")
    row = found.iloc[0].to_dict()
    if row["kind"] not in IMPORTABLE_KINDS:
        raise UndoRefused(f"import {import_id} is of {row['kind']!r}, not a table one imports")
    return row


def _later_import(store: Store, kind: str, import_id: int) -> pd.DataFrame:
    """Later imports of `kind` that updated a row this import inserted or updated."""
    history = quote_ident(HISTORY_TABLES[kind].name)
    return store.query(
        f"SELECT DISTINCT later.import_id, i.file_name, i.imported_at "
        f"FROM {history} later JOIN {history} mine ON {_same_key(kind, 'later', 'mine')} "
        f"JOIN imports i ON i.import_id = later.import_id "
        f"WHERE mine.import_id = ? AND later.import_id > ? AND later.action = 'updated' "
        f"ORDER BY later.import_id", [int(import_id), int(import_id)])


def undo_import(store: Store, import_id: int) -> UndoResult:
    """Reverse one import in one transaction.

    Rows it inserted are deleted, rows it updated get back exactly the values they had before
    it, and its rejected rows, history and `imports` row are removed. Raises UndoRefused,
    changing nothing, when the import does not exist, was recorded without a history (the demo,
    or before schema version 3), or a later import of the same table updated rows it loaded
    (that import is named: undo it first).

    Returns
    -------
    UndoResult with rows_removed and rows_restored.
    """
    with store.transaction():
        row = _import_row(store, import_id)
        kind = row["kind"]
        history = quote_ident(HISTORY_TABLES[kind].name)
        counts = store.query(f"SELECT action, count(*) AS n FROM {history} "
                             "WHERE import_id = ? GROUP BY action", [int(import_id)])
        counts = dict(zip(counts["action"], counts["n"].astype(int)))
        if not counts and (row["rows_loaded"] or 0) > 0:
            raise UndoRefused(f"import {import_id} ({row['file_name']}) kept no record of what "
                              "it replaced (demo data, or imported before undo existed), so it "
                              "cannot be undone")
        later = _later_import(store, kind, import_id)
        if not later.empty:
            first = later.iloc[0]
            raise UndoRefused(
                f"import {import_id} cannot be undone: the later import {int(first.import_id)} "
                f"({first.file_name}, {first.imported_at:%Y-%m-%d %H:%M}) updated rows it "
                f"loaded; undo import {int(first.import_id)} first")
        _reverse(store, kind, import_id)
        for table in (HISTORY_TABLES[kind].name, "rejected_rows", "imports"):
            store.execute(f"DELETE FROM {quote_ident(table)} WHERE import_id = ?",
                          [int(import_id)])
    return UndoResult(int(import_id), kind, str(row["file_name"]),
                      counts.get("inserted", 0), counts.get("updated", 0))


def _reverse(store: Store, kind: str, import_id: int) -> None:
    """Delete every key the import touched, then put back the rows it updated."""
    table, history = TABLES[kind], quote_ident(HISTORY_TABLES[kind].name)
    target = quote_ident(kind)
    names = ", ".join(quote_ident(c) for c in table.column_names)
    store.execute(f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM {history} h "
                  f"WHERE h.import_id = ? AND {_same_key(kind, 't', 'h')})", [int(import_id)])
    store.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM {history} "
                  "WHERE import_id = ? AND action = 'updated'", [int(import_id)])

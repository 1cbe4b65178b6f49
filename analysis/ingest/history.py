"""What was imported, when, and what was rejected: the import page's history and the
overview's data freshness."""
from __future__ import annotations

import pandas as pd

from analysis import schema
from analysis.store import Store


def import_history(store: Store, limit: int = 200) -> pd.DataFrame:
    """Most recent imports first.

    Returns
    -------
    DataFrame with import_id, kind, file_name, imported_at, rows_read, rows_loaded,
    rows_updated, rows_rejected, warnings.
    """
    return store.query("""
        select import_id, kind, file_name, imported_at, rows_read, rows_loaded,
               rows_updated, rows_rejected, warnings
        from imports
        order by imported_at desc, import_id desc
        limit ?
    """, [int(limit)])


def rejected_rows(store: Store, import_id: int) -> pd.DataFrame:
    """The rows one import rejected: row_number, reason, raw."""
    return store.query("""
        select row_number, reason, raw from rejected_rows
        where import_id = ? order by row_number
    """, [int(import_id)])


def data_freshness(store: Store) -> pd.DataFrame:
    """Per importable table: rows held, the last import's time and file (None if never).

    Returns
    -------
    DataFrame with table, rows, last_import, last_file.
    """
    last = store.query("""
        select kind, imported_at as last_import, file_name as last_file
        from imports
        qualify row_number() over (partition by kind order by imported_at desc, import_id desc) = 1
    """).set_index("kind")
    counts = store.row_counts()
    rows = []
    for table in schema.IMPORTABLE_KINDS:
        found = table in last.index
        rows.append({
            "table": table,
            "rows": counts[table],
            "last_import": last.at[table, "last_import"] if found else None,
            "last_file": last.at[table, "last_file"] if found else None,
        })
    # object dtype keeps "never imported" as None rather than NaT.
    return pd.DataFrame(rows, dtype=object).astype({"rows": "int64"})

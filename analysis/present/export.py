"""Files the app writes for people to open elsewhere (CSV for spreadsheets)."""
from __future__ import annotations

import json

import pandas as pd

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value):
    """Prefix text that a spreadsheet would read as a formula with a quote; numbers pass."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _flat_cell(value):
    """A cell holding a list, tuple or dict (a result's sentences or groups) as JSON text, which
    a spreadsheet shows and a script parses; anything else as is."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def to_safe_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV (with BOM, so Excel reads accents) whose text cells cannot run as formulas;
    list, tuple and dict cells are written as JSON."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(lambda v: neutralise_cell(_flat_cell(v)))
    return safe.to_csv(index=False).encode("utf-8-sig")

"""Turning analysis results into JSON: None for anything missing, ISO strings for dates.

`json.dumps(..., allow_nan=False)` refuses NaN, and numpy scalars are not JSON at all, so every
`*_json` function passes its result through `clean` (or `records` for a DataFrame).
"""
from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd


def clean(value):
    """A JSON-ready copy of `value`: dicts and lists walked, numpy scalars made Python,
    NaN / NaT / pd.NA / infinities made None, dates and timestamps made ISO strings."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray, pd.Series)):
        return [clean(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp):
        # Midnight timestamps are dates that passed through pandas.
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return clean(pd.Timestamp(value))
    return value


def records(frame: pd.DataFrame, columns=None) -> list[dict]:
    """The rows of `frame` (only `columns`, in that order, when given) as JSON-ready dicts."""
    if columns is not None:
        frame = frame[list(columns)]
    return [clean(row) for row in frame.to_dict("records")]

"""Turning analysis results into JSON: None for anything missing, ISO strings for dates.

`json.dumps(..., allow_nan=False)` refuses NaN, and numpy scalars are not JSON at all, so every
`*_json` function passes its result through `clean` (or `records` for a DataFrame).
"""
from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd

# Values that are JSON already and come back as they are. Exact types, not isinstance: most
# of a metrics object is these, and a dict lookup beats a chain of isinstance checks
# (numpy scalars and other subclasses take the general path below).
_AS_IS = frozenset({str, int, bool, type(None)})


def clean(value):
    """A JSON-ready copy of `value`: dicts and lists walked, numpy scalars made Python,
    NaN / NaT / pd.NA / infinities made None, dates and timestamps made ISO strings."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return {k if type(k) is str else str(k): clean(v) for k, v in value.items()}
    if kind is list:
        return [clean(v) for v in value]
    return _clean_other(value)


def _clean_other(value):
    """`clean` for everything but the plain Python types."""
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


def _column(values: pd.Series) -> list:
    """One column as JSON-ready Python values, converted a whole column at a time where the
    dtype allows (numpy floats, integers, booleans); any other dtype value by value."""
    kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else "O"
    if kind in "iub":
        return values.to_numpy().tolist()  # Python ints and bools
    if kind == "f":
        array = values.to_numpy(dtype=float)
        out = array.astype(object)
        out[~np.isfinite(array)] = None
        return out.tolist()
    return [clean(v) for v in values.tolist()]


def records(frame: pd.DataFrame, columns=None) -> list[dict]:
    """The rows of `frame` (only `columns`, in that order, when given) as JSON-ready dicts."""
    if columns is not None:
        frame = frame[list(columns)]
    if not frame.columns.is_unique:  # rows as dicts keep the last of equal names
        return [clean(row) for row in frame.to_dict("records")]
    if not len(frame.columns):
        return [{} for _ in range(len(frame))]
    names = [str(c) for c in frame.columns]
    values = [_column(frame[c]) for c in frame.columns]
    return [dict(zip(names, row)) for row in zip(*values)]

"""How numbers read on a page, in a chart label and in the review pack: one place for every format.

Every function takes None (or NaN) and returns "—" for it, so a missing value never shows as
"None" or "nan".
"""
from __future__ import annotations

import math
from datetime import date, datetime

MISSING = "—"


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def percent(x, digits: int = 0) -> str:
    """A rate as a percentage: 0.354 -> "35%" (digits=1: "35.4%")."""
    return MISSING if _missing(x) else f"{x:.{digits}%}"


def points(x) -> str:
    """A difference of rates in percentage points with its sign ("+15", "−4"); a value just off
    zero keeps a decimal ("+0.2") so an interval's bound never hides which side of zero it is on."""
    if _missing(x):
        return MISSING
    value = x * 100
    text = f"{abs(value):.1f}" if 0 < abs(value) < 0.5 else f"{abs(round(value))}"
    return "0" if text in ("0", "0.0") else (f"+{text}" if value > 0 else f"−{text}")


def p_value(p) -> str:
    """A p-value as people read it: "p < 0.001", "p = 0.03", "p = 0.42"."""
    if _missing(p):
        return MISSING
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def count(n) -> str:
    """A count with thousands separators: 17584 -> "17,584"."""
    return MISSING if _missing(n) else f"{int(n):,}"


def day(value) -> str:
    """A date as "7 Dec 2026"; a timestamp keeps only its day."""
    if _missing(value):
        return MISSING
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        value = value.date()
    return f"{value.day} {value:%b %Y}"


def points_text(x) -> str:
    """A difference of rates as words: "+9 points", "−4 points", "0 points"."""
    return MISSING if _missing(x) else f"{points(x)} points"


def interval_points(low, high) -> str:
    """An interval of a difference in points: "+2 to +15 points"."""
    if _missing(low) or _missing(high):
        return MISSING
    return f"{points(low)} to {points(high)} points"


def interval_percent(low, high, digits: int = 0) -> str:
    """An interval of a rate: "41% to 58%"."""
    if _missing(low) or _missing(high):
        return MISSING
    return f"{percent(low, digits)} to {percent(high, digits)}"


def spread_points(x) -> str:
    """A spread (a standard deviation) of rates in points, unsigned: "9.1 points"."""
    return MISSING if _missing(x) else f"{abs(x) * 100:.1f} points"


def number(x, digits: int = 2) -> str:
    """A plain number with `digits` decimals: a ratio, a mean rating, a standardised difference."""
    return MISSING if _missing(x) else f"{x:,.{digits}f}"


def days(x) -> str:
    """A duration in whole days: "84 days"."""
    return MISSING if _missing(x) else f"{x:,.0f} days"


def text(x) -> str:
    """Any value as text; True/False as "yes"/"no", a date as `day`, missing as "—"."""
    if _missing(x) or (x is not None and str(x) in ("NaT", "nan", "<NA>")):
        return MISSING
    if isinstance(x, bool) or type(x).__name__ == "bool_":
        return "yes" if x else "no"
    if isinstance(x, (date, datetime)):
        return day(x)
    return str(x)


KINDS = {"percent": percent, "percent1": lambda x: percent(x, 1), "points": points_text,
         "p": p_value, "count": count, "day": day, "number": number, "days": days,
         "spread": spread_points, "text": text}


def table(frame, columns: dict[str, tuple[str, str]]):
    """A table for people to read: the `columns` picked, renamed and formatted as text.

    Parameters
    ----------
    frame : DataFrame
    columns : dict
        source column -> (label, kind), kind one of KINDS ("percent", "points", "p", "count",
        "day", "number", "days", "spread", "text"). Columns missing from `frame` are skipped.

    Returns
    -------
    DataFrame of strings with the labels as columns, in the order of `columns`; every missing
    value reads "—", never "None" or "nan".
    """
    import pandas as pd
    out = {}
    for source, (label, kind) in columns.items():
        if source in frame.columns:
            show = KINDS[kind]
            out[label] = [show(None if _blank(v) else v) for v in frame[source].tolist()]
    return pd.DataFrame(out, index=range(len(frame)))


def _blank(v) -> bool:
    try:
        import pandas as pd
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):  # a list or array cell
        return False


def relative_change(x) -> str:
    """A relative change of a count: "+12%", "−0.5%" (a decimal below 1% so a small change never
    reads "-0%"), "0%"."""
    if _missing(x):
        return MISSING
    value = x * 100
    if value == 0:
        return "0%"
    text = f"{abs(value):.1f}" if abs(value) < 1 else f"{abs(value):.0f}"
    return f"+{text}%" if value > 0 else f"−{text}%"

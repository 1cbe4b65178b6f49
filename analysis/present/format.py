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

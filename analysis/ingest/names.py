"""How names become ids, and how people's names are compared."""
from __future__ import annotations

import re

_NON_ID = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """DESIGN.md's id rule: lower case, every run of other characters turned into `_`.

    >>> slugify("Save Play - At Risk")
    'save_play_at_risk'
    """
    return _NON_ID.sub("_", str(name).strip().lower()).strip("_")


def normalise_person(value: str) -> str:
    """A CSM id, full name or email compared case- and spacing-insensitively."""
    return " ".join(str(value).split()).casefold()


_STATUS = re.compile(r"\s*\((deactivated|inactive|disabled|frozen|former)(\s+user)?\)\s*$",
                     re.IGNORECASE)


def strip_person_status(value: str) -> str:
    """"maria@x.com (Deactivated User)" -> "maria@x.com": the person, not the account state."""
    return _STATUS.sub("", str(value)).strip()


def looks_like_id(value: str) -> bool:
    """True for a person written as an id (no spaces, no @, a digit: "005Ec000004oBPN",
    "C-1"): such values are compared exactly, names and emails case-insensitively."""
    text = str(value).strip()
    return bool(text) and " " not in text and "@" not in text and any(c.isdigit() for c in text)

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

"""How names become ids (and ids read as names), and how people's names are compared."""
from __future__ import annotations

import re

_NON_ID = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """DESIGN.md's id rule: lower case, every run of other characters turned into `_`.

    >>> slugify("Save Play - At Risk")
    'save_play_at_risk'
    """
    return _NON_ID.sub("_", str(name).strip().lower()).strip("_")


# Acronyms an id spells in lower case that people write in capitals (Customer Success terms).
ACRONYMS = frozenset({"qbr", "ebr", "nps", "csat", "arr", "smb", "csm"})


def display_name(playbook_id: str) -> str:
    """How a person reads a playbook id that no definition or export names: its words spaced,
    the first capitalised, known acronyms (ACRONYMS, and their plurals) in capitals.

    >>> display_name("qbr_prep")
    'QBR prep'
    >>> display_name("at_risk")
    'At risk'
    >>> display_name("smb_csms_nps_follow_up")
    'SMB CSMs NPS follow up'
    """
    words = [w for w in re.split(r"[_\-\s]+", str(playbook_id).strip()) if w]
    if not words:
        return str(playbook_id)
    shown = [w.upper() if w.lower() in ACRONYMS
             else w[:-1].upper() + "s" if w.lower().endswith("s") and w[:-1].lower() in ACRONYMS
             else w for w in words]
    shown[0] = shown[0][:1].upper() + shown[0][1:]
    return " ".join(shown)


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

"""Every metric in one JSON object: what `python -m analysis metrics --json` prints.

The keys and their shapes are DESIGN.md's "Command line" contract; each comes from the same
`*_json(store, filters)` function its page uses, so the CLI and the app never disagree.
"""
from __future__ import annotations

from datetime import datetime, timezone
from importlib import import_module

from analysis import settings
from analysis.catalog import shared_catalog
from analysis.filters import Filters
from analysis.jsonable import clean
from analysis.store import Store

# key: (module, function). Order is the order of DESIGN.md's contract.
SECTIONS = {
    "usage": ("analysis.usage", "usage_json"),
    "before_after": ("analysis.before_after", "before_after_json"),
    "followers": ("analysis.followers", "followers_json"),
    "consistency": ("analysis.consistency", "consistency_json"),
    "proficiency": ("analysis.proficiency", "proficiency_json"),
    "versions": ("analysis.versions", "versions_json"),
    "feedback": ("analysis.feedback", "feedback_json"),
}


def section(key: str, store: Store, filters: Filters | None = None):
    """One key of the metrics object, computed by its module's `*_json` function."""
    if key not in SECTIONS:
        raise ValueError(f"unknown metrics key {key!r}; known: {', '.join(SECTIONS)}")
    module, function = SECTIONS[key]
    return getattr(import_module(module), function)(store, filters)


def metrics_json(store: Store, filters: Filters | None = None) -> dict:
    """Every metric of DESIGN.md for `filters`, ready for `json.dumps(allow_nan=False)`.

    Returns
    -------
    dict with the contract keys usage, before_after, followers, consistency, proficiency,
    versions, feedback, plus generated_at (UTC ISO timestamp), filters (those that are set)
    and settings (every declared setting but paths, so a result says how it was computed).
    """
    filters = filters or Filters()
    # Every section needs the playbook catalogue; build it once for the whole suite.
    with shared_catalog():
        result = {key: section(key, store, filters) for key in SECTIONS}
    result["generated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result["filters"] = filters.to_query()
    result["settings"] = {name: settings.default(name) for name in settings.SETTINGS
                          if not name.endswith(("_path", "_dir"))}
    return clean(result)

"""Every metric in one JSON object: what `python -m analysis metrics --json` prints.

The keys and their shapes are DESIGN.md's "Command line" contract; each comes from the same
`*_json(store, filters)` function its page uses, so the CLI and the app never disagree.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from datetime import datetime, timezone
from importlib import import_module

from analysis import settings
from analysis.playbooks.catalog import playbook_catalog, shared_catalog
from analysis.filters import Filters
from analysis.jsonable import clean
from analysis.metrics.designs.multiplicity import adjust_claims
from analysis.store import Store

# key: (module, function). Order is the order of DESIGN.md's contract.
SECTIONS = {
    "usage": ("analysis.metrics.usage", "usage_json"),
    "before_after": ("analysis.metrics.before_after", "before_after_json"),
    "followers": ("analysis.metrics.followers", "followers_json"),
    "consistency": ("analysis.metrics.consistency", "consistency_json"),
    "proficiency": ("analysis.metrics.proficiency", "proficiency_json"),
    "versions": ("analysis.metrics.versions", "versions_json"),
    "feedback": ("analysis.metrics.feedback", "feedback_json"),
}
# The order the sections start in when they run side by side: longest first, so the short ones
# fill in around them (at a million runs followers and usage are two thirds of the suite).
# Sections that never read the playbook catalogue start at once, while it is being built.
_LONGEST_FIRST = ("followers", "usage", "before_after", "consistency", "proficiency",
                  "versions", "feedback")
_WITHOUT_CATALOG = ("versions", "feedback")


def _start_order(key: str) -> int:
    return _LONGEST_FIRST.index(key) if key in _LONGEST_FIRST else len(_LONGEST_FIRST)


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
    # The sections are independent reads: run them side by side. DuckDB works outside the GIL
    # and each thread reads through its own cursor (Store), so one section's query overlaps
    # another's Python. Each task runs in a copy of this context, which holds the catalogue
    # shared by the whole suite (built once, before the sections that read it start, so
    # they share it instead of racing to build it).
    workers = max(1, min(len(SECTIONS), os.cpu_count() or 1))
    with shared_catalog(), ThreadPoolExecutor(max_workers=workers) as pool:
        def start(key):
            return pool.submit(copy_context().run, section, key, store, filters)

        futures = {key: start(key) for key in SECTIONS if key in _WITHOUT_CATALOG}
        playbook_catalog(store)
        futures.update({key: start(key) for key in sorted(SECTIONS, key=_start_order)
                        if key not in futures})
        result = {key: futures[key].result() for key in SECTIONS}
    adjust_claims(result)  # q-values and claims across every effect shown together
    result["generated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result["filters"] = filters.to_query()
    result["settings"] = {name: settings.default(name) for name in settings.SETTINGS
                          if not name.endswith(("_path", "_dir"))}
    return clean(result)

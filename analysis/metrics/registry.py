"""The one registry of metrics, and every metric in one JSON object (`metrics --json`).

`METRICS` is read by the CLI, the app's navigation (`navigation()`), the benchmark and the review
pack: adding a metric means its SQL, its module, one line here, its page and its tests.
The keys and shapes of `metrics_json` are DESIGN.md's "Command line" contract; each comes from
the same `*_json(ctx)` function its page uses, so the CLI and the app never disagree.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import import_module
from typing import TYPE_CHECKING

from analysis.filters import Filters

# The app imports this module for its navigation before it draws anything: what only the
# metrics need (pandas, scipy, the store, the catalogue) is imported when they run.
if TYPE_CHECKING:
    from analysis.context import Context
    from analysis.settings import Settings
    from analysis.store import Store


@dataclass(frozen=True)
class Metric:
    """One question the product answers.

    key            its key in `metrics --json` (DESIGN.md's contract)
    title          how a person names it (navigation, review pack, bench tables)
    module, function   `analysis.metrics.<module>.<function>(ctx)` gives its JSON
    page           the page script that shows it, or None (versions are on the library page)
    icon           the navigation icon (an emoji: icon fonts come from an external host)
    reads_catalog  False when it never reads the playbook catalogue (starts before it is built,
                   with a context whose catalog is None)
    cost           relative run time at a million runs; the longest start first
    """
    key: str
    title: str
    module: str
    function: str
    page: str | None
    icon: str
    reads_catalog: bool = True
    cost: int = 1

    def json(self, ctx: Context):
        """This metric's `metrics --json` value in the context `ctx`."""
        return getattr(import_module(self.module), self.function)(ctx)


def _metric(key, title, page, icon, **kw) -> Metric:
    return Metric(key, title, f"analysis.metrics.{key}", f"{key}_json", page, icon, **kw)


# In DESIGN.md's contract order, which is also the navigation order.
METRICS: tuple[Metric, ...] = (
    _metric("usage", "Usage", "pages/usage.py", "📊", cost=5),
    _metric("before_after", "Before/after", "pages/before_after.py", "↔️", cost=4),
    _metric("followers", "Followers vs non-followers", "pages/followers.py", "👥", cost=6),
    _metric("consistency", "Consistency across CSMs", "pages/consistency.py", "📏", cost=3),
    _metric("proficiency", "Time to proficiency", "pages/proficiency.py", "🎓", cost=2),
    _metric("versions", "Versions", None, "🏷️", reads_catalog=False),
    _metric("feedback", "Feedback", "pages/feedback.py", "💬", reads_catalog=False),
)
BY_KEY = {m.key: m for m in METRICS}
# Kept for callers that list the contract's keys.
SECTIONS = tuple(BY_KEY)


@dataclass(frozen=True)
class Page:
    path: str
    title: str
    icon: str
    writes: bool = False  # changes data: hidden from and refused to read-only users


def navigation() -> tuple[Page, ...]:
    """Every page of the app in the order a CS leader reads them: the overview, import and
    library, one page per metric that has one, the managers' coaching view, then the
    quarterly review."""
    return (
        Page("pages/overview.py", "Overview", "🏠"),
        Page("pages/import_data.py", "Import data", "📥", writes=True),
        Page("pages/library.py", "Playbook library", "📚"),
        *(Page(m.page, m.title, m.icon) for m in METRICS if m.page),
        Page("pages/coaching.py", "Coaching", "🧭"),
        Page("pages/quarterly_review.py", "Quarterly review", "🗂️"),
    )


def section(key: str, ctx: Context):
    """One key of the metrics object, computed by its module's `*_json` function."""
    if key not in BY_KEY:
        raise ValueError(f"unknown metrics key {key!r}; known: {', '.join(BY_KEY)}")
    return BY_KEY[key].json(ctx)


def metrics_json(store: Store, filters: Filters | None = None,
                 settings: Settings | None = None) -> dict:
    """Every metric of DESIGN.md for `filters`, ready for `json.dumps(allow_nan=False)`.

    One request: its settings (`settings`, else resolved now from the environment) and the
    playbook catalogue are fixed once in a `Context` every section reads.

    Returns
    -------
    dict with the contract keys usage, before_after, followers, consistency, proficiency,
    versions, feedback, plus generated_at (UTC ISO timestamp), filters (those that are set)
    and settings (every declared setting but paths, so a result says how it was computed).
    """
    from analysis.context import Context
    from analysis.jsonable import clean
    from analysis.metrics.designs.multiplicity import adjust_claims

    bare = Context.build(store, filters, settings, catalog=False)
    # The sections are independent reads: run them side by side. DuckDB works outside the GIL
    # and each thread reads through its own cursor (Store), so one section's query overlaps
    # another's Python. Sections that never read the catalogue start first, without it; the
    # catalogue is built once while they run and shared by the others; the longest start first.
    workers = max(1, min(len(METRICS), os.cpu_count() or 1))
    by_cost = sorted(METRICS, key=lambda m: -m.cost)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {m.key: pool.submit(m.json, bare) for m in by_cost if not m.reads_catalog}
        ctx = bare.with_catalog()
        futures.update({m.key: pool.submit(m.json, ctx) for m in by_cost if m.reads_catalog})
        result = {m.key: futures[m.key].result() for m in METRICS}
    # q-values and claims across the claims one page shows together (a section): the page and
    # the JSON then say the same (the overview and the pack adjust their own family).
    for metric in METRICS:
        adjust_claims({metric.key: result[metric.key]}, ctx.settings.alpha)
    result["generated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result["filters"] = ctx.filters.to_query()
    result["settings"] = ctx.settings.reported()
    return clean(result)

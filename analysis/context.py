"""The explicit context of one request: the store, the filters, the settings and the catalogue.

A request (a CLI command, `metrics_json`, a page run, a benchmark or calibration replicate)
builds one `Context` and hands it to every metric (`usage_json(ctx)`, `before_after(ctx)`, ...).
Nothing below it reads the environment or a hidden default: the settings were resolved once
(`Settings.resolve()`), the playbook catalogue was built once, and statistics receive `alpha`
and their thresholds from `ctx.settings` as arguments.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from analysis.filters import Filters
from analysis.settings import Settings, given_or_resolved
from analysis.store import Store


@dataclass(frozen=True, eq=False)
class Context:
    """What every metric reads.

    store     the database
    settings  the frozen settings of the request (hashable: a cache may key on it)
    filters   the view: period, segment, team, CSM, playbook
    catalog   the organisation's playbook catalogue (`analysis.playbooks.catalog.
              playbook_catalog`), or None when not built: only for metrics that never read it
              (`Metric.reads_catalog` False), so they can start before it is
    """
    store: Store
    settings: Settings
    filters: Filters = field(default_factory=Filters)
    catalog: pd.DataFrame | None = None

    @classmethod
    def build(cls, store: Store, filters: Filters | None = None,
              settings: Settings | None = None, *, folder: str | Path | None = None,
              catalog: bool = True) -> "Context":
        """The context of one request over `store`.

        Parameters
        ----------
        filters : Filters, optional
            None: no restriction.
        settings : Settings, optional
            None resolves them now (`Settings.resolve()`: the environment, else defaults).
        folder : path, optional
            The folder of playbook definitions the catalogue is built from (default: the
            organisation's, `definitions_folder`).
        catalog : bool
            False leaves the catalogue unbuilt (`with_catalog` builds it later).
        """
        settings = given_or_resolved(settings)
        bare = cls(store, settings, filters or Filters())
        return bare.with_catalog(folder) if catalog else bare

    def with_catalog(self, folder: str | Path | None = None) -> "Context":
        """This context with the catalogue built from `folder` (default: the organisation's
        definitions)."""
        from analysis.playbooks.catalog import definitions_folder, playbook_catalog
        folder = definitions_folder(self.store, self.settings) if folder is None else folder
        return replace(self, catalog=playbook_catalog(self.store, folder))

    def with_filters(self, filters: Filters | None = None, **changes) -> "Context":
        """This context for other filters: `filters`, or the current ones with `changes`
        (`with_filters(playbook_id="renewal")`). The catalogue does not depend on them."""
        filters = self.filters if filters is None else filters
        return replace(self, filters=filters.with_(**changes) if changes else filters)

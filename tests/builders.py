"""What the tests share: the context of a request (`ctx`), a database file the app opens, a page
run, and what a rendered page shows (metric values, messages, figures, the interval levels it
names)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

from streamlit.testing.v1 import AppTest

from analysis.context import Context
from analysis.filters import Filters
from analysis.settings import Settings
from analysis.store import Store

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "pages"

# "95% CI", "90% interval", "99.5% t interval", "95% of CSMs": a confidence level, as shown.
_LEVEL = re.compile(r"(\d+(?:\.\d+)?)% (?:CI\b|interval|t interval|of CSMs)")


def ctx(store: Store, filters=None, *, catalog=None, folder=None, **settings) -> Context:
    """The context of one request on `store`: the environment's settings with `settings`
    replaced (`ctx(store, alpha=0.1)`), and `catalog` or the one built from `folder` (default:
    the organisation's definitions)."""
    resolved = Settings.resolve(**settings)
    if catalog is not None:
        return Context(store, resolved, filters or Filters(), catalog)
    return Context.build(store, filters, resolved, folder=folder)


def page(name: str) -> str:
    """The path of pages/<name>.py, as AppTest.from_file wants it."""
    return str(PAGES / f"{name}.py")


def app_database(path: Path, monkeypatch, fill: Callable[[Store], None] | None = None) -> Path:
    """A database file at `path`, filled by `fill(store)` when given and closed again, that the
    pages then open (PLAYBOOK_IMPACT_DB)."""
    with Store(path) as store:
        if fill is not None:
            fill(store)
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(path))
    return path


def run_page(path: str, timeout: int = 60, **selectboxes) -> AppTest:
    """Run a page, then pick each selectbox value given by key; the page must not raise."""
    at = AppTest.from_file(path, default_timeout=timeout)
    at.run()
    for key, value in selectboxes.items():
        at.selectbox(key=key).set_value(value)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def computed_first(path: Path, analysis: Callable[[Store], object]):
    """An analysis result, computed before the page opens (and caches) the database."""
    with Store(path) as store:
        return analysis(store)


def metric_values(at: AppTest) -> dict[str, str]:
    """Each st.metric's label and shown value."""
    return {m.label: m.value for m in at.metric}


def messages(at: AppTest) -> list[str]:
    """The text of every info, success, warning and error box."""
    return [e.value for e in (*at.info, *at.success, *at.warning, *at.error)]


def figures(at: AppTest) -> list[dict]:
    """The page's plotly figures: a plotly chart is an UnknownElement whose spec is the JSON."""
    return [json.loads(e.proto.spec) for e in at.main.get("plotly_chart")]


def interval_levels(text: str) -> set[str]:
    """The confidence levels a text names, e.g. {"95"} for "... 95% CI 40% to 60% ..."."""
    return set(_LEVEL.findall(text))


def shown_levels(at: AppTest) -> set[str]:
    """The confidence levels named anywhere on a rendered page: captions, metric help, tables,
    chart titles and hover templates (all held in the elements' protos)."""
    return interval_levels(" ".join(str(getattr(node, "proto", "")) for node in at.main))

"""Warm the server once per process, in a background thread, after its first page is drawn.

Two costs would otherwise fall on the pages a person opens next:

- Imports. A page imports its analyses on first use (scipy, statsmodels, Jinja2, the plotly
  template): a second or more on a cold process, paid by whichever page comes first.
- Garbage collection. Streamlit collects garbage after every script run (runner.postScriptGC);
  with pandas, scipy, statsmodels and plotly loaded that walks ~200,000 objects, about 0.15 s
  on every page and every revisit. Once everything is imported, `gc.freeze` moves those
  long-lived objects out of the collector's rounds, so each run's collection walks only what
  later runs made.

pages/ is not auto-discovered (app.py lists the pages), so this module is never a page.
"""
from __future__ import annotations

import atexit
import gc
import importlib
import pkgutil
import threading

import streamlit as st


def _analysis_modules() -> list[str]:
    """Every module of the analysis package but its command-line entry point."""
    import analysis
    return [info.name for info in pkgutil.walk_packages(analysis.__path__, "analysis.")
            if not info.name.endswith("__main__")]


def _warm() -> None:
    for name in _analysis_modules():
        importlib.import_module(name)
    import plotly.io as pio
    from analysis.present.report import template
    pio.templates["plotly_white"]  # noqa: B018 (loaded from its JSON on first use)
    template()
    # Collect once, then leave what start-up created out of every later collection.
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Start the warm-up, once per process (later calls return the same thread)."""
    # Frozen objects are never collected: unfreeze at exit, so extension types are freed the
    # usual way when the interpreter shuts down.
    atexit.register(gc.unfreeze)
    thread = threading.Thread(target=_warm, name="playbook-impact-warm-up", daemon=True)
    thread.start()
    return thread

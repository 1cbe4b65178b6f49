"""What every page shares: the cached store. (pages/ is not auto-discovered: app.py lists pages.)"""
from __future__ import annotations

import streamlit as st

from analysis import settings
from analysis.store import Store


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    return Store(path)


def get_store() -> Store:
    """The app's database, opened once per process (PLAYBOOK_IMPACT_DB chooses the file)."""
    return _store(settings.db_path())

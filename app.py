"""Playbook Impact: page config and navigation, then (once per process) the warm-up."""
from pathlib import Path

import streamlit as st

from analysis.metrics.registry import navigation
from pages.common import login_gate
from pages.warm import warm_up

ROOT = Path(__file__).parent

st.set_page_config(page_title="Playbook Impact", page_icon="📈", layout="wide")

role = login_gate()
pages = [st.Page(str(ROOT / page.path), title=page.title, icon=page.icon)
         for page in navigation()
         if (ROOT / page.path).exists() and (role == "admin" or not page.writes)]
st.navigation(pages).run()
# After the first page is drawn, so the first screen never waits for it.
warm_up()

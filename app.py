"""Playbook Impact: page config and navigation, nothing else."""
from pathlib import Path

import streamlit as st

from pages.common import login_gate

ROOT = Path(__file__).parent

st.set_page_config(page_title="Playbook Impact", page_icon="📈", layout="wide")

# (file, title, icon) in the order a CS leader reads them. Emoji icons: a :material/ icon is
# fetched from an external font host, which fails offline and sends a request off the machine.
PAGES = [
    ("pages/overview.py", "Overview", "🏠"),
    ("pages/import_data.py", "Import data", "📥"),
    ("pages/library.py", "Playbook library", "📚"),
    ("pages/usage.py", "Usage", "📊"),
    ("pages/before_after.py", "Before/after", "↔️"),
    ("pages/followers.py", "Followers vs non-followers", "👥"),
    ("pages/consistency.py", "Consistency across CSMs", "🎯"),
    ("pages/proficiency.py", "Time to proficiency", "🎓"),
    ("pages/feedback.py", "Feedback", "💬"),
    ("pages/coaching.py", "Coaching", "🧭"),
    ("pages/quarterly_review.py", "Quarterly review", "🗂️"),
]

# Pages that change data are hidden from read-only users (and refuse them if opened directly).
WRITES = {"pages/import_data.py"}

role = login_gate()
pages = [st.Page(str(ROOT / path), title=title, icon=icon)
         for path, title, icon in PAGES
         if (ROOT / path).exists() and (role == "admin" or path not in WRITES)]
st.navigation(pages).run()

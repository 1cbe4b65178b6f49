"""Playbook Impact: page config and navigation, nothing else."""
from pathlib import Path

import streamlit as st

from pages.common import login_gate

ROOT = Path(__file__).parent

st.set_page_config(page_title="Playbook Impact", page_icon=":material/insights:", layout="wide")

# (file, title, icon) in the order a CS leader reads them.
PAGES = [
    ("pages/overview.py", "Overview", ":material/dashboard:"),
    ("pages/import_data.py", "Import data", ":material/upload_file:"),
    ("pages/library.py", "Playbook library", ":material/menu_book:"),
    ("pages/usage.py", "Usage", ":material/bar_chart:"),
    ("pages/before_after.py", "Before/after", ":material/compare_arrows:"),
    ("pages/followers.py", "Followers vs non-followers", ":material/group:"),
    ("pages/consistency.py", "Consistency across CSMs", ":material/align_horizontal_center:"),
    ("pages/proficiency.py", "Time to proficiency", ":material/school:"),
    ("pages/feedback.py", "Feedback", ":material/reviews:"),
    ("pages/quarterly_review.py", "Quarterly review", ":material/summarize:"),
]

# Pages that change data are hidden from read-only users (and refuse them if opened directly).
WRITES = {"pages/import_data.py"}

role = login_gate()
pages = [st.Page(str(ROOT / path), title=title, icon=icon)
         for path, title, icon in PAGES
         if (ROOT / path).exists() and (role == "admin" or path not in WRITES)]
st.navigation(pages).run()

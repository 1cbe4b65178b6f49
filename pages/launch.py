"""What the pages comparing CSMs around the program launch share (Consistency, Time to
proficiency). Not a page itself: app.py lists the pages."""
from __future__ import annotations

from datetime import date

import streamlit as st

NO_LAUNCH = ("No program launch date yet. Import **playbook_runs** on the Import data page (with "
             "no definitions, the first playbook run is the launch), adopt or add playbook "
             "definitions on the Playbook library page (the earliest introduced_on is the "
             "launch), or set launch_date.")


def require_launch(launch_date: date | None) -> None:
    """Stop the page, saying how to get one, when there is no program launch date."""
    if launch_date is None:
        st.info(NO_LAUNCH)
        st.stop()

"""What every page shares: the cached store, the sidebar filters, empty states.

pages/ is not auto-discovered (app.py lists the pages), so this module is never a page.
"""
from __future__ import annotations

import os
import re
from datetime import date

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from analysis import auth, settings
from analysis.filters import Filters
from analysis.present.options import filter_options
from analysis.store import Store, StoreError, app_db_path

ALL = "All"
# Markdown that text from data could trigger in st.warning/st.error/st.caption (links, emphasis,
# code, math, HTML entities, tables, colour directives and emoji shortcodes such as :red[x]).
_MARKDOWN = re.compile(r"([\\`*_\[\]<>$~|#&]|:(?=\S))")
# Filters live in the session (query parameters are cleared when the user changes page) and
# are written back to the URL on every page, so a copied link reproduces the view.
_SESSION_KEY = "filters"


def md_text(text) -> str:
    """`text` from a file or the database, escaped so Streamlit's Markdown shows it as written.

    st.warning, st.error, st.info and st.caption render Markdown: a playbook named
    "[Renew](https://x)" would become a link. Every Markdown character gets a backslash, which
    Markdown drops when rendering, so what is shown is the text itself. (A bare URL may still
    be made a link by Streamlit; its text is then the URL itself, nothing hidden.)
    """
    return _MARKDOWN.sub(r"\\\1", str(text))


def pct(x) -> str:
    """A rate as a percentage with one decimal, "—" when there is none."""
    return "—" if x is None else f"{x:.1%}"


def rate_help(row, prefix: str, counted: str) -> str:
    """Metric help for the rate in `row`'s `<prefix>_successes/_n/_ci_low/_ci_high`:
    "12 of 40 <counted>; 95% CI 17.9% to 45.6% (Wilson)." at the level the analyses used."""
    from analysis.metrics.stats import confidence_label
    return (f"{row[f'{prefix}_successes']:,} of {row[f'{prefix}_n']:,} {counted}; "
            f"{confidence_label()} CI {pct(row[f'{prefix}_ci_low'])} to "
            f"{pct(row[f'{prefix}_ci_high'])} (Wilson).")


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    return Store(path)


def _through_app() -> None:
    """Make sure app.py (login, navigation) runs before any page.

    Until app.py has called st.navigation once in this server process, Streamlit treats a
    `pages/` folder as a legacy multipage app: a shared link such as /usage, opened as the
    first request after a start, would run pages/usage.py alone, with every file of the folder
    in the sidebar and no login. Leaving that legacy mode and rerunning hands the request to
    app.py, whose navigation then opens the linked page.
    """
    from streamlit.runtime.pages_manager import PagesManager
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_resource(show_spinner=False)
def _chosen_path(explicit: str | None, org: str, demo: str) -> str:
    # Chosen once per process (and again after "Start your organisation's database"): the
    # organisation's database when it holds data, else the demo's (analysis.store.app_db_path).
    return app_db_path()


def app_path() -> str:
    """The database file the app shows (PLAYBOOK_IMPACT_DB, else the organisation's or the
    demo's: analysis.store.app_db_path)."""
    return _chosen_path(os.environ.get("PLAYBOOK_IMPACT_DB"), str(settings.default("db_path")),
                        settings.demo_db_path())


def get_store() -> Store:
    """The app's database, opened once per process (`app_path` chooses the file).

    When another process holds the file (a second app, an import from the CLI), the page says
    so and stops instead of showing a traceback.
    """
    _through_app()
    try:
        store = _store(app_path())
    except StoreError as exc:
        advice = ("Close the other Playbook Impact process (or the CLI command using this "
                  "database) and reload the page." if exc.busy else "")
        st.error(f"{exc}\n\n{advice}".strip())
        st.stop()
    return store


def demo_banner(store: Store) -> None:
    """On the demo database, the line every page shows (from sidebar_filters, which every
    analysis page calls once per run; the Import page calls it itself)."""
    if store.is_demo():
        st.info("**Demo data.** These figures are the demo organisation's, generated with the "
                "shipped playbook templates: not your organisation's. Import your own exports "
                "on the Import page (it starts your organisation's database).", icon="🧪")


def start_organisation_database() -> None:
    """Create the organisation's own database and switch the app to it (the Import page's
    button on the demo)."""
    from analysis.store import start_organisation
    if os.environ.get("PLAYBOOK_IMPACT_DB"):  # the app is pinned to that file
        raise StoreError(f"PLAYBOOK_IMPACT_DB points the app at the demo database "
                         f"({os.environ['PLAYBOOK_IMPACT_DB']}); point it at another file (or "
                         "unset it) and restart the app to use your organisation's database.")
    start_organisation().close()
    _chosen_path.clear()


# -- optional login ---------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _limiter() -> auth.LoginLimiter:
    return auth.LoginLimiter()


def _users() -> dict[str, auth.User]:
    try:
        config = st.secrets.get("auth", {})
    except StreamlitSecretNotFoundError:  # no secrets.toml: local use, login off
        return {}
    try:
        return auth.users_from_config(config)
    except ValueError as exc:
        st.error(f"Login is misconfigured in `.streamlit/secrets.toml`: {exc}")
        st.stop()


def current_role() -> str | None:
    """'admin' when login is off; the signed-in user's role, or None before sign-in."""
    if not _users():
        return "admin"
    return st.session_state.get("auth_role")


def login_gate() -> str:
    """Ask for a user name and password when login is configured; return the role."""
    users = _users()
    if not users:
        return "admin"
    if st.session_state.get("auth_role"):
        st.sidebar.caption(f"Signed in as {st.session_state['auth_user']} "
                           f"({st.session_state['auth_role']})")
        if st.sidebar.button("Sign out", key="auth_sign_out"):
            for key in ("auth_user", "auth_role"):
                st.session_state.pop(key, None)
            st.rerun()
        return st.session_state["auth_role"]
    st.title("Playbook Impact")
    with st.form("login"):
        name = st.text_input("User name", key="auth_name")
        password = st.text_input("Password", type="password", key="auth_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        limiter = _limiter()
        wait = limiter.seconds_locked(name)
        user = None if wait else limiter.attempt(users, name, password)
        if user:
            st.session_state["auth_user"], st.session_state["auth_role"] = user.name, user.role
            st.rerun()
        elif wait or limiter.seconds_locked(name):
            st.error("Too many failed sign-ins for this user; try again in a few minutes.")
        else:
            st.error("User name or password is wrong.")
    st.stop()


def require_admin() -> None:
    """Stop a page that changes data when the signed-in user may only read."""
    if not auth.can_import(current_role()):
        st.warning("Your account can read the dashboards but not import or change data.")
        st.stop()


def _initial_filters() -> Filters:
    if _SESSION_KEY in st.session_state:
        return st.session_state[_SESSION_KEY]
    try:
        return Filters.from_query(st.query_params.to_dict())
    except ValueError:
        st.sidebar.warning("The link's filters could not be read; showing all data.")
        return Filters()


def _choice(label: str, options: tuple[str, ...], current: str | None, key: str) -> str | None:
    values = [ALL, *options]
    if key not in st.session_state:
        st.session_state[key] = current if current in options else ALL
    picked = st.sidebar.selectbox(label, values, key=key)
    return None if picked == ALL else picked


def sidebar_filters(store: Store | None = None) -> Filters:
    """Render the period / segment / team / playbook filters and return the chosen Filters."""
    store = store or get_store()
    demo_banner(store)
    options = filter_options(store)
    current = _initial_filters()
    st.sidebar.header("Filters")
    date_from = date_to = None
    if options.first_date and options.last_date:
        if "flt_period" not in st.session_state:
            st.session_state["flt_period"] = (current.date_from or options.first_date,
                                              current.date_to or options.last_date)
        period = st.sidebar.date_input("Period", key="flt_period",
                                       min_value=date(2000, 1, 1), max_value=date(2100, 1, 1),
                                       help="Runs by opened date, renewals by renewal date.")
        if isinstance(period, (tuple, list)) and len(period) == 2:
            lo, hi = period
            date_from = lo if lo != options.first_date else None
            date_to = hi if hi != options.last_date else None
    filters = Filters(
        date_from=date_from, date_to=date_to,
        segment=_choice("Segment", options.segments, current.segment, "flt_segment"),
        team=_choice("Team", options.teams, current.team, "flt_team"),
        playbook_id=_choice("Playbook", options.playbooks, current.playbook_id, "flt_playbook"),
    )
    st.session_state[_SESSION_KEY] = filters
    st.query_params.from_dict(filters.to_query())
    return filters


def require_rows(frame: pd.DataFrame | None, message: str) -> None:
    """Stop the page with a friendly note when there is nothing to show."""
    if frame is None or len(frame) == 0:
        st.info(message)
        st.stop()


def download_csv(frame: pd.DataFrame, file_name: str, key: str) -> None:
    """A CSV download of a table, with formula-looking cells neutralised for spreadsheets."""
    from analysis.present.export import to_safe_csv
    st.download_button("Download CSV", to_safe_csv(frame), file_name=file_name,
                       mime="text/csv", key=key)

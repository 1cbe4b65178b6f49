"""What every page shares: the page's context (store, settings, sidebar filters, catalogue),
cached analyses, empty states.

A page run is one request: `page_context()` resolves the settings once, opens the store,
renders the sidebar filters and takes the catalogue, and the page hands that `Context` to
every analysis. Caches key on what their function reads: a Store by its file and data
version, a Context by those and its settings, filters and catalogue (`CACHE_KEYS`).

pages/ is not auto-discovered (app.py lists the pages), so this module is never a page.
app.py imports it before anything is drawn, so what needs pandas or DuckDB (the store, the
filter options) is imported where it is used: a page's title shows before those load.
"""
from __future__ import annotations

import dataclasses
import re
from datetime import date
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from analysis import auth
from analysis.present import format as fmt
from analysis.present.designs import design_note
from analysis.filters import Filters
from analysis.settings import Settings, pinned_db

if TYPE_CHECKING:
    import pandas as pd

    from analysis.context import Context
    from analysis.store import Store

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


def rate_help(row, prefix: str, counted: str, alpha: float) -> str:
    """Metric help for the rate in `row`'s `<prefix>_successes/_n/_ci_low/_ci_high`:
    "12 of 40 <counted>; 95% CI 17.9% to 45.6% (Wilson)." at the level the analyses used
    (`alpha`)."""
    from analysis.metrics.stats import confidence_label
    return (f"{row[f'{prefix}_successes']:,} of {row[f'{prefix}_n']:,} {counted}; "
            f"{confidence_label(alpha)} CI "
            f"{fmt.interval_percent(row[f'{prefix}_ci_low'], row[f'{prefix}_ci_high'], 1)} "
            "(Wilson).")


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    from analysis.store import Store
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
def _chosen_path(pinned: str | None, org: str, demo: str) -> str:
    # Chosen once per process (and again after "Start your organisation's database"): the
    # organisation's database when it holds data, else the demo's (analysis.store.app_db_path).
    from analysis.store import app_db_path
    return app_db_path(pinned, org, demo)


def app_path(settings: Settings) -> str:
    """The database file the app shows (PLAYBOOK_IMPACT_DB, else the organisation's or the
    demo's: analysis.store.app_db_path)."""
    return _chosen_path(pinned_db(), settings.db_path, settings.demo_db_path)


def get_store(settings: Settings) -> Store:
    """The app's database, opened once per process (`app_path` chooses the file).

    When another process holds the file (a second app, an import from the CLI), the page says
    so and stops instead of showing a traceback.
    """
    from analysis.store import StoreError
    _through_app()
    try:
        store = _store(app_path(settings))
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


def start_organisation_database(settings: Settings) -> None:
    """Create the organisation's own database and switch the app to it (the Import page's
    button on the demo)."""
    from analysis.store import StoreError, start_organisation
    pinned = pinned_db()
    if pinned:  # the app is pinned to that file
        raise StoreError(f"PLAYBOOK_IMPACT_DB points the app at the demo database "
                         f"({pinned}); point it at another file (or "
                         "unset it) and restart the app to use your organisation's database.")
    start_organisation(settings.db_path, settings.demo_db_path).close()
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


# The sidebar's widgets, by the Filters field each one sets. Streamlit drops a widget's state
# when a run does not render it (a page change can do that), so the widgets are only views:
# the Filters in st.session_state[_SESSION_KEY] are the truth, copied into each widget before
# it is drawn and updated from it by its on_change callback.
_WIDGETS = {"segment": "flt_segment", "team": "flt_team", "csm": "flt_csm",
            "playbook_id": "flt_playbook"}
_PERIOD = "flt_period"
# Cached results older than this are computed again: every key holds the data version (an
# import or undo, the CLI's included, changes it), so this only bounds their memory.
_OPTIONS_TTL = 60


def _store_key(store: Store) -> tuple:
    """A store as a cache key: its file and data version, which moves with every import or
    undo (the CLI's included) and with the row counts of what the triggers read (an edit
    made outside the app)."""
    from analysis.playbooks import triggers
    from analysis.present.options import data_version
    return store.path, data_version(store), triggers.data_version(store)


def _context_key(ctx: Context) -> tuple:
    """A context as a cache key: what an analysis reads from it."""
    return _store_key(ctx.store), ctx.settings, ctx.filters, ctx.catalog


# hash_funcs for st.cache_data over functions that take a Store or a Context, by the classes'
# full names, so that neither (nor pandas and DuckDB behind them) is imported before a page's
# title is drawn.
CACHE_KEYS = {"analysis.store.Store": _store_key, "analysis.context.Context": _context_key}


@st.cache_data(ttl=_OPTIONS_TTL, show_spinner=False, hash_funcs=CACHE_KEYS)
def options(store: Store):
    """What the filters can choose from (`present.options.FilterOptions`), cached."""
    from analysis.present.options import filter_options
    return filter_options(store)


@st.cache_data(ttl=_OPTIONS_TTL, show_spinner=False, hash_funcs=CACHE_KEYS)
def _catalog(store: Store, playbooks: tuple) -> pd.DataFrame:
    from analysis.playbooks.catalog import catalog_of
    return catalog_of(store, playbooks)


def page_catalog(store: Store, settings: Settings) -> pd.DataFrame:
    """The organisation's playbook catalogue, computed again only when the data or a
    definition changes (the definitions are read here, from files cached by their mtime)."""
    from analysis.playbooks.catalog import definitions_folder
    from analysis.playbooks.library import load_playbooks
    return _catalog(store, load_playbooks(definitions_folder(store, settings)))


def playbook_names(catalog: pd.DataFrame) -> dict[str, str]:
    """Each playbook id's display name (the catalogue's; the id read as words for one without:
    `analysis.ingest.names.display_name`)."""
    from analysis.ingest.names import display_name
    return {pid: (name if isinstance(name, str) and name.strip() else display_name(pid))
            for pid, name in zip(catalog["playbook_id"], catalog["name"])}


def csm_names(store: Store) -> dict[str, str]:
    """Each CSM id's display name (the roster's name; the id for one without)."""
    return options(store).csm_names


def claim_p(result):
    """The p-value a summary's claim rests on (its effect's), else its descriptive test's."""
    effect = getattr(result, "effect", None)
    if effect is not None and effect.p_value is not None:
        return effect.p_value
    return result.p_value


def show_design(ctx: Context, method, claim, group_kind=None) -> None:
    """A caption under a verdict: the design it rests on and what it assumes
    (analysis.present.designs)."""
    note = design_note(method, claim, dataclasses.asdict(ctx.settings), group_kind)
    if note:
        st.caption(note)


def page_context(sidebar: bool = True) -> Context:
    """The context of this page run, built once per run: settings resolved now (from the
    environment), the app's store, and with `sidebar` the filters (rendered there) and the
    catalogue. Without it (the Import page) the filters are empty and the catalogue unbuilt.
    """
    from analysis.context import Context
    settings = Settings.resolve()
    store = get_store(settings)
    if not sidebar:
        return Context(store, settings)
    catalog = page_catalog(store, settings)
    return Context(store, settings, sidebar_filters(store, catalog), catalog)


def _initial_filters() -> Filters:
    """The session's filters; on a session's first run, those of the link that opened it."""
    if _SESSION_KEY not in st.session_state:
        try:
            found = Filters.from_query(st.query_params.to_dict())
        except ValueError:
            st.sidebar.warning("The link's filters could not be read; showing all data.")
            found = Filters()
        st.session_state[_SESSION_KEY] = found
    return st.session_state[_SESSION_KEY]


def _picked(field: str, key: str) -> None:
    """on_change of a filter's selectbox: the choice becomes the session's filter."""
    value = st.session_state.get(key)
    st.session_state[_SESSION_KEY] = _initial_filters().with_(
        **{field: None if value in (ALL, None) else value})


def _period_picked(first: date, last: date) -> None:
    """on_change of the period: a full range becomes the session's period (the data's own
    bounds mean 'no restriction'); a half-picked range waits for its second date."""
    period = st.session_state.get(_PERIOD)
    if isinstance(period, (tuple, list)) and len(period) == 2:
        lo, hi = period
        st.session_state[_SESSION_KEY] = _initial_filters().with_(
            date_from=lo if lo != first else None, date_to=hi if hi != last else None)


def _choice(label: str, field: str, options: tuple[str, ...], current: str | None,
            names: dict[str, str] | None = None) -> str | None:
    key = _WIDGETS[field]
    value = current if current in options else ALL
    st.session_state[key] = value  # the widget shows the session's filter, whatever it held
    st.sidebar.selectbox(label, [ALL, *options], key=key, on_change=_picked, args=(field, key),
                         format_func=(lambda v: v if v == ALL else names.get(v, v))
                         if names else str)
    return None if value == ALL else value


def _period(current: Filters, first: date, last: date) -> tuple[date | None, date | None]:
    lo, hi = current.date_from or first, current.date_to or last
    shown = st.session_state.get(_PERIOD)
    # A half-picked range stays as the user left it; anything else shows the session's period.
    if not (isinstance(shown, (tuple, list)) and len(shown) == 1):
        st.session_state[_PERIOD] = (lo, hi)
    st.sidebar.date_input("Period", key=_PERIOD, min_value=date(2000, 1, 1),
                          max_value=date(2100, 1, 1), on_change=_period_picked,
                          args=(first, last),
                          help="Runs by opened date, renewals by renewal date.")
    return (lo if lo != first else None), (hi if hi != last else None)


def sidebar_filters(store: Store, catalog: pd.DataFrame) -> Filters:
    """Render the period / segment / team / CSM / playbook filters, say which are active above
    the page's figures, write them to the URL, and return them (playbooks named by
    `catalog`).

    The same Filters hold on every page of the session, in any order of navigation, and a
    link's query string (?segment=SMB&team=...) sets them on the session's first page.
    """
    demo_banner(store)
    choices, names = options(store), playbook_names(catalog)
    current = _initial_filters()
    st.sidebar.header("Filters")
    date_from = date_to = None
    if choices.first_date and choices.last_date:
        date_from, date_to = _period(current, choices.first_date, choices.last_date)
    filters = Filters(
        date_from=date_from, date_to=date_to,
        segment=_choice("Segment", "segment", choices.segments, current.segment),
        team=_choice("Team", "team", choices.teams, current.team),
        csm=_choice("CSM", "csm", choices.csms, current.csm, choices.csm_names),
        playbook_id=_choice("Playbook", "playbook_id", choices.playbooks, current.playbook_id,
                            names),
    )
    st.session_state[_SESSION_KEY] = filters
    st.query_params.from_dict(filters.to_query())
    st.caption(active_filters_text(filters, choices, names))
    return filters


def active_filters_text(filters: Filters, options, playbooks: dict[str, str]) -> str:
    """One line naming the view: "Showing 1 Jan 2024 – 31 Oct 2026 · Segment: SMB · ..."."""
    lo = filters.date_from or options.first_date
    hi = filters.date_to or options.last_date
    parts = [f"Showing {fmt.day(lo)} – {fmt.day(hi)}" if lo and hi else "Showing all data"]
    for label, value in (("Segment", filters.segment), ("Team", filters.team),
                         ("CSM", options.csm_names.get(filters.csm, filters.csm)),
                         ("Playbook", playbooks.get(filters.playbook_id, filters.playbook_id))):
        if value is not None:
            parts.append(f"{label}: {md_text(value)}")
    if len(parts) == 1:
        parts.append("all segments, teams, CSMs and playbooks")
    return " · ".join(parts)


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


def show_table(ctx: Context, frame: pd.DataFrame, columns: dict[str, tuple], key: str) -> None:
    """A table for people: `columns` maps a source column to (label, kind[, help]); kind is one
    of format.KINDS, or "playbook" / "csm" for an id shown as its display name (from the
    context's catalogue and roster). The help text shows on the column header. Ids stay in
    the CSV downloads, never here."""
    lookups = {"playbook": playbook_names(ctx.catalog), "csm": csm_names(ctx.store)}
    shown, spec, helps = frame.copy(), {}, {}
    for source, (label, kind, *help_text) in columns.items():
        if source not in shown.columns:
            continue
        if kind in lookups:
            shown[source] = [lookups[kind].get(v, v) for v in shown[source]]
            kind = "text"
        spec[source] = (label, kind)
        helps[label] = help_text[0] if help_text else None
    st.dataframe(fmt.table(shown, spec), hide_index=True, key=key, column_config={
        label: st.column_config.TextColumn(label, help=text) for label, text in helps.items()})


def data_last_date(store: Store, filters: Filters | None = None) -> date | None:
    """The day the data (or the period filter) stops: a period containing it is partial."""
    last = options(store).last_date
    if filters is not None and filters.date_to is not None and last is not None:
        return min(last, filters.date_to)
    return last


@st.cache_data(ttl=_OPTIONS_TTL, show_spinner=False, max_entries=256, hash_funcs=CACHE_KEYS)
def _cached_call(module: str, name: str, ctx: Context, args: tuple, kwargs: tuple):
    import importlib
    return getattr(importlib.import_module(module), name)(ctx, *args, **dict(kwargs))


def cached(analysis, ctx: Context, *args, **kwargs):
    """`analysis(ctx, *args, **kwargs)`, computed once per database and data version,
    settings, filters, catalogue and arguments, so a page revisited with the same filters
    answers at once (an import also clears the cache)."""
    return _cached_call(analysis.__module__, analysis.__name__, ctx, args,
                        tuple(sorted(kwargs.items())))


def empty_view(filters: Filters, message: str) -> str:
    """The note for an empty page: with a segment, team, CSM or playbook filter set, the view is
    what is empty (importing more would not help), so say that; else `message`."""
    narrowed = [f"{label}: {value}" for label, value in (
        ("Segment", filters.segment), ("Team", filters.team), ("CSM", filters.csm),
        ("Playbook", filters.playbook_id)) if value is not None]
    if not narrowed:
        return message
    return (f"Nothing to show for {md_text(' · '.join(narrowed))}: no data matches these "
            "filters. Widen them in the sidebar.")

"""One walk through the running app in a real browser, as a new user would take it.

Start the app on an empty database, upload four exports on Import data, import them, then
open every page from the sidebar: no exception, no error box, no dialog (the account named
`<script>alert(1)</script>` must show as text, never run, and a CSM named in Markdown must show
as written in the import warning, not as a link).
"""
import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.browser import ARGS, CHROMIUM, serve

DATA = Path(__file__).resolve().parent / "browser_data"
# Imported in this order so runs and renewals find their accounts and CSMs.
EXPORTS = [("csms.csv", "csms", 6), ("accounts.csv", "accounts", 24),
           ("renewals.csv", "renewals", 96), ("playbook_runs.csv", "playbook_runs", 121)]
SCRIPT_NAME = "<script>alert(1)</script>"
# A CSM name that is Markdown: the import warning naming it must show it as written.
MARKDOWN_NAME = "[Click me](https://example.com) **now**"


def _require_chromium():
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
    pytest.skip(f"{CHROMIUM} is not installed")


@contextmanager
def _serve(folder: Path, db: Path):
    """`streamlit run app.py` on a free port with `db` as its database; yields the URL."""
    # The organisation's own playbooks in the test's folder, never the developer's data/.
    env = {"PLAYBOOK_IMPACT_ORG_PLAYBOOKS_DIR": str(folder / "playbooks"),
           "PLAYBOOK_IMPACT_DEMO_DB_PATH": str(folder / "demo.duckdb")}
    with serve(db, folder / "streamlit.log", env=env) as (url, _, _):
        yield url


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    _require_chromium()
    folder = tmp_path_factory.mktemp("browser")
    with _serve(folder, folder / "new-user.duckdb") as url:
        yield url


@pytest.fixture(scope="module")
def browser_page(app_url):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        dialogs = []

        def on_dialog(dialog):
            dialogs.append(dialog.message)
            dialog.dismiss()
        page.on("dialog", on_dialog)
        page.dialogs = dialogs
        yield page
        browser.close()


def _settle(page, timeout=180_000):
    """Wait until the script run is over and no spinner is left (the app's own run state)."""
    page.wait_for_timeout(500)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                           timeout=timeout)
    page.wait_for_function('document.querySelectorAll(\'[data-testid="stSpinner"]\').length === 0',
                           timeout=timeout)
    page.wait_for_timeout(300)


def _assert_clean(page, name):
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {name}"
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0, f"error box on {name}"
    assert page.dialogs == [], f"a dialog opened on {name}: {page.dialogs}"


def _open(page, title):
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    _settle(page)


def _pick(page, key, typed, expected):
    """Choose a selectbox option by typing part of it (Streamlit's selectbox filters)."""
    picker = page.locator(f".st-key-{key} input")
    picker.scroll_into_view_if_needed()
    picker.click()
    picker.fill(typed)
    page.keyboard.press("Enter")
    _settle(page)
    assert picker.input_value() == expected


def test_a_new_user_imports_exports_and_reads_every_page(app_url, browser_page, tmp_path_factory):
    page, shots = browser_page, tmp_path_factory.mktemp("screenshots")
    page.goto(app_url)
    _settle(page)
    page.get_by_text("No data yet").first.wait_for()
    _assert_clean(page, "empty overview")

    _open(page, "Import data")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        [str(DATA / name) for name, _, _ in EXPORTS])
    _settle(page)
    page.get_by_role("button", name="Import", exact=True).nth(len(EXPORTS) - 1).wait_for()
    for i, (name, kind, rows) in enumerate(EXPORTS):
        panel = page.locator(f".st-key-panel_{i}")
        assert name in panel.inner_text()
        # The table was guessed from the headers and waits for confirmation.
        assert panel.locator(f".st-key-kind_{i} input").input_value() == kind
        panel.get_by_role("button", name="Import", exact=True).click()
        _settle(page)
        panel.get_by_text(f"Imported {name} into {kind}.").wait_for()
        loaded = panel.locator('[data-testid="stMetric"]').filter(has_text="Loaded")
        assert loaded.locator('[data-testid="stMetricValue"]').inner_text().strip() == f"{rows:,}"
    # The hostile account name is shown as text in the preview, never run.
    assert page.get_by_text(SCRIPT_NAME, exact=True).count() >= 1
    # The Markdown CSM name is shown as written in the import warning: no link, no bold.
    roster = page.locator('[data-testid="stAlertContentWarning"]').filter(
        has_text="not in the roster").last
    assert f"'{MARKDOWN_NAME}'" in roster.inner_text()
    # No link hides behind other text (a bare URL may be linked, its text being the URL).
    for link in roster.locator("a").all():
        assert link.inner_text() == link.get_attribute("href")
    assert page.get_by_role("link", name="Click me").count() == 0
    assert roster.locator("strong, em").count() == 0
    page.screenshot(path=str(shots / "import.png"), full_page=True)
    _assert_clean(page, "Import data")

    # Undo the runs import, then import the file again.
    _pick(page, "undo_pick", "#4 playbook_runs.csv", "#4 playbook_runs.csv (playbook_runs)")
    page.locator(".st-key-undo_import").get_by_role("button", name="Undo").click()
    _settle(page)
    page.get_by_text("Undid import 4").wait_for()
    page.locator(".st-key-panel_3").get_by_role("button", name="Import", exact=True).click()
    _settle(page)
    _pick(page, "undo_pick", "#5 playbook_runs.csv", "#5 playbook_runs.csv (playbook_runs)")
    _assert_clean(page, "Import data after undo")

    # A link's text is its icon's name, then its title.
    titles = [t.strip().split("\n")[-1].strip()
              for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]
    assert "Overview" in titles and "Quarterly review" in titles
    for title in titles:
        _open(page, title)
        assert page.locator("h1").count() >= 1, f"{title} shows no title"
        page.screenshot(path=str(shots / f"{title.replace('/', '-')}.png"), full_page=True)
        _assert_clean(page, title)

    _open(page, "Overview")
    page.get_by_text("Playbooks improved").wait_for()
    # No definition adopted yet: the playbook the runs name is analysed under its own id,
    # which people read as words.
    page.get_by_text("At risk", exact=True).first.wait_for()
    _open(page, "Quarterly review")
    page.get_by_role("button", name="Download HTML").wait_for()
    page.get_by_role("button", name="Build PDF").click()
    _settle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download PDF").click()
    pdf = shots / "review.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    _assert_clean(page, "Quarterly review")

    # Last (it changes the figures): the runs name at_risk; the organisation adopts that
    # template, introduced today (the date field's default). Its runs began in July 2024, so
    # the page says the definition's date is used and why.
    _open(page, "Playbook library")
    _pick(page, "adopt_template", "At-Risk Customer", "At-Risk Customer Save")
    page.get_by_role("button", name="Adopt", exact=True).click()
    _settle(page)
    page.get_by_text("Adopted At-Risk Customer Save").wait_for()
    page.get_by_text("the definition's date is used").first.wait_for()
    _assert_clean(page, "Playbook library after adopting")


def test_a_shared_link_opens_its_page_with_filters_as_the_first_request(tmp_path, browser_page):
    """A link like /usage?segment=SMB, opened first after the server starts, must go through
    app.py (navigation, login): Streamlit would otherwise run the page file on its own."""
    from analysis.demo import load_demo
    from analysis.store import Store
    db = tmp_path / "shared-link.duckdb"
    with Store(db) as store:
        load_demo(store)
    # A second server started now: its first request is the shared link. One Playwright per
    # thread, so the walk's browser opens the page.
    with _serve(tmp_path, db) as url:
        page = browser_page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/usage?segment=SMB")
        _settle(page)
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Time to proficiency" in nav and "common" not in nav
        assert page.locator("h1").first.inner_text().strip() == "Usage"
        assert page.locator(".st-key-flt_segment input").input_value() == "SMB"
        page.close()


# -- filters, names, partial periods and requests on the demo ----------------------------------
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    _require_chromium()
    from analysis.demo import load_demo
    from analysis.store import Store
    folder = tmp_path_factory.mktemp("browser-demo")
    with Store(folder / "demo.duckdb") as store:
        load_demo(store)
    with _serve(folder, folder / "demo.duckdb") as url:
        yield url


def _new_page(browser_page):
    """A second page of the walk's browser, with the dialog watch `_assert_clean` reads."""
    page = browser_page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    return page


def _hosts(page) -> set:
    """Collect the host of every http(s)/ws(s) request the page makes."""
    from urllib.parse import urlsplit
    hosts = set()

    def on_request(request):
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss"):
            hosts.add(parts.hostname)
    page.on("request", on_request)
    return hosts


def _choose(page, key, option):
    """Choose a selectbox option by clicking it in the open list."""
    page.locator(f".st-key-{key} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    _settle(page)


def _filters(page) -> tuple[str, str]:
    return tuple(page.locator(f".st-key-{key} input").input_value()
                 for key in ("flt_segment", "flt_team"))


def _nav_titles(page) -> list[str]:
    return [t.strip().split("\n")[-1].strip()
            for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]


def _svg_text(page) -> str:
    """Every text of the page's plotly charts (axes, legends, labels), once they are drawn."""
    page.mouse.wheel(0, 20_000)  # charts below the fold are drawn when scrolled to
    page.wait_for_timeout(1500)
    page.locator(".js-plotly-plot").first.wait_for(state="attached")
    return " ".join(page.locator(".js-plotly-plot svg text").all_text_contents())


def test_filters_hold_on_every_page_in_two_orders_with_names_and_no_outside_request(
        demo_url, browser_page):
    page = _new_page(browser_page)
    hosts = _hosts(page)
    page.goto(f"{demo_url}/usage")
    _settle(page)
    _choose(page, "flt_segment", "SMB")
    _choose(page, "flt_team", "Scale Team")
    assert _filters(page) == ("SMB", "Scale Team")
    titles = [t for t in _nav_titles(page) if t != "Import data"]
    assert "Coaching" in titles and "Quarterly review" in titles
    for order in (titles, titles[::-1]):
        for title in order:
            _open(page, title)
            assert _filters(page) == ("SMB", "Scale Team"), title
            assert "segment=SMB" in page.url and "team=Scale+Team" in page.url, title
            assert page.get_by_text("Segment: SMB · Team: Scale Team").count() >= 1, title
            _assert_clean(page, title)
    # Names on the pickers and the axes, never ids.
    page.locator(".st-key-flt_playbook input").click()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    assert "At-Risk Customer Save" in options and "at_risk" not in options
    _open(page, "Before/after")
    axes = _svg_text(page)
    assert "Renewal Runway" in axes and "renewal" not in axes.split()
    # The demo runs to 31 Oct 2026: its last quarter is marked as partial.
    _open(page, "Usage")
    assert "2026 Q4 (to date)" in _svg_text(page)
    assert hosts and hosts <= LOCAL_HOSTS, hosts
    page.close()


def test_a_shared_link_keeps_its_filters_over_two_page_changes(demo_url, browser_page):
    page = _new_page(browser_page)
    hosts = _hosts(page)
    page.goto(f"{demo_url}/usage?segment=Enterprise&team=Enterprise+Team")
    _settle(page)
    assert _filters(page) == ("Enterprise", "Enterprise Team")
    for title in ("Before/after", "Feedback"):
        _open(page, title)
        assert _filters(page) == ("Enterprise", "Enterprise Team"), title
        assert "segment=Enterprise" in page.url, title
    assert hosts <= LOCAL_HOSTS, hosts
    page.close()

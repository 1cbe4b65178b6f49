"""AppTest of pages/import_data.py: upload, kind guess, preview, import, mapping, history, errors."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.ingest.mapping import load_mapping
from analysis.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "import_data.py")
DATA = ROOT / "tests" / "browser_data"


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "import.duckdb"
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(path))
    monkeypatch.setenv("PLAYBOOK_IMPACT_MAPPINGS_DIR", str(tmp_path / "mappings"))
    return path


def _app() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def _upload(at: AppTest, *names: str) -> AppTest:
    files = [(n, (DATA / n).read_bytes() if (DATA / n).exists() else n.encode(), "text/csv")
             for n in names]
    at.file_uploader(key="upload").set_value(files).run()
    assert not at.exception, at.exception
    return at


def _store():
    """The store the page opened (the app's, cached per process)."""
    from pages.common import get_store
    return get_store(Settings.resolve())


def _rows(db_path, table) -> int:
    return int(_store().scalar(f"SELECT count(*) FROM {table}"))


def test_empty_history_before_any_upload(db):
    at = _app()
    assert [i.value for i in at.info] == ["Nothing imported yet."]


def test_upload_guesses_the_kind_previews_and_imports(db):
    at = _upload(_app(), "csms.csv", "accounts.csv")
    assert at.selectbox(key="kind_0").value == "csms"
    assert at.selectbox(key="kind_1").value == "accounts"
    preview = {m.label: m.value for m in at.metric}
    assert preview["Rows read"] == "24" and preview["Would load"] == "24"
    # The hostile name is data: shown in the preview table as text.
    shown = at.table[1].value
    assert "<script>alert(1)</script>" in shown["name"].tolist()

    at.button(key="import_1").click().run()
    assert not at.exception, at.exception
    assert "Imported accounts.csv into accounts." in [s.value for s in at.success]
    loaded = [m.value for m in at.metric if m.label == "Loaded"]
    assert loaded == ["24"]
    assert _rows(db, "accounts") == 24
    history = at.dataframe[-1].value
    assert history["file_name"].tolist() == ["accounts.csv"]
    assert history["rows_loaded"].tolist() == [24]


def test_a_file_that_is_not_an_export_is_a_clear_error(db):
    at = _upload(_app(), "broken.csv")
    # b"broken.csv" alone is a header row with no data: refused with the importer's reason.
    assert len(at.error) == 1 and "broken.csv" in at.error[0].value
    assert not at.button  # nothing to import


def test_upload_limit(db, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_UPLOAD_LIMIT_MB", "0")
    at = _upload(_app(), "csms.csv")
    assert at.error[0].value.startswith("csms.csv is 0 MB, over the 0 MB limit")


def test_save_mapping_writes_a_mapping_file(db, tmp_path):
    at = _upload(_app(), "renewals.csv")
    assert at.selectbox(key="kind_0").value == "renewals"
    at.text_input(key="mapping_name_0").input("My CRM renewals").run()
    at.button(key="save_0").click().run()
    assert not at.exception, at.exception
    saved = tmp_path / "mappings" / "my-crm-renewals.yaml"
    mapping = load_mapping(saved)
    assert mapping.kind == "renewals"
    assert mapping.columns["renewal_date"] == "renewal_date"
    assert mapping.columns["outcome"] == "outcome"
    # Offered next time for a renewals export.
    at = _upload(_app(), "renewals.csv")
    assert "my-crm-renewals" in at.selectbox(key="saved_0").options


def test_rejected_rows_are_listed_with_a_download(db, tmp_path):
    bad = "renewal_id,account_id,renewal_date,outcome\nR1,A1,2025-01-01,renewed\nR2,A1,TBD,renewed\n"
    at = _app()
    at.file_uploader(key="upload").set_value([("bad.csv", bad.encode(), "text/csv")]).run()
    at.button(key="import_0").click().run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric if m.label == "Rejected"] == ["1"]
    reasons = at.dataframe[-1].value["reason"].tolist()
    assert any("TBD" in r for r in reasons)
    assert "past_rejects" in [s.key for s in at.selectbox]


def test_a_broken_saved_mapping_is_named_not_fatal(db, tmp_path):
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "old.yaml").write_text("kind: renewals\ncolumns: {}\nsheet: 2\n")
    at = _upload(_app(), "renewals.csv")
    assert any("old.yaml" in w.value and "sheet" in w.value for w in at.warning)
    assert at.selectbox(key="saved_0").options == ["(none)"]


def test_a_long_file_is_previewed_on_its_first_rows_and_imported_whole(db, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_IMPORT_PREVIEW_ROWS", "5")
    at = _upload(_app(), "accounts.csv")
    preview = {m.label: m.value for m in at.metric}
    assert preview["First rows checked"] == "5" and preview["Would load"] == "5"
    # The total is estimated from the file's size (and shown escaped: "~" is Markdown).
    assert any(re.fullmatch(r"checked the first 5 of \\~\d+ rows; the import checks every row",
                            w.value) for w in at.warning)
    assert len(at.table[0].value) == 5
    at.button(key="import_0").click().run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric if m.label == "Loaded"] == ["24"]
    assert _rows(db, "accounts") == 24


def test_a_zip_of_several_exports_offers_a_member_picker(db, tmp_path):
    import io
    import zipfile
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("csms.csv", "accounts.csv", "renewals.csv"):
            archive.writestr(f"crm/{name}", (DATA / name).read_bytes())
    at = _app()
    at.file_uploader(key="upload").set_value(
        [("crm.zip", buffer.getvalue(), "application/zip")]).run()
    assert not at.exception, at.exception
    picker = at.selectbox(key="member_0")
    assert picker.options == ["crm/csms.csv", "crm/accounts.csv", "crm/renewals.csv"]
    assert at.selectbox(key="kind_0").value == "csms"
    picker.select("crm/accounts.csv").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="kind_0").value == "accounts"
    assert {m.label: m.value for m in at.metric}["Would load"] == "24"
    at.button(key="import_0").click().run()
    assert not at.exception, at.exception
    assert _rows(db, "accounts") == 24 and _rows(db, "csms") == 0


# -- the demo kept apart, and undo (issue 13) --------------------------------------------------
def _demo_file(path: Path) -> Path:
    """A small database marked as the demo's (load_demo marks the real one the same way)."""
    from analysis.store import Store
    with Store(path) as store:
        store.execute("INSERT INTO csms (csm_id, name) VALUES ('d1', 'Demo Person')")
        store.set_meta("demo", "true")
    return path


@pytest.fixture
def demo_only(tmp_path, monkeypatch):
    """No PLAYBOOK_IMPACT_DB: the app chooses; only the demo's file exists."""
    monkeypatch.delenv("PLAYBOOK_IMPACT_DB", raising=False)
    demo = _demo_file(tmp_path / "demo.duckdb")
    org = tmp_path / "org.duckdb"
    monkeypatch.setenv("PLAYBOOK_IMPACT_DEMO_DB_PATH", str(demo))
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB_PATH", str(org))
    return demo, org


def test_on_the_demo_imports_are_refused_and_the_organisation_can_start(demo_only):
    demo, org = demo_only
    at = _app()
    assert any("Demo data" in i.value for i in at.info)  # the banner every page shows
    assert any("demo organisation's database" in w.value for w in at.warning)
    assert not at.get("file_uploader")  # no way to import into the demo
    at.button(key="start_org").click().run()
    assert not at.exception, at.exception
    # Now on the organisation's own, empty database: no banner, the uploader is there.
    assert not any("Demo data" in i.value for i in at.info)
    assert at.get("file_uploader")
    from pages.common import _store  # the app's own connections (one per file and process)
    org_store = _store(str(org))
    assert org_store.meta("started") == "true" and not org_store.is_demo()
    demo_store = _store(str(demo))
    assert demo_store.row_counts()["csms"] == 1 and demo_store.is_demo()


def test_undo_button_reverses_an_import(db):
    at = _upload(_app(), "csms.csv")
    at.button(key="import_0").click().run()
    csms = _rows(db, "csms")
    assert csms > 0
    at.run()
    picked = at.selectbox(key="undo_pick")
    assert picked.value.startswith("#1 csms.csv (csms)")
    at.button(key="undo_import").click().run()
    assert not at.exception, at.exception
    assert any("Undid import 1" in s.value for s in at.success), [m.value for m in (*at.success, *at.error, *at.info)]
    assert _rows(db, "csms") == 0


def test_undo_button_says_why_an_import_cannot_be_undone(db, tmp_path):
    from analysis.ingest.importer import import_file
    store = _store()
    first = tmp_path / "c1.csv"
    first.write_text("csm_id,name\nc1,Jane\n")
    second = tmp_path / "c2.csv"
    second.write_text("csm_id,name\nc1,Jane Doe\n")
    import_file(store, "csms", first)
    import_file(store, "csms", second)
    at = _app()
    at.selectbox(key="undo_pick").set_value("#1 c1.csv (csms)")
    at.button(key="undo_import").click().run()
    assert any("later import 2 (c2.csv" in e.value for e in at.error)
    assert _rows(db, "csms") == 1


def test_a_pinned_demo_database_says_how_to_switch(tmp_path, monkeypatch):
    demo = _demo_file(tmp_path / "pinned-demo.duckdb")
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(demo))
    at = _app()
    at.button(key="start_org").click().run()
    assert any("points the app at the demo database" in e.value
               for e in at.error)

import pytest

from analysis import schema
from analysis.names import slugify
from analysis.store import Store, StoreError, quote_ident


def test_every_table_is_created_with_its_columns(store):
    for name, table in schema.TABLES.items():
        cols = store.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position", [name])["column_name"].tolist()
        assert cols == list(table.column_names), name


def test_schema_creation_is_idempotent_and_keeps_rows(tmp_path):
    path = tmp_path / "db.duckdb"
    with Store(path) as s:
        s.execute("INSERT INTO csms (csm_id, name) VALUES (?, ?)", ["c1", "Ana"])
    with Store(path) as s:
        s.ensure_schema()
        assert s.row_counts()["csms"] == 1
        assert s.schema_version() == schema.SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "db.duckdb"
    with Store(path) as s:
        s.execute("UPDATE schema_meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer Playbook Impact"):
        Store(path)


def test_transaction_rolls_back_whole(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.execute("INSERT INTO csms (csm_id) VALUES ('c1')")
            raise RuntimeError("boom")
    assert store.row_counts()["csms"] == 0


def test_primary_key_rejects_duplicate_id(store):
    store.execute("INSERT INTO accounts (account_id) VALUES ('a1')")
    with pytest.raises(Exception):
        store.execute("INSERT INTO accounts (account_id) VALUES ('a1')")


def test_env_var_overrides_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(tmp_path / "env.duckdb"))
    with Store() as s:
        assert s.path == str(tmp_path / "env.duckdb")
    assert (tmp_path / "env.duckdb").exists()


def test_quote_ident_escapes_quotes():
    assert quote_ident('a"b') == '"a""b"'


@pytest.mark.parametrize("name, expected", [
    ("Save Play - At Risk", "save_play_at_risk"),
    ("  Renewal (90 days)  ", "renewal_90_days"),
    ("Onboarding", "onboarding"),
])
def test_slugify_follows_design_rule(name, expected):
    assert slugify(name) == expected

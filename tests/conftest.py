"""Shared fixtures: a fresh store per test, built in a temporary folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from analysis.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _own_folders(tmp_path_factory, monkeypatch):
    """Every test sees an organisation with no definitions of its own and a demo database of
    its own, as on a fresh clone: whatever a developer adopted into data/playbooks or loaded
    into data/demo.duckdb never changes a test."""
    base = tmp_path_factory.mktemp("org")
    if "PLAYBOOK_IMPACT_ORG_PLAYBOOKS_DIR" not in os.environ:
        monkeypatch.setenv("PLAYBOOK_IMPACT_ORG_PLAYBOOKS_DIR", str(base / "playbooks"))
    if "PLAYBOOK_IMPACT_DEMO_DB_PATH" not in os.environ:
        monkeypatch.setenv("PLAYBOOK_IMPACT_DEMO_DB_PATH", str(base / "demo.duckdb"))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "test.duckdb")
    yield s
    s.close()


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory):
    """The demo organisation (analysis.demo.load_demo, default seed), built once per session.

    Read-only use: tests must not write to it (every test sees the same data).
    """
    from analysis.demo import load_demo

    s = Store(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    load_demo(s)
    yield s
    s.close()


@pytest.fixture
def empty_db(tmp_path, monkeypatch):
    """An empty database file that the pages open (PLAYBOOK_IMPACT_DB)."""
    from tests.builders import app_database
    return app_database(tmp_path / "empty.duckdb", monkeypatch)


@pytest.fixture
def demo_db(demo_store, monkeypatch):
    """The demo database (`demo_store`, read-only use) as the one the pages open."""
    monkeypatch.setenv("PLAYBOOK_IMPACT_DB", str(demo_store.path))
    return demo_store


@pytest.fixture(params=[(None, "95"), ("0.1", "90")], ids=["alpha-default", "alpha-0.1"])
def alpha_level(request, monkeypatch):
    """Runs a test at the default alpha and at PLAYBOOK_IMPACT_ALPHA=0.1; gives the level
    ("95" or "90") every interval label must then name."""
    alpha, level = request.param
    if alpha is None:
        monkeypatch.delenv("PLAYBOOK_IMPACT_ALPHA", raising=False)
    else:
        monkeypatch.setenv("PLAYBOOK_IMPACT_ALPHA", alpha)
    return level

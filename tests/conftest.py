"""Shared fixtures: a fresh store per test, built in a temporary folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


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

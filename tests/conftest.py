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

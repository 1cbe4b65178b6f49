"""`metrics_json` and `python -m analysis metrics --json`: DESIGN.md's key structure."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import date

import numpy as np
import pandas as pd
import pytest

from analysis.filters import Filters
from analysis.jsonable import clean, records
from analysis.metrics.designs.multiplicity import adjust_claims
from analysis.metrics.registry import SECTIONS, metrics_json, section
from analysis.store import Store

from tests.conftest import ROOT
from tests.builders import ctx

PROPORTION = {"n", "successes", "rate", "ci_low", "ci_high"}
SPREAD = {"csms", "min", "max", "range", "iqr", "sd"}


def check_contract(result: dict, require_rows: bool = False) -> None:
    """Assert every key DESIGN.md's "Command line" section names (extra keys are allowed)."""
    assert set(SECTIONS) <= set(result)
    usage = result["usage"]
    assert set(usage) >= {"playbooks", "csms"}
    for row in usage["playbooks"]:
        assert {"playbook_id", "runs", "views", "csms_using", "mean_adherence"} <= set(row)
    for row in usage["csms"]:
        assert {"csm_id", "runs", "mean_adherence", "playbook_share", "consistent",
                "rare"} <= set(row)
    for row in result["before_after"]:
        assert {"playbook_id", "metric", "introduced_on", "before", "after", "diff",
                "diff_ci_low", "diff_ci_high", "p_value", "verdict"} <= set(row)
        assert PROPORTION <= set(row["before"]) and PROPORTION <= set(row["after"])
        date.fromisoformat(row["introduced_on"])
    for row in result["followers"]:
        assert {"playbook_id", "threshold", "followers", "non_followers", "naive_diff",
                "adjusted_diff", "adjusted_ci_low", "adjusted_ci_high", "p_value", "method",
                "verdict"} <= set(row)
        assert PROPORTION <= set(row["followers"]) and PROPORTION <= set(row["non_followers"])
    consistency = result["consistency"]
    assert {"metric", "launch_date", "before", "after", "sd_ratio", "sd_ratio_ci_low",
            "sd_ratio_ci_high", "p_value", "verdict"} <= set(consistency)
    assert SPREAD <= set(consistency["before"]) and SPREAD <= set(consistency["after"])
    proficiency = result["proficiency"]
    assert {"launch_date", "cohorts", "faster_pct", "p_value", "verdict"} <= set(proficiency)
    for cohort in proficiency["cohorts"]:
        assert {"cohort", "csms", "ramped", "median_days", "ci_low", "ci_high"} <= set(cohort)
        assert cohort["cohort"] in ("before", "after")
    for row in result["versions"]:
        assert {"playbook_id", "version", "n", "successes", "rate", "ci_low", "ci_high"} <= set(row)
    for row in result["feedback"]:
        assert {"playbook_id", "responses", "mean_rating"} <= set(row)
    if require_rows:
        for key in ("before_after", "followers", "versions", "feedback"):
            assert result[key], f"{key} is empty"
        assert usage["playbooks"] and usage["csms"]
    # No NaN anywhere: the whole object is strict JSON.
    json.dumps(result, allow_nan=False)


def _small_store(path) -> Store:
    store = Store(path)
    store.execute("INSERT INTO csms (csm_id, name, team) VALUES ('c1', 'Ann', 'A')")
    store.execute("INSERT INTO accounts (account_id, segment) VALUES ('a1', 'SMB')")
    for i in range(6):
        store.execute(
            "INSERT INTO playbook_runs (run_id, scenario, playbook_id, playbook_version,"
            " account_id, csm_id, opened_on, status, outcome, steps_total, steps_completed)"
            " VALUES (?, 'at_risk', ?, '1.0', 'a1', 'c1', ?, 'closed', ?, 4, ?)",
            [f"r{i}", "at_risk" if i % 2 else None, date(2024, 3 + i, 1),
             "success" if i % 3 else "failure", i % 5])
    store.execute("INSERT INTO renewals VALUES ('n1', 'a1', 'c1', '2024-09-01', 'renewed', 10, 12)")
    store.execute("INSERT INTO feedback VALUES ('2024-08-01 10:00:00', 'c1', 'at_risk', 4, 'ok')")
    return store


# -- jsonable ---------------------------------------------------------------------------------
def test_clean_makes_everything_strict_json():
    value = {"a": np.float64("nan"), "b": np.int64(3), "c": [np.bool_(True), pd.NaT, pd.NA],
             "d": date(2024, 7, 1), "e": pd.Timestamp("2024-07-01"),
             "f": pd.Timestamp("2024-07-01 10:30"), "g": float("inf"), "h": (1.5, None),
             "i": np.array([1, 2])}
    assert clean(value) == {"a": None, "b": 3, "c": [True, None, None], "d": "2024-07-01",
                            "e": "2024-07-01", "f": "2024-07-01T10:30:00", "g": None,
                            "h": [1.5, None], "i": [1, 2]}
    frame = pd.DataFrame({"x": [1.0, math.nan], "y": ["a", None]})
    assert records(frame) == [{"x": 1.0, "y": "a"}, {"x": None, "y": None}]


def test_records_converts_each_dtype_like_clean_does():
    """records converts whole numeric columns at once; every dtype must come out as `clean`
    makes the same values one by one."""
    frame = pd.DataFrame({
        "f": [0.5, math.nan, math.inf], "i": np.array([1, 2, 3], dtype=np.int64),
        "b": [True, False, True], "s": pd.Series(["a", None, "c"], dtype="str"),
        "o": pd.Series([np.int64(4), None, date(2024, 1, 2)], dtype=object),
        "n": pd.array([1, None, 3], dtype="Int64"),
        "t": pd.to_datetime(["2024-07-01", None, "2024-07-01 10:30"], format="ISO8601"),
        "f32": np.array([0.25, np.nan, 1.0], dtype=np.float32),
    })
    out = records(frame)
    assert out == [clean(row) for row in frame.to_dict("records")]
    assert out[0] == {"f": 0.5, "i": 1, "b": True, "s": "a", "o": 4, "n": 1,
                      "t": "2024-07-01", "f32": 0.25}
    assert out[1] == {"f": None, "i": 2, "b": False, "s": None, "o": None, "n": None,
                      "t": None, "f32": None}
    assert out[2]["f"] is None and out[2]["t"] == "2024-07-01T10:30:00"
    assert [type(out[0][k]) for k in ("f", "i", "b")] == [float, int, bool]
    assert records(frame, ["i"]) == [{"i": 1}, {"i": 2}, {"i": 3}]
    assert records(frame.iloc[:0]) == [] and records(frame[[]]) == [{}, {}, {}]
    json.dumps(out, allow_nan=False)


# -- metrics_json -----------------------------------------------------------------------------
def test_metrics_json_on_a_small_store(tmp_path):
    with _small_store(tmp_path / "m.duckdb") as store:
        result = metrics_json(store, Filters())
        check_contract(result)
        assert result["filters"] == {}
        assert result["settings"]["consistent_share"] == 0.8
        # The same function the usage page uses gives the same numbers.
        assert result["usage"] == section("usage", ctx(store, Filters()))
        # A CSM's runs count every run, with or without a playbook: r0..r5.
        assert result["usage"]["csms"][0]["runs"] == 6
        versions = {(v["playbook_id"], v["version"]): v for v in result["versions"]}
        # r1, r3, r5 with the at_risk playbook: outcomes success, failure, success.
        assert versions[("at_risk", "1.0")]["n"] == 3
        assert versions[("at_risk", "1.0")]["successes"] == 2
        feedback = result["feedback"][0]
        assert (feedback["playbook_id"], feedback["responses"], feedback["mean_rating"]) == (
            "at_risk", 1, 4.0)


def test_empty_store_gives_strict_json(store):
    result = metrics_json(store)
    check_contract(result)
    assert result["usage"]["csms"] == [] and result["versions"] == [] and result["feedback"] == []


def test_unknown_section():
    with pytest.raises(ValueError, match="unknown metrics key"):
        section("nope", None)


# -- on the demo data -------------------------------------------------------------------------
def test_metrics_json_on_demo_data(demo_store):
    result = metrics_json(demo_store, Filters())
    check_contract(result, require_rows=True)
    ids = {row["playbook_id"] for row in result["usage"]["playbooks"]}
    # common.md: the twelve seed playbooks plus the undefined QBR Prep seen in the runs.
    assert {"onboarding", "renewal", "at_risk", "usage_drop", "qbr_prep"} <= ids
    versions = {(v["playbook_id"], v["version"]) for v in result["versions"]}
    assert {("onboarding", "1.0"), ("onboarding", "2.0"), ("at_risk", "1.1")} <= versions
    for row in result["usage"]["csms"]:
        share = row["playbook_share"]
        assert share is None or 0 <= share <= 1


def _same(a, b, path="") -> None:
    """Equal structures, floats to 1e-9 (DuckDB adds in no fixed order)."""
    assert type(a) is type(b), path
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            _same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), path
    else:
        assert a == b, path


def test_metrics_json_side_by_side_equals_each_section_alone(demo_store, monkeypatch):
    """The sections run in threads; each must give what it gives called on its own, and the
    catalogue must still be built once for the whole suite (the context reaches the threads)."""
    from analysis.playbooks import catalog

    built = []
    build = catalog.catalog_of
    monkeypatch.setattr(catalog, "catalog_of", lambda *a: built.append(1) or build(*a))
    filters = Filters(date_from=date(2024, 1, 1))
    result = metrics_json(demo_store, filters)
    assert len(built) == 1
    assert list(result)[:len(SECTIONS)] == list(SECTIONS)
    # Alone, with the q-values and claims adjusted across the section (what one page shows),
    # as metrics_json does.
    for key in SECTIONS:
        alone = adjust_claims({key: clean(section(key, ctx(demo_store, filters)))}, 0.05)
        _same(result[key], alone[key], key)
    # An error in a section (raised in its thread) reaches the caller.
    from analysis.metrics import versions

    monkeypatch.setattr(versions, "versions_json", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        metrics_json(demo_store, filters)


def test_metrics_json_playbook_filter_on_demo_data(demo_store):
    result = metrics_json(demo_store, Filters(playbook_id="at_risk"))
    check_contract(result)
    assert [row["playbook_id"] for row in result["usage"]["playbooks"]] == ["at_risk"]
    assert {row["playbook_id"] for row in result["versions"]} == {"at_risk"}
    assert result["filters"] == {"playbook_id": "at_risk"}


# -- the command line -------------------------------------------------------------------------
def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_cli_metrics_json(tmp_path):
    db = tmp_path / "cli.duckdb"
    _small_store(db).close()
    done = _cli("metrics", "--json", "--db", str(db))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    check_contract(result)
    with Store(db) as store:
        expected = section("usage", ctx(store, Filters()))
    assert result["usage"] == expected
    filtered = json.loads(_cli("metrics", "--json", "--db", str(db), "--playbook", "at_risk",
                               "--from", "2024-06-01").stdout)
    assert filtered["filters"] == {"date_from": "2024-06-01", "playbook_id": "at_risk"}
    assert [row["playbook_id"] for row in filtered["usage"]["playbooks"]] == ["at_risk"]
    # Runs opened from June 2024: r3 (June), r4, r5 of c1.
    assert filtered["usage"]["csms"][0]["runs"] == 3


# -- the registry -----------------------------------------------------------------------------
def test_registry_is_the_contract_and_every_entry_resolves():
    from importlib import import_module
    from analysis.metrics.registry import METRICS
    # DESIGN.md, "Command line": the keys of metrics --json, in this order.
    assert [m.key for m in METRICS] == ["usage", "before_after", "followers", "consistency",
                                        "proficiency", "versions", "feedback"]
    for m in METRICS:
        assert callable(getattr(import_module(m.module), m.function)), m.key
        assert m.page is None or (ROOT / m.page).exists(), m.page


def test_navigation_lists_every_page_once_and_reads_the_registry():
    from analysis.metrics.registry import METRICS, navigation
    pages = [p.path for p in navigation()]
    assert len(pages) == len(set(pages))
    assert {m.page for m in METRICS if m.page} <= set(pages)
    helpers = {"common.py", "launch.py", "warm.py"}  # shared by pages, not pages themselves
    on_disk = {f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py") if p.name not in helpers}
    assert set(pages) == on_disk  # no page is left out of the navigation
    assert [p.path for p in navigation() if p.writes] == ["pages/import_data.py"]
    # Icons are emoji: `:material/...` names are fetched from an external font host.
    assert not any(p.icon.startswith(":") for p in navigation())


def test_bench_times_what_the_registry_lists():
    from bench.run import analyses, page_files
    from analysis.metrics.registry import METRICS, navigation
    assert [a[0] for a in analyses()][:-1] == [m.key for m in METRICS]
    assert [p.relative_to(ROOT).as_posix() for p in page_files()] == [p.path for p in navigation()]

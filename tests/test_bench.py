"""The benchmark's pieces: generated data follows the schema, the pandas notebook computes
what DESIGN.md says, and a small end-to-end run agrees with the product.

Timings live in the benchmark (`make bench`), never here.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis import schema
from bench import baseline
from bench.compare import compare, same
from bench.generate import CATALOGUE, Sizes, generate, parse_size, size_label

ROOT = Path(__file__).resolve().parent.parent
SMOKE_RUNS = 20_000


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench_data")
    rows = generate(SMOKE_RUNS, folder)
    return folder, rows


# -- sizes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, runs", [("100k", 100_000), ("1m", 1_000_000), ("10M", 10_000_000),
                                        ("20000", 20_000), ("2.5k", 2_500)])
def test_parse_size(text, runs):
    assert parse_size(text) == runs


@pytest.mark.parametrize("text", ["", "lots", "-5k", "0"])
def test_parse_size_rejects_nonsense(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_size_label():
    assert [size_label(n) for n in (100_000, 1_000_000, 10_000_000, 1234)] == \
        ["100k", "1M", "10M", "1234"]


def test_sizes_are_proportional_to_runs():
    s = Sizes.for_runs(1_000_000)
    assert (s.accounts, s.csms, s.renewals, s.views, s.feedback) == \
        (50_000, 1_000, 300_000, 1_000_000, 10_000)


# -- generated data ---------------------------------------------------------------------------
def test_generated_files_follow_the_schema(smoke_data):
    folder, rows = smoke_data
    assert rows["playbook_runs"] == SMOKE_RUNS
    for name, count in rows.items():
        table = pq.read_table(folder / f"{name}.parquet")
        assert tuple(table.column_names) == schema.TABLES[name].column_names
        assert table.num_rows == count
        header = (folder / f"{name}.csv").open(encoding="utf-8").readline().strip()
        assert header.replace('"', "").split(",") == list(schema.TABLES[name].column_names)


def test_generated_runs_are_consistent(smoke_data):
    folder, _ = smoke_data
    runs = pd.read_parquet(folder / "playbook_runs.parquet")
    steps = pd.read_parquet(folder / "run_steps.parquet")
    assert runs["run_id"].is_unique
    # closed exactly when there is an outcome
    assert ((runs["status"] == "closed") == runs["outcome"].notna()).all()
    # run_steps agree with steps_total / steps_completed
    per_run = steps.groupby("run_id").agg(total=("step_id", "size"),
                                          done=("status", lambda s: (s == "done").sum()))
    joined = runs.dropna(subset=["steps_total"]).set_index("run_id").join(per_run)
    assert (joined["total"] == joined["steps_total"]).all()
    assert (joined["done"] == joined["steps_completed"]).all()
    assert runs["playbook_id"].isna().sum() > 0
    # nothing carries a playbook before that playbook's introduction, and ids are the catalogue's
    intro = {p.id: pd.Timestamp(p.introduced_on) for p in CATALOGUE}
    used = runs.dropna(subset=["playbook_id"])
    assert set(used["playbook_id"]) == set(intro)
    assert (pd.to_datetime(used["opened_on"]) >= used["playbook_id"].map(intro)).all()


def test_generation_is_deterministic(tmp_path):
    generate(2_000, tmp_path / "a", seed=7)
    generate(2_000, tmp_path / "b", seed=7)
    for name in ("playbook_runs", "renewals", "csms"):
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == \
            (tmp_path / "b" / f"{name}.csv").read_bytes()


# -- the pandas notebook ----------------------------------------------------------------------
def test_km_median_freireich():
    # Freireich et al. (1963) 6-MP vs placebo remission weeks, + = censored (Gehan 1965);
    # Kaplan–Meier medians 23 (6-MP) and 8 (placebo) weeks.
    mp = [6, 6, 6, -6, 7, -9, 10, -10, -11, 13, 16, -17, -19, -20, 22, 23, -25, -32, -32, -34, -35]
    placebo = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]
    for weeks, expected in ((mp, 23.0), (placebo, 8.0)):
        days = np.abs(np.array(weeks))
        assert baseline.km_median(days, np.array(weeks) > 0) == expected


def test_km_median_never_reached():
    assert baseline.km_median(np.array([5, 10, 20]), np.array([True, False, False])) is None


def _tiny_exports(folder: Path) -> None:
    """A hand-made organisation small enough to count by hand."""
    def write(name, rows):
        pd.DataFrame(rows, columns=schema.TABLES[name].column_names).to_csv(
            folder / f"{name}.csv", index=False)
    write("csms", [("c1", "Ann", None, "T", None, "2023-01-01", None, "2023-03-02"),
                   ("c2", "Bob", None, "T", None, "2024-08-01", None, "2024-09-10")])
    write("accounts", [("a1", "Acme", "SMB", None, None, "c1", 1000.0, None)])
    write("renewals", [("r1", "a1", "c1", "2024-01-10", "renewed", None, None),
                       ("r2", "a1", "c1", "2024-06-30", "churned", None, None),
                       ("r3", "a1", "c1", "2024-07-01", "renewed", None, None),
                       ("r4", "a1", "c1", "2023-06-30", "renewed", None, None)])  # out of window
    run = lambda rid, pid, opened, outcome, total, done: (  # noqa: E731
        rid, "at_risk", pid, "1.0" if pid else None, "a1", "c1", opened, None, None,
        "closed" if outcome else "open", total, done, outcome, 50.0, 1000.0)
    write("playbook_runs", [
        run("u1", None, "2024-01-05", "failure", None, None),      # before at_risk (2024-07-01)
        run("u2", None, "2024-03-05", "success", None, None),      # before
        run("u3", "at_risk", "2024-07-01", "success", 5, 5),       # after, follower
        run("u4", "at_risk", "2024-08-01", "failure", 5, 2),       # after, non-follower
        run("u5", None, "2024-09-01", "success", None, None),      # after, no playbook
        run("u6", "at_risk", "2024-10-01", None, 4, 1),            # open: no outcome
    ])
    steps = []
    for rid, total, done in (("u3", 5, 5), ("u4", 5, 2), ("u6", 4, 1)):
        steps += [(rid, str(i), None, None, "done" if i <= done else "skipped")
                  for i in range(1, total + 1)]
    write("run_steps", steps)
    write("playbook_views", [("2024-07-02 10:00:00", "c1", "at_risk", "library")] * 3)
    write("feedback", [("2024-07-02 10:00:00", "c1", "at_risk", 4, None),
                       ("2024-07-03 10:00:00", "c2", "at_risk", 5, "ok")])


def test_baseline_counts_by_hand(tmp_path):
    _tiny_exports(tmp_path)
    m = baseline.metrics(tmp_path)
    at_risk = next(r for r in m["before_after"] if r["playbook_id"] == "at_risk")
    # before: u1 failure, u2 success; after: u3 success, u4 failure, u5 success (u6 is open)
    assert at_risk["before"] == {"n": 2, "successes": 1, "rate": 0.5}
    assert at_risk["after"] == {"n": 3, "successes": 2, "rate": 2 / 3}
    renewal = next(r for r in m["before_after"] if r["playbook_id"] == "renewal")
    assert renewal["before"] == {"n": 2, "successes": 1, "rate": 0.5}   # r1, r2 (r4 is too early)
    assert renewal["after"] == {"n": 1, "successes": 1, "rate": 1.0}    # r3 on the launch day
    follow = next(r for r in m["followers"] if r["playbook_id"] == "at_risk")
    assert follow["followers"] == {"n": 1, "successes": 1, "rate": 1.0}     # u3: 5/5
    assert follow["non_followers"] == {"n": 1, "successes": 0, "rate": 0.0}  # u4: 2/5
    usage = next(r for r in m["usage"]["playbooks"] if r["playbook_id"] == "at_risk")
    # u3 1.0, u4 0.4, u6 0.25 -> mean 0.55; open runs count in usage
    assert usage == {"playbook_id": "at_risk", "runs": 3, "views": 3, "csms_using": 1,
                     "mean_adherence": pytest.approx(0.55)}
    c1 = m["usage"]["csms"][0]
    # eligible runs opened on/after 2024-07-01: u3, u4, u5, u6 -> 3 of 4 used a playbook
    assert (c1["runs"], c1["playbook_share"], c1["consistent"], c1["rare"]) == (6, 0.75, False, False)
    cohorts = {c["cohort"]: c for c in m["proficiency"]["cohorts"]}
    assert cohorts["before"]["median_days"] == 60.0 and cohorts["after"]["median_days"] == 40.0
    assert m["proficiency"]["faster_pct"] == pytest.approx(1 - 40 / 60)
    assert m["versions"] == [{"playbook_id": "at_risk", "version": "1.0", "n": 2, "successes": 1,
                              "rate": 0.5}]
    assert m["feedback"] == [{"playbook_id": "at_risk", "responses": 2, "mean_rating": 4.5}]
    # c1 has 2 decided renewals per window: below the 10 needed, so no CSM counts
    assert m["consistency"]["before"]["csms"] == 0 and m["consistency"]["sd_ratio"] is None


# -- comparison -------------------------------------------------------------------------------
def test_same_uses_exact_counts_and_a_tolerance_for_rates():
    assert same(3, 3) and not same(3, 4)
    assert same(0.1 + 0.2, 0.3) and not same(0.3, 0.3 + 1e-6)
    assert same(None, None) and not same(None, 0.0)
    assert same(True, True) and not same(True, False)


def test_compare_reports_each_difference():
    side = {"n": 10, "successes": 5, "rate": 0.5}
    base = {"feedback": [{"playbook_id": "a", "responses": 2, "mean_rating": 4.5}],
            "versions": [{"playbook_id": "a", "version": "1.0", **side}]}
    product = {"feedback": [{"playbook_id": "a", "responses": 2, "mean_rating": 4.5},
                            {"playbook_id": "b", "responses": 1, "mean_rating": 3.0}],
               "versions": [{"playbook_id": "a", "version": "1.0", **side, "successes": 6}]}
    checked, problems = compare(product, base)
    assert checked == 5
    assert "feedback b: only in the product's result" in problems
    assert "versions a/1.0 successes: product 6, pandas 5" in problems
    assert any(p.startswith("usage.playbooks: missing") for p in problems)


# -- end to end -------------------------------------------------------------------------------
def test_smoke_run_agrees_with_pandas(tmp_path):
    """`python -m bench` at 20k runs: every phase runs and the product matches pandas."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--sizes", "20k", "--out", str(tmp_path),
         "--skip-pages", "--timeout", "600"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    size = results["sizes"][0]
    assert size["rows"]["playbook_runs"] == SMOKE_RUNS
    for phase in ("analyses", "baseline"):
        assert "error" not in size[phase], size[phase]
    assert size["agreement"]["checked"] > 300
    assert size["agreement"]["differences"] == 0, size["agreement"]["first"]
    assert "| measure | 20k runs |" in proc.stdout and "Goals (issue 6):" in proc.stdout
    # generated data is removed unless --keep-data
    assert not (tmp_path / "20k" / "data").exists()

"""`python -m bench` (`make bench`): generate data, time every phase, print the table.

For each size it generates the exports (bench/generate.py), then runs each phase of
bench/run.py in its own process (so peak RSS is per phase and per size), checks the product's
metrics against the pandas notebook's, and prints one Markdown table plus the goals met or not.
Results also land in OUT/results.json and OUT/table.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.compare import compare
from bench.generate import generate, parse_size, size_label
from bench.report import goals, machine, render

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("import_csv", "import_parquet", "analyses", "pages", "baseline")
# Results of an earlier run by size label, for --phases reruns.
previous: dict[str, dict] = {}


def _phase(name: str, data: Path, db: Path, work: Path, timeout: float, extra=()) -> dict:
    """Run one phase in a subprocess; its JSON result, or an error entry."""
    out = work / f"{name}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.run", name, "--data", str(data), "--db", str(db),
           "--out", str(out), *extra]
    print(f"  {name} ...", end="", flush=True)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f" timed out after {timeout:.0f} s")
        return {"phase": name, "error": f"timed out after {timeout:.0f} s"}
    (work / f"{name}.log").write_text(proc.stdout + proc.stderr)
    print(f" {time.perf_counter() - start:.1f} s")
    if proc.returncode < 0:
        return {"phase": name, "error": f"killed by signal {-proc.returncode}"}
    if proc.returncode != 0 or not out.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"phase": name, "error": f"exit {proc.returncode}: {last[:300]}"}
    return json.loads(out.read_text())


def run_size(runs: int, out: Path, args) -> dict:
    label = size_label(runs)
    work = out / label
    data = work / "data"
    work.mkdir(parents=True, exist_ok=True)
    print(f"{label} runs:", flush=True)
    marker = data / "rows.json"
    if args.reuse_data and marker.exists():
        rows, gen_s = json.loads(marker.read_text()), None
    else:
        shutil.rmtree(data, ignore_errors=True)
        start = time.perf_counter()
        rows = generate(runs, data, seed=args.seed)
        gen_s = time.perf_counter() - start
        marker.write_text(json.dumps(rows))
        print(f"  generated in {gen_s:.1f} s", flush=True)
    db = work / "bench.duckdb"
    result = {"runs": runs, "label": label, "rows": rows, "generate_s": gen_s}
    if args.phases != PHASES:
        # Rerunning some phases: keep the other phases' results of the earlier run.
        result = {**previous.get(label, {}), **{k: v for k, v in result.items() if v is not None}}
    wanted = set(args.phases)
    if "import_csv" in wanted:
        result["import_csv"] = _phase("import_csv", data, db, work, args.timeout)
    if "import_parquet" in wanted:
        result["import_parquet"] = _phase("import_parquet", data, work / "parquet.duckdb", work,
                                          args.timeout)
        for path in (work / "parquet.duckdb", work / "parquet.duckdb.wal"):
            path.unlink(missing_ok=True)
    product_json, baseline_json = work / "metrics_product.json", work / "metrics_pandas.json"
    if "analyses" in wanted:
        product_json.unlink(missing_ok=True)
        result["analyses"] = _phase("analyses", data, db, work, args.timeout,
                                    ["--metrics-out", str(product_json)])
    if "pages" in wanted and not args.skip_pages and runs <= parse_size(args.pages_max):
        result["pages"] = _phase("pages", data, db, work, args.timeout)
    if "baseline" in wanted and not args.skip_baseline and runs <= parse_size(args.baseline_max):
        baseline_json.unlink(missing_ok=True)
        result["baseline"] = _phase("baseline", data, db, work, args.timeout,
                                    ["--metrics-out", str(baseline_json)])
    if product_json.exists() and baseline_json.exists():
        checked, problems = compare(json.loads(product_json.read_text()),
                                    json.loads(baseline_json.read_text()))
        result["agreement"] = {"checked": checked, "differences": len(problems),
                               "first": problems[:20]}
        (work / "differences.txt").write_text("\n".join(problems) + "\n")
    if not args.keep_data:
        shutil.rmtree(data, ignore_errors=True)
        for path in (db, Path(f"{db}.wal")):
            path.unlink(missing_ok=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1m,10m",
                        help="comma-separated run counts, e.g. 100k,1m,10m (default)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out",
                        help="where data, databases and results go (default bench/out)")
    parser.add_argument("--skip-pages", action="store_true", help="do not time the pages")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="do not run the pandas notebook (no ratio, no agreement check)")
    parser.add_argument("--pages-max", default="1m",
                        help="time pages up to this size (default 1m: the pages goal is at 1M runs)")
    parser.add_argument("--baseline-max", default="10m",
                        help="run the pandas notebook up to this size")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds one phase may take before it is reported as timed out")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the generated exports and the database of each size")
    parser.add_argument("--reuse-data", action="store_true",
                        help="reuse exports generated by an earlier --keep-data run")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help="comma-separated phases to run (default all); the others keep the "
                             "results of the earlier run in OUT/results.json (with --reuse-data)")
    args = parser.parse_args(argv)
    args.phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}")
    if (args.out / "results.json").exists():
        earlier = json.loads((args.out / "results.json").read_text())
        previous.update({s["label"]: s for s in earlier["sizes"]})
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(), "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "sizes": []}
    for runs in sizes:
        measured = run_size(runs, args.out, args)
        measured["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        previous[measured["label"]] = measured
        # Sizes measured by earlier runs into the same OUT stay in the table, so the sizes
        # can be run one at a time; each carries when it was measured.
        results["sizes"] = sorted(previous.values(), key=lambda s: s["runs"])
        (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    table = render(results) + "\n\n" + goals(results)
    (args.out / "table.md").write_text(table + "\n")
    print()
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

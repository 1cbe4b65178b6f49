"""The timed phases of the benchmark, each run in its own process so its peak RSS is its own.

`python -m bench.run PHASE --data DIR --db FILE --out RESULT.json` runs one phase:

- import_csv / import_parquet: a fresh database holding the roster and accounts, then the
  product's importer (`import_file`) loads the runs export; rows per second. import_csv then
  bulk-loads the other tables, and that database is the one the analyses and pages read.
- analyses: each analysis's `*_json(ctx)` (its context, catalogue included, built in the timed
  call) and the whole `metrics_json` suite, cold (first call on a freshly opened store) and
  warm (best of the next calls); the settings are resolved once for the phase.
- pages: each page script under AppTest, cold (first run in the process) and warm (a rerun).
- baseline: the pandas notebook (bench/baseline.py): CSV reads, then the metrics, then the
  metrics again on the frames already in memory (warm).

Every phase writes a JSON result with its timings and `peak_rss_mb`.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import sys
import time
import traceback
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
# Tables the import phase loads directly (not timed): the runs export is what is measured.
FIRST_TABLES = ("csms", "accounts")
LATER_TABLES = ("renewals", "run_steps", "playbook_views", "health_snapshots", "feedback")
WARM_REPEATS = 3


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (VmHWM; ru_maxrss where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 / (1024 if sys.platform == "darwin" else 1)


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def bulk_load(store, table: str, data: Path) -> None:
    """Load one generated Parquet file into its table (the schema's column order)."""
    from analysis.store import quote_ident
    store.execute(f"INSERT INTO {quote_ident(table)} SELECT * FROM read_parquet(?)",
                  [str(data / f"{table}.parquet")])


# -- phases -----------------------------------------------------------------------------------
def phase_import(data: Path, db: Path, fmt: str) -> dict:
    """Import the runs export (CSV or Parquet) with the product's importer into a fresh store."""
    from analysis.store import Store
    for suffix in ("", ".wal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    result = {"format": fmt}
    with Store(db) as store:
        # The generated organisation runs the shipped templates (bench/generate.py CATALOGUE).
        from analysis.playbooks.catalog import use_templates
        use_templates(store)
        for table in FIRST_TABLES:
            bulk_load(store, table, data)
        path = data / f"playbook_runs.{fmt}"
        result["file_mb"] = path.stat().st_size / 2 ** 20
        try:
            from analysis.ingest.importer import import_file
            seconds, imported = _timed(import_file, store, "playbook_runs", path)
            result.update(seconds=seconds, rows_loaded=imported.rows_loaded,
                          rows_rejected=imported.rows_rejected,
                          rows_per_s=imported.rows_loaded / seconds if seconds else None)
        except Exception as exc:  # report it; the analyses can still run on bulk-loaded runs
            result["error"] = _error(exc)
            traceback.print_exc()
        if fmt == "csv":
            if store.scalar("SELECT count(*) FROM playbook_runs") == 0:
                bulk_load(store, "playbook_runs", data)
                result["runs_bulk_loaded"] = True
            for table in LATER_TABLES:
                bulk_load(store, table, data)
            store.execute("CHECKPOINT")
    return result


def _resolve(module: str, function: str):
    return getattr(importlib.import_module(module), function)


def _request(label: str, fn, store, settings):
    """One request of an analysis on `store`, as a call: the suite builds its own context; a
    metric's `*_json` gets one built inside the call (its catalogue when it reads one), as
    `metrics_json` would build it."""
    from analysis.context import Context
    from analysis.filters import Filters
    from analysis.metrics.registry import BY_KEY
    if label not in BY_KEY:
        return lambda: fn(store, Filters(), settings)
    reads = BY_KEY[label].reads_catalog
    return lambda: fn(Context.build(store, Filters(), settings, catalog=reads))


def phase_analyses(db: Path, metrics_out: Path | None) -> dict:
    """Cold and warm time of each analysis and of the whole suite on a fresh store each."""
    from analysis.settings import Settings
    from analysis.store import Store
    settings = Settings.resolve()
    rows, assembled, suite = [], {}, None
    for label, module, function in analyses():
        row = {"analysis": label, "function": f"{module}.{function}"}
        try:
            fn = _resolve(module, function)
        except (ImportError, AttributeError) as exc:
            rows.append({**row, "error": f"not available: {_error(exc)}"})
            continue
        # A fresh connection per analysis: DuckDB's buffer pool starts empty (cold).
        with Store(db) as store:
            try:
                call = _request(label, fn, store, settings)
                cold, value = _timed(call)
                warm = [_timed(call)[0] for _ in range(WARM_REPEATS)]
                row.update(cold_s=cold, warm_s=min(warm), warm_median_s=statistics.median(warm))
                if label.startswith("metrics"):
                    suite = value
                else:
                    assembled[label] = value
            except Exception as exc:
                row["error"] = _error(exc)
                traceback.print_exc()
        rows.append(row)
    if metrics_out is not None:
        # The suite's JSON when it ran; else what the single analyses gave, so the numbers
        # are still checked against pandas while parts of the product are missing.
        payload = suite if suite is not None else assembled
        try:
            metrics_out.write_text(json.dumps(payload, default=str, allow_nan=False))
        except ValueError as exc:  # NaN or infinity in the JSON: a bug worth reporting
            rows.append({"analysis": "json", "error": _error(exc)})
    return {"analyses": rows, "checked_json": "metrics_json" if suite is not None else "parts"}


def analyses() -> list[tuple[str, str, str]]:
    """(label, module, function): the JSON of each metric of the registry, then the suite.
    Imported here, not at the top, so the baseline phase's memory holds no product code."""
    from analysis.metrics.registry import METRICS
    return [*((m.key, m.module, m.function) for m in METRICS),
            ("metrics (whole suite)", "analysis.metrics.registry", "metrics_json")]


def page_files() -> list[Path]:
    """The page scripts of the app's navigation, in its order."""
    from analysis.metrics.registry import navigation
    return [ROOT / page.path for page in navigation() if (ROOT / page.path).exists()]


def phase_pages(db: Path, timeout: float) -> dict:
    """Each page's server-side script under AppTest: cold first run, warm rerun."""
    os.environ["PLAYBOOK_IMPACT_DB"] = str(db)
    from streamlit.testing.v1 import AppTest
    # Start Streamlit's script runner once, so the first page's cold time is its own.
    AppTest.from_string("import streamlit as st\nst.write('warm-up')").run()
    rows = []
    for path in page_files():
        row = {"page": path.stem}
        try:
            at = AppTest.from_file(str(path), default_timeout=timeout)
            cold, _ = _timed(at.run)
            exceptions = [e.message for e in at.exception]
            warm = [_timed(at.run)[0] for _ in range(2)]
            row.update(cold_s=cold, warm_s=min(warm), exceptions=len(exceptions))
            if exceptions:
                row["error"] = str(exceptions[0]).splitlines()[0][:300]
        except Exception as exc:
            row["error"] = _error(exc)
            traceback.print_exc()
        rows.append(row)
    return {"pages": rows}


def phase_baseline(data: Path, metrics_out: Path | None) -> dict:
    """The pandas notebook: read the CSVs, compute, compute again on the frames in memory."""
    from bench import baseline
    read_s, frames = _timed(baseline.read_exports, data)
    cold_s, value = _timed(baseline.compute, frames)
    warm_s, _ = _timed(baseline.compute, frames)
    if metrics_out is not None:
        metrics_out.write_text(json.dumps(value, default=str, allow_nan=False))
    return {"read_s": read_s, "compute_cold_s": cold_s, "compute_warm_s": warm_s,
            "total_s": read_s + cold_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=("import_csv", "import_parquet", "analyses", "pages",
                                          "baseline"))
    parser.add_argument("--data", type=Path, required=True, help="folder of generated exports")
    parser.add_argument("--db", type=Path, required=True, help="DuckDB file")
    parser.add_argument("--out", type=Path, required=True, help="result JSON")
    parser.add_argument("--metrics-out", type=Path, help="where to write the computed metrics")
    parser.add_argument("--page-timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    start = time.perf_counter()
    if args.phase.startswith("import_"):
        result = phase_import(args.data, args.db, args.phase.split("_", 1)[1])
    elif args.phase == "analyses":
        result = phase_analyses(args.db, args.metrics_out)
    elif args.phase == "pages":
        result = phase_pages(args.db, args.page_timeout)
    else:
        result = phase_baseline(args.data, args.metrics_out)
    result.update(phase=args.phase, wall_s=time.perf_counter() - start, peak_rss_mb=peak_rss_mb())
    args.out.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

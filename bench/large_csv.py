"""A large runs CSV imported by the product's streaming importer: seconds, rows/s, peak RSS.

`python -m bench.large_csv [--mb 1024] [--out DIR]` writes a playbook_runs CSV of about that
many MB (bench/generate.py's runs, 1M runs ~131 MB, repeated with fresh run ids so the file
grows without the generator's memory growing), then imports it with `import_file` in a child
process into a fresh database holding the roster and accounts, and prints rows, seconds,
rows/s and the child's peak RSS (VmHWM). The point is the RSS: it should follow the import's
chunk size (setting import_chunk_rows), not the file's size.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parent.parent
PIECE_RUNS = 1_000_000  # runs generated at a time; each piece is ~131 MB of CSV


def write_runs_csv(mb: float, folder: Path, seed: int = 20261123) -> tuple[Path, int]:
    """Write csms.csv, accounts.csv and a playbook_runs.csv of about `mb` MB into `folder`.

    Returns (runs CSV path, rows written). Copies after the first get run ids with a suffix
    ("RUN-00000001-2"), so every run id stays unique.
    """
    from bench import generate as g
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = g.Sizes.for_runs(PIECE_RUNS)
    csms, _ = g.make_csms(rng, sizes)
    accounts, segment, arr, owner = g.make_accounts(rng, sizes, sizes.csms)
    runs, _ = g.make_runs(rng, sizes, owner, arr, segment)
    for name, table in (("csms", csms), ("accounts", accounts)):
        pacsv.write_csv(table, folder / f"{name}.csv",
                        write_options=pacsv.WriteOptions(quoting_style="needed"))
    path = folder / "playbook_runs.csv"
    target = mb * 2 ** 20
    rows, copy = 0, 1
    with pacsv.CSVWriter(path, runs.schema,
                         write_options=pacsv.WriteOptions(quoting_style="needed")) as writer:
        while True:
            piece = runs
            if copy > 1:
                ids = pc.binary_join_element_wise(runs.column("run_id"), pa.scalar(str(copy)),
                                                  "-")
                piece = runs.set_column(runs.schema.get_field_index("run_id"), "run_id", ids)
            left = target - (path.stat().st_size if rows else 0)
            bytes_per_row = (path.stat().st_size / rows) if rows else 140.0
            take = min(piece.num_rows, max(1, int(left / bytes_per_row)))
            writer.write_table(piece.slice(0, take))
            rows += take
            copy += 1
            if take < piece.num_rows or path.stat().st_size >= target:
                break
    return path, rows


_CHILD = """
import json, sys, time
from pathlib import Path
from analysis.store import Store
from analysis.ingest.importer import import_file

folder, db, memory = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
with Store(db) as store:
    if memory:  # checked by the parent: digits and a unit
        store.execute(f"SET memory_limit = '{memory}'")
    import_file(store, "csms", folder / "csms.csv")
    import_file(store, "accounts", folder / "accounts.csv")
    start, cpu = time.perf_counter(), time.process_time()
    result = import_file(store, "playbook_runs", folder / "playbook_runs.csv")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = next(int(line.split()[1]) / 1024 for line in Path("/proc/self/status").read_text()
            .splitlines() if line.startswith("VmHWM:"))
print(json.dumps({"rows_read": result.rows_read, "rows_loaded": result.rows_loaded,
                  "rows_rejected": result.rows_rejected, "seconds": seconds, "cpu_seconds": cpu,
                  "peak_rss_mb": peak}))
"""


def import_in_child(folder: Path, db: Path, duckdb_memory: str = "") -> dict:
    """Import folder's runs CSV in a fresh process (so its peak RSS is the import's own).

    duckdb_memory: a DuckDB memory_limit for the child ("1GB"); empty keeps DuckDB's default
    (80% of RAM), under which DuckDB keeps every block it wrote cached, so RSS grows with
    the file although the importer's own memory does not.
    """
    if duckdb_memory and not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", duckdb_memory):
        raise ValueError(f"--duckdb-memory {duckdb_memory!r} is not a size like 1GB")
    done = subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(db), duckdb_memory],
                          cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the import failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1024, help="size of the runs CSV in MB")
    parser.add_argument("--duckdb-memory", default="",
                        help="DuckDB memory_limit in the importing process, e.g. 1GB "
                        "(default: DuckDB's own, 80%% of RAM)")
    parser.add_argument("--out", default=None, help="folder for the CSV and the database "
                        "(default: a temporary folder, removed afterwards)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="large_csv_") as scratch:
        folder = Path(args.out) if args.out else Path(scratch)
        start = time.perf_counter()
        path, rows = write_runs_csv(args.mb, folder / "data")
        print(f"wrote {path} ({path.stat().st_size / 2 ** 20:,.0f} MB, {rows:,} runs) in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        db = folder / "large.duckdb"
        for suffix in ("", ".wal"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        figures = import_in_child(folder / "data", db, args.duckdb_memory)
    print(f"rows read {figures['rows_read']:,}, loaded {figures['rows_loaded']:,}, "
          f"rejected {figures['rows_rejected']:,}")
    print(f"seconds {figures['seconds']:.1f} (CPU {figures['cpu_seconds']:.1f}), "
          f"rows/s {figures['rows_loaded'] / figures['seconds']:,.0f}, "
          f"peak RSS {figures['peak_rss_mb']:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

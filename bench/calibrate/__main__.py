"""`python -m bench.calibrate [--replicates N] [--worlds a,b] [--workers 2] [--out PATH]`:
run the calibration worlds, print the table and write CALIBRATION.md."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.calibrate import runner

ROOT = Path(__file__).resolve().parents[2]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.calibrate", description=__doc__)
    parser.add_argument("--replicates", type=int, default=200,
                        help="replicates per world (default 200)")
    parser.add_argument("--worlds", default=None,
                        help="comma-separated world names (default: every world)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", default=str(ROOT / "CALIBRATION.md"),
                        help="where to write the report (default CALIBRATION.md); '-' = nowhere")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.worlds.split(",") if n.strip()] if args.worlds else None
    start_load = os.getloadavg()[0]
    results, wall = runner.run(names, args.replicates, args.workers)
    text = runner.report(results, wall, args.replicates, args.workers,
                         (start_load, os.getloadavg()[0]))
    print(text)
    if args.out != "-":
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

"""The benchmark's printed table and its verdict on the goals of issue 6."""
from __future__ import annotations

import os
import platform
from pathlib import Path

# Goals (issue 6), on 2 cores and 24 GB.
GOAL_IMPORT_CSV_1M_S = 5.0
GOAL_SUITE_1M_WARM_S = 2.0
GOAL_SPEEDUP_1M = 5.0
GOAL_SUITE_10M_S = 15.0
GOAL_RSS_10M_MB = 4096.0
GOAL_PAGE_1M_WARM_S = 1.0


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 2 ** 20, 1)
    except OSError:
        pass
    # Versions from package metadata: only analysis/store.py imports duckdb.
    from importlib.metadata import version
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": memory_gb,
            "python": platform.python_version(), "os": platform.platform(),
            "duckdb": version("duckdb"), "pandas": version("pandas")}


def _s(x) -> str:
    if x is None:
        return "–"
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def _cold_warm(row: dict | None) -> str:
    if not row:
        return "–"
    if "error" in row and "cold_s" not in row:
        return "error"
    cell = f"{_s(row.get('cold_s'))} / {_s(row.get('warm_s'))}"
    return cell + (" (error)" if row.get("error") else "")


def _mb(x) -> str:
    return "–" if x is None else f"{x:,.0f} MB"


def _import_cell(phase: dict | None) -> str:
    if not phase:
        return "–"
    if phase.get("error"):
        return "error: " + phase["error"][:60]
    return f"{_s(phase['seconds'])} ({phase['rows_per_s'] / 1e6:.2f} M rows/s)"


def _suite(size: dict) -> dict | None:
    rows = (size.get("analyses") or {}).get("analyses") or []
    return next((r for r in rows if r["analysis"].startswith("metrics")), None)


def speedups(size: dict) -> dict:
    """pandas / product: warm vs warm (frames in memory vs warm DuckDB), cold vs cold
    (CSV reads + compute vs the suite's first call on a freshly opened database)."""
    suite, base = _suite(size), size.get("baseline")
    if not suite or not base or "warm_s" not in suite or "compute_warm_s" not in base:
        return {}
    return {"warm": base["compute_warm_s"] / suite["warm_s"],
            "cold": base["total_s"] / suite["cold_s"]}


def render(results: dict) -> str:
    """One Markdown table: a row per measure, a column per size."""
    sizes = results["sizes"]
    head = "| measure | " + " | ".join(f"{s['label']} runs" for s in sizes) + " |"
    lines = [head, "|---|" + "---|" * len(sizes)]

    def row(name, cells):
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    row("rows: renewals / steps / views / snapshots",
        [" / ".join(f"{s['rows'].get(t, 0):,}" for t in
                    ("renewals", "run_steps", "playbook_views", "health_snapshots"))
         for s in sizes])
    row("import runs CSV", [_import_cell(s.get("import_csv")) for s in sizes])
    row("import runs Parquet", [_import_cell(s.get("import_parquet")) for s in sizes])
    labels = []
    for s in sizes:
        for r in (s.get("analyses") or {}).get("analyses") or []:
            if r["analysis"] not in labels:
                labels.append(r["analysis"])
    for label in labels:
        cells = []
        for s in sizes:
            rows = (s.get("analyses") or {}).get("analyses") or []
            r = next((x for x in rows if x["analysis"] == label), None)
            cells.append("not available" if r and str(r.get("error", "")).startswith("not available")
                         else _cold_warm(r))
        row(f"{label}, cold / warm", cells)
    row("pandas notebook: read CSVs", [_s((s.get("baseline") or {}).get("read_s")) for s in sizes])
    row("pandas notebook: metrics, cold / warm",
        [(f"{_s(b['compute_cold_s'])} / {_s(b['compute_warm_s'])}"
          if (b := s.get("baseline")) and "compute_cold_s" in b else "–") for s in sizes])
    row("**speed-up vs pandas, warm** (in-memory frames / warm DuckDB)",
        [f"**{x['warm']:.1f}x**" if (x := speedups(s)) else "–" for s in sizes])
    row("speed-up vs pandas, cold (CSV reads + metrics / first call)",
        [f"{x['cold']:.1f}x" if (x := speedups(s)) else "–" for s in sizes])
    row("same numbers as pandas",
        [("yes, " + f"{a['checked']:,} values" if a["differences"] == 0
          else f"NO: {a['differences']} of {a['checked']:,} differ")
         if (a := s.get("agreement")) else "–" for s in sizes])
    pages = []
    for s in sizes:
        for r in (s.get("pages") or {}).get("pages") or []:
            if r["page"] not in pages:
                pages.append(r["page"])
    for page in pages:
        cells = []
        for s in sizes:
            rows = (s.get("pages") or {}).get("pages") or []
            cells.append(_cold_warm(next((x for x in rows if x["page"] == page), None)))
        row(f"page {page}, cold / warm", cells)
    for phase, name in (("import_csv", "import CSV"), ("import_parquet", "import Parquet"),
                        ("analyses", "analyses"), ("pages", "pages"),
                        ("baseline", "pandas notebook")):
        row(f"peak RSS, {name} process", [_mb((s.get(phase) or {}).get("peak_rss_mb"))
                                          for s in sizes])
    errors = [[f"{phase}: {s[phase]['error'][:80]}" for phase in
               ("import_csv", "import_parquet", "analyses", "pages", "baseline")
               if isinstance(s.get(phase), dict) and s[phase].get("phase") == phase
               and s[phase].get("error")] for s in sizes]
    if any(errors):
        row("phases that failed", ["; ".join(e) or "none" for e in errors])
    return "\n".join(lines)


def _find(results: dict, runs: int) -> dict | None:
    return next((s for s in results["sizes"] if s["runs"] == runs), None)


def goals(results: dict) -> str:
    """Each goal of issue 6, MET / NOT MET / not measured, with the measured figure."""
    out = ["Goals (issue 6):"]

    def say(ok, text):
        mark = "not measured" if ok is None else ("MET" if ok else "NOT MET")
        out.append(f"- {mark}: {text}")

    one, ten = _find(results, 1_000_000), _find(results, 10_000_000)
    csv = (one or {}).get("import_csv") or {}
    parquet = (one or {}).get("import_parquet") or {}
    say(csv.get("seconds") and csv["seconds"] < GOAL_IMPORT_CSV_1M_S if "seconds" in csv else None,
        f"1M-run CSV import < {GOAL_IMPORT_CSV_1M_S:.0f} s (measured {_s(csv.get('seconds'))})")
    say(parquet["seconds"] < csv["seconds"] if "seconds" in parquet and "seconds" in csv else None,
        f"Parquet import faster than CSV (measured {_s(parquet.get('seconds'))})")
    suite = _suite(one) if one else None
    warm = (suite or {}).get("warm_s")
    say(warm < GOAL_SUITE_1M_WARM_S if warm is not None else None,
        f"metrics suite on 1M runs < {GOAL_SUITE_1M_WARM_S:.0f} s warm (measured {_s(warm)})")
    x = speedups(one) if one else {}
    say(x["warm"] >= GOAL_SPEEDUP_1M if x else None,
        f"metrics suite on 1M runs >= {GOAL_SPEEDUP_1M:.0f}x faster than pandas, warm vs warm "
        f"(measured {x['warm']:.1f}x; cold vs cold {x['cold']:.1f}x)" if x else
        f"metrics suite on 1M runs >= {GOAL_SPEEDUP_1M:.0f}x faster than pandas")
    agree = (one or {}).get("agreement")
    say(agree["differences"] == 0 if agree else None,
        "product and pandas give the same numbers at 1M runs"
        + (f" ({agree['differences']} differences of {agree['checked']:,} values)" if agree else ""))
    suite10 = _suite(ten) if ten else None
    rss10 = ((ten or {}).get("analyses") or {}).get("peak_rss_mb")
    t10 = (suite10 or {}).get("warm_s")
    say((t10 < GOAL_SUITE_10M_S and rss10 < GOAL_RSS_10M_MB) if t10 is not None and rss10 else None,
        f"metrics suite on 10M runs < {GOAL_SUITE_10M_S:.0f} s with peak RSS < 4 GB "
        f"(measured {_s(t10)} warm, {_s((suite10 or {}).get('cold_s'))} cold, {_mb(rss10)})")
    pages = ((one or {}).get("pages") or {}).get("pages") or []
    timed = [p for p in pages if "warm_s" in p]
    if timed:
        slow = [f"{p['page']} {_s(p['warm_s'])}" for p in timed if p["warm_s"] >= GOAL_PAGE_1M_WARM_S]
        failed = [p["page"] for p in pages if p.get("error")]
        say(not slow and not failed,
            f"every page < {GOAL_PAGE_1M_WARM_S:.0f} s warm at 1M runs"
            + (f"; slower: {', '.join(slow)}" if slow else "")
            + (f"; with errors: {', '.join(failed)}" if failed else ""))
    else:
        say(None, f"every page < {GOAL_PAGE_1M_WARM_S:.0f} s warm at 1M runs")
    return "\n".join(out)

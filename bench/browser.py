"""`python -m bench.browser`: the app's speed as a person sees it, in headless Chromium.

Starts `streamlit run app.py` on the demo database (a fresh server, so the first screen is a
cold start), opens it and times, from `page.goto`, the Overview's title and the whole Overview;
then opens every page from the sidebar twice (first visit, revisit), each timed from the click
until its script run is over, no spinner is left and the browser has painted. Every request the
browser makes is recorded: the app must not leave localhost. Prints a Markdown table and the
issue 16 goals; `--out FILE` also writes the timings as JSON. `make bench` runs it when
/usr/bin/chromium exists (never `playwright install`: Debian's chromium is used).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OVERVIEW_TITLE = "Do our playbooks work?"
GOAL_FIRST_SCREEN_S = 2.0
GOAL_REVISIT_S = 1.0
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# Counts the app's script runs as they start and finish (Streamlit marks its root element with
# the run state), so a page is timed to the end of its own run, with no fixed waits.
WATCH_RUNS = """
window.__runs = {started: 0, clickedAt: null, startedAt: [], finishedAt: []};
document.addEventListener('click', () => { window.__runs.clickedAt = performance.now(); }, true);
new MutationObserver(records => {
  for (const r of records) {
    const state = r.target.getAttribute('data-test-script-state');
    if (state === r.oldValue) continue;
    if (state === 'running') {
      window.__runs.started += 1;
      window.__runs.startedAt.push(performance.now());
    } else if (state === 'notRunning') {
      window.__runs.finishedAt.push(performance.now());
    }
  }
}).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                      attributeFilter: ['data-test-script-state']});
"""
# The run the click started is over and nothing is pending. A run short enough to start and
# end within one frame of the frontend never shows as running: its new title says it came.
SETTLED = """
([started, title]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const h1 = document.querySelector('h1');
  const arrived = window.__runs.started > started
    || (h1 !== null && h1.textContent.trim() !== title);
  return arrived && app && app.getAttribute('data-test-script-state') === 'notRunning'
    && document.querySelectorAll('[data-testid="stSpinner"]').length === 0;
}
"""
# The Overview's first heading carries its title.
TITLED = """
([title]) => {
  const h1 = document.querySelector('h1');
  return h1 !== null && h1.textContent.trim() === title;
}
"""
# Milliseconds since the page was opened (performance.now()'s origin is the navigation) once
# the browser has painted what is on screen.
PAINTED = ("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame("
           "() => done(performance.now()))))")


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(db: Path, log_path: Path, app_dir: Path = ROOT, env: dict | None = None):
    """`streamlit run app.py` of `app_dir` on a free port with `db` as its database (and the
    settings `env` names, e.g. PLAYBOOK_IMPACT_ORG_PLAYBOOKS_DIR); its output goes to
    `log_path`. tests/test_browser.py starts its servers with it too.

    Yields (url, the server's process id, seconds from the process start until the server
    answers its health check).
    """
    port = _free_port()
    env = {**os.environ, **(env or {}), "PLAYBOOK_IMPACT_DB": str(db)}
    log = open(log_path, "w")
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
        cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = start + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:  # not listening yet: poll again until the deadline
                pass
            if server.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError("streamlit did not start:\n" + log_path.read_text())
            time.sleep(0.05)
        yield url, server.pid, time.perf_counter() - start
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Clock:
    """What one step costs: seconds on the page's own clock, and CPU seconds spent by the
    server process and by the browser's page (its main thread's tasks). CPU hardly moves with
    the machine's load; wall time does, so both are kept."""

    def __init__(self, page, server_pid: int):
        self.page, self.server_pid = page, server_pid
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Performance.enable")

    def cpu(self) -> tuple[float, float]:
        metrics = {m["name"]: m["value"]
                   for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        return _process_cpu_s(self.server_pid), metrics.get("TaskDuration", 0.0)

    def first_screen(self, url: str, timeout_ms: float) -> dict:
        """From `page.goto` (the browser's navigation start) to the Overview's title painted,
        and to the whole Overview drawn."""
        server_before = _process_cpu_s(self.server_pid)
        self.page.goto(url, wait_until="commit")
        self.page.wait_for_function(TITLED, arg=[OVERVIEW_TITLE], timeout=timeout_ms,
                                    polling="raf")
        title = self.page.evaluate(PAINTED)
        self.page.locator('[data-testid="stMetric"]').first.wait_for(timeout=timeout_ms)
        whole = self._settle(0, timeout_ms)
        server, browser = self.cpu()
        return {"title_s": title / 1000, "overview_s": whole / 1000,
                "server_cpu_s": server - server_before, "browser_cpu_s": browser}

    def visit(self, title: str, timeout_ms: float) -> dict:
        """From a click on `title` in the sidebar until that page is drawn; `run_over_s` is
        when its script run was over (the rest is the browser drawing)."""
        server_before, browser_before = self.cpu()
        started = self.page.evaluate("window.__runs.started")
        shown = self.page.evaluate("(document.querySelector('h1') || {}).textContent || ''")
        self.page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
        drawn = self._settle(started, timeout_ms, shown.strip())
        runs = self.page.evaluate("window.__runs")
        server, browser = self.cpu()
        finished = [t for t in runs["finishedAt"] if t >= runs["clickedAt"]]
        return {"drawn_s": (drawn - runs["clickedAt"]) / 1000,
                "run_over_s": ((finished[-1] if finished else drawn) - runs["clickedAt"]) / 1000,
                "server_cpu_s": server - server_before, "browser_cpu_s": browser - browser_before}

    def _settle(self, started: int, timeout_ms: float, title: str = "") -> float:
        """Page milliseconds at which the run that started after `started` runs (or that
        replaced the page titled `title`) is drawn."""
        self.page.wait_for_function(SETTLED, arg=[started, title], timeout=timeout_ms,
                                    polling="raf")
        return self.page.evaluate(PAINTED)


def _errors(page) -> int:
    return (page.locator('[data-testid="stException"]').count()
            + page.locator('[data-testid="stAlertContentError"]').count())


def measure(db: Path, timeout_s: float = 180.0, revisits: int = 3,
            app_dir: Path = ROOT) -> dict:
    """Time the first screen and every page on a fresh server of `app_dir`'s app: a first
    visit, then `revisits` rounds of revisits (the table shows their median)."""
    from playwright.sync_api import sync_playwright

    from analysis.metrics.registry import navigation
    titles = [p.title for p in navigation() if not p.writes]
    timeout_ms = timeout_s * 1000
    result = {"measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "load_average_before": load_average(), "db": str(db), "app_dir": str(app_dir)}
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as folder, \
            serve(db, Path(folder) / "streamlit.log", app_dir) as (url, pid, ready_s), \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.add_init_script(WATCH_RUNS)
        hosts: set[str] = set()
        page.on("request", lambda r: hosts.add(urlsplit(r.url).hostname or ""))
        clock = Clock(page, pid)
        result.update(server_ready_s=ready_s, first_screen=clock.first_screen(url, timeout_ms))
        rows = {t: {"page": t, "revisits": []} for t in titles}
        errors = []
        for round_ in range(1 + revisits):
            for t in titles:
                step = clock.visit(t, timeout_ms)
                if round_ == 0:
                    rows[t]["first"] = step
                else:
                    rows[t]["revisits"].append(step)
                if _errors(page):
                    errors.append(f"{t} ({'first visit' if round_ == 0 else 'revisit'})")
        browser.close()
    for row in rows.values():
        # The middle of the revisits: one revisit can be slowed by a neighbour's job.
        row["revisit"] = {k: statistics.median(r[k] for r in row["revisits"])
                          for k in row["revisits"][0]}
    result.update(pages=list(rows.values()), errors=errors, hosts=sorted(hosts),
                  load_average_after=load_average())
    return result


def _s(x: float) -> str:
    return f"{x:.2f} s"


def _cell(step: dict) -> str:
    """"0.52 s (CPU 0.21 + 0.18 s)": wall time, then the server's and the browser's CPU."""
    return (f"{_s(step['drawn_s'])} (CPU {step['server_cpu_s']:.2f} + "
            f"{step['browser_cpu_s']:.2f} s)")


def render(result: dict) -> str:
    """The Markdown table and the goals, met or not."""
    first, pages = result["first_screen"], result["pages"]
    lines = [f"Measured {result['measured_at']} (load average {result['load_average_before']} "
             f"before, {result['load_average_after']} after); server ready "
             f"{_s(result['server_ready_s'])} after `streamlit run`. Each cell: wall time "
             "(CPU seconds of the server + of the browser's page).", "",
             f"| | first visit | revisit (median of {len(pages[0]['revisits'])}) |",
             "|---|---|---|",
             f"| first screen after a start: Overview's title / whole Overview | "
             f"{_s(first['title_s'])} / {_s(first['overview_s'])} (CPU "
             f"{first['server_cpu_s']:.2f} + {first['browser_cpu_s']:.2f} s) | – |"]
    lines += [f"| {r['page']} | {_cell(r['first'])} | {_cell(r['revisit'])} |" for r in pages]
    slow = [f"{r['page']} {_s(r['revisit']['drawn_s'])}" for r in pages
            if r["revisit"]["drawn_s"] >= GOAL_REVISIT_S]
    outside = [h for h in result["hosts"] if h not in LOCAL_HOSTS]
    mark = lambda ok: "MET" if ok else "NOT MET"  # noqa: E731
    lines += ["", "Goals (issue 16):",
              f"- {mark(first['title_s'] < GOAL_FIRST_SCREEN_S)}: first screen under "
              f"{GOAL_FIRST_SCREEN_S:.0f} s after a start (Overview's title "
              f"{_s(first['title_s'])}; whole Overview {_s(first['overview_s'])})",
              f"- {mark(not slow)}: every page under {GOAL_REVISIT_S:.0f} s on revisit"
              + (f" (slower: {', '.join(slow)})" if slow else ""),
              f"- {mark(not outside)}: no request leaves localhost"
              + (f" (also: {', '.join(outside)})" if outside else "")]
    if result["errors"]:
        lines.append(f"- errors shown on: {', '.join(result['errors'])}")
    return "\n".join(lines)


def _demo_db(folder: Path) -> Path:
    from analysis.demo import load_demo
    from analysis.store import Store
    db = folder / "demo.duckdb"
    with Store(db) as store:
        load_demo(store)
    return db


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.browser",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path,
                        help="database to serve (default: a fresh demo database)")
    parser.add_argument("--out", type=Path, help="also write the timings here as JSON")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds a page may take")
    parser.add_argument("--revisits", type=int, default=3,
                        help="rounds of revisits after the first visits (median shown)")
    parser.add_argument("--app-dir", type=Path, default=ROOT,
                        help="the checkout whose app.py is served (default: this one), e.g. "
                             "an earlier commit's `git archive` to compare against")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as folder:
        db = args.db or _demo_db(Path(folder))
        result = measure(db, args.timeout, max(1, args.revisits), args.app_dir.resolve())
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

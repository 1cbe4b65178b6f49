"""The quarterly review pack: every playbook once a quarter, as a Review, an HTML page and a PDF.

`build_review` gathers the numbers (the same functions the pages and `metrics --json` use),
`render_html` turns them into one self-contained page, `write_report` writes it (and, with
Chromium, the PDF) for `python -m analysis report`.

What each part covers: usage, success of runs, versions, changelog entries and feedback are
the quarter's own; effects (before/after, followers), consistency and proficiency are measured
over their own windows around a playbook's introduction or the program launch, with all data
known when the pack is built.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from analysis import settings

from analysis.metrics import stats
from analysis.present.charts.overview import effect_dots, playbook_rates, quarter_rates
from analysis.filters import Filters
from analysis.present.quarters import Quarter, parse_quarter
from analysis.scope import scoped
from analysis.store import Store

COMMENTS_PER_PLAYBOOK = 3
COMMENT_CHARS = 240


class ChromiumMissing(FileNotFoundError):
    """The PDF needs a headless Chromium that is not installed."""


@dataclass(frozen=True)
class PlaybookSection:
    """One playbook's page of the review.

    `headline` is its `overview.playbook_headlines` row (effect and followers, as dict);
    `usage` holds the quarter's runs, closed, successes, rate, ci_low, ci_high, views,
    csms_using, mean_adherence; `versions` the quarter's success rate per version;
    `changelog` the definition's entries dated in the quarter; `feedback` the quarter's
    responses, mean_rating and a few `comments` (DataFrame submitted_at, rating, comment).
    """
    playbook_id: str
    name: str
    category: str | None
    scenario: str | None
    defined: bool
    current_version: str | None
    headline: dict
    usage: dict
    versions: pd.DataFrame
    changelog: tuple[dict, ...]
    feedback: dict
    figure: go.Figure | None  # None when the playbook has no rate to chart


@dataclass(frozen=True)
class Review:
    """A quarter's review: the organisation's figures, then one section per playbook.

    `changes` is `overview.quarter_changes` (this quarter against the previous one),
    `headlines` `overview.playbook_headlines`, `consistency` / `proficiency` the JSON
    summaries of `metrics --json`; `figures` holds 'effects' and 'quarter_rates'. `alpha`
    (every interval's) and `window_months` (the effects') are the settings the review was
    built with, so the pack names what its numbers are even if a setting changes before it
    is rendered.
    """
    quarter: str
    start: date
    end: date
    generated_at: datetime
    filters: Filters
    changes: pd.DataFrame
    headlines: pd.DataFrame
    consistency: dict
    proficiency: dict
    sections: tuple[PlaybookSection, ...]
    figures: dict
    alpha: float
    window_months: int


# -- gathering ------------------------------------------------------------------------------

def _quarter_outcomes(store: Store, filters: Filters) -> pd.DataFrame:
    """Closed runs and successes per playbook among runs opened in the filters' period."""
    runs_sql, params = scoped("playbook_runs", filters)
    return store.query(f"""
        select playbook_id,
               count(*) filter (where outcome in ('success', 'failure')) as closed,
               count(*) filter (where outcome = 'success') as successes
        from {runs_sql} r
        where playbook_id is not null
        group by playbook_id
    """, params).set_index("playbook_id")


def _recent_comments(store: Store, filters: Filters) -> pd.DataFrame:
    """The latest few non-empty comments per playbook in the period."""
    feedback_sql, params = scoped("feedback", filters)
    return store.query(f"""
        select playbook_id, submitted_at, rating, comment
        from {feedback_sql} f
        where comment is not null and trim(comment) <> ''
        qualify row_number() over (partition by playbook_id
                                   order by submitted_at desc, comment) <= ?
        order by playbook_id, submitted_at desc
    """, [*params, COMMENTS_PER_PLAYBOOK])


def _changelog_in(folder, quarter: Quarter) -> dict[str, tuple[dict, ...]]:
    """Changelog entries dated in the quarter, per defined playbook id."""
    from analysis.playbooks.library import load_playbooks
    out = {}
    for playbook in load_playbooks(folder):
        entries = tuple(
            {"version": e.version, "date": e.date,
             "changes": tuple(e.changes) if not isinstance(e.changes, str) else (e.changes,),
             "why": e.why}
            for e in playbook.changelog if quarter.contains(e.date))
        if entries:
            out[playbook.id] = entries
    return out


def _usage_of(playbook_id: str, usage: dict, outcomes: pd.DataFrame) -> dict:
    closed = int(outcomes.at[playbook_id, "closed"]) if playbook_id in outcomes.index else 0
    successes = int(outcomes.at[playbook_id, "successes"]) if playbook_id in outcomes.index else 0
    rate = stats.wilson(successes, closed)
    found = usage.get(playbook_id, {})
    return {"runs": int(found.get("runs") or 0), "views": int(found.get("views") or 0),
            "csms_using": int(found.get("csms_using") or 0),
            "mean_adherence": found.get("mean_adherence"),
            "closed": closed, "successes": successes, "rate": rate.rate,
            "ci_low": rate.ci_low, "ci_high": rate.ci_high}


def _rates_figure(row: dict) -> go.Figure | None:
    fig = playbook_rates(row)
    return fig if len(fig.data[0].x or ()) else None


def build_review(store: Store, quarter: str | Quarter, folder=None,
                 filters: Filters | None = None) -> Review:
    """Everything the review pack shows for `quarter` ("2026Q3" or "2026-Q3").

    `filters` may restrict segment, team or playbook; its period is replaced by the quarter
    (for the quarter's own figures) or by each analysis's windows (for effects).
    """
    from analysis.playbooks.catalog import playbook_catalog
    from analysis.metrics.consistency import consistency_json
    from analysis.metrics.feedback import feedback_json
    from analysis.metrics.overview import playbook_headlines, quarter_changes
    from analysis.metrics.proficiency import proficiency_json
    from analysis.metrics.usage import usage_json
    from analysis.metrics.versions import versions_json

    q = parse_quarter(quarter)
    # The analyses below run at these settings; the review records them for its labels.
    alpha, window_months = settings.default("alpha"), settings.default("window_months")
    base = (filters or Filters()).with_(date_from=None, date_to=None)
    in_quarter = base.with_(date_from=q.start, date_to=q.end)

    headlines = playbook_headlines(store, base, folder)
    usage = {u["playbook_id"]: u for u in usage_json(store, in_quarter)["playbooks"]}
    outcomes = _quarter_outcomes(store, in_quarter)
    versions = pd.DataFrame(versions_json(store, in_quarter),
                            columns=["playbook_id", "version", "n", "successes", "rate",
                                     "ci_low", "ci_high"])
    feedback = {f["playbook_id"]: f for f in feedback_json(store, in_quarter)}
    comments = _recent_comments(store, in_quarter)
    from analysis.playbooks.catalog import definitions_folder  # the organisation's own
    changelog = _changelog_in(folder if folder is not None else definitions_folder(store), q)
    catalog = playbook_catalog(store, folder).set_index("playbook_id")

    sections = []
    for row in headlines.to_dict("records"):  # a dozen playbooks, not rows of data
        pid = row["playbook_id"]
        info = catalog.loc[pid] if pid in catalog.index else {}
        found = feedback.get(pid, {})
        sections.append(PlaybookSection(
            playbook_id=pid, name=row["name"], category=row["category"],
            scenario=info.get("scenario"), defined=bool(row["defined"]),
            current_version=info.get("current_version"),
            headline=row, usage=_usage_of(pid, usage, outcomes),
            versions=versions[versions["playbook_id"] == pid].drop(columns="playbook_id")
                                                             .reset_index(drop=True),
            changelog=changelog.get(pid, ()),
            feedback={"responses": int(found.get("responses") or 0),
                      "mean_rating": found.get("mean_rating"),
                      "comments": comments[comments["playbook_id"] == pid]
                      .drop(columns="playbook_id").reset_index(drop=True)},
            figure=_rates_figure(row),
        ))
    changes = quarter_changes(store, base, q)
    return Review(
        quarter=str(q), start=q.start, end=q.end, generated_at=datetime.now().replace(microsecond=0),
        filters=base, changes=changes, headlines=headlines,
        consistency=consistency_json(store, base), proficiency=proficiency_json(store, base),
        sections=tuple(sections),
        figures={"effects": effect_dots(headlines, title=None),
                 "quarter_rates": quarter_rates(changes)},
        alpha=alpha, window_months=window_months,
    )


# -- HTML -----------------------------------------------------------------------------------

_CSS = """
@page { size: A4; margin: 12mm; }
body { font-family: "Helvetica Neue", Arial, sans-serif; color: #222; margin: 24px auto;
       max-width: 1000px; font-size: 13px; line-height: 1.4; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 20px; margin: 0 0 4px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
.meta { color: #666; } .verdict { font-weight: 600; margin: 6px 0; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
section.page { page-break-before: always; break-before: page; }
.figure { page-break-inside: avoid; break-inside: avoid; }
blockquote { margin: 2px 0 4px 12px; color: #444; }
"""


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def _pct(value, digits: int = 0) -> str:
    return "–" if _blank(value) else f"{float(value):.{digits}%}"


def _rate_text(rate, low, high, n) -> str:
    if _blank(rate):
        return f"– (n={int(n or 0)})"
    return f"{_pct(rate)} [{_pct(low)}–{_pct(high)}] (n={int(n or 0)})"


def _points(value, low=None, high=None) -> str:
    if _blank(value):
        return "–"
    text = f"{float(value) * 100:+.1f} pts"
    if not _blank(low) and not _blank(high):
        text += f" [{float(low) * 100:+.1f} to {float(high) * 100:+.1f}]"
    return text


def _number(value, digits: int = 2) -> str:
    if _blank(value):
        return "–"
    return f"{int(value):,}" if isinstance(value, int) else f"{float(value):,.{digits}f}"


def _table(header: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    """An HTML table; every cell is escaped, so data can never become markup."""
    def cell(tag, i, value):
        cls = ' class="num"' if i in numeric else ""
        return f"<{tag}{cls}>{escape(str(value))}</{tag}>"
    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Figures:
    """Figure HTML with plotly.js inlined once, in the first figure, and reused after."""

    def __init__(self):
        self.first = True

    def __call__(self, fig: go.Figure) -> str:
        html = fig.to_html(full_html=False, include_plotlyjs=self.first,
                           config={"displayModeBar": False, "responsive": True})
        self.first = False
        return f'<div class="figure">{html}</div>'


def _cover(review: Review, figure) -> str:
    changes = review.changes
    rows = [[r["measure"], change_value_text(r, "previous"), change_value_text(r, "current"), r["verdict"]]
            for r in changes.to_dict("records")]
    prev_q = changes["previous_quarter"].iloc[0] if len(changes) else "previous"
    c, p = review.consistency, review.proficiency
    scope = ", ".join(f"{k} {v}" for k, v in review.filters.to_query().items()) or "all data"
    return (
        f"<header><h1>Playbook review {escape(review.quarter)}</h1>"
        f'<p class="meta">{review.start:%d %b %Y} – {review.end:%d %b %Y} · {escape(scope)} · '
        f"generated {review.generated_at:%Y-%m-%d %H:%M}</p></header>"
        f"<h3>What changed since {escape(str(prev_q))}</h3>"
        f'<p class="meta">Rates show their {stats.confidence_label(review.alpha)} interval '
        "in brackets and n.</p>"
        + _table(["Measure", str(prev_q), review.quarter, "Verdict"], rows, {1, 2})
        + figure(review.figures["quarter_rates"])
        + "<h3>Consistency across CSMs</h3>"
        + f'<p class="verdict">{escape(str(c.get("verdict") or "No data."))}</p>'
        + "<h3>Time to proficiency</h3>"
        + f'<p class="verdict">{escape(str(p.get("verdict") or "No data."))}</p>'
    )


def change_value_text(row: dict, side: str) -> str:
    """One side of a `quarter_changes` row as text: a count, a rate with its interval and n,
    or a mean with n."""
    value, n = row[f"{side}_value"], row[f"{side}_n"]
    if row["kind"] == "count":
        return _number(int(value or 0))
    if row["kind"] == "rate":
        return _rate_text(value, row[f"{side}_ci_low"], row[f"{side}_ci_high"], n)
    return f"{_number(value)} (n={int(n or 0)})"


def _glance(review: Review, figure) -> str:
    rows = [[h["name"], _rate_text(h["before_rate"], h["before_ci_low"], h["before_ci_high"], h["before_n"]),
             _rate_text(h["after_rate"], h["after_ci_low"], h["after_ci_high"], h["after_n"]),
             _points(h["diff"]), h["effect"]]
            for h in review.headlines.to_dict("records")]
    return ('<section class="page"><h2>Playbooks at a glance</h2>'
            f'<p class="meta">Outcome rate in the {review.window_months} months before and '
            f"after each playbook was introduced, with {stats.confidence_label(review.alpha)} "
            "intervals.</p>"
            + _table(["Playbook", "Before", "After", "Change", "Effect"], rows, {1, 2, 3})
            + figure(review.figures["effects"]) + "</section>")


def _section(s: PlaybookSection, figure) -> str:
    h, u = s.headline, s.usage
    status = "defined" if s.defined else "in the data, not yet defined"
    meta = " · ".join(escape(str(x)) for x in (
        s.playbook_id, s.category or "no category", s.scenario or "no scenario",
        f"version {s.current_version}" if s.current_version else "no version", status))
    usage_rows = [["Runs opened", _number(u["runs"])], ["Views", _number(u["views"])],
                  ["CSMs using it", _number(u["csms_using"])],
                  ["Mean adherence", _pct(u["mean_adherence"])],
                  ["Success of runs closed", _rate_text(u["rate"], u["ci_low"], u["ci_high"], u["closed"])]]
    parts = [
        f'<section class="page" id="pb-{escape(s.playbook_id)}"><h2>{escape(s.name)}</h2>',
        f'<p class="meta">{meta}</p>',
        f'<p class="verdict">Before/after: {escape(str(h.get("verdict") or "No data."))}</p>',
    ]
    if h.get("followers_verdict"):
        parts.append(f'<p class="verdict">Followers: {escape(str(h["followers_verdict"]))}</p>')
    parts.append(figure(s.figure) if s.figure is not None
                 else '<p class="meta">No outcomes to chart yet.</p>')
    parts.append("<h3>This quarter</h3>" + _table(["Measure", "Value"], usage_rows, {1}))
    if len(s.versions):
        parts.append("<h3>Success rate by version (runs opened this quarter)</h3>" + _table(
            ["Version", "Success rate"],
            [[v["version"], _rate_text(v["rate"], v["ci_low"], v["ci_high"], v["n"])]
             for v in s.versions.to_dict("records")], {1}))
    if s.changelog:
        items = "".join(
            f"<li><b>{escape(str(e['version']))}</b> ({e['date']:%d %b %Y}): "
            f"{escape('; '.join(map(str, e['changes'])))} — <i>{escape(str(e['why']))}</i></li>"
            for e in s.changelog)
        parts.append(f"<h3>Changed this quarter</h3><ul>{items}</ul>")
    f = s.feedback
    parts.append(f"<h3>Feedback</h3><p>{f['responses']:,} responses"
                 + (f", mean rating {float(f['mean_rating']):.2f} / 5" if not _blank(f["mean_rating"]) else "")
                 + "</p>")
    for c in f["comments"].to_dict("records"):
        text = str(c["comment"])
        text = text if len(text) <= COMMENT_CHARS else text[:COMMENT_CHARS - 1] + "…"
        rating = "" if _blank(c["rating"]) else f" ({int(c['rating'])}/5)"
        parts.append(f"<blockquote>{escape(text)}{escape(rating)}</blockquote>")
    parts.append("</section>")
    return "".join(parts)


def render_html(review: Review) -> str:
    """The review as one self-contained HTML page (plotly.js inlined once, no external files).

    Every piece of data is HTML-escaped; each playbook starts on a new printed page.
    """
    figure = _Figures()
    body = _cover(review, figure) + _glance(review, figure) + "".join(
        _section(s, figure) for s in review.sections)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Playbook review {escape(review.quarter)}</title><style>{_CSS}</style>"
            f"</head><body>{body}</body></html>")


# -- files ----------------------------------------------------------------------------------

def chromium_path() -> str | None:
    """The Chromium binary for PDFs (setting `chromium_path`), or None when not installed."""
    configured = str(settings.default("chromium_path"))
    if Path(configured).exists():
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_pdf(html_path: Path, pdf_path: Path, timeout: int = 180) -> Path:
    """Print an HTML file to PDF with headless Chromium; ChromiumMissing when not installed."""
    binary = chromium_path()
    if binary is None:
        raise ChromiumMissing(
            f"A PDF needs Chromium, which is not installed at {settings.default('chromium_path')} "
            "(apt-get install chromium); the HTML review can be printed from a browser instead.")
    with tempfile.TemporaryDirectory(prefix="review-chromium-") as profile:
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                   "--no-first-run", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                   "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
                   "--virtual-time-budget=10000", f"--print-to-pdf={pdf_path}",
                   Path(html_path).resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if not pdf_path.exists() or pdf_path.stat().st_size == 0:
        raise RuntimeError(f"Chromium could not print {html_path} to PDF: "
                           + (done.stderr.strip().splitlines() or ["no output"])[-1])
    return pdf_path


def write_report(store: Store, quarter: str, out: Path, pdf: bool = False,
                 folder=None, filters: Filters | None = None) -> list[Path]:
    """Write the review of `quarter` to `out` (HTML) and, with pdf=True, a PDF beside it.

    Returns the paths written, HTML first.
    """
    out = Path(out)
    review = build_review(store, quarter, folder, filters)
    out.parent.mkdir(parents=True, exist_ok=True)
    html_path = out if out.suffix.lower() in (".html", ".htm") else out.with_suffix(".html")
    html_path.write_text(render_html(review), encoding="utf-8")
    written = [html_path]
    if pdf:
        written.append(render_pdf(html_path, html_path.with_suffix(".pdf")))
    return written

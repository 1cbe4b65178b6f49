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

import dataclasses
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from analysis.context import Context
from analysis.metrics import stats
from analysis.metrics.claims import Claim
from analysis.present import format as fmt
from analysis.present.designs import design_notes
from analysis.present.periods import TO_DATE
from analysis.present.charts.overview import (effect_dots, playbook_rates, quarter_rates,
                                              rates_by_playbook)
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
    figure: go.Figure | None  # before/after rates; None when there is no rate to chart
    followers_figure: go.Figure | None = None  # followers against non-followers


@dataclass(frozen=True)
class Review:
    """A quarter's review: the organisation's figures, then one section per playbook.

    `changes` is `overview.quarter_changes` (this quarter against the previous one),
    `headlines` `overview.playbook_headlines`, `consistency` / `proficiency` the JSON
    summaries of `metrics --json`; `figures` holds 'effects' and 'quarter_rates' (the pack's),
    and 'followers' (every playbook's followers against non-followers in one chart, which the
    page shows instead of a chart per playbook). `alpha`
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
    summary: str = ""  # the executive summary (`executive_summary`)
    data_last_day: date | None = None  # the data's last day: a quarter past it is partial
    design_notes: tuple[str, ...] = ()  # one sentence per design a verdict rests on


# -- gathering ------------------------------------------------------------------------------

def _quarter_outcomes(store: Store, filters: Filters) -> pd.DataFrame:
    """Closed runs (the semantic layer's `closed_runs`) and successes per playbook among runs
    opened in the filters' period."""
    runs_sql, params = scoped("closed_runs", filters)
    return store.query(f"""
        select playbook_id,
               count(*) as closed,
               count(*) filter (where succeeded) as successes
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


def _usage_of(playbook_id: str, usage: dict, outcomes: pd.DataFrame, alpha: float) -> dict:
    closed = int(outcomes.at[playbook_id, "closed"]) if playbook_id in outcomes.index else 0
    successes = int(outcomes.at[playbook_id, "successes"]) if playbook_id in outcomes.index else 0
    rate = stats.wilson(successes, closed, alpha)
    found = usage.get(playbook_id, {})
    return {"runs": int(found.get("runs") or 0), "views": int(found.get("views") or 0),
            "csms_using": int(found.get("csms_using") or 0),
            "mean_adherence": found.get("mean_adherence"),
            "closed": closed, "successes": successes, "rate": rate.rate,
            "ci_low": rate.ci_low, "ci_high": rate.ci_high}


def _rates_figure(row: dict, months: int, question: str = "before_after") -> go.Figure | None:
    fig = playbook_rates(row, months, question=question)
    # Two charts share a row of the printed page: a fixed width keeps each inside its half
    # (plotly sizes a responsive chart from its container only after the page has laid out).
    fig.update_layout(width=470)
    return fig if len(fig.data[0].x or ()) else None


def build_review(ctx: Context, quarter: str | Quarter) -> Review:
    """Everything the review pack shows for `quarter` ("2026Q3" or "2026-Q3").

    The context's filters may restrict segment, team or playbook; their period is replaced by
    the quarter (for the quarter's own figures) or by each analysis's windows (for effects).
    Its catalogue lists the playbooks; its settings are the ones every figure is computed
    with, and the review records alpha and window_months for its labels.
    """
    from analysis.metrics.consistency import consistency_json
    from analysis.metrics.feedback import feedback_json
    from analysis.metrics.overview import playbook_headlines, quarter_changes
    from analysis.metrics.proficiency import proficiency_json
    from analysis.metrics.usage import usage_json
    from analysis.metrics.versions import versions_json

    q, store = parse_quarter(quarter), ctx.store
    alpha, window_months = ctx.settings.alpha, ctx.settings.window_months
    base = ctx.with_filters(date_from=None, date_to=None)
    in_quarter = base.with_filters(date_from=q.start, date_to=q.end)

    headlines = playbook_headlines(base)
    usage = {u["playbook_id"]: u for u in usage_json(in_quarter)["playbooks"]}
    outcomes = _quarter_outcomes(store, in_quarter.filters)
    versions = pd.DataFrame(versions_json(in_quarter),
                            columns=["playbook_id", "version", "n", "successes", "rate",
                                     "ci_low", "ci_high"])
    feedback = {f["playbook_id"]: f for f in feedback_json(in_quarter)}
    comments = _recent_comments(store, in_quarter.filters)
    from analysis.playbooks.catalog import definitions_folder  # the organisation's own
    changelog = _changelog_in(definitions_folder(store, ctx.settings), q)
    catalog = ctx.catalog.set_index("playbook_id")

    sections = []
    for row in headlines.to_dict("records"):  # a dozen playbooks, not rows of data
        pid = row["playbook_id"]
        info = catalog.loc[pid] if pid in catalog.index else {}
        found = feedback.get(pid, {})
        sections.append(PlaybookSection(
            playbook_id=pid, name=row["name"], category=row["category"],
            scenario=info.get("scenario"), defined=bool(row["defined"]),
            current_version=info.get("current_version"),
            headline=row, usage=_usage_of(pid, usage, outcomes, alpha),
            versions=versions[versions["playbook_id"] == pid].drop(columns="playbook_id")
                                                             .reset_index(drop=True),
            changelog=changelog.get(pid, ()),
            feedback={"responses": int(found.get("responses") or 0),
                      "mean_rating": found.get("mean_rating"),
                      "comments": comments[comments["playbook_id"] == pid]
                      .drop(columns="playbook_id").reset_index(drop=True)},
            figure=_rates_figure(row, window_months),
            followers_figure=_rates_figure(row, window_months, "followers"),
        ))
    changes = quarter_changes(base, q)
    last_day = _data_last_day(store)
    consistency, proficiency = consistency_json(base), proficiency_json(base)
    return Review(
        quarter=str(q), start=q.start, end=q.end, generated_at=datetime.now().replace(microsecond=0),
        filters=base.filters, changes=changes, headlines=headlines,
        consistency=consistency, proficiency=proficiency,
        sections=tuple(sections),
        figures={"effects": effect_dots(headlines, title=None),
                 "quarter_rates": quarter_rates(changes),
                 "followers": rates_by_playbook(headlines, "followers")},
        alpha=alpha, window_months=window_months,
        summary=executive_summary(headlines), data_last_day=last_day,
        design_notes=_design_notes(headlines, consistency, proficiency, ctx.settings),
    )


def _design_notes(headlines: pd.DataFrame, consistency: dict, proficiency: dict,
                  settings) -> tuple[str, ...]:
    """One sentence per design a verdict in the pack rests on (analysis.present.designs)."""
    rows = headlines.to_dict("records")
    pairs = [*((r["effect_method"], r["claim"], r["rollout_group_kind"]) for r in rows),
             *((r["followers_effect_method"], r["followers_claim"], None) for r in rows),
             *(((s.get("effect") or {}).get("method"), s.get("claim"), None)
               for s in (consistency, proficiency))]
    return tuple(design_notes(pairs, dataclasses.asdict(settings)))


def _data_last_day(store: Store) -> date | None:
    """The last day of the data (runs opened, renewals due): what 'too early' is judged at."""
    last = store.scalar("select greatest(coalesce((select max(opened_on) from playbook_runs), "
                        "DATE '1900-01-01'), coalesce((select max(renewal_date) from renewals), "
                        "DATE '1900-01-01'))")
    return None if last is None or pd.Timestamp(last).year == 1900 else pd.Timestamp(last).date()


# -- HTML -----------------------------------------------------------------------------------

_CSS = """
@page { size: A4; margin: 12mm; }
body { font-family: "Helvetica Neue", Arial, sans-serif; color: #222; margin: 24px auto;
       max-width: 1000px; font-size: 13px; line-height: 1.4; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 20px; margin: 0 0 4px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
.meta { color: #666; } .verdict { font-weight: 600; margin: 6px 0; }
.warning { background: #fff8e6; border-left: 4px solid #E69F00; padding: 4px 8px; margin: 4px 0; }
.summary { font-size: 14px; background: #f4f7fb; padding: 8px 10px; border-left: 4px solid #0072B2; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
section.page { page-break-before: always; break-before: page; }
.figure { page-break-inside: avoid; break-inside: avoid; }
blockquote { margin: 2px 0 4px 12px; color: #444; }
footer.methods { color: #666; font-size: 10px; margin-top: 10px; }
.pair { display: flex; gap: 16px; } .pair > div { flex: 1 1 0; min-width: 0; }
"""
_TEMPLATES = Path(__file__).parent / "templates"
# What each number in the pack rests on: the method, out of the reader's way in a footnote.
_METHODS = (
    "Rates are shares of outcomes (renewals renewed, closed runs succeeded); the interval "
    "around a rate is Wilson's score interval.",
    "A change or difference is in percentage points, with Newcombe's hybrid score interval; "
    "'could be chance' means that interval includes zero.",
    "Followers are runs that completed at least the follower threshold of their steps; the "
    "adjusted difference weights runs by propensity (health, ARR, segment at open).",
    "Spread across CSMs is the standard deviation of their renewal rates; time to "
    "proficiency is read from Kaplan–Meier curves, so CSMs not ramped yet still count.",
    "Claims shown together are adjusted for testing many at once (Benjamini–Hochberg); each "
    "verdict rests on the design named below.",
    "'Not enough data' means fewer outcomes than needed to detect a 10-point change with 80% "
    "power.",
)


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
    return Environment(loader=FileSystemLoader(_TEMPLATES),
                       autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                       trim_blocks=False, lstrip_blocks=False)


def template():
    """The pack's Jinja2 template (templates/quarterly_pack.html), compiled on first use."""
    return _environment().get_template("quarterly_pack.html")


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def rate_text(rate, low, high, n) -> str:
    """"61.0% [52.1% to 69.4%] (n = 95)": a rate with its interval and n, or a dash and n."""
    if _blank(rate):
        return f"{fmt.MISSING} (n = {fmt.count(n or 0)})"
    return f"{fmt.percent(rate)} [{fmt.interval_percent(low, high)}] (n = {fmt.count(n or 0)})"


def change_value_text(row: dict, side: str) -> str:
    """One side of a `quarter_changes` row as text: a count, a rate with its interval and n,
    or a mean with n."""
    value, n = row[f"{side}_value"], row[f"{side}_n"]
    if row["kind"] == "count":
        return fmt.count(int(value or 0))
    if row["kind"] == "rate":
        return rate_text(value, row[f"{side}_ci_low"], row[f"{side}_ci_high"], n)
    return f"{fmt.number(value)} (n = {fmt.count(n or 0)})"


class _Figures:
    """Figure HTML with plotly.js inlined once, in the first figure, and reused after. The
    HTML is plotly's own (its data JSON-encoded), so it is the one thing marked safe."""

    def __init__(self):
        self.first = True

    def __call__(self, fig: go.Figure | None):
        if fig is None:
            return None
        from markupsafe import Markup
        html = fig.to_html(full_html=False, include_plotlyjs=self.first,
                           config={"displayModeBar": False, "responsive": True})
        self.first = False
        return Markup(html)


# -- executive summary --------------------------------------------------------------------------

def _claim(row: dict, kind: str) -> Claim:
    """The claim of a headline row for 'before_after' (`claim`) or 'followers'
    (`followers_claim`), as the metrics gave it; a playbook without one has not enough data."""
    value = row.get("claim" if kind == "before_after" else "followers_claim")
    return Claim.NOT_ENOUGH_DATA if _blank(value) else Claim(value)


def _names(rows: list[dict], most: int = 4) -> str:
    """"A", "A and B", "A, B and C"; past `most` names, the first three and how many more."""
    names = [str(r["name"]) for r in rows]
    if len(names) > most:
        return ", ".join(names[:3]) + f" and {len(names) - 3} more"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def executive_summary(headlines: pd.DataFrame) -> str:
    """One paragraph for a VP from the playbooks' claims: what worked, what did not, what is
    too early to tell, and what to decide."""
    rows = headlines.to_dict("records")
    claims = [(r, _claim(r, "before_after"), _claim(r, "followers")) for r in rows]
    worked = [r for r, c, _ in claims if c == Claim.IMPROVED]
    worse = [r for r, c, _ in claims if c == Claim.WORSE]
    flat = [r for r, c, _ in claims if c == Claim.NO_CLEAR_CHANGE]
    early = [r for r, c, _ in claims if c in (Claim.NOT_ENOUGH_DATA, Claim.TOO_EARLY)]
    followers_only = [r for r, c, f in claims
                      if f == Claim.FOLLOWERS_BETTER and c != Claim.IMPROVED]
    if not rows:
        return "No playbook has outcomes to compare yet."
    parts = []
    if worked:
        parts.append(f"What worked: {_names(worked)} improved outcomes after introduction ("
                     + ", ".join(f"{fmt.points_text(r['diff'])}" for r in worked) + ").")
    else:
        parts.append("No playbook has yet shown a clear improvement in outcomes.")
    if worse:
        parts.append(f"What did not: {_names(worse)} saw outcomes fall after introduction.")
    elif flat:
        parts.append(f"What did not: {_names(flat)} showed no clear change on enough data.")
    else:
        parts.append("No playbook got worse.")
    if early:
        parts.append(f"Too early to tell for {len(early)} of {len(rows)} playbooks "
                     f"({_names(early)}): they need more outcomes before a change of 10 points "
                     "could be seen.")
    if followers_only:
        parts.append(f"Runs that followed {_names(followers_only)} closely did better, though "
                     "the playbook as a whole has not yet moved outcomes.")
    decide = []
    if worked:
        decide.append(f"keep and extend {_names(worked)}")
    if worse:
        decide.append(f"review or retire {_names(worse)}")
    if followers_only:
        decide.append(f"push adherence to {_names(followers_only)}")
    if early:
        decide.append("keep the others running and revisit next quarter")
    parts.append(("To decide: " + "; ".join(decide) + ".") if decide else
                 "To decide: nothing yet; revisit next quarter.")
    return " ".join(parts)


# -- rendering ------------------------------------------------------------------------------------

def _section_context(s: PlaybookSection, figure) -> dict:
    h, u, f = s.headline, s.usage, s.feedback
    status = "defined" if s.defined else "in the data, not yet defined"
    comments = []
    for c in f["comments"].to_dict("records"):
        text = str(c["comment"])
        text = text if len(text) <= COMMENT_CHARS else text[:COMMENT_CHARS - 1] + "…"
        comments.append(text + ("" if _blank(c["rating"]) else f" ({int(c['rating'])}/5)"))
    return {
        "playbook_id": s.playbook_id, "name": s.name,
        "meta": " · ".join((s.category or "no category", s.scenario or "no scenario",
                            f"version {s.current_version}" if s.current_version
                            else "no version", status)),
        "before_after": str(h.get("verdict") or "No data."),
        # What the rollout design the verdict rests on leaves out or reads wrongly.
        "before_after_warnings": [str(w) for w in (h.get("rollout_warnings") or ())],
        "before_after_figure": figure(s.figure),
        "followers": None if _blank(h.get("followers_verdict")) else str(h["followers_verdict"]),
        "followers_figure": figure(s.followers_figure),
        "usage_rows": [["Runs opened", fmt.count(u["runs"])], ["Views", fmt.count(u["views"])],
                       ["CSMs using it", fmt.count(u["csms_using"])],
                       ["Mean adherence", fmt.percent(u["mean_adherence"])],
                       ["Success of runs closed",
                        rate_text(u["rate"], u["ci_low"], u["ci_high"], u["closed"])]],
        "version_rows": [[v["version"], rate_text(v["rate"], v["ci_low"], v["ci_high"], v["n"])]
                         for v in s.versions.to_dict("records")],
        "changelog": [{"version": str(e["version"]), "date": fmt.day(e["date"]),
                       "changes": "; ".join(map(str, e["changes"])), "why": str(e["why"])}
                      for e in s.changelog],
        "feedback": f"{fmt.count(f['responses'])} responses" + (
            "" if _blank(f["mean_rating"]) else f", mean rating {fmt.number(f['mean_rating'])} / 5"),
        "comments": comments,
    }


def _context(review: Review) -> dict:
    changes, figure = review.changes, _Figures()
    previous = str(changes["previous_quarter"].iloc[0]) if len(changes) else "previous"
    level = stats.confidence_label(review.alpha)
    return {
        "quarter": review.quarter, "previous_quarter": previous, "level": level,
        "period": period_text(review),
        "scope": ", ".join(f"{k} {v}" for k, v in review.filters.to_query().items())
                 or "all data",
        "generated": f"{review.generated_at:%Y-%m-%d %H:%M}",
        "summary": review.summary,
        "change_rows": [[r["measure"], change_value_text(r, "previous"),
                         change_value_text(r, "current"), r["verdict"]]
                        for r in changes.to_dict("records")],
        "consistency": str(review.consistency.get("verdict") or "No data."),
        "proficiency": str(review.proficiency.get("verdict") or "No data."),
        "window_months": review.window_months,
        "glance_rows": [[h["name"],
                         rate_text(h["before_rate"], h["before_ci_low"], h["before_ci_high"],
                                    h["before_n"]),
                         rate_text(h["after_rate"], h["after_ci_low"], h["after_ci_high"],
                                    h["after_n"]),
                         fmt.points_text(h["diff"]), h["effect"]]
                        for h in review.headlines.to_dict("records")],
        # Figures in reading order, so plotly.js is inlined in the first one the page draws.
        "figures": {"quarter_rates": figure(review.figures["quarter_rates"]),
                    "effects": figure(review.figures["effects"])},
        "sections": [_section_context(s, figure) for s in review.sections],
        "methods": [*_METHODS, *review.design_notes],
    }


def period_text(review: Review) -> str:
    """"1 Jul 2025 – 30 Sep 2025"; a quarter the data stops inside says so ("to date")."""
    text = f"{fmt.day(review.start)} – {fmt.day(review.end)}"
    last = review.data_last_day
    if last is not None and review.start <= last < review.end:
        text += f" ({TO_DATE}: the data runs to {fmt.day(last)})"
    return text


def render_html(review: Review) -> str:
    """The review as one self-contained HTML page (plotly.js inlined once, no external files),
    from the Jinja2 template templates/quarterly_pack.html with autoescape: every piece of data is
    HTML-escaped; each playbook starts on a new printed page."""
    return template().render(r=_context(review), css=_CSS)


# -- files ----------------------------------------------------------------------------------

def chromium_path(configured: str) -> str | None:
    """The Chromium binary for PDFs (`configured`: the chromium_path setting, else one on the
    PATH), or None when not installed."""
    if Path(configured).exists():
        return str(configured)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_pdf(html_path: Path, pdf_path: Path, chromium: str, timeout: int = 180) -> Path:
    """Print an HTML file to PDF with headless Chromium (`chromium`: the chromium_path
    setting); ChromiumMissing when not installed."""
    binary = chromium_path(chromium)
    if binary is None:
        raise ChromiumMissing(
            f"A PDF needs Chromium, which is not installed at {chromium} "
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


def write_report(ctx: Context, quarter: str, out: Path, pdf: bool = False) -> list[Path]:
    """Write the review of `quarter` in the context `ctx` (`build_review`) to `out` (HTML)
    and, with pdf=True, a PDF beside it.

    Returns the paths written, HTML first.
    """
    out = Path(out)
    review = build_review(ctx, quarter)
    out.parent.mkdir(parents=True, exist_ok=True)
    html_path = out if out.suffix.lower() in (".html", ".htm") else out.with_suffix(".html")
    html_path.write_text(render_html(review), encoding="utf-8")
    written = [html_path]
    if pdf:
        written.append(render_pdf(html_path, html_path.with_suffix(".pdf"),
                                  ctx.settings.chromium_path))
    return written

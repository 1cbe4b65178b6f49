"""The quarterly review pack: content, escaping, self-containment, PDF pages and the CLI."""
import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.filters import Filters
from analysis.present.report import ChromiumMissing, build_review, render_html, render_pdf, write_report
from analysis.settings import Settings
from tests.builders import ctx, interval_levels

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
QUARTER = "2025Q3"


def needs_chromium():
    """Skip without Chromium, unless REQUIRE_BROWSER=1 says the machine must have it."""
    if CHROMIUM.exists():
        return
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail("REQUIRE_BROWSER=1 but /usr/bin/chromium is missing")
    pytest.skip("/usr/bin/chromium is not installed")


@pytest.fixture(scope="module")
def review(demo_store):
    return build_review(ctx(demo_store), QUARTER)


@pytest.fixture(scope="module")
def html(review):
    return render_html(review)


def test_review_covers_the_quarter_and_every_playbook(review, demo_store):
    assert (review.quarter, str(review.start), str(review.end)) == (QUARTER, "2025-07-01", "2025-09-30")
    catalog = ctx(demo_store).catalog
    assert [s.playbook_id for s in review.sections] == review.headlines["playbook_id"].tolist()
    assert set(s.playbook_id for s in review.sections) == set(catalog["playbook_id"])
    # The undefined playbook of the demo data has its section too, marked as such.
    undefined = [s for s in review.sections if not s.defined]
    assert [s.playbook_id for s in undefined] == ["qbr_prep"]


def test_review_numbers_equal_the_analysis_functions(review, demo_store):
    from analysis.metrics.before_after import before_after_json
    from analysis.metrics.usage import usage_json
    quarter = Filters(date_from=review.start, date_to=review.end)
    usage = {u["playbook_id"]: u for u in usage_json(ctx(demo_store, quarter))["playbooks"]}
    from analysis.metrics.designs.multiplicity import adjust_claims
    from analysis.metrics.followers import followers_json
    # The pack shows the overview's claims: before/after and followers adjusted as one family.
    shown = adjust_claims({"before_after": before_after_json(ctx(demo_store, Filters())),
                           "followers": followers_json(ctx(demo_store, Filters()))}, 0.05)
    effects = {e["playbook_id"]: e for e in shown["before_after"]}
    for s in review.sections:
        assert s.usage["runs"] == (usage[s.playbook_id]["runs"] if s.playbook_id in usage else 0)
        if s.playbook_id in effects:
            assert s.headline["verdict"] == effects[s.playbook_id]["verdict"]
            assert s.headline["diff"] == effects[s.playbook_id]["diff"]
    # Closed runs of the quarter counted independently of the report's query.
    closed = demo_store.query("""
        select playbook_id, count(*) as closed, count(*) filter (where outcome = 'success') as ok
        from playbook_runs where opened_on between ? and ? and outcome is not null
          and playbook_id is not null group by 1
    """, [review.start, review.end]).set_index("playbook_id")
    for s in review.sections:
        if s.playbook_id in closed.index:
            assert s.usage["closed"] == closed.at[s.playbook_id, "closed"]
            assert s.usage["successes"] == closed.at[s.playbook_id, "ok"]


def test_changelog_entries_are_those_dated_in_the_quarter(review):
    from analysis.playbooks.library import load_playbooks
    expected = {(p.id, e.version) for p in load_playbooks(Settings().playbooks_dir)
                for e in p.changelog
                if review.start <= e.date <= review.end}
    found = {(s.playbook_id, e["version"]) for s in review.sections for e in s.changelog}
    assert found == expected
    # The catalogue says renewal 2.0 arrived on 2025-07-01: inside 2025Q3.
    assert ("renewal", "2.0") in found


def test_html_has_every_section_and_no_external_script(review, html):
    assert html.startswith("<!DOCTYPE html>")
    for s in review.sections:
        assert f'id="pb-{s.playbook_id}"' in html
    assert html.count('<section class="page"') == len(review.sections) + 1
    assert not re.search(r"<script[^>]+src=", html, re.I)
    # Nothing the page loads from elsewhere (plotly.js itself mentions URLs in strings).
    assert not re.search(r"<(link|img|iframe|object|embed)\b[^>]*\b(src|href)=", html, re.I)
    # plotly.js is inlined once, however many figures the pack holds.
    assert html.count("window.PlotlyConfig") == 1
    charted = [s for s in review.sections if s.figure is not None]
    # One chart per question: before/after and followers apart.
    followers = [s for s in review.sections if s.followers_figure is not None]
    assert charted and followers
    assert html.count("Plotly.newPlot") == len(charted) + len(followers) + 2


def test_html_escapes_data(review):
    hostile = "<script>alert('x')</script>"
    section = review.sections[0]
    comments = pd.DataFrame({"submitted_at": [pd.Timestamp("2025-08-01")], "rating": [2],
                             "comment": [hostile]})
    tampered = dataclasses.replace(
        review, sections=(dataclasses.replace(
            section, name="<b>Bold</b> & co", feedback={**section.feedback, "comments": comments}),
            *review.sections[1:]))
    out = render_html(tampered)
    assert hostile not in out
    # Jinja2's autoescape (markupsafe) writes a quote as &#39;.
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in out
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in out


def test_bad_quarter_is_a_clear_error(demo_store):
    with pytest.raises(ValueError, match="not of the form 2026Q3"):
        build_review(ctx(demo_store), "Q3-2025")


def _page_count(pdf: bytes) -> int:
    # Page objects are "/Type /Page"; the page tree is "/Type /Pages".
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf))


def test_pdf_has_a_page_per_section(review, html, tmp_path):
    needs_chromium()
    html_path = tmp_path / "review.html"
    html_path.write_text(html, encoding="utf-8")
    pdf = render_pdf(html_path, tmp_path / "review.pdf", Settings().chromium_path).read_bytes()
    assert pdf.startswith(b"%PDF")
    # The cover, "at a glance", then one page per playbook.
    assert _page_count(pdf) == len(review.sections) + 2


def test_missing_chromium_is_a_clear_error(tmp_path, monkeypatch):
    import analysis.present.report as report
    monkeypatch.setattr(report, "chromium_path", lambda configured: None)
    (tmp_path / "r.html").write_text("<p>x</p>")
    with pytest.raises(ChromiumMissing, match="not installed at /opt/chromium"):
        render_pdf(tmp_path / "r.html", tmp_path / "r.pdf", "/opt/chromium")


@pytest.fixture(scope="module")
def demo_db_copy(demo_store, tmp_path_factory):
    """A file copy of the demo database, so a subprocess can open it while the tests hold theirs."""
    demo_store.execute("CHECKPOINT")
    copy = tmp_path_factory.mktemp("cli") / "demo.duckdb"
    shutil.copy(demo_store.path, copy)
    return copy


def _cli(*args, db):
    env = {**os.environ, "PLAYBOOK_IMPACT_DB": str(db)}
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_cli_writes_the_review(demo_db_copy, tmp_path):
    out = tmp_path / "review.html"
    done = _cli("report", "--quarter", QUARTER, "--out", str(out), "--db", str(demo_db_copy),
                db=demo_db_copy)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {out}"
    text = out.read_text(encoding="utf-8")
    assert "Playbook review 2025Q3" in text and 'id="pb-at_risk"' in text


def test_cli_rejects_a_bad_quarter(demo_db_copy, tmp_path):
    done = _cli("report", "--quarter", "2025Q7", "--out", str(tmp_path / "r.html"),
                "--db", str(demo_db_copy), db=demo_db_copy)
    assert done.returncode == 2
    assert "not of the form 2026Q3" in done.stderr
    assert not (tmp_path / "r.html").exists()


def test_cli_writes_the_pdf_too(demo_db_copy, tmp_path):
    needs_chromium()
    out = tmp_path / "pack.html"
    done = _cli("report", "--quarter", "2025-Q3", "--out", str(out), "--pdf",
                "--db", str(demo_db_copy), db=demo_db_copy)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "pack.pdf").read_bytes().startswith(b"%PDF")


def test_write_report_returns_html_then_pdf(review, demo_store, tmp_path, monkeypatch):
    import analysis.present.report as report
    monkeypatch.setattr(report, "build_review", lambda *a, **k: review)
    monkeypatch.setattr(report, "render_pdf",
                        lambda html, pdf, chromium: (pdf.write_bytes(b"%PDF-1.4"), pdf)[1])
    written = write_report(ctx(demo_store), QUARTER, tmp_path / "sub" / "r.html", pdf=True)
    assert written == [tmp_path / "sub" / "r.html", tmp_path / "sub" / "r.pdf"]


def test_a_playbook_filter_narrows_the_review_to_it(demo_store, review):
    one = build_review(ctx(demo_store, Filters(playbook_id="renewal")), QUARTER)
    assert [s.playbook_id for s in one.sections] == ["renewal"]
    full = next(s for s in review.sections if s.playbook_id == "renewal")
    assert one.sections[0].usage == full.usage
    assert 'id="pb-renewal"' in render_html(one) and 'id="pb-at_risk"' not in render_html(one)


def _prose(html: str) -> str:
    # plotly.js and the figures' JSON sit in scripts; the labels a reader sees do not.
    return re.sub(r"<script\b.*?</script>", "", html, flags=re.S | re.I)


def test_html_names_the_level_its_intervals_have(review, html, demo_store, monkeypatch):
    assert (review.alpha, review.window_months) == (0.05, 12)
    assert "with 95% intervals" in html and "their 95% interval" in html
    assert "Outcome rate in the 12 months before and after" in html
    assert interval_levels(_prose(html)) == {"95"}
    monkeypatch.setenv("PLAYBOOK_IMPACT_ALPHA", "0.1")
    at_90 = build_review(ctx(demo_store), QUARTER)
    # Rendered after the setting is back to its default, the pack keeps the level it was built at.
    monkeypatch.delenv("PLAYBOOK_IMPACT_ALPHA")
    out = _prose(render_html(at_90))
    assert at_90.alpha == 0.1 and "with 90% intervals" in out and "their 90% interval" in out
    assert "90" in interval_levels(out)
    monkeypatch.setenv("PLAYBOOK_IMPACT_ALPHA", "0.1")
    assert interval_levels(out) == {"90"}


def test_html_names_the_window_its_effects_cover(demo_store, monkeypatch):
    monkeypatch.setenv("PLAYBOOK_IMPACT_WINDOW_MONTHS", "6")
    six = build_review(ctx(demo_store), QUARTER)
    monkeypatch.delenv("PLAYBOOK_IMPACT_WINDOW_MONTHS")
    out = render_html(six)
    assert six.window_months == 6 and "Outcome rate in the 6 months before and after" in out
    charted = next(s for s in six.sections if s.figure is not None)
    assert list(charted.figure.data[0].x)[:2] == ["6 months before", "6 months after"]


def _headline(name, diff, low, high, before_n=400, after_n=400, rate=0.5, claim=None,
              followers_claim=None, **followers):
    """A headline row as overview.playbook_headlines gives it, with the claims the metrics
    made (the summary reads the claims, never the numbers)."""
    return {"name": name, "claim": claim, "followers_claim": followers_claim,
            "diff": diff, "diff_ci_low": low, "diff_ci_high": high,
            "before_rate": rate, "before_n": before_n, "after_n": after_n,
            "introduced_on": pd.Timestamp("2024-01-01").date(),
            "adjusted_diff": followers.get("adj"), "adjusted_ci_low": followers.get("lo"),
            "adjusted_ci_high": followers.get("hi"), "non_followers_rate": 0.5,
            "non_followers_n": 300, "followers_n": 300}


def test_executive_summary_says_what_worked_what_did_not_what_is_early_and_what_to_decide():
    from analysis.present.report import executive_summary
    headlines = pd.DataFrame([
        _headline("Save", 0.12, 0.08, 0.16, claim="improved"),
        _headline("Churn", -0.09, -0.15, -0.03, claim="worse"),
        # 400 outcomes a side detect a 10-point change from 50% (388 needed): no clear change.
        _headline("Flat", 0.01, -0.05, 0.07, claim="no_clear_change"),
        # 60 a side cannot: not enough data; but followers did better.
        _headline("Young", 0.05, -0.1, 0.2, before_n=60, after_n=60, adj=0.12, lo=0.04, hi=0.2,
                  claim="not_enough_data", followers_claim="followers_better"),
    ])
    text = executive_summary(headlines)
    assert text == (
        "What worked: Save improved outcomes after introduction (+12 points). "
        "What did not: Churn saw outcomes fall after introduction. "
        "Too early to tell for 1 of 4 playbooks (Young): they need more outcomes before a "
        "change of 10 points could be seen. "
        "Runs that followed Young closely did better, though the playbook as a whole has not "
        "yet moved outcomes. "
        "To decide: keep and extend Save; review or retire Churn; push adherence to Young; "
        "keep the others running and revisit next quarter.")


def test_a_comment_with_a_script_is_escaped_in_the_pack(review):
    section = review.sections[1]
    comments = pd.DataFrame({"submitted_at": [pd.Timestamp("2025-08-02")], "rating": [None],
                             "comment": ['<script>fetch("//x")</script>']})
    out = render_html(dataclasses.replace(review, sections=(
        review.sections[0],
        dataclasses.replace(section, feedback={**section.feedback, "comments": comments}),
        *review.sections[2:])))
    assert '<script>fetch("//x")</script>' not in out
    assert "<blockquote>&lt;script&gt;fetch(&#34;//x&#34;)&lt;/script&gt;</blockquote>" in out


def test_a_quarter_the_data_stops_inside_is_marked_to_date(review):
    from datetime import date
    from analysis.present.report import period_text
    assert review.data_last_day == date(2026, 10, 31)  # the demo's last day
    assert period_text(review) == "1 Jul 2025 – 30 Sep 2025"
    current = dataclasses.replace(review, quarter="2026Q4", start=date(2026, 10, 1),
                                  end=date(2026, 12, 31))
    assert period_text(current) == ("1 Oct 2026 – 31 Dec 2026 (to date: the data runs to "
                                    "31 Oct 2026)")
    assert "(to date: the data runs to 31 Oct 2026)" in render_html(current)


def test_the_footnote_names_the_design_of_every_verdict_in_the_pack(review, html):
    # The demo's verdicts rest on the time series (before/after), the landmark design
    # (followers with step dates), the spread beyond noise and the ramp test.
    methods = set(review.headlines["effect_method"]) | set(
        review.headlines["followers_effect_method"])
    assert {"interrupted_time_series", "landmark_ipw_cluster"} <= methods
    for opening in ("Verdict from an interrupted time series", "Verdict from a landmark design",
                    "Verdict from the spread of CSMs", "Verdict from time to ramp"):
        assert opening in html, opening
    assert len(review.design_notes) == len(set(review.design_notes))

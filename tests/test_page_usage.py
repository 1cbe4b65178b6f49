"""AppTests of the Usage and Feedback pages, and their charts."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.present.charts.feedback import mean_rating_chart, rating_distribution_chart
from analysis.present.charts.usage import runs_over_time, share_vs_adherence, step_funnel_chart
from analysis.metrics.feedback import feedback_summary, recent_comments
from analysis.filters import Filters
from analysis.store import Store
from analysis.metrics.usage import step_funnel, usage_by_csm, usage_by_playbook
from tests.builders import ctx, app_database, figures, run_page
from tests.test_feedback import ANSWERS
from tests.test_usage import fill_usage

ROOT = Path(__file__).resolve().parent.parent
USAGE = str(ROOT / "pages" / "usage.py")
FEEDBACK = str(ROOT / "pages" / "feedback.py")


def _fill(store: Store) -> None:
    """The hand-built rows of test_usage and test_feedback, against the shipped playbooks
    (an organisation that runs the templates)."""
    from analysis.playbooks.catalog import use_templates
    use_templates(store)
    fill_usage(store)
    for row in ANSWERS:
        store.execute("INSERT INTO feedback (submitted_at, csm_id, playbook_id, rating, comment)"
                      " VALUES (?, ?, ?, ?, ?)", list(row))


@pytest.fixture
def data_db(tmp_path, monkeypatch):
    return app_database(tmp_path / "usage.duckdb", monkeypatch, _fill)


# -- pages ------------------------------------------------------------------------------------
def test_usage_page_shows_the_analysis(data_db):
    with Store(data_db) as store:
        by_playbook = usage_by_playbook(ctx(store, Filters()))
        csms = usage_by_csm(ctx(store, Filters()))
        funnel = step_funnel(ctx(store, Filters()), "at_risk")
    at = run_page(USAGE, usage_funnel_playbook="at_risk")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Playbook runs"] == f"{by_playbook['runs'].sum():,}" == "7"
    assert metrics["Playbook views"] == "4"
    # c2 is the one consistent user and c3 the one rare user (test_usage works them out).
    assert metrics["Consistent users"] == f"{csms['consistent'].sum()} of {len(csms)}" == "1 of 3"
    assert metrics["Rare users"] == "1 of 3"
    shown = figures(at)
    assert len(shown) == 3  # runs (or views, one at a time), scatter, funnel
    assert shown[0]["layout"]["yaxis"]["title"]["text"] == "Runs"
    at.radio(key="usage_measure").set_value("Views").run()
    views = figures(at)[0]
    assert views["layout"]["yaxis"]["title"]["text"] == "Views"
    assert sum(sum(t["y"]) for t in views["data"]) == 4  # the four views of the data
    funnel_fig = shown[-1]
    done = next(t for t in funnel_fig["data"] if t["name"] == "Done")
    assert done["x"] == funnel["done"].tolist() == [2, 1, 0]
    tables = [d.value for d in at.dataframe]
    # People read names and labels, never ids or "None".
    assert tables[0]["Runs"].astype(int).sum() == 7
    assert "At-Risk Customer Save" in tables[0]["Playbook"].tolist()
    assert "at_risk" not in tables[0]["Playbook"].tolist()
    assert set(tables[1]["CSM"]) == {"Ann", "Bob", "Cat"}
    assert tables[-1]["Step"].tolist() == ["step 1", "step 2", "step 10"]
    for table in tables:
        assert not table.isin(["None", "nan"]).any().any()
    # 13 runs in the data, 6 of them without a playbook: the page says so.
    assert any("13 runs in this view" in c.value and "6 handled a scenario without one" in c.value
               for c in at.caption)
    assert at.selectbox(key="usage_funnel_playbook").format_func("at_risk") == \
        "At-Risk Customer Save"


def test_usage_page_funnel_without_steps_says_what_to_import(data_db):
    at = run_page(USAGE, usage_funnel_playbook="renewal")
    assert any("import **run_steps**" in i.value for i in at.info)


def test_usage_page_filter_by_team(data_db):
    at = AppTest.from_file(USAGE, default_timeout=60)
    at.run()
    at.selectbox(key="flt_team").set_value("B")
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    # Team B is Bob alone: r7 and r8.
    assert metrics["Playbook runs"] == "2"
    assert metrics["Consistent users"] == "1 of 1"


def test_usage_page_empty_database(empty_db):
    at = run_page(USAGE)
    assert [i.value for i in at.info][0].startswith("No playbook runs yet — import them on "
                                                    "the Import data page")
    assert not at.metric


def test_feedback_page_shows_the_analysis(data_db):
    with Store(data_db) as store:
        summary = feedback_summary(ctx(store, Filters()))
        comments = recent_comments(ctx(store, Filters()))
    at = run_page(FEEDBACK)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Responses"] == f"{summary['responses'].sum():,}" == "7"
    assert metrics["Ratings"] == "5"
    assert metrics["Comments"] == "4"
    mean_fig = figures(at)[0]
    assert mean_fig["data"][0]["x"] == pytest.approx([4.0, 2.0])
    assert at.dataframe[-1].value["Comment"].tolist() == comments["comment"].fillna("—").tolist()


def test_feedback_page_empty_database(empty_db):
    at = run_page(FEEDBACK)
    assert at.info[0].value.startswith("No feedback yet — import **feedback**")


# -- charts -----------------------------------------------------------------------------------
def test_runs_over_time_stacks_one_trace_per_playbook():
    usage = pd.DataFrame({"period": [pd.Timestamp("2024-07-01").date()] * 2
                          + [pd.Timestamp("2024-10-01").date()],
                          "playbook_id": ["a", "b", "a"], "runs": [3, 1, 2], "views": [0, 5, 1]})
    fig = runs_over_time(usage, "runs", {"a": "Alpha"})
    assert [t.name for t in fig.data] == ["Alpha", "b"]
    assert list(fig.data[0].y) == [3, 2] and list(fig.data[0].x) == ["2024-07-01", "2024-10-01"]
    assert fig.layout.barmode == "stack"
    assert list(runs_over_time(usage, "views").data[1].y) == [5]
    with pytest.raises(ValueError):
        runs_over_time(usage, "steps")


def test_share_vs_adherence_places_csms_with_guides():
    csms = pd.DataFrame({"csm_id": ["c1", "c2", "c3", "c4"], "name": ["Ann", None, "Cat", "Dan"],
                         "runs": [5, 6, 7, 1], "playbook_share": [0.9, 0.2, 0.5, None],
                         "mean_adherence": [0.85, 0.4, 0.6, 0.9],
                         "consistent": [True, False, False, False],
                         "rare": [False, True, False, False]})
    fig = share_vs_adherence(csms, consistent_at=0.8, rare_below=0.3)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["Consistent user"].x) == [0.9]
    assert list(by_name["Rare user"].text) == ["c2"]  # no name: the id labels the point
    assert list(by_name["In between"].y) == [0.6]  # Dan has no share and no point
    guides = sorted(s.x0 for s in fig.layout.shapes if s.x0 == s.x1)
    assert guides == [0.3, 0.8]


def test_step_funnel_and_feedback_charts():
    funnel = pd.DataFrame({"step_id": ["1", "2"], "done": [4, 2], "skipped": [0, 1],
                           "open": [0, 1]})
    fig = step_funnel_chart(funnel)
    assert [t.name for t in fig.data] == ["Done", "Skipped", "Open"]
    assert list(fig.data[1].x) == [0, 1]
    summary = pd.DataFrame({"playbook_id": ["a", "b"], "rated": [4, 0],
                            "mean_rating": [4.0, None], "ci_low": [2.7, None],
                            "ci_high": [5.3, None], **{f"r{r}": [0, 0, 1, 2, 1][r - 1:r] * 2
                                                      for r in range(1, 6)}})
    mean = mean_rating_chart(summary, {"a": "Alpha"}, alpha=0.05)
    assert list(mean.data[0].y) == ["Alpha"]  # unrated playbooks have no point
    assert list(mean.data[0].error_x.array) == pytest.approx([1.3])
    spread = rating_distribution_chart(summary)
    assert [list(t.x) for t in spread.data] == [[0.0], [0.0], [0.25], [0.5], [0.25]]


def test_runs_over_time_hatches_and_labels_the_partial_period():
    usage = pd.DataFrame({"period": [pd.Timestamp("2026-07-01").date()] * 2
                          + [pd.Timestamp("2026-10-01").date()],
                          "playbook_id": ["a", "b", "a"], "runs": [30, 10, 9], "views": 0})
    fig = runs_over_time(usage, "runs", {"a": "Alpha"}, freq="Q",
                         last_date=pd.Timestamp("2026-10-31").date())
    alpha = fig.data[0]
    assert list(alpha.x) == ["2026 Q3", "2026 Q4 (to date)"]
    assert list(alpha.marker.pattern.shape) == ["", "/"]
    assert list(fig.layout.xaxis.categoryarray) == ["2026 Q3", "2026 Q4 (to date)"]

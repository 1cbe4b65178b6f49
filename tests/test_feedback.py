"""Feedback: responses, mean rating with a t interval, rating distribution, recent comments."""
from __future__ import annotations

import json
import math
from datetime import date

import pandas as pd
import pytest

from analysis.metrics.feedback import feedback_json, feedback_summary, recent_comments
from analysis.filters import Filters
from tests.builders import ctx

ANSWERS = [
    ("2025-01-10 09:00:00", "c1", "at_risk", 5, "Great call script"),
    ("2025-01-11 09:00:00", "c2", "at_risk", 4, None),
    ("2025-02-01 09:00:00", "c1", "at_risk", 4, "   "),
    ("2025-03-01 09:00:00", "c2", "at_risk", 3, "Step 4 is too long"),
    ("2025-03-02 09:00:00", "c1", "at_risk", None, "No rating, just a note"),
    ("2025-03-03 09:00:00", "c2", "at_risk", 9, None),  # out of the 1–5 scale: not a rating
    ("2024-05-05 09:00:00", "c1", "renewal", 2, "=HYPERLINK(\"x\")"),
]


@pytest.fixture
def feedback_store(store):
    store.execute("INSERT INTO csms (csm_id, name, team) VALUES ('c1', 'Ann', 'A'), "
                  "('c2', 'Bob', 'B')")
    for row in ANSWERS:
        store.execute("INSERT INTO feedback (submitted_at, csm_id, playbook_id, rating, comment)"
                      " VALUES (?, ?, ?, ?, ?)", list(row))
    return store


def test_feedback_summary(feedback_store):
    frame = feedback_summary(ctx(feedback_store)).set_index("playbook_id")
    assert frame.index.tolist() == ["at_risk", "renewal"]
    at_risk = frame.loc["at_risk"]
    assert (at_risk["responses"], at_risk["rated"], at_risk["comments"]) == (6, 4, 3)
    # Ratings 5, 4, 4, 3: mean 4, sample SD sqrt(2/3); t(0.975, df=3) = 3.182446 (t table).
    assert at_risk["mean_rating"] == pytest.approx(4.0)
    half = 3.182446 * math.sqrt(2 / 3) / 2
    assert at_risk["ci_low"] == pytest.approx(4 - half, abs=1e-5)
    assert at_risk["ci_high"] == pytest.approx(4 + half, abs=1e-5)
    assert [at_risk[f"r{r}"] for r in range(1, 6)] == [0, 0, 1, 2, 1]
    renewal = frame.loc["renewal"]
    assert renewal["mean_rating"] == 2.0 and renewal["rated"] == 1
    # One rating has no spread: no interval rather than a made-up one.
    assert pd.isna(renewal["ci_low"]) and pd.isna(renewal["ci_high"])


def test_filters(feedback_store):
    assert feedback_summary(ctx(feedback_store, Filters(playbook_id="renewal")))[
        "playbook_id"].tolist() == ["renewal"]
    team_a = feedback_summary(ctx(feedback_store, Filters(team="A"))).set_index("playbook_id")
    assert team_a.loc["at_risk", "responses"] == 3  # Ann's three answers
    in_2025 = feedback_summary(ctx(feedback_store, Filters(date_from=date(2025, 1, 1))))
    assert in_2025["playbook_id"].tolist() == ["at_risk"]


def test_recent_comments(feedback_store):
    frame = recent_comments(ctx(feedback_store), limit=3)
    # Blank and missing comments are not comments; newest first.
    assert frame["comment"].tolist() == ["No rating, just a note", "Step 4 is too long",
                                         "Great call script"]
    assert frame["csm_name"].tolist() == ["Ann", "Bob", "Ann"]
    assert len(recent_comments(ctx(feedback_store))) == 4
    only = recent_comments(ctx(feedback_store, Filters(playbook_id="renewal")))
    assert only["comment"].tolist() == ["=HYPERLINK(\"x\")"]
    with pytest.raises(ValueError):
        recent_comments(ctx(feedback_store), limit=0)


def test_feedback_json(feedback_store):
    result = feedback_json(ctx(feedback_store))
    assert [r["playbook_id"] for r in result] == ["at_risk", "renewal"]
    assert {"playbook_id", "responses", "mean_rating"} <= set(result[0])
    assert result[1]["ci_low"] is None and result[0]["responses"] == 6
    json.dumps(result, allow_nan=False)


def test_empty(store):
    assert feedback_summary(ctx(store)).empty
    assert recent_comments(ctx(store)).empty
    assert feedback_json(ctx(store)) == []

"""Benjamini–Hochberg across every effect shown together (designs.multiplicity)."""
from __future__ import annotations

import pytest

from analysis.metrics.claims import Effect
from analysis.metrics.designs.interrupted import METHOD
from analysis.metrics.designs.multiplicity import adjust_claims, adjust_effects, effect_entries


def _entry(p, claim, **extra):
    return {"effect": Effect(METHOD, 0.1, 0.02, 0.18, p).to_json(), "claim": claim, **extra}


def test_q_values_across_sections_and_claims_that_no_longer_stand():
    # By hand (Benjamini & Hochberg 1995, step-up): p sorted 0.01, 0.03, 0.04 over m = 3 ->
    # 0.01·3/1 = 0.03, 0.03·3/2 = 0.045, 0.04·3/3 = 0.04; made monotone from the top:
    # 0.03, 0.04, 0.04.
    metrics = {
        "before_after": [_entry(0.01, "improved", before={"rate": 0.4}, after={"rate": 0.5},
                                verdict="Improved: ..."),
                         _entry(0.04, "worse")],
        "consistency": _entry(0.03, "narrower"),
        "followers": [{"effect": {"method": "x", "p_value": None}, "claim": "association_only"}],
        "settings": {"alpha": 0.05},
    }
    adjust_claims(metrics, alpha=0.05)
    first, second = metrics["before_after"]
    assert first["effect"]["q_value"] == pytest.approx(0.03)
    assert second["effect"]["q_value"] == pytest.approx(0.04)
    assert metrics["consistency"]["effect"]["q_value"] == pytest.approx(0.04)
    assert metrics["followers"][0]["effect"]["p_value"] is None  # not in the family
    assert [first["claim"], second["claim"], metrics["consistency"]["claim"]] == [
        "improved", "worse", "narrower"]
    # At alpha 0.035 only the first survives; the others are reduced and say why.
    metrics = {"before_after": [_entry(0.01, "improved"), _entry(0.04, "worse")],
               "consistency": _entry(0.03, "narrower")}
    adjust_claims(metrics, alpha=0.035)
    assert metrics["before_after"][0]["claim"] == "improved"
    assert metrics["before_after"][1]["claim"] == "not_enough_data"
    assert metrics["consistency"]["claim"] == "not_enough_data"
    assert metrics["consistency"]["why"] == ("q = 0.04 across 3 effects shown together "
                                             "(Benjamini–Hochberg); a claim needs q < 0.035")


def test_a_reduced_before_after_verdict_is_reworded():
    metrics = {"before_after": [_entry(0.04, "improved", before={"rate": 0.4},
                                       after={"rate": 0.5}, verdict="Improved: old"),
                                _entry(0.5, "no_clear_change")]}
    adjust_claims(metrics, alpha=0.05)
    entry = metrics["before_after"][0]
    assert entry["claim"] == "not_enough_data"
    assert entry["verdict"].startswith("Not enough data: 40% → 50%; +10 points")
    assert entry["verdict"].endswith("a claim needs q < 0.05")


def test_effect_entries_finds_nested_effects_in_order():
    metrics = {"proficiency": {"cohorts": [_entry(0.2, "no_clear_change")]},
               "before_after": [_entry(0.1, "no_clear_change")]}
    assert [e["effect"]["p_value"] for e in effect_entries(metrics)] == [0.1, 0.2]


def test_adjust_effects_keeps_order_and_none():
    effects = adjust_effects([Effect(METHOD, p_value=0.04), None, Effect(METHOD, p_value=0.01)])
    assert effects[1] is None
    assert effects[0].q_value == pytest.approx(0.04)
    assert effects[2].q_value == pytest.approx(0.02)

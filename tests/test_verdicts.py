"""Verdict words and colours: every claim has a word and a tone, a comparison reads the same
wherever it is shown, and sections can attach their own claims with a reason."""
from dataclasses import replace

import pytest

from analysis.metrics.claims import Claim
from analysis.metrics.compare import compare_proportions
from analysis.present import verdicts
from analysis.present.verdicts import Context, comparison_sentence, sentence

SETTINGS = dict(alpha=0.05, lift=0.10, small_cell=5, min_n=20)


# -- tone and colour --------------------------------------------------------------------------
def test_every_claim_has_a_word():
    assert set(verdicts.WORDS) == set(Claim)


@pytest.mark.parametrize("claim, tone, box", [
    (Claim.IMPROVED, "good", "success"), (Claim.FOLLOWERS_BETTER, "good", "success"),
    (Claim.NARROWER, "good", "success"), (Claim.FASTER, "good", "success"),
    (Claim.WORSE, "bad", "error"), (Claim.FOLLOWERS_WORSE, "bad", "error"),
    (Claim.WIDER, "bad", "error"), (Claim.SLOWER, "bad", "error"),
    (Claim.NO_CLEAR_CHANGE, "neutral", "info"), (Claim.NOT_ENOUGH_DATA, "neutral", "info"),
    (Claim.TOO_EARLY, "neutral", "info"), (Claim.ASSOCIATION_ONLY, "neutral", "info")])
def test_tone_colour_and_box_follow_the_claim(claim, tone, box):
    assert verdicts.claim_tone(claim) == tone == claim.tone
    assert verdicts.claim_tone(claim.value) == tone  # as JSON carries it
    assert verdicts.claim_box(claim) == box
    assert verdicts.claim_colour(claim) == verdicts.TONE_COLOURS[tone]


def test_no_claim_is_neutral_and_an_unknown_one_is_an_error():
    assert verdicts.claim_tone(None) == "neutral"
    with pytest.raises(ValueError):
        verdicts.claim_tone("better-ish")


# -- any section's claim ----------------------------------------------------------------------
@pytest.mark.parametrize("claim, kwargs, expected", [
    (Claim.TOO_EARLY, dict(reason="the after window ends on 1 Jul 2026"),
     "Too early: the after window ends on 1 Jul 2026"),
    (Claim.ASSOCIATION_ONLY,
     dict(subject="followers", change_text="58% vs 35% (+23 points)",
          reason="steps carry no completion dates, so adherence may follow the outcome"),
     "Association only: followers 58% vs 35% (+23 points); steps carry no completion dates, "
     "so adherence may follow the outcome"),
    (Claim.FOLLOWERS_BETTER, dict(change_text="+12 adjusted (95% CI +4 to +20)"),
     "Followers did better: +12 adjusted (95% CI +4 to +20)"),
    (Claim.FOLLOWERS_WORSE, dict(change_text="−9 adjusted"), "Followers did worse: −9 adjusted"),
    (Claim.NARROWER, dict(subject="spread of renewal rates across CSMs",
                          change_text="SD 12 → 7 points", reason="ratio 0.58, 95% CI 0.41 to 0.83"),
     "Narrower: spread of renewal rates across CSMs SD 12 → 7 points; ratio 0.58, 95% CI 0.41 "
     "to 0.83"),
    (Claim.WIDER, dict(change_text="SD 7 → 12 points"), "Wider: SD 7 → 12 points"),
    (Claim.FASTER, dict(change_text="median 120 → 75 days"), "Faster: median 120 → 75 days"),
    (Claim.SLOWER, dict(reason="new hires take 40% longer"), "Slower: new hires take 40% longer"),
    (Claim.NO_CLEAR_CHANGE, {}, "No clear change"),
    (Claim.IMPROVED, dict(word="Up", change_text="+5 points"), "Up: +5 points"),
])
def test_sentence_for_any_claim(claim, kwargs, expected):
    assert sentence(claim, **kwargs) == expected
    assert sentence(claim.value, **kwargs) == expected


# -- comparisons ------------------------------------------------------------------------------
def test_improved_worse_and_no_clear_change():
    up = compare_proportions(500, 1000, 350, 1000, **SETTINGS)
    assert comparison_sentence(up) == "Improved: 35% → 50% (+15 points, 95% CI +11 to +19)"
    down = compare_proportions(350, 1000, 500, 1000, **SETTINGS)
    assert comparison_sentence(down) == "Worse: 50% → 35% (−15 points, 95% CI −19 to −11)"
    flat = compare_proportions(502, 1000, 500, 1000, **SETTINGS)
    assert comparison_sentence(flat) == ("No clear change: 50% → 50% (+0.2 points, 95% CI −4 "
                                         "to +5)")


def test_the_confidence_level_follows_alpha():
    up = compare_proportions(500, 1000, 350, 1000, **{**SETTINGS, "alpha": 0.01})
    assert "99% CI" in comparison_sentence(up)


def test_not_enough_data_says_how_many_more():
    cmp = compare_proportions(7, 20, 6, 20, **SETTINGS)
    # Fleiss per group for 30% -> 40%: 356; 20 on each side -> 336 + 336 more.
    assert comparison_sentence(cmp) == (
        "Not enough data: about 672 more outcomes needed to detect a 10-point change "
        "(30% → 35%, n = 20 before and 20 after)")


def test_too_few_outcomes_for_a_claim_names_the_minimum():
    cmp = compare_proportions(10, 10, 0, 10, **SETTINGS)
    assert comparison_sentence(cmp).startswith(
        "Not enough data: each side needs at least 20 outcomes before a claim (0% → 100%")


def test_an_interval_clear_of_zero_without_its_test_shows_the_p_value():
    # Built by hand: an interval above 0 whose p is not below alpha, sized enough. The words
    # say no clear change, and the p beside them says why.
    base = compare_proportions(540, 1000, 500, 1000, **SETTINGS)
    cmp = replace(base, diff_ci_low=0.001, p_value=0.06, claim=Claim.NO_CLEAR_CHANGE,
                  more_needed=0)
    assert comparison_sentence(cmp) == ("No clear change: 50% → 54% (+4 points, 95% CI +0.1 "
                                        "to +8, p = 0.06)")


def test_context_words_sides_and_short_form():
    versions = Context(unit="closed runs", a_name="on version 3.0", b_name="on version 2.0",
                       detail=False, words={Claim.IMPROVED: "Better than version 2.0"})
    better = compare_proportions(160, 200, 100, 200, **SETTINGS)
    assert comparison_sentence(better, versions) == "Better than version 2.0: +30 points"
    flat = compare_proportions(100, 200, 100, 200, **SETTINGS)
    assert comparison_sentence(flat, versions) == "No clear change: 0 points (95% CI −10 to +10)"
    few = compare_proportions(5, 10, 3, 10, **SETTINGS)
    assert comparison_sentence(few, versions).endswith(
        "(30% → 50%, n = 10 on version 2.0 and 10 on version 3.0)")
    followers = Context(unit="runs", a_name="followers", b_name="non-followers", a_first=True)
    assert comparison_sentence(few, followers).endswith(
        "more runs needed to detect a 10-point change (50% vs 30%, n = 10 followers and 10 "
        "non-followers)")


def test_empty_sides():
    only_before = compare_proportions(0, 0, 5, 8, **SETTINGS)
    only_after = compare_proportions(5, 8, 0, 0, **SETTINGS)
    none = compare_proportions(0, 0, 0, 0, **SETTINGS)
    assert comparison_sentence(only_before) == "Not enough data: no outcomes after"
    assert comparison_sentence(only_after) == "Not enough data: no outcomes before"
    assert comparison_sentence(none) == "Not enough data: no outcomes on either side"
    named = Context(no_data="No data", no_a="Too early", no_b="No baseline")
    assert [comparison_sentence(c, named) for c in (none, only_before, only_after)] == [
        "No data", "Too early", "No baseline"]


def test_interval_text_shows_p_only_when_it_holds_a_claim_back():
    assert verdicts.interval_text(0.01, 0.09, 0.05) == "95% CI +1 to +9"
    assert verdicts.interval_text(0.01, 0.09, 0.05, Claim.NO_CLEAR_CHANGE, 0.06) == (
        "95% CI +1 to +9, p = 0.06")
    assert verdicts.interval_text(0.01, 0.09, 0.05, "not_enough_data", 0.17) == (
        "95% CI +1 to +9, p = 0.17")
    assert verdicts.interval_text(0.01, 0.09, 0.05, Claim.IMPROVED, 0.01) == "95% CI +1 to +9"
    assert verdicts.interval_text(-0.01, 0.09, 0.05, Claim.NO_CLEAR_CHANGE, 0.3) == (
        "95% CI −1 to +9")
    assert verdicts.interval_text(0.01, 0.09, 0.1) == "90% CI +1 to +9"

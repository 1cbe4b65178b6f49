"""One sentence per design: every effect method the metrics produce has its note, and the note
carries the settings it was computed with."""
from analysis import settings
from analysis.metrics import compare
from analysis.metrics.claims import Claim
from analysis.metrics.designs import interrupted, landmark, ramp, spread
from analysis.present.designs import design_note, design_notes

VALUES = {name: settings.SETTINGS[name].default for name in settings.SETTINGS}


def test_every_method_the_metrics_produce_has_a_note():
    for method in (interrupted.METHOD, landmark.METHOD, spread.METHOD, ramp.METHOD,
                   compare.METHOD):
        note = design_note(method, "improved", VALUES)
        assert note and "assumes" in note and "{" not in note, method


def test_the_note_carries_the_settings_it_was_computed_with():
    note = design_note(interrupted.METHOD, "improved", {**VALUES, "outcome_horizon_days": 90})
    assert "90-day horizon" in note
    assert "on day 45" in design_note(landmark.METHOD, "followers_better",
                                      {**VALUES, "landmark_days": 45})


def test_an_association_is_named_as_one_whatever_the_method():
    note = design_note(landmark.METHOD, Claim.ASSOCIATION_ONLY, VALUES)
    assert note.startswith("No verdict either way")


def test_notes_are_listed_once_in_first_seen_order():
    notes = design_notes([(spread.METHOD, "narrower"), (interrupted.METHOD, "improved"),
                          (spread.METHOD, "wider"), ("unknown", "improved")], VALUES)
    assert len(notes) == 2 and notes[0].startswith("Verdict from the spread")


def test_a_time_series_short_of_data_in_a_team_organisation_suggests_the_rollout():
    from analysis.present.designs import pilot_tip
    tip = pilot_tip("interrupted_time_series", "not_enough_data", teams=3)
    assert tip.startswith("If teams took this playbook up at different times, a rollouts export")
    # Not for a verdict reached, another design, or one team (nothing to compare with).
    assert pilot_tip("interrupted_time_series", "improved", teams=3) is None
    assert pilot_tip("interrupted_time_series", "too_early", teams=3) is None
    assert pilot_tip("difference_in_differences", "not_enough_data", teams=3) is None
    assert pilot_tip("interrupted_time_series", "not_enough_data", teams=1) is None

"""What a verdict rests on, in one sentence: the design that produced the claim and what it
assumes.

One sentence per effect method (the `effect.method` of `metrics --json`), written once and read
by the pages (a caption under each verdict) and the review pack (its methods footnote); the
README's table says the same in its own words. The numbers in a sentence (the horizon, the
landmark day, the window) come from the settings the figures were computed with.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from analysis.metrics.claims import Claim

# The sentences, by effect method; {names} are settings.
_NOTES = {
    "interrupted_time_series": (
        "Verdict from an interrupted time series: the step the monthly rate takes at the "
        "introduction beyond the trend of up to {its_pre_months} months before it (the "
        "{its_exclude_months} months just before left out), each outcome counted once its "
        "{outcome_horizon_days}-day horizon has passed; it assumes the earlier trend would have "
        "carried on and nothing else changed when the playbook arrived, and it allows for good "
        "and bad months that run in spells (the interval widens by as much as the months "
        "show)."),
    "difference_in_differences": (
        "Verdict from a difference in differences over the rollout: each of the {groups}' "
        "outcomes after it rolled the playbook out against the {groups} not yet using it that "
        "month (and those that never did), each outcome counted once its "
        "{outcome_horizon_days}-day horizon has passed; it assumes that without the playbook "
        "every one of the {groups}' rates would have moved by the same points month to month "
        "and that nothing else changed for a {group} in the month it rolled the playbook out; "
        "a {group}'s good and bad months, in spells or alone, widen the interval by as much "
        "as they vary."),
    "landmark_ipw_cluster": (
        "Verdict from a landmark design: among runs still open on day {landmark_days}, those "
        "that had done the steps due by then against those that had not, on the outcome after "
        "that day, weighted for health, ARR, segment and the CSM, intervals clustered by CSM; "
        "it assumes nothing else drives both a CSM's adherence and the outcome."),
    "association": (
        "No verdict either way: steps carry no completion dates, so a run going badly may be "
        "abandoned part-way and look like poor adherence; the difference is an association, "
        "not an effect of following the playbook."),
    "dl_tau_ratio_bootstrap": (
        "Verdict from the spread of CSMs' true renewal rates beyond binomial noise (a "
        "random-effects estimate) after against before the launch, with an interval from "
        "resampling CSMs; it assumes each CSM's renewals are independent draws at that CSM's "
        "own rate."),
    "km_median_ratio_logrank_permutation": (
        "Verdict from time to ramp (the roster's ramped_on date, else the rate over a CSM's "
        "last {ramp_last_renewals} decided renewals reaching the veterans' median, every book "
        "thinned to a common volume first) "
        "compared between cohorts with a permutation test over CSMs; it assumes CSMs who left "
        "before ramping would have ramped like those who stayed."),
    "newcombe_difference": (
        "Verdict from the difference between two success rates with Newcombe's interval; it "
        "assumes the runs each version handled were alike, since versions are not assigned at "
        "random."),
}

# Each effect method's name in a few words ("p of the interrupted time series").
DESIGN_NAMES = {
    "interrupted_time_series": "interrupted time series",
    "difference_in_differences": "difference in differences over the rollout",
    "landmark_ipw_cluster": "landmark design",
    "dl_tau_ratio_bootstrap": "spread beyond binomial noise",
    "km_median_ratio_logrank_permutation": "time to ramp",
    "newcombe_difference": "difference of two rates",
}


def design_note(method: str | None, claim: str | None, values: Mapping[str, object],
                group_kind: str | None = None) -> str | None:
    """The sentence for a verdict: `method` is its effect's method, `claim` its claim, `values`
    the settings it was computed with (a mapping of setting name to value), `group_kind` what
    a rollout was dated by ('team' or 'segment'). None when the method is unknown (no verdict
    was reached by a design)."""
    key = "association" if claim == Claim.ASSOCIATION_ONLY else method
    note = _NOTES.get(key or "")
    group = group_kind or "team"
    return None if note is None else note.format_map({**values, "group": group,
                                                      "groups": f"{group}s"})


def design_notes(verdicts: Iterable[tuple], values: Mapping[str, object]) -> list[str]:
    """The distinct sentences for several verdicts, in first-seen order; each verdict is
    (method, claim) or (method, claim, group_kind)."""
    notes = (design_note(*verdict[:2], values, *verdict[2:]) for verdict in verdicts)
    return list(dict.fromkeys(note for note in notes if note))


def pilot_tip(method: str | None, claim: str | None, teams: int) -> str | None:
    """What would settle a time series that cannot: when a before/after verdict rests on the
    time series and says not_enough_data in an organisation of two or more teams, one sentence
    on dating the rollout team by team (a `rollouts` export), whose comparison with the teams
    not yet using the playbook extrapolates no trend and so needs far fewer outcomes
    (CALIBRATION.md, "The rollout worlds"). None otherwise."""
    if method != "interrupted_time_series" or claim != Claim.NOT_ENOUGH_DATA or teams < 2:
        return None
    return ("If teams took this playbook up at different times, a rollouts export (the date "
            "each team started using it; Import data) lets the verdict compare each team with "
            "the teams not yet using it. With no trend to extrapolate, that comparison settles "
            "with far fewer outcomes than the time series; a pilot in a few teams before the "
            "rest is the design that finds an effect soonest.")


"""One playbook's before/after claim: too early, not enough data, or what its design says.

Joins the horizon rule (designs.horizon) and the effect design (the interrupted time series,
designs.interrupted; or, for a playbook rolled out group by group, the difference-in-differences
of designs.staggered) into the keys each `before_after` JSON entry gains: effect, claim,
pending, ready_on, why; and sizes what a not_enough_data claim is short of (`more_needed`),
from the design's own effect (stats.design_more_needed), never from the plain comparison.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from analysis.metrics import stats
from analysis.metrics.claims import Claim, Effect
from analysis.metrics.designs import interrupted, staggered
from analysis.metrics.designs.horizon import ready_on as ready_date
from analysis.present import format as fmt, verdicts


@dataclass(frozen=True)
class Assessment:
    """What the design concludes for one playbook.

    effect    the interrupted-time-series Effect, or None when none could be estimated
    claim     a Claim (improved, worse, no_clear_change, not_enough_data, too_early)
    pending   outcomes whose horizon has not passed, per side: {"before": n, "after": n}
    ready_on  the first as-of date on which the after window and every horizon are over
    why       one sentence when the claim is not directional and no effect explains it
    method    the design the claim rests on (named even when no effect could be estimated)
    missing   decided outcomes the design is short of, over both sides: the shortfall of the
              count rule that stopped it (outcomes a side; the difference-in-differences'
              treated and comparison outcomes), else what its effect needs for 80% power
              at min_detectable_lift (stats.design_more_needed); None when neither can be
              said (too early, too few months, a series that cannot be fitted); the
              claim finally shown picks `more_needed` from it (claims.more_needed_for)
    """
    effect: Effect | None
    claim: Claim
    pending: dict
    ready_on: date
    why: str | None
    method: str = interrupted.METHOD
    missing: int | None = None

    def to_row(self) -> dict:
        """The flat columns (ROW_COLUMNS) a before_after frame carries."""
        e = self.effect
        return {"claim": str(self.claim), "effect_method": e.method if e else self.method,
                **{f"effect_{k}": getattr(e, k) if e else None
                   for k in ("estimate", "ci_low", "ci_high", "p_value")},
                "pending_before": self.pending["before"], "pending_after": self.pending["after"],
                "ready_on": self.ready_on, "why": self.why}

    def to_json(self) -> dict:
        # The effect always names its design; its figures are null when none was estimated.
        effect = self.effect or Effect(self.method)
        return {"effect": effect.to_json(),
                "claim": str(self.claim), "pending": dict(self.pending),
                "ready_on": self.ready_on.isoformat(), "why": self.why}


# Where each design measures its change, as a verdict says it.
CHANGE_WORDS = {interrupted.METHOD: "at the introduction beyond the pre-trend",
                staggered.METHOD: "after each rollout against the teams or segments not yet "
                                  "using it"}

ROW_COLUMNS = ["claim", "effect_method", "effect_estimate", "effect_ci_low", "effect_ci_high",
               "effect_p_value", "pending_before", "pending_after", "ready_on", "why"]


def json_from_row(row: dict) -> dict:
    """effect, claim, pending, ready_on, why of a before_after JSON entry, from its frame row
    (the inverse of Assessment.to_row)."""
    effect = None
    if row.get("effect_method") is not None:
        effect = Effect(row["effect_method"],
                        *(None if row.get(f"effect_{k}") is None else float(row[f"effect_{k}"])
                          for k in ("estimate", "ci_low", "ci_high", "p_value", "q_value")))
    return Assessment(effect, Claim(row["claim"]),
                      {"before": int(row["pending_before"]), "after": int(row["pending_after"])},
                      row["ready_on"], row["why"],
                      row.get("effect_method") or interrupted.METHOD).to_json()


def assess(window: dict, monthly: pd.DataFrame, as_of: date | None, runs_of_playbook: int,
           settings, rollout: staggered.RolloutFit | None = None) -> Assessment:
    """The claim for one playbook.

    Parameters
    ----------
    window : dict
        One row of playbook_windows(): playbook_id, metric, introduced_on, window_start,
        window_end (dates).
    monthly : DataFrame
        This playbook's rows of horizon.matured_monthly() over horizon.fit_windows(): month,
        n, successes, pending (months before −window_months feed the pre-trend only).
    as_of : date or None
        The date the data runs to (None: the store is empty).
    runs_of_playbook : int
        Runs in the data carrying this playbook's id.
    settings : Settings
        The request's: outcome_horizon_days, window_months, min_outcomes_per_side, alpha,
        its_min_months, its_exclude_months and min_detectable_lift decide the claim.
    rollout : RolloutFit, optional
        The difference-in-differences of a playbook rolled out group by group
        (designs.rollouts); the claim rests on it instead of the time series.

    Returns
    -------
    Assessment. In order: no outcomes in either window -> not_enough_data ("no runs of this
    playbook in the data" when none carry its id); as_of before ready_on -> too_early (why:
    the after window's end, or the outcomes still open); too few outcomes or months a side ->
    not_enough_data; else the claim of the design's effect (designs.interrupted.claim).
    `missing` is the shortfall of the count rule that decided, else the outcomes the effect
    needs (stats.design_more_needed over the outcomes the design read), and a
    not_enough_data `why` from a wide interval says it in words.
    """
    horizon, alpha = int(settings.outcome_horizon_days), float(settings.alpha)
    ready = ready_date(window["window_end"], horizon)
    months = int(settings.window_months)
    after = monthly["month"] >= 0
    # the fit may reach further back (its_pre_months); the sides are the windows
    before = monthly["month"].between(-months, -1)
    pending = {"before": int(monthly.loc[before, "pending"].sum()),
               "after": int(monthly.loc[after, "pending"].sum())}
    decided = {"before": int(monthly.loc[before, "n"].sum()),
               "after": int(monthly.loc[after, "n"].sum())}

    method = interrupted.METHOD if rollout is None else staggered.METHOD

    def result(claim, why, effect=None, missing=None):
        return Assessment(effect, claim, pending, ready, why, method, missing)

    intro = window["introduced_on"].isoformat()
    least = int(settings.min_outcomes_per_side)
    if sum(decided.values()) + sum(pending.values()) == 0:
        empty = stats.shortfall(decided.values(), least)
        if runs_of_playbook == 0 and window["metric"] == "success_rate":
            return result(Claim.NOT_ENOUGH_DATA, "no runs of this playbook in the data",
                          missing=empty)
        return result(Claim.NOT_ENOUGH_DATA, f"no outcomes in the {months} months before or "
                                             f"after the introduction on {intro}",
                      missing=empty)
    if as_of is None or as_of < ready:
        end = window["window_end"].isoformat()
        if as_of is None or as_of < window["window_end"]:
            why = (f"the after window ends on {end}; the data runs to "
                   f"{as_of.isoformat() if as_of else 'no date'}")
        else:
            why = (f"{pending['after']} outcomes still open: the last runs of the after window "
                   f"have {horizon} days to close")
        return result(Claim.TOO_EARLY, f"{why}; ready on {ready.isoformat()}")
    if min(decided.values()) < least:
        return result(Claim.NOT_ENOUGH_DATA,
                      f"{decided['before']} decided outcomes before the introduction and "
                      f"{decided['after']} after; an effect needs {least} on each side",
                      missing=stats.shortfall(decided.values(), least))
    fit = rollout or interrupted.its_effect(monthly, alpha, int(settings.its_min_months),
                                            int(settings.its_exclude_months))
    if fit.effect is None:
        # The rollout's count rule (rollouts.rollout_fits passes min_outcomes_per_side); the
        # time series fails on months or a separated series, which no count of outcomes mends.
        short = (None if rollout is None
                 else stats.shortfall((rollout.treated, rollout.comparison), least))
        return result(Claim.NOT_ENOUGH_DATA, fit.why, missing=short)
    lift = float(settings.min_detectable_lift)
    effect = fit.effect
    claim = interrupted.claim(effect, alpha, lift)
    missing = stats.design_more_needed(effect.ci_low, effect.ci_high, effect.df, fit.outcomes,
                                       alpha=alpha, lift=lift,
                                       floor_variance=effect.floor_variance)
    beyond = stats.beyond_more_outcomes(effect.ci_low, effect.ci_high, effect.df,
                                        effect.floor_variance, alpha=alpha, lift=lift)
    why = (not_enough_text(effect, lift, missing, beyond)
           if claim == Claim.NOT_ENOUGH_DATA else None)
    return result(claim, why, effect, missing)


def not_enough_text(effect: Effect, lift: float, missing: int | None,
                    beyond: bool = False) -> str:
    """Why an estimated effect is not enough, in words: "the interval (−3 to +18 points)
    cannot rule out a 10-point change; about 1,200 more outcomes would be needed to detect
    one" (`missing` from stats.design_more_needed; 0 when the design already has the power
    and the interval landed wide of both 0 and the change by chance; `beyond`: no number of
    outcomes in the same months would do, stats.beyond_more_outcomes)."""
    change = round(float(lift) * 100)
    text = f"{_interval_phrase(effect)} cannot rule out a {change}-point change"
    if beyond:
        return (f"{text}, and more outcomes in the same months would not settle it: the "
                "months vary more than chance alone makes them, so it takes more months")
    if missing is None:
        return text
    if missing == 0:
        return (f"{text}, although these outcomes would detect one "
                f"{stats.POWER:.0%} of the time")
    return f"{text}; about {fmt.count(missing)} more outcomes would be needed to detect one"


def _interval_phrase(effect: Effect) -> str:
    return f"the interval ({fmt.points(effect.ci_low)} to {fmt.points(effect.ci_high)} points)"


def verdict_text(claim: Claim, before_rate, after_rate, effect: Effect | None,
                 why: str | None) -> str:
    """The sentence of a before/after claim: its figures, in the shared verdict words (the
    reason names the interval the figures already show as "the interval")."""
    if effect is None or effect.estimate is None:
        return verdicts.sentence(claim, reason=why)
    if why:
        why = why.replace(_interval_phrase(effect), "the interval", 1)
    rates = ""
    if before_rate is not None and after_rate is not None:
        rates = f"{fmt.percent(before_rate)} → {fmt.percent(after_rate)}; "
    change = (f"{rates}{fmt.points(effect.estimate)} points {CHANGE_WORDS[effect.method]} "
              f"(CI {fmt.points(effect.ci_low)} to {fmt.points(effect.ci_high)}, "
              f"{fmt.p_value(effect.p_value)})")
    return verdicts.sentence(claim, change_text=change, reason=why)

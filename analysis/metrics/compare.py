"""One comparison of two proportions: the rates, their difference, its test, and the claim.

Every rate comparison of the product (before/after, version against version, followers against
non-followers, quarter against quarter) is built here, so they cannot disagree. Side `a` is the
one being judged (after, the current version, followers, this quarter) and side `b` the
reference (before, the previous version, non-followers, the quarter before); `diff` is a − b.

The rule a claim follows (one rule, `decide`):

- A directional claim (improved / worse) needs the difference's interval to exclude 0 AND the
  p-value shown beside it to be below alpha AND each side to hold at least `min_n` outcomes.
  The interval is Newcombe's hybrid score interval (method 10, Newcombe 1998); the p-value is
  Fisher's exact test when an expected cell is below `small_cell`, else the pooled
  two-proportion z-test (the Pearson chi-square without continuity correction). Interval and
  test are different statistics, and on small tables they disagree (an interval just clear of
  0 beside Fisher's p = 0.17): requiring both means a page never shows "Improved" next to a
  p-value that says otherwise, and errs towards no claim.
- Otherwise the comparison is sized (`stats.more_needed`): when the sides already hold the
  outcomes needed to detect a change of `lift` (in either direction, at any base rate), or the
  interval already rules out a change of that size, the claim is "no clear change"; else "not
  enough data", with how many more outcomes it would take.
"""
from __future__ import annotations

from dataclasses import dataclass

from analysis.metrics import stats
from analysis.metrics.claims import Claim, Effect

METHOD = "newcombe_difference"
# An Effect as flat columns of a tidy frame (a frame holds values, not objects, so pages can
# show it and export it as CSV); `effect_of_row` reads it back for the JSON.
EFFECT_FIELDS = Effect.JSON_FIELDS
EFFECT_COLUMNS = tuple(f"effect_{k}" for k in EFFECT_FIELDS)


def effect_columns(effect: Effect) -> dict:
    """{effect_method: ..., effect_estimate: ..., ...}: an Effect as columns of one row."""
    return {f"effect_{k}": v for k, v in effect.to_json().items()}


def effect_of_row(row) -> Effect:
    """The Effect held in a row's EFFECT_COLUMNS (missing values as None)."""
    values = {k: row[f"effect_{k}"] for k in EFFECT_FIELDS}
    numbers = {k: None if v is None or v != v else float(v)
               for k, v in values.items() if k != "method"}
    return Effect(values["method"], **numbers)


@dataclass(frozen=True)
class Comparison:
    """Two proportions compared: a (judged) against b (reference).

    `a` and `b` carry n, successes, rate and the Wilson interval; `diff` = a − b with
    Newcombe's interval; `p_value` from `test` ("fisher_exact" | "z_test"); `claim` by the rule
    of this module; `more_needed` the outcomes still missing over both sides when the claim is
    NOT_ENOUGH_DATA (0 for NO_CLEAR_CHANGE, None for a directional claim). `alpha`, `lift` and
    `min_n` are the settings the claim was decided with.
    """
    a: stats.Proportion
    b: stats.Proportion
    diff: float | None
    diff_ci_low: float | None
    diff_ci_high: float | None
    p_value: float | None
    test: str | None
    claim: Claim
    more_needed: int | None
    alpha: float
    lift: float
    min_n: int

    @property
    def effect(self) -> Effect:
        """The difference as an `Effect` (q_value None until a family is adjusted)."""
        return Effect(METHOD, self.diff, self.diff_ci_low, self.diff_ci_high, self.p_value)

    @property
    def excludes_zero(self) -> bool:
        """True when the difference's interval lies wholly above or below 0."""
        return _excludes_zero(self.diff_ci_low, self.diff_ci_high)

    def as_dict(self) -> dict:
        """One flat, JSON-ready row: a_n, a_successes, a_rate, a_ci_low, a_ci_high, b_..., diff,
        diff_ci_low, diff_ci_high, p_value, test, claim (its value), more_needed, effect
        (Effect.to_json())."""
        row = {f"{side}_{k}": v for side, prop in (("a", self.a), ("b", self.b))
               for k, v in prop.as_dict().items()}
        row.update(diff=self.diff, diff_ci_low=self.diff_ci_low, diff_ci_high=self.diff_ci_high,
                   p_value=self.p_value, test=self.test, claim=self.claim.value,
                   more_needed=self.more_needed, effect=self.effect.to_json())
        return row


def _excludes_zero(low, high) -> bool:
    return (low is not None and low > 0) or (high is not None and high < 0)


def direction(low, high, p_value, alpha: float) -> Claim | None:
    """IMPROVED or WORSE when the interval excludes 0 and `p_value` < `alpha`, else None.

    The coherence half of the rule: an interval alone never makes a claim, so a claim always
    agrees with the p-value printed beside it.
    """
    if p_value is None or not p_value < alpha or not _excludes_zero(low, high):
        return None
    return Claim.IMPROVED if low is not None and low > 0 else Claim.WORSE


def decide(low, high, p_value, *, n_a: int, n_b: int, base_rate, alpha: float, lift: float,
           min_n: int, sized: int | None = None) -> tuple[Claim, int | None]:
    """The claim on a difference with interval (low, high) and `p_value`, and the outcomes still
    needed.

    Parameters
    ----------
    low, high, p_value : float or None
        The difference's interval and test (any design's, not only Newcombe's).
    n_a, n_b : int
        Outcomes on each side; a side below `min_n` (or empty) never makes a directional claim.
    base_rate : float or None
        The reference rate the sizing starts from.
    alpha, lift, min_n : the settings, passed explicitly.
    sized : int, optional
        When the interval is a design's effect (an adjusted difference), the outcomes that
        effect still needs (stats.design_more_needed): the sizing then rests on it, not on
        the two proportions.

    Returns
    -------
    (claim, more_needed) : IMPROVED / WORSE with None; NO_CLEAR_CHANGE with 0; NOT_ENOUGH_DATA
    with the outcomes missing over both sides.
    """
    if n_a == 0 or n_b == 0:
        missing = stats.more_needed(base_rate, n_a, n_b, lift, alpha, min_n=min_n)
        return Claim.NOT_ENOUGH_DATA, max(missing, 1)
    claim = direction(low, high, p_value, alpha)
    if claim is not None and min(n_a, n_b) >= min_n:
        return claim, None
    missing = stats.more_needed(base_rate, n_a, n_b, lift, alpha, interval=(low, high),
                                min_n=min_n, sized=sized)
    return (Claim.NOT_ENOUGH_DATA, missing) if missing else (Claim.NO_CLEAR_CHANGE, 0)


def thresholds(settings) -> dict:
    """The keyword arguments of `compare_proportions` from a request's `Settings`: alpha,
    lift (min_detectable_lift), small_cell and min_n (min_outcomes_per_side)."""
    return {"alpha": settings.alpha, "lift": settings.min_detectable_lift,
            "small_cell": settings.small_cell, "min_n": settings.min_outcomes_per_side}


def compare_proportions(successes_a: int, n_a: int, successes_b: int, n_b: int, *,
                        alpha: float, lift: float, small_cell: int,
                        min_n: int) -> Comparison:
    """Compare the rate of a (judged side) with the rate of b (reference side).

    Parameters
    ----------
    successes_a, n_a : int
        Successes and outcomes of the judged side (after, current version, followers).
    successes_b, n_b : int
        The same for the reference side (before, previous version, non-followers).
    alpha : float
        1 − confidence level of every interval and the test's threshold (setting alpha).
    lift : float
        The change the "not enough data" sizing looks for (setting min_detectable_lift).
    small_cell : int
        Expected cell count below which Fisher's exact test is used (setting small_cell).
    min_n : int
        Outcomes each side needs before any claim (setting min_outcomes_per_side).
    (`thresholds(settings)` gives all four.)

    Returns
    -------
    Comparison : both Wilson proportions, the Newcombe difference, the test, the claim and
    `more_needed`; an empty side gives None rates and NOT_ENOUGH_DATA.
    """
    alpha, lift, small_cell, min_n = float(alpha), float(lift), int(small_cell), int(min_n)
    a, b = stats.wilson(successes_a, n_a, alpha), stats.wilson(successes_b, n_b, alpha)
    diff, low, high = stats.newcombe_diff(a.successes, a.n, b.successes, b.n, alpha)
    p_value, test = stats.two_proportion_p(a.successes, a.n, b.successes, b.n, small_cell)
    claim, missing = decide(low, high, p_value, n_a=a.n, n_b=b.n, base_rate=b.rate,
                            alpha=alpha, lift=lift, min_n=min_n)
    return Comparison(a, b, diff, low, high, p_value, test, claim, missing, alpha, lift, min_n)

"""What a verdict may claim, and the effect estimate it rests on (DESIGN.md, "Effects and claims").

Every section of `metrics --json` carries `effect` and `claim`; pages, the review pack and the
verdict sentences switch on `Claim`, never on words.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class Claim(StrEnum):
    IMPROVED = "improved"
    WORSE = "worse"
    NO_CLEAR_CHANGE = "no_clear_change"
    NOT_ENOUGH_DATA = "not_enough_data"
    TOO_EARLY = "too_early"
    ASSOCIATION_ONLY = "association_only"
    # Followers in place of improved / worse.
    FOLLOWERS_BETTER = "followers_better"
    FOLLOWERS_WORSE = "followers_worse"
    # Consistency in place of improved / worse.
    NARROWER = "narrower"
    WIDER = "wider"
    # Proficiency in place of improved / worse.
    FASTER = "faster"
    SLOWER = "slower"

    @property
    def tone(self) -> str:
        """good, bad or neutral: what a page colours the verdict with."""
        if self in _GOOD:
            return "good"
        if self in _BAD:
            return "bad"
        return "neutral"

    @property
    def is_directional(self) -> bool:
        """True for a claim that an effect exists (the claims the false-claim rate counts)."""
        return self in _GOOD or self in _BAD


_GOOD = frozenset({Claim.IMPROVED, Claim.FOLLOWERS_BETTER, Claim.NARROWER, Claim.FASTER})
_BAD = frozenset({Claim.WORSE, Claim.FOLLOWERS_WORSE, Claim.WIDER, Claim.SLOWER})


@dataclass(frozen=True)
class Effect:
    """An effect estimate from a named design, with its interval, p-value and q-value.

    `q_value` is the Benjamini–Hochberg adjusted p across every claim shown together; None
    until the caller adjusts a family of effects. `df` is the reference the interval was read
    from, when the design builds it as estimate ± q · se: the degrees of freedom of its
    Student's t (math.inf for the normal), so the standard error can be read back from the
    interval (stats.design_more_needed); None when the interval is not of that form
    (Newcombe's, a bootstrap). `floor_variance` is the part of the squared standard error
    that more outcomes in the same months would not shrink (month deviations that run in
    spells, designs.spells); None or 0 when all of it is sampling noise. Neither is part of
    the JSON (`JSON_FIELDS`).
    """
    method: str
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    q_value: float | None = None
    df: float | None = None
    floor_variance: float | None = None

    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("method", "estimate", "ci_low", "ci_high",
                                              "p_value", "q_value")

    def to_json(self) -> dict:
        values = {k: getattr(self, k) for k in self.JSON_FIELDS}
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in values.items()}


def more_needed_for(claim: Claim, missing: int | None) -> int | None:
    """The `more_needed` a claim is shown with: `missing` (the outcomes the design it rests on
    is short of: a count rule's shortfall, else stats.design_more_needed) under
    NOT_ENOUGH_DATA, 0 under NO_CLEAR_CHANGE, None under every other claim (a direction, too
    early, an association: more outcomes are not what those wait for).

    One rule for the before/after and followers sections, applied to the claim finally shown
    (after multiplicity may have reduced a direction to NOT_ENOUGH_DATA).
    """
    claim = Claim(claim)
    if claim is Claim.NOT_ENOUGH_DATA:
        return None if missing is None else int(missing)
    return 0 if claim is Claim.NO_CLEAR_CHANGE else None

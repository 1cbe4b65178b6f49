"""What a verdict may claim, and the effect estimate it rests on (DESIGN.md, "Effects and claims").

Every section of `metrics --json` carries `effect` and `claim`; pages, the review pack and the
verdict sentences switch on `Claim`, never on words.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum


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
    until the caller adjusts a family of effects.
    """
    method: str
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    q_value: float | None = None

    def to_json(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}

"""The one place a claim becomes words and a colour.

Every verdict sentence of the product is "<word>: <what changed>; <why>" where the word comes
from the claim (`WORDS`, or a caller's word for the same claim, e.g. "Better than version 2.0"
for IMPROVED), the figures from `analysis.present.format`, and the tone from `Claim.tone`.
Pages and the review pack colour a verdict by `claim_tone(claim)`, never by reading its text.

- `sentence(claim, ...)`: any section's claim with the caller's change text and reason (what
  consistency, proficiency, followers' association-only and too-early verdicts use).
- `comparison_sentence(cmp, context)`: a `compare.Comparison` in words, its side names, unit and
  empty-side texts from a `Context`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from analysis.metrics.claims import Claim
from analysis.metrics.compare import Comparison, direction
from analysis.metrics.stats import confidence_label
from analysis.present.format import count, p_value, percent, points

WORDS: dict[Claim, str] = {
    Claim.IMPROVED: "Improved",
    Claim.WORSE: "Worse",
    Claim.NO_CLEAR_CHANGE: "No clear change",
    Claim.NOT_ENOUGH_DATA: "Not enough data",
    Claim.TOO_EARLY: "Too early",
    Claim.ASSOCIATION_ONLY: "Association only",
    Claim.FOLLOWERS_BETTER: "Followers did better",
    Claim.FOLLOWERS_WORSE: "Followers did worse",
    Claim.NARROWER: "Narrower",
    Claim.WIDER: "Wider",
    Claim.FASTER: "Faster",
    Claim.SLOWER: "Slower",
}

# Colours of the three tones (the page's success / error / info boxes, and the review pack).
TONE_COLOURS = {"good": "#1a7f37", "bad": "#cf222e", "neutral": "#57606a"}


def as_claim(claim) -> Claim | None:
    """A Claim from a Claim, its value ("improved") or None (stays None)."""
    return None if claim is None else Claim(claim)


def claim_tone(claim) -> str:
    """"good", "bad" or "neutral" for a Claim or its value; None (no claim) is neutral."""
    claim = as_claim(claim)
    return "neutral" if claim is None else claim.tone


def claim_colour(claim) -> str:
    """The hex colour a verdict with this claim is shown in."""
    return TONE_COLOURS[claim_tone(claim)]


# The Streamlit message box of each tone (pages call `getattr(st, claim_box(claim))(text)`).
TONE_BOXES = {"good": "success", "bad": "error", "neutral": "info"}


def claim_box(claim) -> str:
    """"success", "error" or "info": the message box a verdict with this claim is shown in."""
    return TONE_BOXES[claim_tone(claim)]


# What each before/after design compares and what it assumes, in one sentence a page shows
# under the verdict ({groups}: "teams" or "segments").
DESIGN_NOTES = {
    "interrupted_time_series": (
        "Interrupted time series: the step of the monthly rate at the introduction beyond its "
        "pre-trend; it assumes the pre-trend would have gone on in a straight line (logit "
        "scale) and that nothing else changed in the month the playbook arrived."),
    "difference_in_differences": (
        "Difference-in-differences over the rollout: each of the {groups}' outcomes after it "
        "rolled the playbook out against the {groups} not yet using it that month (and those "
        "that never did); it assumes that without the playbook every one of the {groups}' "
        "rates would have moved by the same points month to month, and that nothing else "
        "changed for a {group} in the month it rolled the playbook out."),
}


def design_note(method: str | None, group_kind: str | None = None) -> str:
    """The sentence saying which design a before/after verdict rests on and what it assumes
    ("" for a method without one)."""
    group = group_kind or "team"
    return DESIGN_NOTES.get(method or "", "").format(groups=f"{group}s", group=group)


def claim_word(claim, word: str | None = None) -> str:
    """The headline word of a claim ("Improved"), or the caller's `word` for it."""
    return word if word is not None else WORDS[Claim(claim)]


def sentence(claim, *, subject: str | None = None, change_text: str | None = None,
             reason: str | None = None, word: str | None = None) -> str:
    """A verdict sentence: "<word>: <subject> <change_text>; <reason>".

    Parameters
    ----------
    claim : Claim or its value
    subject : str, optional
        What the claim is about ("the spread of renewal rates across CSMs").
    change_text : str, optional
        The figures ("12 → 7 points SD (ratio 0.58, 95% CI 0.41 to 0.83)").
    reason : str, optional
        Why this claim and not another ("the after window ends on 1 Jul 2026").
    word : str, optional
        Replaces the claim's word from WORDS ("Better than version 2.0" for IMPROVED).

    Returns
    -------
    str : "Too early: the after window ends on 1 Jul 2026"; just the word when nothing else is
    given.
    """
    body = " ".join(part for part in (subject, change_text) if part)
    body = "; ".join(part for part in (body, reason) if part)
    head = claim_word(claim, word)
    return f"{head}: {body}" if body else head


@dataclass(frozen=True)
class Context:
    """How one kind of comparison is told.

    unit : what n counts ("outcomes", "closed runs").
    a_name, b_name : the sides as they follow a count ("after" / "before", "followers" /
        "non-followers", "on version 1.1" / "on version 1.0").
    words : words replacing WORDS for some claims ({Claim.IMPROVED: "Better than version 2.0"}).
    detail : True: rates and the interval ("35% → 50% (+15 points, 95% CI +11 to +19)");
        False: the difference only ("+15 points").
    a_first : True: "58% vs 35%" (a, then b); False: "35% → 58%" (b, then a).
    no_data, no_a, no_b : the whole sentence when both sides, side a, or side b have no
        outcomes (None: a generic one).
    """
    unit: str = "outcomes"
    a_name: str = "after"
    b_name: str = "before"
    words: dict = field(default_factory=dict)
    detail: bool = True
    a_first: bool = False
    no_data: str | None = None
    no_a: str | None = None
    no_b: str | None = None


def rates_text(cmp: Comparison, context: Context = Context()) -> str:
    """The two rates: "35% → 50%" or, a first, "50% vs 35%"."""
    if context.a_first:
        return f"{percent(cmp.a.rate)} vs {percent(cmp.b.rate)}"
    return f"{percent(cmp.b.rate)} → {percent(cmp.a.rate)}"


def interval_text(low, high, alpha: float, claim=None, p=None) -> str:
    """"95% CI +11 to +19". Given the `claim` and the test's `p`, an interval clear of 0 under a
    claim that is not directional also shows p ("95% CI +1 to +9, p = 0.06"): the reason no
    change is claimed."""
    text = f"{confidence_label(alpha)} CI {points(low)} to {points(high)}"
    clear = (low is not None and low > 0) or (high is not None and high < 0)
    if claim is not None and clear and not Claim(claim).is_directional:
        text = f"{text}, {p_value(p)}"
    return text


def change_text(cmp: Comparison, context: Context = Context()) -> str:
    """What changed, in figures: "35% → 50% (+15 points, 95% CI +11 to +19)" (detail) or
    "+15 points" (the interval shown too when no change is claimed)."""
    interval = interval_text(cmp.diff_ci_low, cmp.diff_ci_high, cmp.alpha, cmp.claim,
                             cmp.p_value)
    if not context.detail:
        return f"{points(cmp.diff)} points" + ("" if cmp.claim.is_directional
                                               else f" ({interval})")
    return f"{rates_text(cmp, context)} ({points(cmp.diff)} points, {interval})"


def sizes_text(cmp: Comparison, context: Context = Context()) -> str:
    """"n = 20 before and 20 after" (a first: "n = 20 followers and 30 non-followers")."""
    sides = [(cmp.b.n, context.b_name), (cmp.a.n, context.a_name)]
    if context.a_first:
        sides.reverse()
    return "n = " + " and ".join(f"{count(n)} {name}" for n, name in sides)


def not_enough_text(cmp: Comparison, context: Context = Context()) -> str:
    """Why there is not enough data: "about 672 more outcomes needed to detect a 10-point change
    (30% → 35%, n = 20 before and 20 after)"."""
    held = direction(cmp.diff_ci_low, cmp.diff_ci_high, cmp.p_value, cmp.alpha) is not None
    if held and min(cmp.a.n, cmp.b.n) < cmp.min_n:
        # Directional figures on too few outcomes: the minimum, not the sizing, holds the claim.
        why = f"each side needs at least {count(cmp.min_n)} {context.unit} before a claim"
    else:
        why = (f"about {count(cmp.more_needed)} more {context.unit} needed to detect a "
               f"{round(cmp.lift * 100)}-point change")
    return f"{why} ({rates_text(cmp, context)}, {sizes_text(cmp, context)})"


def comparison_sentence(cmp: Comparison, context: Context = Context()) -> str:
    """A comparison in words, its claim's word first.

    Returns
    -------
    str : e.g. "Improved: 35% → 50% (+15 points, 95% CI +11 to +19)", "Not enough data: about
    672 more outcomes needed to detect a 10-point change (30% → 35%, n = 20 before and 20
    after)", or the context's sentence for an empty side.
    """
    if cmp.a.n == 0 or cmp.b.n == 0:
        return _empty_sentence(cmp, context)
    word = context.words.get(cmp.claim)
    if cmp.claim is Claim.NOT_ENOUGH_DATA:
        return sentence(cmp.claim, reason=not_enough_text(cmp, context), word=word)
    return sentence(cmp.claim, change_text=change_text(cmp, context), word=word)


def _empty_sentence(cmp: Comparison, context: Context) -> str:
    if cmp.a.n == 0 and cmp.b.n == 0:
        return context.no_data or sentence(Claim.NOT_ENOUGH_DATA,
                                           reason=f"no {context.unit} on either side")
    if cmp.b.n == 0:
        return context.no_b or sentence(Claim.NOT_ENOUGH_DATA,
                                        reason=f"no {context.unit} {context.b_name}")
    return context.no_a or sentence(Claim.NOT_ENOUGH_DATA,
                                    reason=f"no {context.unit} {context.a_name}")

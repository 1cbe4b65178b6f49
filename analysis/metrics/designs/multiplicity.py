"""Benjamini–Hochberg across every claim shown together (DESIGN.md, "Effects and claims").

A page, the overview and the review pack each show many effects at once: twelve playbooks
before/after, their followers, versions, consistency, proficiency. Each effect's test holds its
false-claim rate at alpha on its own; shown together, the chance that *some* claim is false
grows with their number. Each effect's q-value is its Benjamini–Hochberg adjusted p across the
family, and a directional claim stands only when q < alpha; a claim that fails that test is
reduced to not_enough_data (the family says its data do not yet settle it).
"""
from __future__ import annotations

import math

from analysis.metrics import stats
from analysis.metrics.claims import Claim, Effect
from analysis.metrics.designs.assess import CHANGE_WORDS, verdict_text
from analysis.present import verdicts

# A directional claim that the family's q-value no longer supports becomes this.
_REDUCED = Claim.NOT_ENOUGH_DATA


def effect_entries(metrics: dict) -> list[dict]:
    """Every JSON entry of a metrics object (or of one page's sections) that carries an
    `effect` with a p-value: each before_after / followers / versions item, and the
    consistency and proficiency sections themselves (or items of theirs), in a fixed order."""
    found: list[dict] = []

    def visit(value):
        if isinstance(value, dict):
            effect = value.get("effect")
            if isinstance(effect, dict) and _p(effect) is not None:
                found.append(value)
            for key in sorted(value):
                if key != "effect":
                    visit(value[key])
        elif isinstance(value, list):
            for item in value:
                visit(item)

    for key in sorted(metrics):
        if key not in ("settings", "filters", "generated_at"):
            visit(metrics[key])
    return found


def _p(effect: dict):
    p = effect.get("p_value")
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return None
    return float(p)


def adjust_claims(metrics: dict, alpha: float) -> dict:
    """Fill `effect.q_value` of every effect in `metrics` (BH across all of them) and reduce
    each directional `claim` whose q is not below alpha; changes `metrics` in place.

    Parameters
    ----------
    metrics : dict
        A `metrics --json` object, a page's sections, or a list of entries wrapped in a dict.
    alpha : float
        The request's `alpha` setting: a directional claim needs q < alpha.

    Returns
    -------
    The same dict. Entries whose claim was reduced keep their effect and gain
    `why` ("q = 0.08 across 14 effects shown together"), unless they already had one.
    """
    alpha = float(alpha)
    entries = effect_entries(metrics)
    q_values = stats.benjamini_hochberg([_p(e["effect"]) for e in entries])
    for entry, q in zip(entries, q_values):
        entry["effect"]["q_value"] = q
        claim = entry.get("claim")
        if claim is None or not Claim(claim).is_directional or (q is not None and q < alpha):
            continue
        entry["claim"] = str(_REDUCED)
        if not entry.get("why"):
            entry["why"] = (f"q = {q:.2g} across {len(entries)} effects shown together "
                            f"(Benjamini–Hochberg); a claim needs q < {alpha:g}")
        _reword(entry)
    return metrics


def _reword(entry: dict) -> None:
    """Rewrite the verdict of an entry whose claim was reduced, so its words follow its claim:
    a before/after entry from its design, any other from its own figures under the new word
    (every verdict reads "<word>: <what changed>; <why>", analysis.present.verdicts)."""
    if "verdict" not in entry:
        return
    if entry["effect"].get("method") in CHANGE_WORDS:  # a before/after design
        effect = Effect(**entry["effect"])
        rate = {side: (entry.get(side) or {}).get("rate") for side in ("before", "after")}
        entry["verdict"] = verdict_text(Claim(entry["claim"]), rate["before"], rate["after"],
                                        effect, entry.get("why"))
        return
    figures = str(entry["verdict"]).split(": ", 1)[-1]
    entry["verdict"] = verdicts.sentence(Claim(entry["claim"]), change_text=figures,
                                         reason=entry.get("why"))


def adjust_effects(effects: list) -> list:
    """q-values for a plain list of Effect objects (same order), for callers that hold
    effects before they become JSON: returns new Effects with q_value set."""
    from dataclasses import replace

    q_values = stats.benjamini_hochberg([None if e is None else e.p_value for e in effects])
    return [None if e is None else replace(e, q_value=q) for e, q in zip(effects, q_values)]


def adjust_frame(frame, alpha: float):
    """`adjust_claims` on a section's frame (one row per playbook, the `effect_*` columns, claim,
    verdict and, where the design gives one, why): the family is what one page shows, so the
    page and the section's JSON carry the same q-values and claims. Returns the frame, changed
    in place (effect_q_value added)."""
    if frame.empty or "effect_p_value" not in frame:
        return frame
    entries = []
    for row in frame.astype(object).where(frame.notna(), None).to_dict("records"):
        entry = {"effect": {k: row.get(f"effect_{k}") for k in
                            ("method", "estimate", "ci_low", "ci_high", "p_value")},
                 "claim": row["claim"], "verdict": row["verdict"], "why": row.get("why"),
                 "before": {"rate": row.get("before_rate")},
                 "after": {"rate": row.get("after_rate")}}
        entry["effect"]["q_value"] = None
        entries.append(entry)
    adjust_claims({"section": entries}, alpha)
    frame["effect_q_value"] = [e["effect"]["q_value"] for e in entries]
    frame["claim"] = [e["claim"] for e in entries]
    frame["verdict"] = [e["verdict"] for e in entries]
    if "why" in frame:
        frame["why"] = [e["why"] for e in entries]
    return frame

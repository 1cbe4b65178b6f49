"""Check the product's `metrics --json` against the pandas notebook's numbers.

Counts must be equal; rates and spreads equal to 1e-9. Rows are matched by their keys
(playbook_id, csm_id, cohort, version); a row one side has and the other lacks is a difference.
Only what the notebook computes is compared: the adjusted follower effect, intervals, p-values
and verdicts come from the product alone.
"""
from __future__ import annotations

import math

TOLERANCE = 1e-9
SIDE = ("n", "successes", "rate")
# section: (path to the list inside metrics JSON, key fields, compared fields)
SECTIONS = {
    "usage.playbooks": (("usage", "playbooks"), ("playbook_id",),
                        ("runs", "views", "csms_using", "mean_adherence")),
    "usage.csms": (("usage", "csms"), ("csm_id",),
                   ("runs", "mean_adherence", "playbook_share", "consistent", "rare")),
    "before_after": (("before_after",), ("playbook_id",),
                     ("metric", "introduced_on", *(f"before.{k}" for k in SIDE),
                      *(f"after.{k}" for k in SIDE))),
    "followers": (("followers",), ("playbook_id",),
                  (*(f"followers.{k}" for k in SIDE), *(f"non_followers.{k}" for k in SIDE),
                   "naive_diff")),
    "proficiency.cohorts": (("proficiency", "cohorts"), ("cohort",),
                            ("csms", "ramped", "median_days")),
    "versions": (("versions",), ("playbook_id", "version"), SIDE),
    "feedback": (("feedback",), ("playbook_id",), ("responses", "mean_rating")),
}
CONSISTENCY = (*(f"{p}.{k}" for p in ("before", "after")
                 for k in ("csms", "min", "max", "range", "iqr", "sd")), "sd_ratio")


def _get(record: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(record, dict) or part not in record:
            raise KeyError(dotted)
        record = record[part]
    return record


def same(a, b) -> bool:
    """Equal: exactly for text, booleans and integers; to TOLERANCE for other numbers."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return a == b
    a, b = float(a), float(b)
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def _compare_fields(label: str, product: dict, baseline: dict, fields) -> tuple[int, list[str]]:
    checked, problems = 0, []
    for field in fields:
        try:
            p = _get(product, field)
        except KeyError:
            problems.append(f"{label}: the product has no {field}")
            continue
        b = _get(baseline, field)
        checked += 1
        if not same(p, b):
            problems.append(f"{label} {field}: product {p!r}, pandas {b!r}")
    return checked, problems


def compare(product: dict, baseline: dict) -> tuple[int, list[str]]:
    """(values checked, differences as sentences); no differences means the two agree."""
    checked, problems = 0, []
    for section, (path, keys, fields) in SECTIONS.items():
        try:
            rows_p = _get(product, ".".join(path))
        except KeyError:
            problems.append(f"{section}: missing from the product's metrics")
            continue
        rows_b = _get(baseline, ".".join(path))
        by_key_p = {tuple(str(r.get(k)) for k in keys): r for r in rows_p}
        by_key_b = {tuple(str(r[k]) for k in keys): r for r in rows_b}
        for key in sorted(set(by_key_b) - set(by_key_p)):
            problems.append(f"{section} {'/'.join(key)}: only in the pandas result")
        for key in sorted(set(by_key_p) - set(by_key_b)):
            problems.append(f"{section} {'/'.join(key)}: only in the product's result")
        for key in sorted(set(by_key_p) & set(by_key_b)):
            c, p = _compare_fields(f"{section} {'/'.join(key)}", by_key_p[key], by_key_b[key],
                                   fields)
            checked += c
            problems += p
    if "consistency" in product:
        c, p = _compare_fields("consistency", product["consistency"], baseline["consistency"],
                               ("launch_date", *CONSISTENCY))
        checked += c
        problems += p
    else:
        problems.append("consistency: missing from the product's metrics")
    if "proficiency" in product:
        c, p = _compare_fields("proficiency", product["proficiency"], baseline["proficiency"],
                               ("launch_date", "faster_pct"))
        checked += c
        problems += p
    return checked, problems

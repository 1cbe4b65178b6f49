"""The same metrics the way an analyst computes them in a pandas notebook: no DuckDB.

Read every export with `pd.read_csv`, then group-bys, boolean masks and a loop over playbooks,
written plainly from DESIGN.md's definitions. It is the yardstick the benchmark times the
product against, and an independent implementation the benchmark checks the product's numbers
with (counts exactly, rates to 1e-9).

The result has the shape of `metrics --json` for the parts compared: usage (playbooks, csms),
before_after (n and successes per side), followers (naive counts), consistency (spread per
period), proficiency (cohorts), versions and feedback.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.generate import catalogue_intro

DATES = {
    "csms": ["hire_date", "end_date", "ramped_on"],
    "renewals": ["renewal_date"],
    "playbook_runs": ["opened_on", "due_on", "closed_on"],
    "playbook_views": ["viewed_at"],
    "feedback": ["submitted_at"],
}
TABLES = ("csms", "accounts", "renewals", "playbook_runs", "run_steps", "playbook_views",
          "feedback")


def read_exports(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Every CSV export of the folder as the analyst would read it."""
    folder = Path(folder)
    return {name: pd.read_csv(folder / f"{name}.csv", parse_dates=DATES.get(name, False))
            for name in TABLES}


def catalogue(runs: pd.DataFrame) -> pd.DataFrame:
    """playbook_id, scenario, introduced_on, metric, defined: the YAML definitions the analyst
    has open beside the notebook, plus playbooks seen only in the runs (first run = introduced)."""
    rows = []
    scenario_of = runs.dropna(subset=["playbook_id"]).groupby("playbook_id")["scenario"] \
        .agg(lambda s: s.value_counts().index[0])
    first_run = runs.dropna(subset=["playbook_id"]).groupby("playbook_id")["opened_on"].min()
    defined = catalogue_intro()
    for pid, intro in defined.items():
        rows.append((pid, pid, pd.Timestamp(intro), True))
    for pid in first_run.index:
        if pid not in defined:
            rows.append((pid, scenario_of[pid], first_run[pid], False))
    cat = pd.DataFrame(rows, columns=["playbook_id", "scenario", "introduced_on", "defined"])
    cat["metric"] = np.where(cat["scenario"] == "renewal", "renewal_rate", "success_rate")
    return cat.sort_values("playbook_id", ignore_index=True)


def run_adherence(runs: pd.DataFrame, steps: pd.DataFrame) -> pd.Series:
    """Adherence per run (index run_id): done steps over all steps; NaN for runs without steps."""
    done = steps.assign(done=steps["status"] == "done").groupby("run_id")["done"].agg(["sum", "count"])
    adherence = (done["sum"] / done["count"]).reindex(runs["run_id"])
    return pd.Series(adherence.to_numpy(), index=runs.index)


def usage(data: dict, cat: pd.DataFrame) -> dict:
    runs = data["playbook_runs"].copy()
    runs["adherence"] = run_adherence(runs, data["run_steps"])
    views = data["playbook_views"].groupby("playbook_id").size()
    playbooks = []
    for pid in cat["playbook_id"]:
        mine = runs[runs["playbook_id"] == pid]
        playbooks.append({
            "playbook_id": pid, "runs": len(mine), "views": int(views.get(pid, 0)),
            "csms_using": mine["csm_id"].nunique(),
            "mean_adherence": _float(mine["adherence"].mean()),
        })
    # playbook_share: runs of scenarios that have a playbook, opened on/after the first one.
    first = cat.groupby("scenario")["introduced_on"].min()
    eligible = runs["opened_on"] >= runs["scenario"].map(first)
    share = runs[eligible].assign(used=lambda r: r["playbook_id"].notna()) \
        .groupby("csm_id")["used"].mean()
    per_csm = runs.groupby("csm_id").agg(runs=("run_id", "size"),
                                         mean_adherence=("adherence", "mean"))
    per_csm["playbook_share"] = share
    csms = []
    for csm_id, row in per_csm.iterrows():
        s, a = _float(row["playbook_share"]), _float(row["mean_adherence"])
        csms.append({"csm_id": csm_id, "runs": int(row["runs"]), "mean_adherence": a,
                     "playbook_share": s,
                     "consistent": bool(s is not None and a is not None and s >= 0.8 and a >= 0.8),
                     "rare": bool(s is not None and s < 0.3)})
    return {"playbooks": playbooks, "csms": csms}


def before_after(data: dict, cat: pd.DataFrame) -> list[dict]:
    runs, renewals = data["playbook_runs"], data["renewals"]
    closed = runs[runs["outcome"].notna()]
    out = []
    for row in cat.itertuples():
        start = row.introduced_on - pd.DateOffset(months=12)
        end = row.introduced_on + pd.DateOffset(months=12)
        if row.metric == "renewal_rate":
            day, success = renewals["renewal_date"], renewals["outcome"] == "renewed"
        else:
            mine = closed[closed["scenario"] == row.scenario]
            day, success = mine["opened_on"], mine["outcome"] == "success"
        before = (day >= start) & (day < row.introduced_on)
        after = (day >= row.introduced_on) & (day < end)
        out.append({"playbook_id": row.playbook_id, "metric": row.metric,
                    "introduced_on": row.introduced_on.date().isoformat(),
                    "before": _side(success[before]), "after": _side(success[after])})
    return out


def followers(data: dict, cat: pd.DataFrame, threshold: float = 0.8) -> list[dict]:
    runs = data["playbook_runs"].copy()
    runs["adherence"] = run_adherence(runs, data["run_steps"])
    closed = runs[runs["outcome"].notna() & runs["adherence"].notna()]
    out = []
    for pid in cat["playbook_id"]:
        mine = closed[closed["playbook_id"] == pid]
        follower = mine["adherence"] >= threshold
        success = mine["outcome"] == "success"
        f, nf = _side(success[follower]), _side(success[~follower])
        diff = None if f["rate"] is None or nf["rate"] is None else f["rate"] - nf["rate"]
        out.append({"playbook_id": pid, "threshold": threshold, "followers": f,
                    "non_followers": nf, "naive_diff": diff})
    return out


def consistency(data: dict, launch: pd.Timestamp, min_renewals: int = 10) -> dict:
    renewals = data["renewals"].dropna(subset=["csm_id"])
    out = {"metric": "renewal_rate", "launch_date": launch.date().isoformat()}
    windows = {"before": (launch - pd.DateOffset(months=12), launch),
               "after": (launch, launch + pd.DateOffset(months=12))}
    for period, (start, end) in windows.items():
        part = renewals[(renewals["renewal_date"] >= start) & (renewals["renewal_date"] < end)]
        per_csm = part.assign(renewed=part["outcome"] == "renewed") \
            .groupby("csm_id")["renewed"].agg(["sum", "count"])
        per_csm = per_csm[per_csm["count"] >= min_renewals]
        rates = (per_csm["sum"] / per_csm["count"]).to_numpy()
        q1, q3 = np.percentile(rates, [25, 75]) if len(rates) else (np.nan, np.nan)
        out[period] = {"csms": len(rates), "min": _float(rates.min()) if len(rates) else None,
                       "max": _float(rates.max()) if len(rates) else None,
                       "range": _float(rates.max() - rates.min()) if len(rates) else None,
                       "iqr": _float(q3 - q1),
                       "sd": _float(np.std(rates, ddof=1)) if len(rates) > 1 else None}
    b, a = out["before"]["sd"], out["after"]["sd"]
    out["sd_ratio"] = a / b if a is not None and b else None
    return out


def km_median(days: np.ndarray, event: np.ndarray) -> float | None:
    """Kaplan–Meier median: the first time at which survival is <= 0.5 (None if never)."""
    survival = 1.0
    for t in np.unique(days[event]):
        at_risk = (days >= t).sum()
        survival *= 1 - ((days == t) & event).sum() / at_risk
        # A product of fractions that is exactly one half (37 of 74 left) may round above it.
        if survival <= 0.5 + 1e-12:
            return float(t)
    return None


def proficiency(data: dict, launch: pd.Timestamp) -> dict:
    csms = data["csms"]
    last_date = max(data["renewals"]["renewal_date"].max(), data["playbook_runs"]["opened_on"].max())
    ramped = csms["ramped_on"].notna()
    stop = csms["ramped_on"].where(ramped, csms["end_date"].fillna(last_date))
    days = (stop - csms["hire_date"]).dt.days.to_numpy()
    cohort = np.where(csms["hire_date"] < launch, "before", "after")
    cohorts, medians = [], {}
    for name in ("before", "after"):
        mask = cohort == name
        medians[name] = km_median(days[mask], ramped.to_numpy()[mask])
        cohorts.append({"cohort": name, "csms": int(mask.sum()),
                        "ramped": int(ramped.to_numpy()[mask].sum()), "median_days": medians[name]})
    faster = (1 - medians["after"] / medians["before"]
              if medians["before"] and medians["after"] is not None else None)
    return {"launch_date": launch.date().isoformat(), "cohorts": cohorts, "faster_pct": faster}


def versions(data: dict) -> list[dict]:
    closed = data["playbook_runs"].dropna(subset=["playbook_id", "playbook_version", "outcome"])
    out = []
    for (pid, version), part in closed.groupby(["playbook_id", "playbook_version"]):
        out.append({"playbook_id": pid, "version": str(version),
                    **_side(part["outcome"] == "success")})
    return out


def feedback(data: dict) -> list[dict]:
    grouped = data["feedback"].groupby("playbook_id")["rating"]
    return [{"playbook_id": pid, "responses": int(part.size), "mean_rating": _float(part.mean())}
            for pid, part in grouped]


def metrics(folder: str | Path) -> dict:
    """Read the exports in `folder` and compute every compared metric (the whole notebook)."""
    return compute(read_exports(folder))


def compute(data: dict[str, pd.DataFrame]) -> dict:
    """Every compared metric from exports already in memory (the notebook after its reads)."""
    cat = catalogue(data["playbook_runs"])
    launch = cat.loc[cat["defined"], "introduced_on"].min()
    return {
        "usage": usage(data, cat),
        "before_after": before_after(data, cat),
        "followers": followers(data, cat),
        "consistency": consistency(data, launch),
        "proficiency": proficiency(data, launch),
        "versions": versions(data),
        "feedback": feedback(data),
    }


def _side(success: pd.Series) -> dict:
    n, k = int(success.size), int(success.sum())
    return {"n": n, "successes": k, "rate": k / n if n else None}


def _float(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None

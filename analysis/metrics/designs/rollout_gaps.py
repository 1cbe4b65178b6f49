"""What a rollout's difference-in-differences leaves out or reads wrongly, said out loud.

The design (designs.staggered, cells from designs.rollouts) trusts the `rollouts` export: a
group uses the playbook from the month of its rolled_out_on, and not before. Two gaps between
the export and the data the fit reads would otherwise pass in silence:

1. **A group that adds nothing.** Group levels are fitted on untreated months only, so a
   group with no untreated month with decided outcomes has no counterfactual: its treated
   outcomes are not imputed and it is no comparison either. That happens when its rollout is
   dated in or before the month of its first outcome in the data the fit reads, or when its
   only earlier outcomes fall in the `its_exclude_months` months just before the rollout,
   which the design leaves out.
2. **Runs carrying the playbook in the comparison.** Runs whose playbook_id is the playbook,
   in a group the export gives no rollout row for that playbook, or opened before the group's
   rollout. The design reads those group-months as not yet using it, so those runs sit in the
   comparison and lift its rate: when that use changes over time (a team adopting informally,
   a pilot before the official date) the counterfactual carries part of the playbook's effect
   and the estimate is pulled toward zero, or past it when the comparison gains more than the
   rolled-out groups. (Use constant over every month is absorbed by the group's own level.)

Which early runs count. No slack in days is added: a run counts when the fit's own rule
(staggered.event_cells) reads its month as untreated for its group, so a run opened in the
rollout's own month, or in the months just before it that the design leaves out, is not
counted: it is not in the comparison. That is the slack, and it is the design's: a pilot a few
days or weeks ahead of the official date falls in it. Only runs opened in the months the cells
read (rollouts.runs_with_playbook), by the as-of date, in a group that has outcomes in the fit,
are counted; runs whose team or segment is unknown are left out, as their outcomes are.

Neither gap changes the claim here: the first narrows what the estimate covers (the sentence
says whom), the second biases it toward no effect, so a directional claim is, if anything,
understated, and a no_clear_change may hide an effect; the sentence says which.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from analysis.filters import Filters
from analysis.metrics.designs import rollouts, staggered
from analysis.store import Store

ROW_COLUMNS = ["rollout_warnings", "rollout_groups_adding_nothing",
               "rollout_runs_in_comparison"]
NO_ROLLOUT = dict.fromkeys(ROW_COLUMNS)  # the row of a playbook under the time series

# Why a group adds nothing (the `reason` of a SilentGroup).
ROLLED_OUT_FIRST = "rolled_out_before_first_outcome"
EARLIER_LEFT_OUT = "earlier_outcomes_left_out"


@dataclass(frozen=True)
class SilentGroup:
    """A group whose rollout leaves it no untreated month in the fit: `group` as the export
    spells it, `first_outcome_month` 'YYYY-MM' (its first month with decided outcomes in the
    cells), `reason` ROLLED_OUT_FIRST or EARLIER_LEFT_OUT."""
    group: str
    rolled_out_on: date
    first_outcome_month: str
    reason: str

    def as_dict(self) -> dict:
        return {"group": self.group, "rolled_out_on": self.rolled_out_on.isoformat(),
                "first_outcome_month": self.first_outcome_month, "reason": self.reason}


@dataclass(frozen=True)
class ComparisonRuns:
    """Runs carrying the playbook that the design reads as not yet using it, in one group:
    `rolled_out_on` None when the export has no rollout row for the group."""
    group: str
    runs: int
    rolled_out_on: date | None

    def as_dict(self) -> dict:
        return {"group": self.group, "runs": self.runs,
                "rolled_out_on": None if self.rolled_out_on is None
                else self.rolled_out_on.isoformat()}


@dataclass(frozen=True)
class RolloutGaps:
    """Both gaps of one playbook and their sentences (`warnings`, silent groups first)."""
    silent: tuple[SilentGroup, ...] = ()
    carried: tuple[ComparisonRuns, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_row(self) -> dict:
        """The columns (ROW_COLUMNS) a before_after frame carries: the sentences, and each
        gap's groups as JSON-ready dicts."""
        return {"rollout_warnings": self.warnings,
                "rollout_groups_adding_nothing": tuple(g.as_dict() for g in self.silent),
                "rollout_runs_in_comparison": tuple(g.as_dict() for g in self.carried)}


def rollout_gaps(store: Store, filters: Filters | None, windows: pd.DataFrame,
                 cells: pd.DataFrame, as_of: date, pre_months: int, window_months: int,
                 exclude_months: int) -> dict[str, RolloutGaps]:
    """The gaps of every playbook of `windows` (playbook_windows() rows: pass only those the
    design applies to) by playbook_id.

    `cells` are the rollout_cells() the fits were made from, read with the same `as_of`,
    `pre_months` and `window_months`; `exclude_months` is its_exclude_months. Two small
    queries: the rollouts export's rows, and runs carrying these playbooks only.
    """
    if windows.empty:
        return {}
    adoptions = rollouts.rollout_adoptions(store, windows)
    carried = rollouts.runs_with_playbook(store, filters, windows, as_of, pre_months,
                                          window_months)
    return find_gaps(cells, adoptions, carried, exclude_months, window_months,
                     list(windows["playbook_id"]))


def find_gaps(cells: pd.DataFrame, adoptions: pd.DataFrame, carried: pd.DataFrame,
              exclude_months: int, window_months: int,
              playbooks: list[str]) -> dict[str, RolloutGaps]:
    """Both gaps of each of `playbooks`, from rollout_cells(), rollout_adoptions() and
    runs_with_playbook() frames."""
    # Outcomes per group and month are all either gap needs.
    months = cells.groupby(["playbook_id", "group_kind", "group", "month"], as_index=False,
                           sort=False, observed=True).agg(n=("n", "sum"),
                                                          adopted=("adopted", "first"))
    months = months[months["n"] > 0]
    out = {}
    for playbook_id in playbooks:
        own = months[months["playbook_id"] == playbook_id]
        if own.empty:
            out[playbook_id] = RolloutGaps()
            continue
        rolled = adoptions[adoptions["playbook_id"] == playbook_id].set_index("group")
        silent = _silent_groups(own, rolled, exclude_months, window_months)
        comparison = _comparison_runs(own, rolled,
                                      carried[carried["playbook_id"] == playbook_id],
                                      exclude_months, window_months)
        warnings = [_silent_sentence(g, exclude_months) for g in silent]
        if comparison:
            warnings.append(_comparison_sentence(comparison, str(own["group_kind"].iloc[0])))
        out[playbook_id] = RolloutGaps(tuple(silent), tuple(comparison), tuple(warnings))
    return out


def _silent_groups(months: pd.DataFrame, rolled: pd.DataFrame, exclude_months: int,
                   window_months: int) -> list[SilentGroup]:
    """Groups with a rollout and outcomes (`months`: per group and month, n > 0) but no
    untreated month the fit reads."""
    frame = staggered.event_cells(months, exclude_months, window_months)
    untreated = set(frame.loc[~frame["treated"], "group"].unique())
    first = months.groupby("group")["month"].min()
    adopted = months[months["adopted"].notna()].groupby("group")["adopted"].first()
    found = []
    for group, month in adopted.items():
        if group in untreated or group not in rolled.index:
            continue
        reason = ROLLED_OUT_FIRST if first[group] >= month else EARLIER_LEFT_OUT
        found.append(SilentGroup(str(rolled.at[group, "label"]),
                                 rolled.at[group, "rolled_out_on"],
                                 _month_text(int(first[group])), reason))
    return sorted(found, key=lambda g: (g.rolled_out_on, g.group))


def _comparison_runs(months: pd.DataFrame, rolled: pd.DataFrame, carried: pd.DataFrame,
                     exclude_months: int, window_months: int) -> list[ComparisonRuns]:
    """Runs carrying the playbook in group-months the fit reads as untreated, per group with
    outcomes in the fit (`months`), most runs first."""
    adopted = months.groupby("group")["adopted"].first()
    carried = carried[carried["group"].isin(adopted.index)]
    if carried.empty:
        return []
    # The fit's own rule decides which months are the comparison (staggered.event_cells).
    frame = staggered.event_cells(
        carried.assign(n=carried["runs"], adopted=carried["group"].map(adopted)),
        exclude_months, window_months)
    untreated = frame[~frame["treated"]]
    labels = carried.groupby("group")["label"].min()
    found = [ComparisonRuns(str(rolled.at[group, "label"]) if group in rolled.index
                            else str(labels[group]), int(runs),
                            rolled.at[group, "rolled_out_on"] if group in rolled.index else None)
             for group, runs in untreated.groupby("group")["runs"].sum().items() if runs > 0]
    return sorted(found, key=lambda g: (-g.runs, g.group))


def _month_text(month: int) -> str:
    """A month index (year · 12 + month − 1) as 'YYYY-MM'."""
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def _month_name(text: str) -> str:
    """'2023-01' as 'January 2023'."""
    return date.fromisoformat(f"{text}-01").strftime("%B %Y")


def _silent_sentence(group: SilentGroup, exclude_months: int) -> str:
    """Why a group adds nothing, in one sentence."""
    first = _month_name(group.first_outcome_month)
    rolled = f"{group.group} rolled out on {group.rolled_out_on.isoformat()}"
    if group.reason == EARLIER_LEFT_OUT:
        months = "month" if exclude_months == 1 else f"{exclude_months} months"
        return (f"{rolled}, and its only outcomes before then (from {first}) fall in the "
                f"{months} just before the rollout, which the design leaves out: with no "
                "earlier month left to compare it with, it adds nothing to the comparison.")
    when = ("in the month of" if group.first_outcome_month == f"{group.rolled_out_on:%Y-%m}"
            else "before")
    return (f"{rolled}, {when} its first outcome in the data ({first}): with no month before "
            "the rollout to compare it with, it adds nothing to the comparison.")


def _comparison_sentence(groups: list[ComparisonRuns], kind: str) -> str:
    """The runs carrying the playbook that sit in the comparison, per group, in one
    sentence."""
    total = sum(g.runs for g in groups)
    parts = "; ".join(
        f"{g.group}: {g.runs:,}, " + ("which has no rollout row for it" if g.rolled_out_on is None
                                      else f"before its rollout on {g.rolled_out_on.isoformat()}")
        for g in groups)
    runs = "1 run" if total == 1 else f"{total:,} runs"
    owner = "its" if total == 1 else "their"
    kinds = kind if len(groups) == 1 else f"{kind}s"
    sits = "it sits" if total == 1 else "they sit"
    return (f"{runs} carrying the playbook opened while the design reads {owner} {kinds} as "
            f"not yet using it ({parts}): {sits} in the comparison, which pulls the estimated "
            "effect toward zero (or past it).")

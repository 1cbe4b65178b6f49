"""Difference-in-differences for a playbook rolled out group by group (team or segment).

The before/after effect when a `rollouts` export dates each group's adoption (DESIGN.md,
"Effects and claims"). Each group is treated from the month of its `rolled_out_on` on; groups
that have not rolled the playbook out yet in a month, and groups that never did, are that
month's comparison. The estimator is the imputation estimator of Borusyak, Jaravel & Spiess
(2024, "Revisiting event-study designs", Review of Economic Studies 91:3253), linear on the
probability scale:

    y(outcome i of group g in month t) = a_g + l_t + e    fitted on untreated outcomes only

(group levels a_g, month effects l_t: a drift common to every group, of any shape, is
absorbed by l_t, and groups may differ in level). Each treated outcome's counterfactual is
a_g + l_t; the effect is the mean over treated outcomes of y − (a_g + l_t), in points of
probability. Treated outcomes never serve as a comparison (the fault of a naive two-way fixed
effects regression under staggered adoption), so only clean comparisons enter. A treated
month is estimated only where some group is still untreated that month and the group has
untreated months of its own: without a never-adopted group, the last group to adopt is a
comparison only.

It assumes parallel trends: without the playbook every group's rate would have moved by the
same points month to month. As the time series does, it leaves out each group's
`exclude_months` just before its own rollout (a team given the playbook first because its
last quarter went badly would otherwise read its recovery as an effect), and counts treated
months up to `window_months` after each rollout.

Inference. Groups are few (four to six teams), too few to cluster on. Each (group, month)
cell's rate is its true rate plus binomial noise, which the counts fix, plus the group's month
deviation: a shock to a whole team in a month (a reorg, a lost champion at a big account) and,
often, a good or bad stretch that lasts several months. The deviations are modelled as an AR(1)
series per group (variance tau2, lag-1 correlation rho) and fitted by REML on the untreated
cells about the group + month fit (designs.spells: REML accounts for the group levels and
month effects the fit takes, which bias a plain estimate of rho toward zero; Hansen 2007, J
Econometrics 140:670). With spells, the imputation is generalised least squares: a
parameter of its own for each treated cell, the group levels and month effects fitted under
the spells' covariance, so a treated month's counterfactual leans on its group's nearest
untreated months as much as the spells say; with tau2 = 0 it is exactly the imputation
estimator above. The estimate is linear in the cell rates, tau = a·y, and its variance is a's
under each cell's binomial noise (at the pooled rate of the group's treated or untreated
cells) plus the spells' covariance; the reference is t on Satterthwaite's degrees of freedom
for what estimating tau2 and rho costs, never more than the untreated cells' residual ones
(cells − rank of the fit). A saturated fit without spells gives a normal reference.
Before this, the interval was binomial noise times a quasi-binomial scale of the untreated
cells: right for shocks that come month by month, but teams whose months ran in spells drew
8.5% false `improved` (CALIBRATION.md, rollouts_spells); Bertrand, Duflo & Mullainathan
(2004, QJE 119:249) describe the same failure of difference-in-differences at large.
A permutation test over which group got which rollout date was not used: four to six groups
give 24-720 orderings, too coarse for an interval, and it would assume the order of rollout
as good as random. What no interval over so few groups can tell from an effect: a shift in
one group that persists over many months and starts with its rollout. That is a failure of
parallel trends.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.metrics.claims import Effect
from analysis.metrics.designs import spells

METHOD = "difference_in_differences"
CELL_COLUMNS = ["group", "month", "n", "successes", "adopted"]
ROW_COLUMNS = ["rollout_group_kind", "rollout_groups", "rollout_adopted", "rollout_treated",
               "rollout_comparison"]
NO_ROLLOUT = dict.fromkeys(ROW_COLUMNS)  # the row of a playbook under the time series


@dataclass(frozen=True)
class RolloutFit:
    """What the design gives for one playbook: the effect (None when it cannot be estimated),
    why not (one sentence), and the outcomes it rests on.

    treated     decided outcomes in groups that had rolled the playbook out (and were imputed)
    comparison  decided outcomes of untreated group-months the fit reads
    groups      groups with outcomes; adopted: of those, groups with a rollout in the data
    group_kind  what a group is: 'team' or 'segment' (set by the caller)
    """
    effect: Effect | None
    why: str | None = None
    treated: int = 0
    comparison: int = 0
    groups: int = 0
    adopted: int = 0
    group_kind: str | None = None

    @property
    def outcomes(self) -> int:
        """Decided outcomes the effect rests on: the treated and the comparison."""
        return self.treated + self.comparison

    def to_row(self) -> dict:
        """The flat columns (ROW_COLUMNS) a before_after frame carries."""
        return {"rollout_group_kind": self.group_kind, "rollout_groups": self.groups,
                "rollout_adopted": self.adopted, "rollout_treated": self.treated,
                "rollout_comparison": self.comparison}


def did_effect(cells: pd.DataFrame, alpha: float = 0.05, min_outcomes: int = 30,
               exclude_months: int = 0, window_months: int = 12) -> RolloutFit:
    """The mean effect on treated outcomes of a staggered rollout.

    Parameters
    ----------
    cells : DataFrame
        Rows with outcomes, one or more per (group, month) (they are summed): `group` (team
        or segment), `month` (an integer month index, e.g. year · 12 + month), `n` (decided
        outcomes), `successes`, `adopted` (the month index of the group's rollout, NaN for a
        group that never rolled it out). Other columns are ignored.
    alpha : float
        1 − confidence level of the interval.
    min_outcomes : int
        Decided outcomes the treated side and the comparison each need.
    exclude_months : int
        Months just before each group's rollout left out (for the group itself).
    window_months : int
        Treated months counted after each rollout (month 0 … window_months − 1).

    Returns
    -------
    RolloutFit whose effect has method "difference_in_differences", estimate = the mean over
    treated outcomes of the outcome minus its imputed counterfactual (a proportion: 0.12 = 12
    points), its interval and p-value (binomial noise plus the spells the untreated cells
    show, t on Satterthwaite's degrees of freedom); effect None and `why` when the treated
    side or the comparison is too small.
    """
    frame = event_cells(cells, exclude_months, window_months)
    groups = int(frame["group"].nunique())
    adopted = int(frame.loc[frame["adopted"].notna(), "group"].nunique())
    table = _group_months(frame)
    fit = _untreated_fit(table)
    table["imputed"] = table["treated"] & (fit.estimable(table) if fit else False)
    treated = int(table.loc[table["imputed"], "n"].sum())
    comparison = int(table.loc[~table["treated"], "n"].sum())
    counts = dict(treated=treated, comparison=comparison, groups=groups, adopted=adopted)
    if min(treated, comparison) < min_outcomes:
        return RolloutFit(None, f"{treated} decided outcomes after a rollout that the groups "
                                f"not yet rolled out can be compared with, and {comparison} in "
                                f"those groups; the comparison needs {min_outcomes} on each "
                                "side", **counts)
    estimate, se, df, floor = _estimate(table, fit)
    return RolloutFit(_effect(estimate, se, df, alpha, floor), **counts)


def event_cells(cells: pd.DataFrame, exclude_months: int, window_months: int) -> pd.DataFrame:
    """Cells with `event` (months since the group's rollout, NaN: never) and `treated`, the
    months just before a rollout and those past the window left out."""
    frame = cells[cells["n"] > 0].copy()
    frame["event"] = frame["month"] - frame["adopted"].astype(float)
    dip = frame["event"].between(-exclude_months, -1) if exclude_months > 0 else False
    late = frame["event"] >= window_months
    frame = frame[~(dip | late)].copy()
    frame["treated"] = (frame["event"] >= 0).fillna(False).astype(bool)
    return frame.reset_index(drop=True)


def _group_months(frame: pd.DataFrame) -> pd.DataFrame:
    """Outcomes per (group, month) with `treated` and `adopted`."""
    return frame.groupby(["group", "month"], as_index=False, sort=True).agg(
        n=("n", "sum"), successes=("successes", "sum"), treated=("treated", "first"),
        adopted=("adopted", "first"))


@dataclass(frozen=True)
class _Fit:
    """The group + month design of the untreated cells: which cells it can impute, its rank."""
    groups: dict
    months: dict
    gram: np.ndarray  # X0' W X0
    pinv: np.ndarray  # its generalised inverse
    rank: int  # the parameters the untreated cells identify

    def estimable(self, table: pd.DataFrame) -> np.ndarray:
        """Per cell, whether a + l is estimable there: its group has untreated months, its
        month an untreated group, and the two are linked through the untreated cells."""
        known = (table["group"].isin(list(self.groups))
                 & table["month"].isin(list(self.months))).to_numpy()
        out = np.zeros(len(table), dtype=bool)
        if known.any():
            x = _design(table[known], self.groups, self.months)
            out[known] = np.all(np.abs(x @ self.pinv @ self.gram - x) < 1e-8, axis=1)
        return out


def _design(table: pd.DataFrame, groups: dict, months: dict) -> np.ndarray:
    """Indicator columns: one per group, one per month but the first (the groups carry the
    level)."""
    x = np.zeros((len(table), len(groups) + len(months) - 1))
    x[np.arange(len(table)), table["group"].map(groups).to_numpy(int)] = 1.0
    m = table["month"].map(months).to_numpy(int)
    later = m > 0
    x[np.flatnonzero(later), len(groups) + m[later] - 1] = 1.0
    return x


def _untreated_fit(table: pd.DataFrame) -> _Fit | None:
    untreated = table[~table["treated"]]
    if untreated.empty:
        return None
    groups = {g: i for i, g in enumerate(sorted(untreated["group"].unique()))}
    months = {m: i for i, m in enumerate(sorted(untreated["month"].unique()))}
    x0 = _design(untreated, groups, months)
    w = untreated["n"].to_numpy(float)
    gram = (x0.T * w) @ x0
    pinv = np.linalg.pinv(gram)
    return _Fit(groups, months, gram, pinv, int(np.linalg.matrix_rank(gram)))


def _estimate(table: pd.DataFrame, fit: _Fit) -> tuple[float, float, float | None, float]:
    """(estimate, standard error, degrees of freedom: None for a normal reference, the part
    of the variance the spells make: more outcomes in the same months would not shrink it)."""
    cells = table[~table["treated"] | table["imputed"]].reset_index(drop=True)
    x = _design(cells, fit.groups, fit.months)
    imputed = cells["imputed"].to_numpy()
    n = cells["n"].to_numpy(float)
    rate = _pooled_rate(cells).to_numpy(float)
    noise = rate * (1 - rate) / n  # binomial variance of each cell's rate
    months = cells["month"].to_numpy(float)
    groups = cells["group"].astype(str).to_numpy()
    y = cells["successes"].to_numpy(float) / n
    untreated = ~imputed
    found = spells.fit(y[untreated], x[untreated], noise[untreated], months[untreated],
                       groups[untreated])
    # The weights' working variance: binomial at one overall rate, so without spells every
    # outcome weighs the same (the imputation estimator's weights, whatever a group's rate).
    working = float(np.average(rate, weights=n))
    working = working * (1 - working) / n

    def weights(fitted: spells.Spells) -> np.ndarray:
        return _weights(x, imputed, n, working, months, groups, fitted)

    def variance(fitted: spells.Spells) -> float:
        a = weights(fitted)
        return float((a ** 2 * noise).sum()) + fitted.quadratic(a, months, groups)

    a = weights(found)
    df = len(y[untreated]) - fit.rank
    satterthwaite = spells.satterthwaite(y[untreated], x[untreated], noise[untreated],
                                         months[untreated], groups[untreated], found, variance)
    if satterthwaite is not None:
        df = max(min(df, satterthwaite) if df >= 1 else satterthwaite, 1.0)
    floor = found.quadratic(a, months, groups)
    return (float(a @ y), float(np.sqrt(float((a ** 2 * noise).sum()) + floor)),
            (df if df >= 1 else None), floor)


def _weights(x, imputed, n, working, months, groups, fitted) -> np.ndarray:
    """a with tau = a · (cell rates): generalised least squares under diag(working) + spells,
    with a parameter of its own for each treated cell, tau the n-weighted mean of those
    parameters.

    Computed without the treated cells' columns: their parameters are y_T − X_T b − K r_U,
    b the GLS fit of the untreated cells (covariance V_UU), r_U its residuals and
    K = V_TU V_UU⁻¹ the spells' prediction, from those residuals, of the treated cells' own
    month deviations (the same equations with a column per treated cell give the same
    parameters; tests/test_staggered.py checks it against statsmodels). With tau2 = 0,
    K = 0 and this is the imputation estimator.
    """
    treated, untreated = imputed, ~imputed
    w = n[treated] / n[treated].sum()
    factor = spells.Factor(working[untreated], months[untreated], groups[untreated], fitted)
    xu = factor.whiten(x[untreated])
    cross = fitted.cross(months[treated], groups[treated], months[untreated], groups[untreated])
    kw = factor.unwhiten_t(factor.whiten(cross.T @ w))  # K'w
    wm = w @ x[treated] - kw @ x[untreated]  # w'(X_T − K X_U)
    a = np.empty(len(n))
    a[treated] = w
    a[untreated] = -kw - factor.unwhiten_t(xu @ (np.linalg.pinv(xu.T @ xu) @ wm))
    return a


def _pooled_rate(cells: pd.DataFrame) -> pd.Series:
    """Per cell, the success rate of its group's treated or untreated cells pooled: the rate
    its binomial variance is taken at (a single month's fitted rate can be 0 or 1)."""
    key = [cells["group"], cells["imputed"]]
    rate = (cells.groupby(key)["successes"].transform("sum")
            / cells.groupby(key)["n"].transform("sum"))
    return rate.clip(0.01, 0.99)


def _effect(estimate: float, se: float, df: float | None, alpha: float,
            floor: float = 0.0) -> Effect:
    reference = sps.norm if df is None else sps.t(df)
    q = float(reference.ppf(1 - alpha / 2))
    p_value = float(2 * reference.sf(abs(estimate) / se)) if se > 0 else 1.0
    # The reference rides on the effect, so its standard error can be read back from the
    # interval (stats.design_more_needed) whichever variance gave it.
    return Effect(METHOD, estimate, estimate - q * se, estimate + q * se, p_value,
                  df=math.inf if df is None else float(df), floor_variance=floor)

"""Followers versus non-followers as a landmark comparison (the followers effect).

Adherence measured over a whole run is read after the outcome: a run heading for failure is
abandoned part-way, its later steps never done, so "followers did better" follows even when
following does nothing (reverse causation). When steps carry dates, the landmark design reads
adherence before the outcome can shape it (Anderson, Cain & Gelber 1983):

- landmark day L (setting landmark_days): only runs still open L days after they opened, and
  with at least one step due by then, are compared;
- adherence at L = steps due by day L that were completed by day L, over steps due by day L;
  a follower has adherence at L >= follower_threshold;
- the outcome comes after L. Confounding is adjusted twice over: stabilised inverse-propensity
  weights on health_at_open, log ARR at open and segment (runs outside [trim, 1 − trim]
  trimmed), and a weighted linear probability model with the same covariates and a fixed
  effect per CSM; the interval is cluster-robust by CSM (a leave-one-CSM-out jackknife) with
  t(G − 1) critical values.
  The size rules (min_runs_adjusted, min_group_adjusted, MIN_CSMS) are applied to the runs
  left AFTER trimming.

Without step dates the follower comparison can only be an association: its claim is
ASSOCIATION_ONLY, never FOLLOWERS_BETTER or FOLLOWERS_WORSE.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as sps_t

from analysis.filters import Filters
from analysis.metrics import followers as _followers  # module: followers imports this lazily
from analysis.metrics import stats
from analysis.metrics.claims import Claim, Effect
from analysis.scope import scoped
from analysis.store import Store

METHOD = "landmark_ipw_cluster"
# Fewer CSMs than this and a cluster-robust variance (G − 1 degrees of freedom) is no guide.
MIN_CSMS = 5

COLUMNS = ["playbook_id", "csm_id", "success", "health_at_open", "arr_at_open", "segment",
           "due_by_landmark", "done_by_landmark", "open_at_landmark", "dated_steps",
           "completed_dates"]


@dataclass(frozen=True)
class LandmarkResult:
    """One playbook's follower effect and claim, with what the landmark sample held.

    `missing`: runs the design is short of, what a not_enough_data claim on it reports (the
    shortfall of the size rules after trimming, else what the effect needs for 80% power at
    min_detectable_lift, stats.design_more_needed); None when no count of runs can say it
    (too few CSMs, an outcome that never varies, a fit that fails, an association).
    """
    effect: Effect
    claim: Claim
    landmark_days: int | None
    runs: int = 0              # closed runs still open at L with a step due by L
    followers: int = 0         # of them, after trimming
    non_followers: int = 0
    csms: int = 0
    trimmed: int = 0
    missing: int | None = None

    def to_json(self) -> dict:
        return {"landmark_days": self.landmark_days, "runs": self.runs,
                "followers": self.followers, "non_followers": self.non_followers,
                "csms": self.csms, "trimmed": self.trimmed}


def landmark_runs(store: Store, filters: Filters | None, landmark_days: int) -> pd.DataFrame:
    """Closed runs with a playbook and their step counts at the landmark day L
    (`landmark_days`, the setting).

    Returns
    -------
    DataFrame with playbook_id, csm_id, success (0/1), health_at_open, arr_at_open, segment,
    due_by_landmark (steps due on or before opened_on + L), done_by_landmark (of those,
    completed on or before opened_on + L), open_at_landmark (closed_on after opened_on + L;
    False when closed_on is unknown), dated_steps (steps with a due_on), completed_dates
    (steps with a completed_on).
    """
    days = int(landmark_days)
    runs_sql, params = scoped("closed_runs", filters)
    only = ""
    if filters is not None and filters.playbook_id is not None:
        only, params = "AND q.playbook_id = ?", [*params, filters.playbook_id]
    return store.query(f"""
        with runs as (
            select q.run_id, q.playbook_id, q.csm_id, q.account_id, q.succeeded,
                   q.health_at_open, q.arr_at_open,
                   q.opened_on + to_days(cast(? as integer)) as landmark_on,
                   q.closed_on
            from {runs_sql} q
            where q.playbook_id is not null {only}
        ),
        steps as (
            select s.run_id,
                   count(s.due_on) as dated_steps, count(s.completed_on) as completed_dates,
                   count(*) filter (where s.due_on <= r.landmark_on) as due_by_landmark,
                   count(*) filter (where s.due_on <= r.landmark_on
                                      and s.completed_on <= r.landmark_on) as done_by_landmark
            from run_steps s join runs r using (run_id)
            group by s.run_id
        ),
        final as (
            select r.playbook_id, r.csm_id, cast(r.succeeded as integer) as success,
                   cast(r.health_at_open as double) as health_at_open,
                   cast(r.arr_at_open as double) as arr_at_open, a.segment,
                   coalesce(s.due_by_landmark, 0) as due_by_landmark,
                   coalesce(s.done_by_landmark, 0) as done_by_landmark,
                   coalesce(r.closed_on > r.landmark_on, false) as open_at_landmark,
                   coalesce(s.dated_steps, 0) as dated_steps,
                   coalesce(s.completed_dates, 0) as completed_dates
            from runs r left join steps s using (run_id)
            left join accounts a using (account_id)
        )
        select * from final
    """, [days, *params])


def _cluster_codes(csm: pd.Series) -> np.ndarray:
    # Runs without a CSM form one cluster of their own.
    return pd.factorize(csm.fillna("\x00unknown"))[0]


def landmark_effect(runs: pd.DataFrame, *, threshold: float, landmark_days: int, trim,
                    alpha: float, lift: float, min_runs: int, min_group: int
                    ) -> LandmarkResult:
    """The landmark follower effect of one playbook's `landmark_runs` rows.

    Parameters
    ----------
    threshold, landmark_days, trim, alpha : the settings follower_threshold, landmark_days,
        propensity_trim and alpha.
    lift : the change the interval must rule out for no_clear_change (min_detectable_lift).
    min_runs, min_group : runs, and followers and non-followers each, needed after trimming
        (min_runs_adjusted, min_group_adjusted).

    Returns
    -------
    LandmarkResult: effect (followers − non-followers success, a fraction, with a
    cluster-robust interval and p-value) and claim: FOLLOWERS_BETTER / FOLLOWERS_WORSE when
    the interval excludes 0, NOT_ENOUGH_DATA when the size rules fail after trimming or the
    interval cannot rule out a `min_detectable_lift` effect, else NO_CLEAR_CHANGE; `missing`
    the runs short of the size rules, or of 80% power for the effect (over the runs kept).
    """
    days = int(landmark_days)
    sample = runs[runs["open_at_landmark"].astype(bool) & (runs["due_by_landmark"] > 0)]
    none = LandmarkResult(Effect(METHOD), Claim.NOT_ENOUGH_DATA, days, len(sample))
    if sample.empty:
        return none
    adherence = sample["done_by_landmark"].to_numpy(float) / sample["due_by_landmark"]
    arrays = _followers._arrays_of(pd.DataFrame({
        "playbook_id": sample["playbook_id"], "success": sample["success"],
        "adherence": adherence, "follower": adherence >= threshold,
        "health_at_open": sample["health_at_open"], "arr_at_open": sample["arr_at_open"],
        "segment": sample["segment"]}))
    cov = _followers._covariates(arrays)
    complete = ~np.isnan(cov.balance).any(axis=1) if cov.names else np.ones(len(arrays), bool)
    t, y = arrays.follower[complete], arrays.success[complete].astype(float)
    x = cov.model[complete] if cov.names else np.empty((int(complete.sum()), 0))
    clusters = _cluster_codes(sample["csm_id"].reset_index(drop=True)[complete])
    keep, weights = _weights(t, x, trim)
    t, y, x, clusters, weights = t[keep], y[keep], x[keep], clusters[keep], weights[keep]
    clusters = pd.factorize(clusters)[0]
    counts = dict(runs=len(sample), followers=int(t.sum()), non_followers=int((~t).sum()),
                  csms=int(clusters.max() + 1) if len(clusters) else 0,
                  trimmed=int(len(sample) - keep.sum()))
    # Runs short of the size rules: the total, and each group (a run added to a short group
    # counts towards the total too). Fewer CSMs or an outcome that never varies: no count of
    # runs says what is missing.
    short = max(stats.shortfall([len(t)], min_runs),
                stats.shortfall([counts["followers"], counts["non_followers"]], min_group))
    unsizable = counts["csms"] < MIN_CSMS or len(np.unique(y)) < 2
    if short or unsizable:
        return LandmarkResult(Effect(METHOD), Claim.NOT_ENOUGH_DATA, days, **counts,
                              missing=None if unsizable else short)
    fit = _fit(y, t, x, clusters, weights)
    if fit is None:
        return LandmarkResult(Effect(METHOD), Claim.NOT_ENOUGH_DATA, days, **counts)
    estimate, se, df = fit
    crit = float(sps_t.ppf(1 - alpha / 2, df))
    low, high = estimate - crit * se, estimate + crit * se
    p = float(2 * sps_t.sf(abs(estimate) / se, df))
    effect = Effect(METHOD, _finite(estimate), _finite(low), _finite(high), _finite(p),
                    df=float(df))
    missing = stats.design_more_needed(effect.ci_low, effect.ci_high, effect.df, len(t),
                                       alpha=alpha, lift=lift)
    return LandmarkResult(effect, _claim(low, high, lift), days, **counts, missing=missing)


def _claim(low: float, high: float, lift: float) -> Claim:
    if low > 0:
        return Claim.FOLLOWERS_BETTER
    if high < 0:
        return Claim.FOLLOWERS_WORSE
    if low < -lift or high > lift:
        return Claim.NOT_ENOUGH_DATA
    return Claim.NO_CLEAR_CHANGE


def _weights(t: np.ndarray, x: np.ndarray, trim) -> tuple[np.ndarray, np.ndarray]:
    """(rows kept inside the overlap region, stabilised inverse-propensity weights of all rows).

    Without covariates, or when the propensity model cannot be fitted, every row is kept
    with weight 1 (the CSM fixed effects still adjust)."""
    ones = np.ones(len(t))
    if x.shape[1] == 0 or t.all() or not t.any():
        return ones.astype(bool), ones
    fit = _followers.logit_fit(t, np.column_stack([ones, x]))
    if fit is None:
        return ones.astype(bool), ones
    e = fit[1]
    low, high = _followers.trim_bounds(e, trim)
    keep = (e >= low) & (e <= high)
    share = t[keep].mean() if keep.any() else 0.5
    return keep, np.where(t, share / e, (1 - share) / (1 - e))


def _fit(y, t, x, clusters, weights) -> tuple[float, float, int] | None:
    """WLS of y on follower, covariates and a dummy per CSM, with a leave-one-CSM-out
    jackknife variance: (estimate, standard error, degrees of freedom G − 1), or None when it
    cannot be fitted.

    The CSM dummies are absorbed by weighted within-CSM demeaning (Frisch–Waugh–Lovell), so
    the fit is one small solve, and dropping a CSM leaves the other CSMs' demeaned rows as
    they were: each leave-one-out fit subtracts that CSM's cross-products. The jackknife
    (CR3: (G − 1)/G · Σ_g (β₋g − β)², MacKinnon & White 1985; Bell & McCaffrey 2002) is used
    because the usual cluster sandwich (statsmodels' cov_type="cluster") runs about 10% short
    with 20 CSMs: 8% false claims at a nominal 5% in bench/calibrate's followers_abandon.
    """
    groups = int(clusters.max() + 1)
    if groups < 2:
        return None
    regressors = np.column_stack([t.astype(float), x])
    sums = np.bincount(clusters, weights=weights, minlength=groups)

    def within(values):
        means = np.stack([np.bincount(clusters, weights=weights * v, minlength=groups)
                          for v in values.T], axis=1) / sums[:, None]
        return values - means[clusters]
    xd, yd = within(regressors), within(y[:, None])[:, 0]
    # A covariate constant within every CSM (books split by segment) is absorbed by the CSM
    # effects: leave it out rather than fail on a singular matrix.
    varies = np.r_[True, xd[:, 1:].std(axis=0) > 1e-9]
    xd = xd[:, varies]
    xw = xd * weights[:, None]
    k = xd.shape[1]
    # Per-CSM cross-products X'WX and X'Wy, one (k, k) and one (k,) per CSM.
    xx = np.zeros((groups, k, k))
    np.add.at(xx, clusters, xw[:, :, None] * xd[:, None, :])
    xy = np.zeros((groups, k))
    np.add.at(xy, clusters, xw * yd[:, None])
    try:
        beta = np.linalg.solve(xx.sum(axis=0), xy.sum(axis=0))
        loo = np.linalg.solve(xx.sum(axis=0)[None] - xx, (xy.sum(axis=0)[None] - xy)[..., None])
    except np.linalg.LinAlgError:
        return None
    spread = loo[:, 0, 0] - beta[0]
    se = math.sqrt((groups - 1) / groups * float((spread ** 2).sum()))
    if not (math.isfinite(se) and se > 0 and np.isfinite(beta[0])):
        return None
    return float(beta[0]), se, groups - 1


def association_effect(adjusted_diff, ci_low, ci_high, p_value, groups_filled: bool
                       ) -> LandmarkResult:
    """Without step dates: the existing (adjusted, else naive) difference, labelled an
    association; NOT_ENOUGH_DATA when either group is empty."""
    claim = Claim.ASSOCIATION_ONLY if groups_filled else Claim.NOT_ENOUGH_DATA
    return LandmarkResult(Effect("association", _finite(adjusted_diff), _finite(ci_low),
                                 _finite(ci_high), _finite(p_value)), claim, None)


def _finite(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None



def landmark_settings(settings) -> dict:
    """`landmark_effect`'s keyword arguments but the threshold, from a request's settings."""
    return {"landmark_days": settings.landmark_days, "trim": settings.propensity_trim,
            "alpha": settings.alpha, "lift": settings.min_detectable_lift,
            "min_runs": settings.min_runs_adjusted, "min_group": settings.min_group_adjusted}


def has_step_dates(runs: pd.DataFrame) -> bool:
    """True when the runs' steps carry both due dates and completion dates."""
    return bool(len(runs) and runs["dated_steps"].sum() > 0 and runs["completed_dates"].sum() > 0)


def followers_designs(store: Store, filters: Filters | None, frame: pd.DataFrame,
                      settings) -> dict[str, LandmarkResult]:
    """The effect and claim of each playbook row of `followers.followers_effect` (`frame`):
    the landmark design when its runs' steps carry dates, else an association. `settings`
    are the request's (landmark_days, propensity_trim, alpha and the size rules)."""
    runs = landmark_runs(store, filters, settings.landmark_days)
    by_playbook = dict(tuple(runs.groupby("playbook_id"))) if len(runs) else {}
    out = {}
    for row in frame.to_dict("records"):
        mine = by_playbook.get(row["playbook_id"])
        if mine is not None and has_step_dates(mine):
            out[row["playbook_id"]] = landmark_effect(
                mine, threshold=row["threshold"], **landmark_settings(settings))
            continue
        adjusted = row["adjusted_diff"] is not None
        out[row["playbook_id"]] = association_effect(
            row["adjusted_diff"] if adjusted else row["naive_diff"],
            row["adjusted_ci_low"] if adjusted else row["naive_ci_low"],
            row["adjusted_ci_high"] if adjusted else row["naive_ci_high"],
            row["p_value"], bool(row["followers_n"] and row["non_followers_n"]))
    return out

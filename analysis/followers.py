"""Followers versus non-followers: does following a playbook closely go with better outcomes?

Closed runs of each playbook with a known adherence (steps_completed / steps_total, else done
steps over all steps in run_steps; runs without steps are left out). A follower is a run with
adherence >= follower_threshold. The naive difference of success rates is confounded (healthier,
larger accounts are both followed more and saved more), so an adjusted difference is estimated
from covariates known when the run opened (health_at_open, log ARR at open, segment):

- "ipw": a logistic propensity model P(follower | covariates), runs outside the overlap region
  trimmed (setting propensity_trim), stabilised inverse-probability weights, and weighted least
  squares of success on follower with HC1 robust standard errors. The interval ignores the
  uncertainty of the estimated propensities, which for this estimator errs on the wide side
  (Hirano, Imbens & Ridder 2003).
- "stratified": with few runs (or when the model fails), a Mantel–Haenszel weighted
  difference across quintiles of health_at_open (of log ARR without health; segments without
  either), Greenland & Robins (1985) variance.
- "naive": no usable covariates, no stratum holding both groups, or an outcome that never
  varies (nothing to adjust, and no variance to build an interval from); no adjusted figure.

The period filter applies to opened_on; segment and team filters apply as everywhere.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats as sps
from statsmodels.tools.sm_exceptions import PerfectSeparationError

from analysis import settings, stats
from analysis.before_after import percent, points
from analysis.catalog import playbook_catalog
from analysis.filters import Filters
from analysis.scope import scoped
from analysis.store import Store

GROUPS = ("followers", "non_followers")
COLUMNS = [
    "playbook_id", "threshold", "runs",
    *(f"{g}_{c}" for g in GROUPS for c in ("n", "successes", "rate", "ci_low", "ci_high")),
    "naive_diff", "naive_ci_low", "naive_ci_high", "naive_p_value",
    "adjusted_diff", "adjusted_ci_low", "adjusted_ci_high", "p_value",
    "method", "covariates", "runs_adjusted", "trimmed", "max_smd_before", "max_smd_after",
    "verdict",
]
BALANCE_COLUMNS = ["covariate", "smd_before", "smd_after"]
_LABELS = {"health_at_open": "health", "log_arr_at_open": "ARR", "segment": "segment"}


# -- data -------------------------------------------------------------------------------------
def closed_runs(store: Store, filters: Filters | None = None,
                threshold: float | None = None) -> pd.DataFrame:
    """Closed runs with a playbook and a known adherence, one row per run, in no set order.

    Returns
    -------
    DataFrame with playbook_id, success (0/1), adherence (0–1), follower (bool: adherence >=
    threshold), health_at_open, arr_at_open, segment (None where unknown).
    """
    threshold = settings.default("follower_threshold") if threshold is None else threshold
    runs_sql, params = scoped("playbook_runs", filters)
    only = ""
    if filters is not None and filters.playbook_id is not None:
        only = "AND q.playbook_id = ?"
        params = [*params, filters.playbook_id]
    # The model needs one row per run, so this returns runs rather than aggregates; it keeps
    # only the columns the estimate uses.
    sql = f"""
        WITH runs AS (
            SELECT q.run_id, q.playbook_id, q.account_id, q.outcome, q.steps_total,
                   q.steps_completed, q.health_at_open, q.arr_at_open
            FROM {runs_sql} q
            WHERE q.playbook_id IS NOT NULL AND q.outcome IN ('success', 'failure')
              AND coalesce(q.status, 'closed') = 'closed' {only}
        ),
        steps AS (
            -- Step rows are only read for runs without usable counts of their own (the
            -- counts win below): aggregating every run's steps cost more than half the query.
            SELECT s.run_id, count(*) AS steps, count(*) FILTER (WHERE s.status = 'done') AS done
            FROM run_steps s
            WHERE s.run_id IN (SELECT run_id FROM runs
                               WHERE NOT (steps_total > 0 AND steps_completed IS NOT NULL))
            GROUP BY s.run_id
        ),
        final AS (
            SELECT runs.playbook_id,
                   CAST(runs.outcome = 'success' AS INTEGER) AS success,
                   coalesce(
                       CASE WHEN runs.steps_total > 0 AND runs.steps_completed IS NOT NULL
                            THEN CAST(runs.steps_completed AS DOUBLE) / runs.steps_total END,
                       CAST(steps.done AS DOUBLE) / steps.steps) AS adherence,
                   runs.health_at_open, runs.arr_at_open, a.segment
            FROM runs
            LEFT JOIN steps USING (run_id)
            LEFT JOIN accounts a USING (account_id)
        )
        SELECT * FROM final WHERE adherence IS NOT NULL
    """
    # No ORDER BY: callers group by playbook_id, and sorting ~400k rows per 1M runs by a
    # text key bought nothing (DuckDB's order within a playbook was never fixed anyway).
    runs = store.query(sql, params)
    runs["follower"] = runs["adherence"] >= threshold
    return runs


def _varies(values: pd.Series) -> bool:
    """More than one distinct non-missing number (nunique() > 1 without hashing every value)."""
    return bool(values.max() > values.min())


def _covariates(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Covariates for the propensity model and for the balance table.

    Returns (model, balance): `model` has health_at_open, log_arr_at_open and segment dummies
    without the first level; `balance` has every segment level. A covariate is used when at
    least half the runs have it and it varies; rows missing a used covariate hold NaN.
    """
    cols: dict[str, pd.Series] = {}
    health = pd.to_numeric(runs["health_at_open"], errors="coerce").astype(float)
    if health.notna().mean() >= 0.5 and _varies(health):
        cols["health_at_open"] = health
    arr = pd.to_numeric(runs["arr_at_open"], errors="coerce").astype(float)
    if arr.notna().mean() >= 0.5 and _varies(arr):
        # ARR is heavily skewed; log1p keeps a zero-ARR account finite.
        cols["log_arr_at_open"] = np.log1p(arr.clip(lower=0))
    numeric = pd.DataFrame(cols, index=runs.index)
    segment = runs["segment"]
    if not isinstance(segment.dtype, pd.CategoricalDtype):
        segment = segment.astype(object).where(segment.notna(), None).astype("category")
    # Categorical: dummies without re-hashing every label, and only for levels present here.
    segment = segment.cat.remove_unused_categories()
    dummies = pd.DataFrame(index=runs.index)
    if segment.notna().mean() >= 0.5 and segment.nunique() > 1:
        dummies = pd.get_dummies(segment, prefix="segment", prefix_sep=": ", dtype=float)
        dummies = dummies.where(segment.notna())
    balance = pd.concat([numeric, dummies], axis=1)
    model = pd.concat([numeric, dummies.iloc[:, 1:]], axis=1)
    return model, balance


# -- estimators -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Adjusted:
    """An adjusted follower effect: method, estimate, interval, and what it used."""
    method: str
    diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    runs_used: int = 0
    trimmed: int = 0
    covariates: tuple[str, ...] = ()
    balance: pd.DataFrame | None = None


def _finite(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def smd(x: pd.DataFrame, treated: np.ndarray, weights: np.ndarray | None = None,
        scale: pd.Series | None = None) -> pd.Series:
    """Standardised mean difference of each column, followers minus non-followers.

    The denominator is sqrt((var_followers + var_non_followers) / 2) of the unweighted sample
    (or `scale`), so weighting changes only the numerator and before/after figures compare.
    """
    t = np.asarray(treated, dtype=bool)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    values = x.to_numpy(dtype=float)
    mean_t = np.average(values[t], axis=0, weights=w[t])
    mean_c = np.average(values[~t], axis=0, weights=w[~t])
    if scale is None:
        scale = pooled_sd(x, t)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (mean_t - mean_c) / scale.to_numpy()
    return pd.Series(np.where(np.isfinite(out), out, 0.0), index=x.columns)


def pooled_sd(x: pd.DataFrame, treated: np.ndarray) -> pd.Series:
    """sqrt((var_followers + var_non_followers) / 2) of each column, unweighted."""
    t = np.asarray(treated, dtype=bool)
    return np.sqrt((x[t].var(ddof=1) + x[~t].var(ddof=1)) / 2)


def trim_bounds(propensity: np.ndarray, trim=None) -> tuple[float, float]:
    """The overlap region [low, high] of propensities that are kept.

    A number t gives [t, 1 − t]; "crump" gives Crump, Hotz, Imbens & Mitnik (2009): the
    smallest alpha with 1/(alpha(1 − alpha)) <= 2 E[1/(e(1 − e)) | that bound], [alpha, 1 − alpha].
    """
    trim = settings.default("propensity_trim") if trim is None else trim
    if isinstance(trim, str):
        if trim.strip().lower() != "crump":
            raise ValueError(f"propensity_trim must be a number or 'crump', got {trim!r}")
        e = np.clip(propensity, 1e-12, 1 - 1e-12)
        g = np.sort(1 / (e * (1 - e)))
        if g[-1] <= 2 * g.mean():
            return 0.0, 1.0
        # Largest bound gamma = g_k still below twice the mean of g up to it.
        ok = g <= 2 * np.cumsum(g) / np.arange(1, len(g) + 1)
        gamma = g[np.nonzero(ok)[0].max()]
        alpha = 0.5 - math.sqrt(max(0.25 - 1 / gamma, 0.0))
        return alpha, 1 - alpha
    trim = float(trim)
    if not 0 <= trim < 0.5:
        raise ValueError(f"propensity_trim must lie in [0, 0.5), got {trim}")
    return trim, 1 - trim


def ipw_effect(y: np.ndarray, t: np.ndarray, x_model: pd.DataFrame, x_balance: pd.DataFrame,
               trim=None, alpha: float | None = None) -> Adjusted | None:
    """Propensity-weighted difference in success, or None when the model cannot be fitted or
    trimming leaves a group empty."""
    alpha = settings.default("alpha") if alpha is None else alpha
    exog = sm.add_constant(x_model.to_numpy(dtype=float), has_constant="add")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.Logit(t.astype(float), exog).fit(disp=0, maxiter=200)
    except (PerfectSeparationError, np.linalg.LinAlgError, ValueError):
        return None
    if not fit.mle_retvals.get("converged", False):
        return None
    e = fit.predict(exog)
    low, high = trim_bounds(e, trim)
    keep = (e >= low) & (e <= high)
    tk, yk, ek = t[keep], y[keep], e[keep]
    if tk.all() or not tk.any():
        return None
    # Stabilised weights: the share of each group over its propensity, so weights average ~1.
    share = tk.mean()
    w = np.where(tk, share / ek, (1 - share) / (1 - ek))
    wls = sm.WLS(yk.astype(float), sm.add_constant(tk.astype(float), has_constant="add"),
                 weights=w).fit(cov_type="HC1")
    if not wls.bse[1] > 0:  # outcomes constant within each group: no interval to report
        return None
    ci = wls.conf_int(alpha)[1]
    scale = pooled_sd(x_balance, t)
    balance = pd.DataFrame({
        "covariate": x_balance.columns,
        "smd_before": smd(x_balance, t, scale=scale).to_numpy(),
        "smd_after": smd(x_balance[keep], tk, w, scale=scale).to_numpy(),
    })
    return Adjusted("ipw", _finite(wls.params[1]), _finite(ci[0]), _finite(ci[1]),
                    _finite(wls.pvalues[1]), int(keep.sum()), int((~keep).sum()),
                    balance=balance)


def stratified_effect(y: np.ndarray, t: np.ndarray, strata: pd.DataFrame,
                      x_balance: pd.DataFrame, alpha: float | None = None) -> Adjusted | None:
    """Mantel–Haenszel risk difference across strata holding both groups; None when those
    strata hold fewer than `small_cell` runs of either group or the variance is zero.

    Weights n1·n0/N per stratum; variance of Greenland & Robins (1985), eq. for non-sparse data.
    """
    alpha = settings.default("alpha") if alpha is None else alpha
    key = pd.Series("", index=strata.index)
    for col in strata:
        key = key + "|" + strata[col].astype(str)
    cells = pd.DataFrame({"key": key, "t": t, "y": y, "ty": t * y, "cy": (1 - t) * y})
    g = cells.groupby("key").agg(n=("t", "size"), n1=("t", "sum"), a=("ty", "sum"),
                                 c=("cy", "sum"))
    g["n0"] = g["n"] - g["n1"]
    g = g[(g["n1"] > 0) & (g["n0"] > 0)].astype(float)
    # A handful of runs on one side makes the large-sample variance meaningless.
    if g.empty or min(g["n1"].sum(), g["n0"].sum()) < settings.default("small_cell"):
        return None
    b, d = g["n1"] - g["a"], g["n0"] - g["c"]
    w = g["n1"] * g["n0"] / g["n"]
    diff = float((w * (g["a"] / g["n1"] - g["c"] / g["n0"])).sum() / w.sum())
    var = float(((g["a"] * b * g["n0"] ** 3 + g["c"] * d * g["n1"] ** 3)
                 / (g["n1"] * g["n0"] * g["n"] ** 2)).sum() / w.sum() ** 2)
    if var <= 0:
        # Every used stratum is pure on both sides: a zero variance, no honest interval.
        return None
    z = sps.norm.ppf(1 - alpha / 2)
    se = math.sqrt(var)
    p = 2 * sps.norm.sf(abs(diff) / se)
    # Unit weights that reproduce the MH weighting, for the balance table.
    used = key.isin(g.index).to_numpy()
    per = g.reindex(key[used])
    unit_w = np.where(t[used], (w.reindex(key[used]) / per["n1"]).to_numpy(),
                      (w.reindex(key[used]) / per["n0"]).to_numpy())
    scale = pooled_sd(x_balance, t)
    balance = pd.DataFrame({
        "covariate": x_balance.columns,
        "smd_before": smd(x_balance, t, scale=scale).to_numpy(),
        "smd_after": smd(x_balance[used], t[used], unit_w, scale=scale).to_numpy(),
    })
    return Adjusted("stratified", diff, diff - z * se, diff + z * se, _finite(p),
                    int(used.sum()), int((~used).sum()), balance=balance)


def _strata(runs: pd.DataFrame, x_balance: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """One stratifying variable, so that the few runs this is used for still fill the strata:
    the quintile of health_at_open, else of log ARR, else the segment. Returns (strata, label)."""
    for column in ("health_at_open", "log_arr_at_open"):
        if column in x_balance:
            quintile = pd.qcut(x_balance[column], 5, labels=False, duplicates="drop")
            return pd.DataFrame({"quintile": quintile}, index=runs.index), _LABELS[column]
    return pd.DataFrame({"segment": runs["segment"]}, index=runs.index), _LABELS["segment"]


def adjusted_effect(runs: pd.DataFrame, trim=None, alpha: float | None = None) -> Adjusted:
    """The best adjusted estimate the runs of one playbook allow: ipw, else stratified, else
    naive (no estimate). `runs` is `closed_runs` restricted to one playbook."""
    x_model, x_balance = _covariates(runs)
    if x_balance.shape[1] == 0:
        return Adjusted("naive")
    complete = x_balance.notna().all(axis=1).to_numpy()
    sub = runs[complete]
    y, t = sub["success"].to_numpy(dtype=float), sub["follower"].to_numpy(dtype=bool)
    xm, xb = x_model[complete], x_balance[complete]
    covariates = tuple(dict.fromkeys(
        _LABELS["segment"] if c.startswith("segment") else _LABELS[c] for c in xb))
    groups = min(int(t.sum()), int((~t).sum()))
    if len(np.unique(y)) < 2:
        return Adjusted("naive")
    result = None
    if (len(sub) >= settings.default("min_runs_adjusted")
            and groups >= settings.default("min_group_adjusted")):
        result = ipw_effect(y, t, xm, xb, trim, alpha)
    if result is None and groups > 0:
        strata, label = _strata(sub, xb)
        result = stratified_effect(y, t, strata, xb, alpha)
        covariates = (label,)
    if result is None:
        return Adjusted("naive")
    return Adjusted(result.method, result.diff, result.ci_low, result.ci_high, result.p_value,
                    result.runs_used, result.trimmed + int((~complete).sum()), covariates,
                    result.balance)


# -- verdict ----------------------------------------------------------------------------------
def verdict(followers: stats.Proportion, non: stats.Proportion, naive_diff, adj: Adjusted,
            naive_ci: tuple, threshold: float, lift: float | None = None,
            alpha: float | None = None) -> str:
    """Plain-language verdict, judged on the adjusted interval (the naive one when the method is
    naive)."""
    lift = settings.default("min_detectable_lift") if lift is None else lift
    alpha = settings.default("alpha") if alpha is None else alpha
    total = followers.n + non.n
    if total == 0:
        return "No data: no closed runs with step data"
    if non.n == 0:
        return f"No comparison: all {total} runs were followed (adherence ≥ {threshold:.0%})"
    if followers.n == 0:
        return f"No comparison: none of the {total} runs was followed (adherence ≥ {threshold:.0%})"
    rates = f"{percent(followers.rate)} vs {percent(non.rate)} ({points(naive_diff)} points naive"
    level = f"{round((1 - alpha) * 100)}% CI"
    if adj.method == "naive" or adj.diff is None:
        low, high = naive_ci
        detail = f"{rates}, {level} {points(low)} to {points(high)}; not adjusted for confounding)"
    else:
        low, high = adj.ci_low, adj.ci_high
        how = ("propensity weighting" if adj.method == "ipw" else "stratification")
        detail = (f"{rates}; {points(adj.diff)} adjusted for {', '.join(adj.covariates)} by "
                  f"{how}, {level} {points(low)} to {points(high)})")
    if low is not None and low > 0:
        return f"Followers did better: {detail}"
    if high is not None and high < 0:
        return f"Followers did worse: {detail}"
    needed = stats.n_per_group_for_lift(non.rate, lift, alpha)
    missing = max(needed - followers.n, 0) + max(needed - non.n, 0)
    if missing:
        return (f"Not enough data: about {missing} more runs needed to detect a "
                f"{round(lift * 100)}-point lift ({percent(followers.rate)} vs "
                f"{percent(non.rate)}, n = {followers.n} followers and {non.n} non-followers)")
    return f"No clear difference: {detail}"


# -- public -----------------------------------------------------------------------------------
def _effect_row(playbook_id: str, runs: pd.DataFrame, threshold: float) -> dict:
    """One playbook's row of COLUMNS."""
    follower = runs["follower"].to_numpy(dtype=bool)
    success = runs["success"].to_numpy(dtype=int)
    f = stats.wilson(int(success[follower].sum()), int(follower.sum()))
    nf = stats.wilson(int(success[~follower].sum()), int((~follower).sum()))
    naive = stats.newcombe_diff(f.successes, f.n, nf.successes, nf.n)
    naive_p, _ = stats.two_proportion_p(f.successes, f.n, nf.successes, nf.n)
    adj = adjusted_effect(runs) if f.n and nf.n else Adjusted("naive")
    balance = adj.balance
    row = {"playbook_id": playbook_id, "threshold": threshold, "runs": len(runs)}
    for name, prop in zip(GROUPS, (f, nf)):
        row.update({f"{name}_{k}": v for k, v in prop.as_dict().items()})
    row.update(
        naive_diff=naive[0], naive_ci_low=naive[1], naive_ci_high=naive[2],
        naive_p_value=naive_p,
        adjusted_diff=adj.diff, adjusted_ci_low=adj.ci_low, adjusted_ci_high=adj.ci_high,
        p_value=naive_p if adj.method == "naive" else adj.p_value,
        method=adj.method, covariates=", ".join(adj.covariates),
        runs_adjusted=adj.runs_used, trimmed=adj.trimmed,
        max_smd_before=None if balance is None else _finite(balance["smd_before"].abs().max()),
        max_smd_after=None if balance is None else _finite(balance["smd_after"].abs().max()),
        verdict=verdict(f, nf, naive[0], adj, naive[1:], threshold),
    )
    return row


def followers_effect(store: Store, filters: Filters | None = None,
                     threshold: float | None = None,
                     catalog: pd.DataFrame | None = None) -> pd.DataFrame:
    """Success of followers versus non-followers, naive and adjusted, per playbook.

    Parameters
    ----------
    store : Store
    filters : Filters, optional
        Period (opened_on), segment and team restrict the runs; playbook_id keeps one playbook.
    threshold : float, optional
        Adherence at or above which a run is followed (setting follower_threshold).
    catalog : DataFrame, optional
        The playbook catalogue (analysis.catalog.playbook_catalog(store) when None).

    Returns
    -------
    DataFrame, one row per playbook of the catalogue or of the runs, sorted by playbook_id:
        playbook_id, threshold, runs (closed runs with adherence; 0 gives a "No data" row),
        followers_n, followers_successes, followers_rate, followers_ci_low, followers_ci_high
        (Wilson), non_followers_... the same,
        naive_diff (followers − non-followers), naive_ci_low, naive_ci_high (Newcombe),
        naive_p_value, adjusted_diff, adjusted_ci_low, adjusted_ci_high (None when method is
        "naive"), p_value (of the adjusted difference; the naive test when method is "naive"),
        method ("ipw" | "stratified" | "naive"), covariates (text), runs_adjusted (runs in the
        adjusted estimate), trimmed (runs left out: outside the overlap region, missing a
        covariate, or in a stratum without both groups), max_smd_before, max_smd_after (largest
        absolute standardised mean difference of a covariate), verdict.
    """
    threshold = settings.default("follower_threshold") if threshold is None else float(threshold)
    catalog = playbook_catalog(store) if catalog is None else catalog
    runs = closed_runs(store, filters, threshold)
    # Label the segments once for all playbooks rather than once per playbook's runs.
    runs["segment"] = runs["segment"].astype(object).where(runs["segment"].notna(), None)
    runs["segment"] = runs["segment"].astype("category")
    groups = dict(tuple(runs.groupby("playbook_id", sort=False)))
    ids = set(catalog["playbook_id"].dropna()) | set(groups)
    if filters is not None and filters.playbook_id is not None:
        ids &= {filters.playbook_id}
    empty = runs.iloc[:0]
    rows = [_effect_row(pid, groups.get(pid, empty).reset_index(drop=True), threshold)
            for pid in sorted(ids)]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype(object).where(frame.notna(), None)


def balance(store: Store, filters: Filters | None, playbook_id: str,
            threshold: float | None = None) -> pd.DataFrame:
    """Covariate balance of one playbook's followers and non-followers.

    Returns
    -------
    DataFrame with covariate, smd_before (unweighted), smd_after (after weighting or
    stratification); empty when the method is naive.
    """
    filters = (filters or Filters()).with_(playbook_id=playbook_id)
    runs = closed_runs(store, filters, threshold)
    if runs.empty or runs["follower"].all() or not runs["follower"].any():
        return pd.DataFrame(columns=BALANCE_COLUMNS)
    adj = adjusted_effect(runs)
    return adj.balance if adj.balance is not None else pd.DataFrame(columns=BALANCE_COLUMNS)


def followers_json(store: Store, filters: Filters | None = None,
                   catalog: pd.DataFrame | None = None) -> list[dict]:
    """The `followers` key of `metrics --json`: one dict per playbook, None for missing values."""
    frame = followers_effect(store, filters, catalog=catalog)
    out = []
    for row in frame.to_dict("records"):
        item = {"playbook_id": row["playbook_id"], "threshold": _finite(row["threshold"])}
        for g in GROUPS:
            item[g] = {k: row[f"{g}_{k}"] for k in ("n", "successes", "rate", "ci_low", "ci_high")}
            item[g]["n"], item[g]["successes"] = int(item[g]["n"]), int(item[g]["successes"])
            for k in ("rate", "ci_low", "ci_high"):
                item[g][k] = _finite(item[g][k])
        for k in ("naive_diff", "naive_ci_low", "naive_ci_high", "naive_p_value",
                  "adjusted_diff", "adjusted_ci_low", "adjusted_ci_high", "p_value",
                  "max_smd_before", "max_smd_after"):
            item[k] = _finite(row[k])
        item.update(method=row["method"], covariates=row["covariates"], runs=int(row["runs"]),
                    runs_adjusted=int(row["runs_adjusted"]), trimmed=int(row["trimmed"]),
                    verdict=row["verdict"])
        out.append(item)
    return out

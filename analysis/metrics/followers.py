"""Followers versus non-followers: does following a playbook closely go with better outcomes?

Closed runs of each playbook with a known adherence (both defined once in the semantic layer,
analysis/semantic/: runs_with_status and runs_with_adherence; runs without steps are left out).
A follower is a run with adherence >= follower_threshold. The naive difference of success rates
is confounded (healthier, larger accounts are both followed more and saved more), so an adjusted difference is estimated
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

These differences describe; the `effect` and `claim` of `followers_json` come from
designs/landmark.py: a landmark design when steps carry dates (whole-run adherence is read
after the outcome: failing runs are abandoned part-way), else an association only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.context import Context
from analysis.metrics import stats
from analysis.metrics.claims import Claim, Effect, more_needed_for
from analysis.metrics.compare import (EFFECT_COLUMNS, Comparison, compare_proportions, decide,
                                      effect_columns, effect_of_row, thresholds)
from analysis.present import format as fmt, verdicts
from analysis.filters import Filters
from analysis.scope import scoped
from analysis.store import Store

GROUPS = ("followers", "non_followers")
# What the landmark sample held: its JSON keys (designs.landmark.LandmarkResult.to_json) and
# the frame's columns.
LANDMARK_COLUMNS = {k: k if k.startswith("landmark") else f"landmark_{k}"
                    for k in ("landmark_days", "runs", "followers", "non_followers", "csms",
                              "trimmed")}
COLUMNS = [
    "playbook_id", "threshold", "runs",
    *(f"{g}_{c}" for g in GROUPS for c in ("n", "successes", "rate", "ci_low", "ci_high")),
    "naive_diff", "naive_ci_low", "naive_ci_high", "naive_p_value",
    "adjusted_diff", "adjusted_ci_low", "adjusted_ci_high", "p_value",
    "method", "covariates", "runs_adjusted", "trimmed", "max_smd_before", "max_smd_after",
    "verdict", "claim", *EFFECT_COLUMNS, "more_needed",
    *LANDMARK_COLUMNS.values(),
]
BALANCE_COLUMNS = ["covariate", "smd_before", "smd_after"]
_LABELS = {"health_at_open": "health", "log_arr_at_open": "ARR", "segment": "segment"}


# -- data -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunArrays:
    """Closed runs as typed numpy arrays, one element per run: what the estimators read.

    Text stays in the database: playbook and segment arrive as integer codes into
    `playbook_ids` and `segments` (-1 where the account has no segment), so the 400k closed
    runs of a million cross into Python as ~13 MB of numbers, not 800k Python strings.
    """
    playbook: np.ndarray      # int codes into playbook_ids
    success: np.ndarray       # int8, 0/1
    adherence: np.ndarray     # float, 0–1
    follower: np.ndarray      # bool, adherence >= threshold
    health: np.ndarray        # float, NaN where unknown
    arr: np.ndarray           # float, NaN where unknown
    segment: np.ndarray       # int codes into segments, -1 where unknown
    playbook_ids: tuple[str, ...]
    segments: tuple[str, ...]  # sorted, so dummies come in a fixed order

    def __len__(self) -> int:
        return len(self.success)

    def take(self, index) -> "RunArrays":
        """The runs at `index` (a slice, mask or integer array), labels kept."""
        arrays = {name: getattr(self, name)[index] for name in _ARRAY_FIELDS}
        return RunArrays(**arrays, playbook_ids=self.playbook_ids, segments=self.segments)

    def by_playbook(self) -> dict[str, "RunArrays"]:
        """The runs of each playbook that has any; one stable sort, then contiguous slices."""
        codes = self.playbook
        if len(self.playbook_ids) < 2 ** 15:
            codes = codes.astype(np.int16)  # numpy's stable sort is a radix sort for 16 bits
        order = np.argsort(codes, kind="stable")
        edges = np.searchsorted(codes[order], np.arange(len(self.playbook_ids) + 1))
        return {pid: self.take(order[edges[i]:edges[i + 1]])
                for i, pid in enumerate(self.playbook_ids) if edges[i + 1] > edges[i]}


_ARRAY_FIELDS = ("playbook", "success", "adherence", "follower", "health", "arr", "segment")


def _closed_sql(filters: Filters | None, adherence: bool = True) -> tuple[str, list]:
    """Closed runs with a playbook within the filters, as (subquery sql, params): the semantic
    layer's `runs_with_adherence` that are closed, or its `closed_runs` (no adherence, cheaper)
    when `adherence` is False."""
    runs_sql, params = scoped("runs_with_adherence" if adherence else "closed_runs", filters)
    only = ""
    if filters is not None and filters.playbook_id is not None:
        only = "AND q.playbook_id = ?"
        params = [*params, filters.playbook_id]
    sql = f"""(
        SELECT q.* FROM {runs_sql} q
        WHERE q.playbook_id IS NOT NULL AND q.is_closed {only}
    )"""
    return sql, params


def _labels(store: Store, closed_sql: str, params: list) -> tuple[list[str], list[str]]:
    """The playbook ids of the closed runs and every account segment, each sorted."""
    frame = store.query(f"""
        SELECT 'playbook' AS kind, playbook_id AS label
        FROM {closed_sql} r GROUP BY playbook_id
        UNION ALL
        SELECT 'segment', segment FROM accounts WHERE segment IS NOT NULL GROUP BY segment
    """, params)
    # Sorted in Python so segment dummies keep the order pandas categories gave them.
    return (sorted(frame.loc[frame["kind"] == "playbook", "label"].tolist()),
            sorted(frame.loc[frame["kind"] == "segment", "label"].tolist()))


def _codes(labels: list[str]) -> tuple[str, list]:
    """An inline (label, code) table of bound values; codes follow the order of `labels`."""
    if not labels:
        return "(SELECT NULL::VARCHAR AS label, NULL::INTEGER AS code WHERE false)", []
    rows = ", ".join(["(?, ?)"] * len(labels))
    return (f"(SELECT * FROM (VALUES {rows}) AS v(label, code))",
            [v for i, label in enumerate(labels) for v in (label, i)])


def run_arrays(store: Store, filters: Filters | None, threshold: float) -> RunArrays:
    """Closed runs with a playbook and a known adherence, as numpy arrays (see RunArrays);
    a follower has adherence at or above `threshold` (the follower_threshold setting).

    Closed runs and their adherence come from the semantic layer (`closed_runs`); runs
    without adherence are left out. The joins and the text-to-code mapping happen in SQL;
    only narrow numeric columns cross into Python.
    """
    closed_sql, params = _closed_sql(filters)
    playbook_ids, segments = _labels(store, *_closed_sql(filters, adherence=False))
    playbook_codes, playbook_params = _codes(playbook_ids)
    segment_codes, segment_params = _codes(segments)
    frame = store.query(f"""
        WITH runs AS (
            SELECT playbook_id, account_id, succeeded, adherence, health_at_open, arr_at_open
            FROM {closed_sql} q
            WHERE adherence IS NOT NULL
        ),
        final AS (
            SELECT CAST(p.code AS INTEGER) AS playbook,
                   CAST(r.succeeded AS TINYINT) AS success,
                   r.adherence,
                   CAST(r.health_at_open AS DOUBLE) AS health_at_open,
                   CAST(r.arr_at_open AS DOUBLE) AS arr_at_open,
                   CAST(coalesce(g.code, -1) AS INTEGER) AS segment
            FROM runs r
            JOIN {playbook_codes} p ON p.label = r.playbook_id
            LEFT JOIN (
                -- Code the 50k accounts' segments, not the 400k runs' (a join on text).
                SELECT a.account_id, g.code FROM accounts a
                JOIN {segment_codes} g ON g.label = a.segment
            ) g USING (account_id)
        )
        SELECT * FROM final
    """, [*params, *playbook_params, *segment_params])
    # No ORDER BY: by_playbook groups with one integer argsort, far cheaper than a text sort.
    adherence = frame["adherence"].to_numpy(dtype=float)
    return RunArrays(
        playbook=frame["playbook"].to_numpy(dtype=np.int64),
        success=frame["success"].to_numpy(dtype=np.int8),
        adherence=adherence,
        follower=adherence >= threshold,
        health=frame["health_at_open"].to_numpy(dtype=float, na_value=np.nan),
        arr=frame["arr_at_open"].to_numpy(dtype=float, na_value=np.nan),
        segment=frame["segment"].to_numpy(dtype=np.int64),
        playbook_ids=tuple(playbook_ids), segments=tuple(segments))


def closed_runs(store: Store, filters: Filters | None, threshold: float) -> pd.DataFrame:
    """Closed runs with a playbook and a known adherence, one row per run, in no set order.

    Returns
    -------
    DataFrame with playbook_id, success (0/1), adherence (0–1), follower (bool: adherence >=
    threshold), health_at_open, arr_at_open, segment (None where unknown).
    """
    return _runs_frame(run_arrays(store, filters, threshold))


def _runs_frame(runs: RunArrays) -> pd.DataFrame:
    """RunArrays as the DataFrame `closed_runs` documents (labels decoded)."""
    playbook_ids = np.array(runs.playbook_ids, dtype=object)
    segments = np.array([*runs.segments, None], dtype=object)  # code -1 picks the None
    return pd.DataFrame({
        "playbook_id": playbook_ids[runs.playbook] if len(runs) else np.array([], dtype=object),
        "success": runs.success.astype(np.int32),
        "adherence": runs.adherence,
        "health_at_open": runs.health,
        "arr_at_open": runs.arr,
        "segment": segments[runs.segment],
        "follower": runs.follower,
    })


def _arrays_of(runs: pd.DataFrame) -> RunArrays:
    """A `closed_runs` frame (possibly one playbook's rows) as RunArrays."""
    segment = runs["segment"].astype(object).where(runs["segment"].notna(), None)
    segments = sorted({s for s in segment.unique() if s is not None})
    playbooks = sorted(set(runs["playbook_id"].unique()))
    # Codes in the sorted labels' order (-1: no segment), without a Python loop over runs.
    codes = pd.Categorical(segment, categories=segments).codes.astype(np.int64)
    return RunArrays(
        playbook=pd.Categorical(runs["playbook_id"].astype(object),
                                categories=playbooks).codes.astype(np.int64),
        success=runs["success"].to_numpy(dtype=np.int8),
        adherence=runs["adherence"].to_numpy(dtype=float),
        follower=runs["follower"].to_numpy(dtype=bool),
        health=pd.to_numeric(runs["health_at_open"], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan),
        arr=pd.to_numeric(runs["arr_at_open"], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan),
        segment=codes,
        playbook_ids=tuple(playbooks), segments=tuple(segments))


def _varies(values: np.ndarray) -> bool:
    """More than one distinct non-missing number."""
    known = values[~np.isnan(values)]
    return bool(len(known) and known.max() > known.min())


@dataclass(frozen=True)
class Covariates:
    """The covariates of one playbook's runs: `balance` has a column per name (NaN where
    unknown); the model uses `model_columns` of them (every segment level but the first)."""
    names: tuple[str, ...]
    balance: np.ndarray
    model_columns: tuple[int, ...]

    @property
    def model(self) -> np.ndarray:
        return self.balance[:, list(self.model_columns)]


def _covariates(runs: RunArrays) -> Covariates:
    """Covariates for the propensity model and for the balance table.

    A covariate is used when at least half the runs have it and it varies: health_at_open,
    log_arr_at_open, and segment dummies (one per level present; the model drops the first).
    """
    names, columns, model = [], [], []

    def add(name: str, values: np.ndarray, in_model: bool = True) -> None:
        if in_model:
            model.append(len(names))
        names.append(name)
        columns.append(values)

    n = len(runs)
    if n and np.mean(~np.isnan(runs.health)) >= 0.5 and _varies(runs.health):
        add("health_at_open", runs.health)
    if n and np.mean(~np.isnan(runs.arr)) >= 0.5 and _varies(runs.arr):
        # ARR is heavily skewed; log1p keeps a zero-ARR account finite.
        add("log_arr_at_open", np.log1p(np.clip(runs.arr, 0, None)))
    known = runs.segment >= 0
    present = np.unique(runs.segment[known])
    if n and known.mean() >= 0.5 and len(present) > 1:
        for j, code in enumerate(present):
            add(f"segment: {runs.segments[code]}",
                np.where(known, (runs.segment == code).astype(float), np.nan), in_model=j > 0)
    balance = np.asfortranarray(np.column_stack(columns)) if columns else np.empty((n, 0))
    return Covariates(tuple(names), balance, tuple(model))


# -- estimators -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Adjusted:
    """An adjusted follower effect: method, estimate, interval, and what it used. `df` is the
    interval's reference (math.inf: both estimators' intervals are normal, diff ± z · se; None
    without an estimate), so its standard error can be read back (Effect.df)."""
    method: str
    diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    runs_used: int = 0
    trimmed: int = 0
    covariates: tuple[str, ...] = ()
    balance: pd.DataFrame | None = None
    df: float | None = None


def _finite(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def smd(x, treated: np.ndarray, weights: np.ndarray | None = None, scale=None):
    """Standardised mean difference of each column, followers minus non-followers.

    The denominator is sqrt((var_followers + var_non_followers) / 2) of the unweighted sample
    (or `scale`), so weighting changes only the numerator and before/after figures compare.
    `x` is a DataFrame (a Series by column comes back) or a 2-D array (an array comes back).
    """
    values = np.asarray(x, dtype=float)
    t = np.asarray(treated, dtype=bool)
    w = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=float)
    # Weighted means by zeroing the other group's weights: no copy of each group's rows, and
    # each group's weighted column sums are one vector-matrix product.
    w_t = np.where(t, w, 0.0)
    w_c = w - w_t
    scale = pooled_sd(values, t) if scale is None else np.asarray(scale, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (w_t @ values / w_t.sum() - w_c @ values / w_c.sum()) / scale
    out = np.where(np.isfinite(out), out, 0.0)
    return pd.Series(out, index=x.columns) if isinstance(x, pd.DataFrame) else out


def pooled_sd(x, treated: np.ndarray):
    """sqrt((var_followers + var_non_followers) / 2) of each column, unweighted (ddof=1; NaN
    for a group of fewer than two runs); a Series for a DataFrame, else an array."""
    values = np.asarray(x, dtype=float)
    t = np.asarray(treated, dtype=bool)
    variances = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for member in (t, ~t):
            group = values[member]  # one copy of the group's rows beats masked full passes
            n = len(group)
            mean = group.sum(axis=0) / n
            variances.append(((group - mean) ** 2).sum(axis=0) / (n - 1))
        out = np.sqrt((variances[0] + variances[1]) / 2)
    return pd.Series(out, index=x.columns) if isinstance(x, pd.DataFrame) else out


def trim_bounds(propensity: np.ndarray, trim) -> tuple[float, float]:
    """The overlap region [low, high] of propensities that are kept.

    A number t gives [t, 1 − t]; "crump" gives Crump, Hotz, Imbens & Mitnik (2009): the
    smallest alpha with 1/(alpha(1 − alpha)) <= 2 E[1/(e(1 − e)) | that bound], [alpha, 1 − alpha].
    """
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


def weighted_difference(y: np.ndarray, t: np.ndarray, w: np.ndarray,
                        alpha: float) -> tuple[float, float, float, float, float]:
    """Weighted least squares of y on [1, t] with HC1 robust errors, in closed form.

    With one binary regressor the WLS slope is the difference of the two weighted means, and
    the HC1 sandwich reduces to n/(n − 2) · Σ_g Σ_i w_i² e_i² / (Σ_i w_i)² over the two
    groups (e = y minus its group's weighted mean); the interval and p-value are normal, as
    statsmodels' `WLS(...).fit(cov_type="HC1")` gives them.

    Returns (diff, se, ci_low, ci_high, p_value), the interval at 1 − alpha.
    """
    y, w = np.asarray(y, dtype=float), np.asarray(w, dtype=float)
    t = np.asarray(t, dtype=bool)
    variance, means = 0.0, []
    for group in (t, ~t):
        wg, yg = w[group], y[group]
        mean = float((wg * yg).sum() / wg.sum())
        variance += float((wg ** 2 * (yg - mean) ** 2).sum()) / float(wg.sum()) ** 2
        means.append(mean)
    n = len(y)
    se = math.sqrt(variance * n / (n - 2)) if n > 2 else float("nan")
    diff = means[0] - means[1]
    z = sps.norm.ppf(1 - alpha / 2)
    p = 2 * sps.norm.sf(abs(diff) / se) if se > 0 else float("nan")
    return diff, se, diff - z * se, diff + z * se, p


def _balance_table(names, x: np.ndarray, t: np.ndarray, rows: np.ndarray,
                   weights: np.ndarray) -> pd.DataFrame:
    """SMD of each covariate before (all rows, unweighted) and after (`rows`, weighted)."""
    scale = pooled_sd(x, t)
    return pd.DataFrame({
        "covariate": list(names),
        "smd_before": smd(x, t, scale=scale),
        "smd_after": smd(x[rows], t[rows], weights, scale=scale),
    })


def logit_fit(t: np.ndarray, exog: np.ndarray, maxiter: int = 200,
              tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray] | None:
    """A logistic regression of `t` on `exog`: (params, fitted P(t = 1)), or None when the
    fit fails.

    The Newton iterations of statsmodels' `Logit(t, exog).fit(method="newton")`, step for step:
    start at zero, scale score and Hessian by 1/n, add a 1e-10 ridge to the Hessian's diagonal,
    stop when no parameter moves more than `tol`; "fails" is what statsmodels reports as not
    converged (`maxiter` reached) or raises (a singular Hessian at the solution, or non-finite
    propensities). Done here because statsmodels evaluates the probabilities three times an
    iteration (score, Hessian, a perfect-separation check) and wraps the result in objects
    nobody reads: this took the followers analysis at a million runs from 0.26 s to 0.21 s.
    tests/test_followers.py checks the parameters against statsmodels' to 1e-8.

    Returns
    -------
    (params, probabilities): a coefficient per column of `exog` (which includes the constant
    column) and a probability per row.
    """
    y = np.asarray(t, dtype=float)
    exog = np.asarray(exog, dtype=float)
    n, k = exog.shape
    ridge = np.diag_indices(k)
    old, params = np.inf, np.zeros(k)
    iterations = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            while iterations < maxiter and np.any(np.abs(params - old) > tol):
                p = 1 / (1 + np.exp(-np.dot(exog, params)))
                hessian = np.dot(p * (1 - p) * exog.T, exog) / n
                hessian[ridge] += 1e-10
                old = params
                params = old - np.linalg.solve(hessian, -np.dot(y - p, exog) / n)
                iterations += 1
            if iterations == maxiter:
                return None
            p = 1 / (1 + np.exp(-np.dot(exog, params)))
            # statsmodels inverts the final Hessian (no ridge) for its standard errors.
            np.linalg.inv(np.dot(p * (1 - p) * exog.T, exog) / n)
        except (np.linalg.LinAlgError, ValueError):
            return None
    return (params, p) if np.isfinite(p).all() else None


def ipw_effect(y: np.ndarray, t: np.ndarray, x_model, x_balance, trim, alpha: float,
               names=None) -> Adjusted | None:
    """Propensity-weighted difference in success, or None when the model cannot be fitted or
    trimming leaves a group empty.

    x_model and x_balance are DataFrames or 2-D arrays of complete rows; `names` labels the
    balance columns (a DataFrame's own column names when None); `trim` is the overlap rule
    (`trim_bounds`), `alpha` the interval's."""
    names = list(x_balance.columns) if names is None else list(names)
    x_balance = np.asarray(x_balance, dtype=float)
    exog = np.column_stack([np.ones(len(t)), np.asarray(x_model, dtype=float)])
    fit = logit_fit(t, exog)
    if fit is None:
        return None
    e = fit[1]
    low, high = trim_bounds(e, trim)
    keep = (e >= low) & (e <= high)
    tk, yk, ek = t[keep], y[keep], e[keep]
    if tk.all() or not tk.any():
        return None
    # Stabilised weights: the share of each group over its propensity, so weights average ~1.
    share = tk.mean()
    w = np.where(tk, share / ek, (1 - share) / (1 - ek))
    diff, se, ci_low, ci_high, p = weighted_difference(yk, tk, w, alpha)
    if not se > 0:  # outcomes constant within each group: no interval to report
        return None
    return Adjusted("ipw", _finite(diff), _finite(ci_low), _finite(ci_high), _finite(p),
                    int(keep.sum()), int((~keep).sum()),
                    balance=_balance_table(names, x_balance, t, keep, w), df=math.inf)


def stratified_effect(y: np.ndarray, t: np.ndarray, strata: pd.DataFrame, x_balance,
                      alpha: float, small_cell: int, names=None) -> Adjusted | None:
    """Mantel–Haenszel risk difference across strata holding both groups; None when those
    strata hold fewer than `small_cell` runs of either group or the variance is zero.

    Weights n1·n0/N per stratum; variance of Greenland & Robins (1985), eq. for non-sparse data.
    x_balance is a DataFrame or a 2-D array (then `names` labels its columns).
    """
    names = list(x_balance.columns) if names is None else list(names)
    x_balance = np.asarray(x_balance, dtype=float)
    key = pd.Series("", index=strata.index)
    for col in strata:
        key = key + "|" + strata[col].astype(str)
    cells = pd.DataFrame({"key": key, "t": t, "y": y, "ty": t * y, "cy": (1 - t) * y})
    g = cells.groupby("key").agg(n=("t", "size"), n1=("t", "sum"), a=("ty", "sum"),
                                 c=("cy", "sum"))
    g["n0"] = g["n"] - g["n1"]
    g = g[(g["n1"] > 0) & (g["n0"] > 0)].astype(float)
    # A handful of runs on one side makes the large-sample variance meaningless.
    if g.empty or min(g["n1"].sum(), g["n0"].sum()) < small_cell:
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
    return Adjusted("stratified", diff, diff - z * se, diff + z * se, _finite(p),
                    int(used.sum()), int((~used).sum()),
                    balance=_balance_table(names, x_balance, t, used, unit_w), df=math.inf)


def _strata(runs: RunArrays, cov: Covariates) -> tuple[pd.DataFrame, str]:
    """One stratifying variable, so that the few runs this is used for still fill the strata:
    the quintile of health_at_open, else of log ARR, else the segment. Returns (strata, label)."""
    for column in ("health_at_open", "log_arr_at_open"):
        if column in cov.names:
            values = cov.balance[:, cov.names.index(column)]
            quintile = pd.qcut(values, 5, labels=False, duplicates="drop")
            return pd.DataFrame({"quintile": quintile}), _LABELS[column]
    return pd.DataFrame({"segment": runs.segment}), _LABELS["segment"]


def adjustment(settings) -> dict:
    """`adjusted_effect`'s keyword arguments from a request's settings: propensity_trim,
    alpha, small_cell, min_runs_adjusted and min_group_adjusted."""
    return {"trim": settings.propensity_trim, "alpha": settings.alpha,
            "small_cell": settings.small_cell, "min_runs": settings.min_runs_adjusted,
            "min_group": settings.min_group_adjusted}


def adjusted_effect(runs, *, trim, alpha: float, small_cell: int, min_runs: int,
                    min_group: int) -> Adjusted:
    """The best adjusted estimate the runs of one playbook allow: ipw (at least `min_runs`
    runs and `min_group` of each group), else stratified, else naive (no estimate). `runs` is
    `closed_runs` restricted to one playbook (a DataFrame), or the same runs as RunArrays;
    `adjustment(settings)` gives the other arguments."""
    runs = _arrays_of(runs) if isinstance(runs, pd.DataFrame) else runs
    cov = _covariates(runs)
    if not cov.names:
        return Adjusted("naive")
    complete = ~np.isnan(cov.balance).any(axis=1)
    if not complete.all():  # usually every run has every covariate: no copies then
        sub = runs.take(complete)
        cov = Covariates(cov.names, cov.balance[complete], cov.model_columns)
    else:
        sub = runs
    y, t = sub.success.astype(float), sub.follower
    covariates = tuple(dict.fromkeys(
        _LABELS["segment"] if c.startswith("segment") else _LABELS[c] for c in cov.names))
    groups = min(int(t.sum()), int((~t).sum()))
    if len(np.unique(y)) < 2:
        return Adjusted("naive")
    result = None
    if len(sub) >= min_runs and groups >= min_group:
        result = ipw_effect(y, t, cov.model, cov.balance, trim, alpha, cov.names)
    if result is None and groups > 0:
        strata, label = _strata(sub, cov)
        result = stratified_effect(y, t, strata, cov.balance, alpha, small_cell, cov.names)
        covariates = (label,)
    if result is None:
        return Adjusted("naive")
    return Adjusted(result.method, result.diff, result.ci_low, result.ci_high, result.p_value,
                    result.runs_used, result.trimmed + int((~complete).sum()), covariates,
                    result.balance, result.df)


# -- verdict ----------------------------------------------------------------------------------
# The comparison's claims as the followers' own (DESIGN.md: followers_better / followers_worse).
_FOLLOWER_CLAIMS = {Claim.IMPROVED: Claim.FOLLOWERS_BETTER, Claim.WORSE: Claim.FOLLOWERS_WORSE}
_CONTEXT = verdicts.Context(unit="runs", a_name="followers", b_name="non-followers",
                           a_first=True, words={Claim.NO_CLEAR_CHANGE: "No clear difference"})


@dataclass(frozen=True)
class Judged:
    """The followers' claim, the effect it rests on, and the runs still needed."""
    claim: Claim
    effect: Effect
    more_needed: int | None


def judge(naive: Comparison, adj: Adjusted) -> Judged:
    """The claim on one playbook's followers: on the adjusted interval and its p-value (the
    naive comparison's when the method is naive), by `compare.decide`'s rule (interval and
    test agree, a minimum n per group, sizing at any base rate) at the alpha, lift and min_n
    the naive comparison was made with. The sizing is the effect's own: the two proportions'
    for the naive difference, the adjusted difference's standard error over the runs it used
    (stats.design_more_needed) for an adjusted one."""
    sized = None
    if adj.method == "naive" or adj.diff is None:
        low, high, p_value, effect = (naive.diff_ci_low, naive.diff_ci_high, naive.p_value,
                                      naive.effect)
    else:
        low, high, p_value = adj.ci_low, adj.ci_high, adj.p_value
        effect = Effect(adj.method, adj.diff, adj.ci_low, adj.ci_high, adj.p_value, df=adj.df)
        sized = stats.design_more_needed(low, high, adj.df, adj.runs_used, alpha=naive.alpha,
                                         lift=naive.lift)
    claim, missing = decide(low, high, p_value, n_a=naive.a.n, n_b=naive.b.n,
                            base_rate=naive.b.rate, alpha=naive.alpha, lift=naive.lift,
                            min_n=naive.min_n, sized=sized)
    return Judged(_FOLLOWER_CLAIMS.get(claim, claim), effect, missing)


def _sentence(naive: Comparison, adj: Adjusted, judged: Judged, threshold: float,
              alpha: float) -> str:
    """The verdict's words, from verdicts.py."""
    followers, non = naive.a, naive.b
    total = followers.n + non.n
    if total == 0:
        return "No data: no closed runs with step data"
    if non.n == 0:
        return f"No comparison: all {total} runs were followed (adherence ≥ {threshold:.0%})"
    if followers.n == 0:
        return f"No comparison: none of the {total} runs was followed (adherence ≥ {threshold:.0%})"
    if judged.claim is Claim.NOT_ENOUGH_DATA:
        shown = replace(naive, claim=judged.claim, more_needed=judged.more_needed)
        return verdicts.sentence(judged.claim, reason=verdicts.not_enough_text(shown, _CONTEXT))
    rates = (f"{verdicts.rates_text(naive, _CONTEXT)} ({fmt.points(naive.diff)} points naive")
    effect = judged.effect
    # The interval the claim rests on (with its p when that holds a claim back).
    interval = verdicts.interval_text(effect.ci_low, effect.ci_high, alpha, judged.claim,
                                      effect.p_value)
    if adj.method == "naive" or adj.diff is None:
        detail = f"{rates}, {interval}; not adjusted for confounding)"
    else:
        how = ("propensity weighting" if adj.method == "ipw" else "stratification")
        detail = (f"{rates}; {fmt.points(adj.diff)} adjusted for {', '.join(adj.covariates)} by "
                  f"{how}, {interval})")
    return verdicts.sentence(judged.claim, change_text=detail,
                             word=_CONTEXT.words.get(judged.claim))


# -- public -----------------------------------------------------------------------------------
def _effect_row(playbook_id: str, runs: RunArrays, threshold: float, settings) -> dict:
    """One playbook's row of COLUMNS, at the request's settings."""
    follower, success = runs.follower, runs.success
    naive = compare_proportions(int(success[follower].sum()), int(follower.sum()),
                                int(success[~follower].sum()), int((~follower).sum()),
                                **thresholds(settings))
    f, nf = naive.a, naive.b
    adj = adjusted_effect(runs, **adjustment(settings)) if f.n and nf.n else Adjusted("naive")
    judged = judge(naive, adj)
    balance = adj.balance
    row = {"playbook_id": playbook_id, "threshold": threshold, "runs": len(runs)}
    for name, prop in zip(GROUPS, (f, nf)):
        row.update({f"{name}_{k}": v for k, v in prop.as_dict().items()})
    row.update(
        naive_diff=naive.diff, naive_ci_low=naive.diff_ci_low, naive_ci_high=naive.diff_ci_high,
        naive_p_value=naive.p_value,
        adjusted_diff=adj.diff, adjusted_ci_low=adj.ci_low, adjusted_ci_high=adj.ci_high,
        p_value=naive.p_value if adj.method == "naive" else adj.p_value,
        method=adj.method, covariates=", ".join(adj.covariates),
        runs_adjusted=adj.runs_used, trimmed=adj.trimmed,
        max_smd_before=None if balance is None else _finite(balance["smd_before"].abs().max()),
        max_smd_after=None if balance is None else _finite(balance["smd_after"].abs().max()),
        verdict=_sentence(naive, adj, judged, threshold, naive.alpha),
        claim=judged.claim.value, **effect_columns(judged.effect),
        more_needed=judged.more_needed,
    )
    return row


def followers_effect(ctx: Context, threshold: float | None = None) -> pd.DataFrame:
    """Success of followers versus non-followers, naive and adjusted, per playbook.

    Parameters
    ----------
    ctx : Context
        Its filters' period (opened_on), segment and team restrict the runs, playbook_id keeps
        one playbook; its catalogue lists the playbooks, its settings set alpha, trimming and
        the size rules.
    threshold : float, optional
        Adherence at or above which a run is followed (a page's slider; None: the context's
        follower_threshold setting).

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
        absolute standardised mean difference of a covariate), verdict, claim (a `Claim`
        value: followers_better / followers_worse / no_clear_change / not_enough_data),
        effect_method ... effect_q_value (the `Effect` the claim rests on: the adjusted
        difference, else the naive Newcombe one), more_needed (for the claim shown, from the
        effect it rests on: under not_enough_data the runs missing over both groups, i.e.
        a size rule's shortfall, else what that effect needs for 80% power to detect a change
        of min_detectable_lift: the landmark's or adjusted difference's standard error
        (stats.design_more_needed), the two proportions' for the naive one; None when no
        count of runs can say it; 0 for no clear difference; None for a direction and an
        association).
    """
    s, filters = ctx.settings, ctx.filters
    threshold = s.follower_threshold if threshold is None else float(threshold)
    runs = run_arrays(ctx.store, filters, threshold)
    groups = runs.by_playbook()
    ids = set(ctx.catalog["playbook_id"].dropna()) | set(groups)
    if filters.playbook_id is not None:
        ids &= {filters.playbook_id}
    empty = runs.take(slice(0, 0))
    rows = [_effect_row(pid, groups.get(pid, empty), threshold, s) for pid in sorted(ids)]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame = frame.astype(object).where(frame.notna(), None)
    return _with_design(ctx, frame)


def _with_design(ctx: Context, frame: pd.DataFrame) -> pd.DataFrame:
    """The claim each playbook's followers get rests on the design (designs.landmark): the
    landmark estimate when steps carry dates, else an association that claims nothing. Its
    effect replaces the effect columns, and the verdict keeps the comparison's figures under
    the design's word and reason, so the page, the pack and the JSON say the same. Then the
    claims shown together are adjusted (multiplicity.adjust_frame) and each final claim gets
    the `more_needed` of the effect it rests on."""
    # Imported here: the design modules read this module's estimators.
    from analysis.metrics.designs.landmark import followers_designs
    from analysis.metrics.designs.multiplicity import adjust_frame
    s = ctx.settings
    designs = followers_designs(ctx.store, ctx.filters, frame, s)
    # What a not_enough_data claim would report, by the effect each row's claim rests on:
    # the comparison's (judge) until a design takes the claim over.
    missing = frame["more_needed"].tolist()
    for i, row in frame.iterrows():  # one row per playbook: a dozen, not runs
        design = designs[row["playbook_id"]]
        for key, value in design.to_json().items():
            frame.loc[i, LANDMARK_COLUMNS[key]] = value
        if row["claim"] == Claim.NOT_ENOUGH_DATA and not design.claim.is_directional:
            continue  # too little data already says more than any design could
        frame.loc[i, "claim"] = str(design.claim)
        for column, value in effect_columns(design.effect).items():
            frame.loc[i, column] = value
        missing[frame.index.get_loc(i)] = design.missing
        frame.loc[i, "verdict"] = verdicts.sentence(
            design.claim, change_text=_figures(row, s),
            reason=_design_reason(design, s.min_detectable_lift))
    frame = adjust_frame(frame, s.alpha)
    frame["more_needed"] = pd.Series([more_needed_for(claim, m)
                                      for claim, m in zip(frame["claim"], missing)],
                                     index=frame.index, dtype=object)
    return frame


def _figures(row, settings) -> str:
    """The comparison's figures under a design's word: its verdict's, but for a comparison
    that said not enough data, whose words size the comparison the claim no longer rests on,
    the rates and groups alone ("62% vs 55% (n = 463 followers and 124 non-followers)")."""
    figures = str(row["verdict"]).split(": ", 1)[-1]
    if row["claim"] != Claim.NOT_ENOUGH_DATA or not (row["followers_n"]
                                                    and row["non_followers_n"]):
        return figures
    naive = compare_proportions(int(row["followers_successes"]), int(row["followers_n"]),
                                int(row["non_followers_successes"]),
                                int(row["non_followers_n"]), **thresholds(settings))
    return (f"{verdicts.rates_text(naive, _CONTEXT)} "
            f"({verdicts.sizes_text(naive, _CONTEXT)})")


def _design_reason(design, lift: float) -> str:
    """One sentence on what the claim rests on (and, when it is not enough, the runs it is
    short of)."""
    e = design.effect
    if design.claim is Claim.ASSOCIATION_ONLY:
        return ("steps carry no completion dates, so adherence may follow how a run was going "
                "rather than drive it: no claim either way")
    short = design.claim is Claim.NOT_ENOUGH_DATA and design.missing is not None
    if design.landmark_days is None or e.estimate is None:
        reason = "too few runs for the landmark design"
        return f"{reason} ({fmt.count(design.missing)} more needed)" if short else reason
    reason = (f"landmark design on runs still open on day {design.landmark_days}: "
              f"{fmt.points(e.estimate)} points, CI {fmt.points(e.ci_low)} to "
              f"{fmt.points(e.ci_high)}, {fmt.p_value(e.p_value)}, adjusted for health, ARR, "
              f"segment and the CSM")
    if not short:
        return reason
    change = f"a {round(float(lift) * 100)}-point change"
    if design.missing == 0:
        return (f"{reason}, although these runs would detect {change} "
                f"{stats.POWER:.0%} of the time")
    return (f"{reason}; about {fmt.count(design.missing)} more runs would be needed to detect "
            f"{change}")


def _json_int(value):
    return None if value is None or value != value else int(value)


def balance(ctx: Context, playbook_id: str, threshold: float | None = None) -> pd.DataFrame:
    """Covariate balance of one playbook's followers and non-followers (`threshold` as in
    `followers_effect`).

    Returns
    -------
    DataFrame with covariate, smd_before (unweighted), smd_after (after weighting or
    stratification); empty when the method is naive.
    """
    threshold = ctx.settings.follower_threshold if threshold is None else float(threshold)
    runs = run_arrays(ctx.store, ctx.filters.with_(playbook_id=playbook_id), threshold)
    if not len(runs) or runs.follower.all() or not runs.follower.any():
        return pd.DataFrame(columns=BALANCE_COLUMNS)
    adj = adjusted_effect(runs, **adjustment(ctx.settings))
    return adj.balance if adj.balance is not None else pd.DataFrame(columns=BALANCE_COLUMNS)


def followers_json(ctx: Context) -> list[dict]:
    """The `followers` key of `metrics --json`: one dict per playbook, None for missing values."""
    frame = followers_effect(ctx)
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
                    verdict=row["verdict"], claim=row["claim"],
                    effect=effect_of_row(row).to_json(),
                    more_needed=None if row["more_needed"] is None else int(row["more_needed"]),
                    landmark={k: _json_int(row[c]) for k, c in LANDMARK_COLUMNS.items()})
        out.append(item)
    return out

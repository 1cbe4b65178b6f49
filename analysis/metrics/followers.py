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

These differences describe; the `effect` and `claim` of `followers_json` come from
designs/landmark.py: a landmark design when steps carry dates (whole-run adherence is read
after the outcome: failing runs are abandoned part-way), else an association only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis import settings

from analysis.metrics import stats
from analysis.metrics.before_after import percent, points
from analysis.playbooks.catalog import playbook_catalog
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


def _closed_sql(filters: Filters | None) -> tuple[str, list]:
    """Closed runs with a playbook within the filters, as (subquery sql, params)."""
    runs_sql, params = scoped("playbook_runs", filters)
    only = ""
    if filters is not None and filters.playbook_id is not None:
        only = "AND q.playbook_id = ?"
        params = [*params, filters.playbook_id]
    sql = f"""(
        SELECT q.* FROM {runs_sql} q
        WHERE q.playbook_id IS NOT NULL AND q.outcome IN ('success', 'failure')
          AND coalesce(q.status, 'closed') = 'closed' {only}
    )"""
    return sql, params


def _labels(store: Store, closed_sql: str, params: list) -> tuple[list[str], list[str], bool]:
    """The playbook ids of the closed runs and every account segment, each sorted, and whether
    any closed run lacks usable step counts (only then is run_steps read)."""
    frame = store.query(f"""
        SELECT 'playbook' AS kind, playbook_id AS label,
               count(*) FILTER (WHERE NOT (steps_total > 0 AND steps_completed IS NOT NULL))
                   AS uncounted
        FROM {closed_sql} r GROUP BY playbook_id
        UNION ALL
        SELECT 'segment', segment, 0 FROM accounts WHERE segment IS NOT NULL GROUP BY segment
    """, params)
    # Sorted in Python so segment dummies keep the order pandas categories gave them.
    return (sorted(frame.loc[frame["kind"] == "playbook", "label"].tolist()),
            sorted(frame.loc[frame["kind"] == "segment", "label"].tolist()),
            bool(frame["uncounted"].sum() > 0))


def _codes(labels: list[str]) -> tuple[str, list]:
    """An inline (label, code) table of bound values; codes follow the order of `labels`."""
    if not labels:
        return "(SELECT NULL::VARCHAR AS label, NULL::INTEGER AS code WHERE false)", []
    rows = ", ".join(["(?, ?)"] * len(labels))
    return (f"(SELECT * FROM (VALUES {rows}) AS v(label, code))",
            [v for i, label in enumerate(labels) for v in (label, i)])


def run_arrays(store: Store, filters: Filters | None = None,
               threshold: float | None = None) -> RunArrays:
    """Closed runs with a playbook and a known adherence, as numpy arrays (see RunArrays).

    Adherence is steps_completed / steps_total, else done steps over all steps in run_steps;
    runs with neither are left out. The joins, the adherence and the text-to-code mapping
    happen in SQL; only narrow numeric columns cross into Python.
    """
    threshold = settings.default("follower_threshold") if threshold is None else threshold
    closed_sql, params = _closed_sql(filters)
    playbook_ids, segments, uncounted = _labels(store, closed_sql, params)
    playbook_codes, playbook_params = _codes(playbook_ids)
    segment_codes, segment_params = _codes(segments)
    # Exports that carry step counts for every run never need run_steps: leave the branch
    # (two more scans of the runs) out of the query.
    with_steps = "UNION ALL SELECT * FROM stepped" if uncounted else ""
    frame = store.query(f"""
        WITH runs AS NOT MATERIALIZED (
            SELECT run_id, playbook_id, account_id, outcome, steps_total, steps_completed,
                   health_at_open, arr_at_open
            FROM {closed_sql} q
        ),
        counted AS (
            SELECT playbook_id, account_id, outcome, health_at_open, arr_at_open,
                   CAST(steps_completed AS DOUBLE) / steps_total AS adherence
            FROM runs WHERE steps_total > 0 AND steps_completed IS NOT NULL
        ),
        stepped AS (
            -- Step rows are only read for runs without usable counts of their own (the
            -- counts win); the semi-join lets DuckDB skip the other runs' steps.
            SELECT r.playbook_id, r.account_id, r.outcome, r.health_at_open, r.arr_at_open,
                   CAST(s.done AS DOUBLE) / s.steps AS adherence
            FROM runs r JOIN (
                SELECT run_id, count(*) AS steps, count(*) FILTER (WHERE status = 'done') AS done
                FROM run_steps
                WHERE run_id IN (SELECT run_id FROM runs
                                 WHERE NOT (steps_total > 0 AND steps_completed IS NOT NULL))
                GROUP BY run_id
            ) s USING (run_id)
            WHERE NOT (r.steps_total > 0 AND r.steps_completed IS NOT NULL)
        ),
        final AS (
            SELECT CAST(p.code AS INTEGER) AS playbook,
                   CAST(r.outcome = 'success' AS TINYINT) AS success,
                   r.adherence,
                   CAST(r.health_at_open AS DOUBLE) AS health_at_open,
                   CAST(r.arr_at_open AS DOUBLE) AS arr_at_open,
                   CAST(coalesce(g.code, -1) AS INTEGER) AS segment
            FROM (SELECT * FROM counted {with_steps}) r
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


def closed_runs(store: Store, filters: Filters | None = None,
                threshold: float | None = None) -> pd.DataFrame:
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
    segments = sorted({s for s in segment if s is not None})
    lookup = {label: i for i, label in enumerate(segments)}
    playbooks = sorted(set(runs["playbook_id"]))
    pb_lookup = {label: i for i, label in enumerate(playbooks)}
    return RunArrays(
        playbook=np.array([pb_lookup[p] for p in runs["playbook_id"]], dtype=np.int64),
        success=runs["success"].to_numpy(dtype=np.int8),
        adherence=runs["adherence"].to_numpy(dtype=float),
        follower=runs["follower"].to_numpy(dtype=bool),
        health=pd.to_numeric(runs["health_at_open"], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan),
        arr=pd.to_numeric(runs["arr_at_open"], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan),
        segment=np.array([lookup.get(s, -1) if s is not None else -1 for s in segment],
                         dtype=np.int64),
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


def weighted_difference(y: np.ndarray, t: np.ndarray, w: np.ndarray,
                        alpha: float | None = None) -> tuple[float, float, float, float, float]:
    """Weighted least squares of y on [1, t] with HC1 robust errors, in closed form.

    With one binary regressor the WLS slope is the difference of the two weighted means, and
    the HC1 sandwich reduces to n/(n − 2) · Σ_g Σ_i w_i² e_i² / (Σ_i w_i)² over the two
    groups (e = y minus its group's weighted mean); the interval and p-value are normal, as
    statsmodels' `WLS(...).fit(cov_type="HC1")` gives them.

    Returns (diff, se, ci_low, ci_high, p_value).
    """
    alpha = settings.default("alpha") if alpha is None else alpha
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


def ipw_effect(y: np.ndarray, t: np.ndarray, x_model, x_balance, trim=None,
               alpha: float | None = None, names=None) -> Adjusted | None:
    """Propensity-weighted difference in success, or None when the model cannot be fitted or
    trimming leaves a group empty.

    x_model and x_balance are DataFrames or 2-D arrays of complete rows; `names` labels the
    balance columns (a DataFrame's own column names when None)."""
    alpha = settings.default("alpha") if alpha is None else alpha
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
                    balance=_balance_table(names, x_balance, t, keep, w))


def stratified_effect(y: np.ndarray, t: np.ndarray, strata: pd.DataFrame, x_balance,
                      alpha: float | None = None, names=None) -> Adjusted | None:
    """Mantel–Haenszel risk difference across strata holding both groups; None when those
    strata hold fewer than `small_cell` runs of either group or the variance is zero.

    Weights n1·n0/N per stratum; variance of Greenland & Robins (1985), eq. for non-sparse data.
    x_balance is a DataFrame or a 2-D array (then `names` labels its columns).
    """
    alpha = settings.default("alpha") if alpha is None else alpha
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
    return Adjusted("stratified", diff, diff - z * se, diff + z * se, _finite(p),
                    int(used.sum()), int((~used).sum()),
                    balance=_balance_table(names, x_balance, t, used, unit_w))


def _strata(runs: RunArrays, cov: Covariates) -> tuple[pd.DataFrame, str]:
    """One stratifying variable, so that the few runs this is used for still fill the strata:
    the quintile of health_at_open, else of log ARR, else the segment. Returns (strata, label)."""
    for column in ("health_at_open", "log_arr_at_open"):
        if column in cov.names:
            values = cov.balance[:, cov.names.index(column)]
            quintile = pd.qcut(values, 5, labels=False, duplicates="drop")
            return pd.DataFrame({"quintile": quintile}), _LABELS[column]
    return pd.DataFrame({"segment": runs.segment}), _LABELS["segment"]


def adjusted_effect(runs, trim=None, alpha: float | None = None) -> Adjusted:
    """The best adjusted estimate the runs of one playbook allow: ipw, else stratified, else
    naive (no estimate). `runs` is `closed_runs` restricted to one playbook (a DataFrame), or
    the same runs as RunArrays."""
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
    if (len(sub) >= settings.default("min_runs_adjusted")
            and groups >= settings.default("min_group_adjusted")):
        result = ipw_effect(y, t, cov.model, cov.balance, trim, alpha, cov.names)
    if result is None and groups > 0:
        strata, label = _strata(sub, cov)
        result = stratified_effect(y, t, strata, cov.balance, alpha, cov.names)
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
    level = f"{stats.confidence_label(alpha)} CI"
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
    missing = stats.more_needed(non.rate, followers.n, non.n, lift, alpha)
    if missing:
        return (f"Not enough data: about {missing} more runs needed to detect a "
                f"{round(lift * 100)}-point lift ({percent(followers.rate)} vs "
                f"{percent(non.rate)}, n = {followers.n} followers and {non.n} non-followers)")
    return f"No clear difference: {detail}"


# -- public -----------------------------------------------------------------------------------
def _effect_row(playbook_id: str, runs: RunArrays, threshold: float) -> dict:
    """One playbook's row of COLUMNS."""
    follower, success = runs.follower, runs.success
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
        The playbook catalogue (analysis.playbooks.catalog.playbook_catalog(store) when None).

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
    runs = run_arrays(store, filters, threshold)
    groups = runs.by_playbook()
    ids = set(catalog["playbook_id"].dropna()) | set(groups)
    if filters is not None and filters.playbook_id is not None:
        ids &= {filters.playbook_id}
    empty = runs.take(slice(0, 0))
    rows = [_effect_row(pid, groups.get(pid, empty), threshold) for pid in sorted(ids)]
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
    runs = run_arrays(store, filters, threshold)
    if not len(runs) or runs.follower.all() or not runs.follower.any():
        return pd.DataFrame(columns=BALANCE_COLUMNS)
    adj = adjusted_effect(runs)
    return adj.balance if adj.balance is not None else pd.DataFrame(columns=BALANCE_COLUMNS)


def followers_json(store: Store, filters: Filters | None = None,
                   catalog: pd.DataFrame | None = None) -> list[dict]:
    """The `followers` key of `metrics --json`: one dict per playbook, None for missing values."""
    frame = followers_effect(store, filters, catalog=catalog)
    # Imported here: the design module reads this module's estimators.
    from analysis.metrics.designs.landmark import followers_designs
    designs = followers_designs(store, filters, frame)
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
        design = designs[row["playbook_id"]]
        item.update(effect=design.effect.to_json(), claim=str(design.claim),
                    landmark=design.to_json())
        out.append(item)
    return out

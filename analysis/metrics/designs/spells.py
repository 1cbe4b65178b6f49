"""Months that run in spells: an AR(1) variance component beside binomial noise, by REML.

Both before/after designs (designs.interrupted, designs.staggered) read a monthly success rate
whose months differ by binomial noise, which the counts fix, and by more: a good or bad
stretch (a season, a staffing gap, a quarter-end push) moves the rate for several months in a
row. The model here, for an observation i of group g in month t,

    y_i = x_i·b + u_g(t) + e_i,    e_i independent with known variance d_i (binomial),
    u_g a stationary AR(1) series: Var u = tau2, Corr(u_g(t), u_g(s)) = rho^|t − s|,

with the series of different groups independent, is fitted by restricted maximum likelihood
(REML: Patterson & Thompson 1971; Harville 1977, JASA 72:320, §4), which estimates tau2 and
rho from the residuals after the fixed effects b, accounting for the degrees of freedom b
takes. Plain moment estimates of rho from the residuals of a short series are biased toward 0
(and towards negative values once a trend or group levels are fitted), the known trap that
makes intervals too narrow (Turner et al. 2021, BMC Med Res Methodol 21:181, for interrupted
time series; Nickell 1981 and Hansen 2007, J Econometrics 140:670, for group fixed effects);
REML removes much of the part of that bias the regression causes (Cheang & Reinsel 2000,
JASA 95:1173), and the callers' Satterthwaite degrees of freedom (`satterthwaite`) allow for
what estimating tau2 and rho from few months leaves uncertain. Gaps in the months (left-out
months, months without outcomes) are handled exactly: the correlation is rho to the months'
distance.

tau2 = 0 is allowed (months as independent as binomial noise says; rho is then moot) and rho
is kept in [0, RHO_MAX]: months that alternate good-bad-good are not a mechanism a CS
organisation has, and a negative rho estimated from a short series would only narrow the
interval.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import optimize
from scipy.linalg import lapack

RHO_MAX = 0.95
# tau2 is searched as a multiple of the median binomial variance, up to this.
TAU2_MAX_RATIO = 100.0


@dataclass(frozen=True)
class Spells:
    """The fitted variance component: tau2 (variance of the month deviations, in the units of
    y squared) and rho (their lag-1 correlation)."""
    tau2: float
    rho: float

    def block(self, months: np.ndarray) -> np.ndarray:
        """tau2 · rho^|t − s| over one group's months."""
        same = np.zeros(len(months), int)
        return self.cross(months, same, months, same)

    def quadratic(self, a: np.ndarray, months: np.ndarray, groups: np.ndarray) -> float:
        """a' S a, S the covariance of the deviations u over the observations (block by
        group): the variance a linear combination a·y takes from the spells."""
        total = 0.0
        for key in np.unique(groups):
            at = groups == key
            total += float(a[at] @ self.block(months[at]) @ a[at])
        return total


    def cross(self, months_a: np.ndarray, groups_a: np.ndarray, months_b: np.ndarray,
              groups_b: np.ndarray) -> np.ndarray:
        """The covariance of the deviations between observations a and b: tau2 rho^|t − s|
        within a group, 0 across groups."""
        lag = np.abs(np.asarray(months_a, float)[:, None] - np.asarray(months_b, float)[None, :])
        same = np.asarray(groups_a)[:, None] == np.asarray(groups_b)[None, :]
        return np.where(same, self.tau2 * self.rho ** lag, 0.0) if self.tau2 else np.zeros(lag.shape)


NONE = Spells(0.0, 0.0)


def _blocks(groups: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(groups == key) for key in np.unique(groups)]


class Factor:
    """V = diag(d) + S block by block (one block a group): the inverse of each block's
    Cholesky factor, so whitening is a matrix product a block."""

    def __init__(self, d: np.ndarray, months: np.ndarray, groups: np.ndarray | None,
                 spells: Spells):
        self.blocks = _blocks(np.zeros(len(d), int) if groups is None else np.asarray(groups))
        self.inverses = []
        self.logdet = 0.0
        for at in self.blocks:
            v = spells.block(months[at])
            v[np.diag_indices_from(v)] += d[at]
            chol, info = lapack.dpotrf(v, lower=1, clean=1)
            if info != 0:
                raise np.linalg.LinAlgError("V is not positive definite")
            inverse, info = lapack.dtrtri(chol, lower=1)
            if info != 0:
                raise np.linalg.LinAlgError("V is singular")
            self.inverses.append(inverse)
            self.logdet += 2.0 * float(np.log(np.diag(chol)).sum())

    def whiten(self, b: np.ndarray) -> np.ndarray:
        """L⁻¹ b."""
        out = np.empty_like(b, dtype=float)
        for at, inverse in zip(self.blocks, self.inverses):
            out[at] = inverse @ b[at]
        return out

    def unwhiten_t(self, b: np.ndarray) -> np.ndarray:
        """L⁻ᵀ b."""
        out = np.empty_like(b, dtype=float)
        for at, inverse in zip(self.blocks, self.inverses):
            out[at] = inverse.T @ b[at]
        return out


def whiten(y: np.ndarray, x: np.ndarray, d: np.ndarray, months: np.ndarray,
           groups: np.ndarray, spells: Spells):
    """(L⁻¹y, L⁻¹x, log|V|) for V = diag(d) + S, L its Cholesky factor block by block; None
    when V is not positive definite."""
    try:
        factor = Factor(d, months, groups, spells)
    except np.linalg.LinAlgError:
        return None
    return factor.whiten(y), factor.whiten(x), factor.logdet


def gls(y: np.ndarray, x: np.ndarray, d: np.ndarray, months: np.ndarray,
        groups: np.ndarray | None, spells: Spells):
    """Generalised least squares under V = diag(d) + S: (b, (X'V⁻¹X)⁻¹)."""
    factor = Factor(d, months, groups, spells)  # LinAlgError when V is not positive definite
    ys, xs = factor.whiten(y), factor.whiten(x)
    gram = xs.T @ xs
    cov = np.linalg.inv(gram)
    return cov @ (xs.T @ ys), cov


def restricted_loglik(y: np.ndarray, x: np.ndarray, d: np.ndarray, months: np.ndarray,
                      groups: np.ndarray, spells: Spells) -> float:
    """The REML log-likelihood (up to a constant) of `spells`; x of full column rank."""
    white = whiten(y, x, d, months, groups, spells)
    if white is None:
        return -math.inf
    ys, xs, logdet = white
    gram = xs.T @ xs
    sign, logdet_gram = np.linalg.slogdet(gram)
    if sign <= 0:
        return -math.inf
    beta = np.linalg.solve(gram, xs.T @ ys)
    resid = ys - xs @ beta
    return -0.5 * (logdet + logdet_gram + float(resid @ resid))


def fit(y: np.ndarray, x: np.ndarray, d: np.ndarray, months: np.ndarray,
        groups: np.ndarray | None = None, start: Spells | None = None) -> Spells:
    """REML estimates of (tau2, rho) for y = x·b + u + e (module docstring).

    y, d, months: one entry per observation (d the known independent variance, months an
    integer or float time index); x: the fixed effects (any rank: reduced to a basis of its
    columns); groups: the series each observation belongs to (None: one series); start: a
    previous fit to search from first.
    """
    y = np.asarray(y, float)
    d = np.asarray(d, float)
    months = np.asarray(months, float)
    groups = np.zeros(len(y), int) if groups is None else np.asarray(groups)
    x = _basis(np.asarray(x, float))
    if len(y) - x.shape[1] < 2:
        return NONE
    unit = float(np.median(d))

    def loss(theta):
        ratio, rho = theta
        value = restricted_loglik(y, x, d, months, groups, Spells(ratio * unit, rho))
        return -value if math.isfinite(value) else 1e300

    # A coarse grid first (the surface can have a ridge along the boundary tau2 = 0), then a
    # bounded search from the best point (SLSQP: on simulated series it reaches the same
    # maximum as L-BFGS-B in a third of the time; Powell and TNC stopped short).
    # A previous fit to nearly the same data (the next round of a quasi-likelihood fit)
    # replaces the grid.
    if start is None:
        grid = [(r, p) for r in (0.0, 0.1, 0.4, 1.5, 6.0) for p in (0.0, 0.4, 0.8)]
    else:
        grid = [(0.0, 0.0), (min(start.tau2 / unit, TAU2_MAX_RATIO), start.rho)]
    best = min(grid, key=loss)
    result = optimize.minimize(loss, np.array(best, float), method="SLSQP",
                               bounds=[(0.0, TAU2_MAX_RATIO), (0.0, RHO_MAX)])
    ratio, rho = (result.x if result.fun <= loss(best) else best)
    if ratio <= 1e-12:
        return NONE
    return Spells(float(ratio * unit), float(rho))


def _basis(x: np.ndarray) -> np.ndarray:
    """An orthonormal basis of x's column space (REML depends on x only through it)."""
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    rank = int((s > s.max() * 1e-10).sum()) if len(s) else 0
    return u[:, :rank]


def satterthwaite(y: np.ndarray, x: np.ndarray, d: np.ndarray, months: np.ndarray,
                  groups: np.ndarray | None, spells: Spells,
                  variance: Callable[[Spells], float]) -> float | None:
    """Satterthwaite's degrees of freedom for an estimate whose variance is `variance(spells)`.

    The variance v(theta) is estimated with theta = (tau2, rho) in place of the truth; its
    own variance is about g'Ag, g the gradient of v in theta and A the inverse of the
    observed REML information, so df = 2 v² / g'Ag (Satterthwaite 1946; Giesbrecht & Burns
    1985, Biometrics 41:477). A parameter on its bound (rho = 0) is held fixed. None when
    tau2 = 0 (the variance is then the binomial one, known: the caller keeps its own
    reference) or the information is not positive definite.
    """
    if spells.tau2 <= 0:
        return None
    y, d, months = (np.asarray(a, float) for a in (y, d, months))
    groups = np.zeros(len(y), int) if groups is None else np.asarray(groups)
    basis = _basis(np.asarray(x, float))
    theta0 = np.array([spells.tau2, spells.rho])
    steps = np.array([spells.tau2 * 1e-3, 1e-4])
    free = [0] + ([1] if 2 * steps[1] < spells.rho < RHO_MAX - 2 * steps[1] else [])

    def at(theta):
        return Spells(max(float(theta[0]), 0.0), float(min(max(theta[1], 0.0), RHO_MAX)))

    def loglik(theta):
        return restricted_loglik(y, basis, d, months, groups, at(theta))

    k = len(free)
    hessian = np.empty((k, k))
    grad = np.empty(k)
    for a, i in enumerate(free):
        ei = np.zeros(2)
        ei[i] = steps[i]
        grad[a] = (variance(at(theta0 + ei)) - variance(at(theta0 - ei))) / (2 * steps[i])
        for b, j in enumerate(free[a:], start=a):
            ej = np.zeros(2)
            ej[j] = steps[j]
            hessian[a, b] = hessian[b, a] = -(
                loglik(theta0 + ei + ej) - loglik(theta0 + ei - ej)
                - loglik(theta0 - ei + ej) + loglik(theta0 - ei - ej)) / (4 * steps[i] * steps[j])
    try:
        spread = float(grad @ np.linalg.solve(hessian, grad))
    except np.linalg.LinAlgError:
        return None
    if not math.isfinite(spread) or spread <= 0 or np.any(np.linalg.eigvalsh(hessian) <= 0):
        return None
    return 2 * variance(spells) ** 2 / spread

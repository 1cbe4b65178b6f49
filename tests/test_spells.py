"""Months that run in spells (designs.spells): generalised least squares against statsmodels,
the REML estimates against the restricted likelihood computed densely, Satterthwaite's degrees
of freedom against the case where they are known exactly."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.metrics.designs import spells


def _dense_v(d, months, groups, tau2, rho):
    v = np.diag(np.asarray(d, float))
    same = groups[:, None] == groups[None, :]
    lag = np.abs(months[:, None] - months[None, :])
    return v + np.where(same, tau2 * rho ** lag, 0.0)


def _dense_reml(y, x, d, months, groups, tau2, rho):
    """−½ [log|V| + log|X'V⁻¹X| + r'V⁻¹r] with r the GLS residual (Harville 1977, §4)."""
    v = _dense_v(d, months, groups, tau2, rho)
    vinv = np.linalg.inv(v)
    gram = x.T @ vinv @ x
    beta = np.linalg.solve(gram, x.T @ vinv @ y)
    r = y - x @ beta
    return -0.5 * (np.linalg.slogdet(v)[1] + np.linalg.slogdet(gram)[1] + r @ vinv @ r)


def _two_teams(seed=3, tau2=0.004, rho=0.7):
    """Two teams' monthly rates with a gap (months 10-12 of the second left out): AR(1)
    deviations of variance tau2 plus binomial noise of known variance, a level per team and
    a common trend."""
    rng = np.random.default_rng(seed)
    rows = []
    for g, level in enumerate((0.4, 0.5)):
        months = np.array([t for t in range(36) if not (g == 1 and 10 <= t <= 12)], float)
        u = np.empty(36)
        u[0] = rng.normal(0, np.sqrt(tau2))
        for t in range(1, 36):
            u[t] = rho * u[t - 1] + rng.normal(0, np.sqrt(tau2 * (1 - rho ** 2)))
        d = rng.uniform(0.002, 0.006, len(months))
        y = level + 0.002 * months + u[months.astype(int)] + rng.normal(0, np.sqrt(d))
        rows += [(g, t, yi, di) for t, yi, di in zip(months, y, d)]
    g, t, y, d = (np.array(c) for c in zip(*rows))
    x = np.column_stack([g == 0, g == 1, t]).astype(float)
    return y, x, d, t, g.astype(int)


def test_gls_is_statsmodels_gls_with_the_same_covariance():
    import statsmodels.api as sm

    y, x, d, t, g = _two_teams()
    found = spells.Spells(0.003, 0.6)
    beta, cov = spells.gls(y, x, d, t, g, found)
    reference = sm.GLS(y, x, sigma=_dense_v(d, t, g, 0.003, 0.6)).fit()
    assert np.allclose(beta, reference.params, rtol=1e-9)
    assert np.allclose(cov, reference.normalized_cov_params, rtol=1e-9)


def test_reml_maximises_the_restricted_likelihood():
    y, x, d, t, g = _two_teams()
    found = spells.fit(y, x, d, t, g)
    assert found.tau2 > 0 and 0 < found.rho < spells.RHO_MAX
    # A grid over (tau2, rho), the likelihood computed densely: none beats the fit.
    best = max(_dense_reml(y, x, d, t, g, tau2, rho)
               for tau2 in np.linspace(0.0005, 0.02, 40) for rho in np.linspace(0, 0.95, 39))
    assert _dense_reml(y, x, d, t, g, found.tau2, found.rho) >= best - 1e-6
    # The likelihood is flat at the fit: a step either way in either parameter loses.
    at = _dense_reml(y, x, d, t, g, found.tau2, found.rho)
    for tau2, rho in ((found.tau2 * 1.05, found.rho), (found.tau2 * 0.95, found.rho),
                      (found.tau2, found.rho + 0.02), (found.tau2, found.rho - 0.02)):
        assert _dense_reml(y, x, d, t, g, tau2, rho) <= at + 1e-9


def test_months_no_noisier_than_binomial_noise_find_no_spells():
    y, x, d, t, g = _two_teams(tau2=1e-12)
    # Deviations shrunk to a quarter of the binomial noise's spread: nothing left over.
    fitted = x @ np.linalg.lstsq(x, y, rcond=None)[0]
    assert spells.fit(fitted + 0.25 * (y - fitted), x, d, t, g) == spells.NONE


def test_satterthwaite_df_of_a_mean_with_independent_months_is_n_minus_1():
    # y = m + e with Var e = d + tau2 (rho = 0: months that alternate are not spells). REML
    # gives d + tau2 = the sample variance s², whose variance is 2 (d + tau2)² / (n − 1), and
    # the mean's variance is (d + tau2) / n, so Satterthwaite's df are n − 1 exactly.
    n = 24
    y = 0.5 + 0.1 * np.where(np.arange(n) % 2 == 0, 1.0, -1.0) + np.linspace(-0.01, 0.01, n)
    x = np.ones((n, 1))
    d = np.full(n, 0.001)
    t = np.arange(n, dtype=float)
    found = spells.fit(y, x, d, t)
    assert found.rho == 0.0
    assert found.tau2 == pytest.approx(np.var(y, ddof=1) - 0.001, rel=1e-4)
    df = spells.satterthwaite(y, x, d, t, None, found,
                              lambda f: spells.gls(y, x, d, t, None, f)[1][0, 0])
    assert df == pytest.approx(n - 1, rel=1e-3)
    # No spells: no df of their own (the caller's reference stands).
    assert spells.satterthwaite(y, x, d, t, None, spells.NONE, lambda f: 1.0) is None

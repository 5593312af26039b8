"""Importance-sampling estimators and Kong's effective sample size."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

from utils.importance_sampling import (
    effective_sample_size,
    importance_sampling_estimate,
    importance_weights,
    self_normalised_estimate,
)


def gaussian_shift_samples(key, shift, n):
    """Samples of the proposal N(shift, 1) with log-densities of it and of the target N(0, 1)."""
    x = shift + jax.random.normal(key, (n,))
    return x, norm.logpdf(x), norm.logpdf(x, loc=shift)


def test_weights_are_density_ratios():
    log_p = jnp.log(jnp.array([0.2, 0.5, 0.3]))
    log_q = jnp.log(jnp.array([0.4, 0.5, 0.1]))
    np.testing.assert_allclose(importance_weights(log_p, log_q), [0.5, 1.0, 3.0], rtol=1e-6)


def test_estimate_is_exact_on_a_discrete_distribution_when_every_outcome_is_sampled_once():
    # With q uniform and each outcome sampled once, the IS average is exactly sum_x p(x) f(x).
    p = jnp.array([0.1, 0.2, 0.3, 0.4])
    f = jnp.array([3.0, -1.0, 2.0, 5.0])
    log_q = jnp.log(jnp.full(4, 0.25))
    est = importance_sampling_estimate(f, jnp.log(p), log_q)
    np.testing.assert_allclose(est, jnp.dot(p, f), rtol=1e-6)
    # The self-normalised estimate is also exact here, since the weights average to 1.
    np.testing.assert_allclose(self_normalised_estimate(f, jnp.log(p), log_q), jnp.dot(p, f), rtol=1e-6)


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0])
def test_estimate_is_unbiased_for_a_shifted_gaussian(shift):
    # E_{x~N(0,1)}[x^2] = 1, estimated from N(shift, 1): the mean over many
    # independent estimates is within 4 standard errors of 1.
    keys = jax.random.split(jax.random.key(0), 2000)

    def one_estimate(key):
        x, log_p, log_q = gaussian_shift_samples(key, shift, 50)
        return importance_sampling_estimate(x**2, log_p, log_q)

    estimates = jax.vmap(one_estimate)(keys)
    se = estimates.std() / np.sqrt(len(keys))
    assert abs(float(estimates.mean()) - 1.0) < 4 * float(se), (float(estimates.mean()), float(se))


def test_vector_valued_f():
    x, log_p, log_q = gaussian_shift_samples(jax.random.key(1), 0.3, 1000)
    f = jnp.stack([x, x**2], axis=1)
    est = importance_sampling_estimate(f, log_p, log_q)
    assert est.shape == (2,)
    w = importance_weights(log_p, log_q)
    np.testing.assert_allclose(est, (w[:, None] * f).mean(0), rtol=1e-5)
    snis = self_normalised_estimate(f, log_p, log_q)
    np.testing.assert_allclose(snis, (w[:, None] * f).sum(0) / w.sum(), rtol=1e-5)


def test_self_normalised_ignores_normalising_constants():
    x, log_p, log_q = gaussian_shift_samples(jax.random.key(2), 0.5, 500)
    a = self_normalised_estimate(x, log_p, log_q)
    b = self_normalised_estimate(x, log_p + 7.0, log_q - 3.0)
    np.testing.assert_allclose(a, b, rtol=1e-5)
    # The plain estimate is not invariant: it scales with exp(10).
    assert not np.isclose(importance_sampling_estimate(x, log_p + 7.0, log_q - 3.0), a)


def test_ess_extremes_and_scale_invariance():
    assert float(effective_sample_size(jnp.ones(10))) == pytest.approx(10.0)
    assert float(effective_sample_size(jnp.array([0.0, 0.0, 5.0]))) == pytest.approx(1.0)
    w = jnp.array([1.0, 2.0, 3.0])
    assert float(effective_sample_size(w)) == pytest.approx(36.0 / 14.0, rel=1e-6)
    # Huge weights would overflow w**2 in float32 without the rescaling.
    assert float(effective_sample_size(w * 1e30)) == pytest.approx(36.0 / 14.0, rel=1e-5)


def test_ess_falls_as_the_proposal_moves_away():
    ess = []
    for shift in [0.0, 0.5, 1.0, 2.0, 3.0]:
        _, log_p, log_q = gaussian_shift_samples(jax.random.key(3), shift, 2000)
        ess.append(float(effective_sample_size(importance_weights(log_p, log_q))))
    assert ess[0] == pytest.approx(2000.0)
    assert all(a > b for a, b in zip(ess, ess[1:])), ess
    # For a unit-variance Gaussian shift, E[w^2] = exp(shift^2), so ESS/N -> exp(-shift^2).
    assert ess[2] / 2000 == pytest.approx(np.exp(-1.0), rel=0.15)


def test_functions_work_under_jit_and_vmap():
    keys = jax.random.split(jax.random.key(4), 3)

    @jax.jit
    def run(key):
        x, log_p, log_q = gaussian_shift_samples(key, 1.0, 100)
        w = importance_weights(log_p, log_q)
        return importance_sampling_estimate(x, log_p, log_q), effective_sample_size(w)

    est, ess = jax.vmap(run)(keys)
    assert est.shape == (3,) and ess.shape == (3,)
    assert bool(jnp.all((ess >= 1) & (ess <= 100)))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: importance_weights(jnp.zeros(3), jnp.zeros(4)), "log_q must have the same shape"),
        (lambda: importance_weights(jnp.zeros((2, 3)), jnp.zeros((2, 3))), r"log_p must have shape \(N,\)"),
        (lambda: importance_weights(jnp.zeros(0), jnp.zeros(0)), "N >= 1"),
        (lambda: importance_weights(jnp.zeros(2), jnp.array([0.0, -jnp.inf])), "log_q must be finite"),
        (lambda: importance_weights(jnp.array([jnp.nan, 0.0]), jnp.zeros(2)), "log_p must be a log-density"),
        (lambda: importance_sampling_estimate(jnp.zeros(4), jnp.zeros(3), jnp.zeros(3)), "f_values must have shape"),
        (lambda: importance_sampling_estimate(jnp.zeros(()), jnp.zeros(3), jnp.zeros(3)), "f_values must have shape"),
        (lambda: self_normalised_estimate(jnp.zeros(2), jnp.full(2, -jnp.inf), jnp.zeros(2)), "all weights are zero"),
        (lambda: effective_sample_size(jnp.array([1.0, -1.0])), "non-negative"),
        (lambda: effective_sample_size(jnp.zeros(3)), "all zero"),
        (lambda: effective_sample_size(jnp.ones((2, 2))), r"weights must have shape \(N,\)"),
    ],
)
def test_bad_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_non_numeric_arguments_raise_type_error():
    with pytest.raises(TypeError, match="weights must"):
        effective_sample_size("abc")
    with pytest.raises(TypeError, match="log_p must"):
        importance_weights(None, jnp.zeros(2))
    with pytest.raises(TypeError, match="f_values must hold real numbers"):
        importance_sampling_estimate(np.array(["a", "b"]), jnp.zeros(2), jnp.zeros(2))


def test_log_p_minus_infinity_gives_zero_weight():
    w = importance_weights(jnp.array([-jnp.inf, 0.0]), jnp.zeros(2))
    np.testing.assert_array_equal(w, [0.0, 1.0])


# --- the chapter's Gaussian-shift example ---------------------------------------------


def test_gaussian_shift_sweep_matches_a_direct_computation():
    from utils.importance_sampling import gaussian_shift_sweep

    shifts = jnp.array([0.0, 1.0])
    sweep = gaussian_shift_sweep(jax.random.key(6), shifts, 20, 3)
    assert sweep.estimates.shape == (2, 3) and sweep.weights.shape == (2, 3, 20) and sweep.ess.shape == (2, 3)
    key = jax.random.split(jax.random.key(6), 3)[1]
    x, log_p, log_q = gaussian_shift_samples(key, 1.0, 20)
    np.testing.assert_allclose(sweep.estimates[1, 1], importance_sampling_estimate(x**2, log_p, log_q), rtol=1e-6)
    np.testing.assert_allclose(sweep.weights[1, 1], importance_weights(log_p, log_q), rtol=1e-6)
    np.testing.assert_allclose(sweep.ess[1, 1], effective_sample_size(importance_weights(log_p, log_q)), rtol=1e-6)
    np.testing.assert_array_equal(sweep.weights[0], 1.0)  # shift 0: p = q
    snis = gaussian_shift_sweep(jax.random.key(6), shifts, 20, 3, estimator=self_normalised_estimate)
    np.testing.assert_allclose(snis.estimates[1, 1], self_normalised_estimate(x**2, log_p, log_q), rtol=1e-6)


@pytest.mark.parametrize("n, n_repeats", [(0, 3), (3, 0)])
def test_gaussian_shift_sweep_rejects_empty_samples(n, n_repeats):
    from utils.importance_sampling import gaussian_shift_sweep

    with pytest.raises(ValueError, match="positive"):
        gaussian_shift_sweep(jax.random.key(0), [1.0], n, n_repeats)


@pytest.mark.parametrize("shift", [0.5, 1.5])
def test_gaussian_shift_closed_forms_against_quadrature(shift):
    from scipy import integrate
    from scipy.stats import norm as scipy_norm

    from utils.importance_sampling import (
        gaussian_shift_term_variance,
        gaussian_shift_term_variance_quadrature,
        gaussian_shift_weight_moment,
    )

    for k in (1, 2, 3):
        integrand = lambda x: np.exp(k * scipy_norm.logpdf(x) - (k - 1) * scipy_norm.logpdf(x, loc=shift))  # noqa: E731
        value = integrate.quad(integrand, -np.inf, np.inf, epsrel=1e-12)[0]
        assert gaussian_shift_weight_moment(k, shift) == pytest.approx(value, rel=1e-8)
    assert gaussian_shift_term_variance(shift) == pytest.approx(gaussian_shift_term_variance_quadrature(shift), rel=1e-8)
    assert gaussian_shift_term_variance(0.0) == pytest.approx(2.0)  # Var[x^2] under N(0, 1)


def test_ess_fraction_standard_error_matches_the_spread_over_batches():
    from utils.importance_sampling import gaussian_shift_ess_fraction_se, gaussian_shift_sweep

    sweep = gaussian_shift_sweep(jax.random.key(12), [0.5], 2000, 400)
    spread = float(np.std(np.asarray(sweep.ess[0]) / 2000, ddof=1))
    # 400 batches: the sample standard deviation itself is uncertain by about 4-5%.
    assert spread == pytest.approx(float(gaussian_shift_ess_fraction_se(0.5, 2000)), rel=0.2)

"""The pseudocode `sgd` runs as it reads and matches the jitted implementation."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from utils import latex
from utils.optim import (
    gradient_ascent,
    make_least_squares,
    make_minibatch_gradient,
    sgd_least_squares,
    stochastic_gradient_ascent,
)
from utils.pseudocode.gradient_ascent import sgd


def test_sgd_gives_the_jitted_iterates_for_the_same_estimator_and_key():
    data = make_least_squares(jax.random.key(0), n_samples=100, dim=3)
    key = jax.random.key(4)
    estimate_gradient = make_minibatch_gradient(data, batch_size=5, key=key)
    path = sgd_least_squares(data, jnp.zeros(3), 0.05, 8, batch_size=5, key=key)
    generic = stochastic_gradient_ascent(jnp.zeros(3), estimate_gradient, 0.05, 8)
    for n_steps in range(1, 9):
        theta = sgd(jnp.zeros(3), estimate_gradient, 0.05, n_steps)
        np.testing.assert_allclose(theta, path[n_steps], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(theta, generic[n_steps], rtol=1e-5, atol=1e-6)
    # The iterates really are random: a different key gives a different path.
    other = sgd(jnp.zeros(3), make_minibatch_gradient(data, 5, jax.random.key(5)), 0.05, 8)
    assert not jnp.allclose(other, path[8])


def test_sgd_with_exact_gradients_is_gradient_ascent():
    def J(theta):
        return -jnp.sum((theta - 1.0) ** 2)

    theta = sgd(jnp.array([3.0, -1.0]), lambda theta, k: jax.grad(J)(theta), 0.1, 12)
    np.testing.assert_allclose(theta, gradient_ascent(J, jnp.array([3.0, -1.0]), 0.1, 12)[-1], rtol=1e-6)


def test_sgd_runs_on_plain_python_numbers():
    # theta <- theta + eta * (-2 theta) multiplies theta by (1 - 2 eta) per step.
    assert abs(sgd(1.0, lambda theta, k: -2.0 * theta, 0.25, 3) - 0.5**3) < 1e-15


def test_sgd_renders_as_pseudocode():
    rendered = latex(sgd)._repr_latex_()
    assert "sgd" in rendered and len(rendered) > 50

"""Pseudocode for the "Gradient ascent" section: stochastic gradient ascent.

Shown in the book with `latex(sgd)`; `utils.optim.stochastic_gradient_ascent`
is its jitted twin (same iterates for the same estimator).
"""
from __future__ import annotations

__all__ = ["sgd"]


def sgd(theta_init, estimate_gradient, eta, n_steps):
    """Stochastic gradient ascent with a constant step size, driven by an unbiased gradient estimator.

    `estimate_gradient(theta, k)` is the k-th draw of an unbiased estimate of the
    gradient at `theta` (eq-unbiased in the book); the function returns the last iterate.
    """
    theta = theta_init
    for k in range(n_steps):
        theta = theta + eta * estimate_gradient(theta, k)
    return theta

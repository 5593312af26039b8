"""Importance sampling: estimate an expectation under `p` from samples of `q`.

The identity behind everything here (eq-is-identity in the book) is

    E_{x~p}[f(x)] = E_{x~q}[ p(x)/q(x) * f(x) ],

valid whenever q(x) > 0 wherever p(x) f(x) != 0. With samples x_1..x_N ~ q and
weights w_i = p(x_i)/q(x_i), the importance-sampling estimate is the average
of w_i f(x_i) (unbiased); the self-normalised estimate divides by the sum of
the weights instead of N (biased, consistent, and usable when p or q is known
only up to a constant). Kong's effective sample size
(sum_i w_i)^2 / sum_i w_i^2 (eq-ess in the book) says roughly how many
samples from p the weighted sample is worth.

The chapter's example, target N(0, 1) and proposal N(δ, 1), has its
experiment (`gaussian_shift_sweep`) and its closed forms (the moments of the
weights, the variance of one term, the standard error of N_eff / N) at the
end of the module.

Every estimator takes log-densities or weights for a batch of N samples along
the leading axis, checks its arguments eagerly (shapes always; values too
when the arrays are concrete, i.e. not traced inside `jit`/`vmap`) and then
calls a jitted kernel.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm as _normal
from jaxtyping import Array, Float

from utils import validate

__all__ = [
    "importance_weights",
    "importance_sampling_estimate",
    "self_normalised_estimate",
    "effective_sample_size",
    "GaussianShiftSweep",
    "gaussian_shift_sweep",
    "gaussian_shift_weight_moment",
    "gaussian_shift_term_variance",
    "gaussian_shift_term_variance_quadrature",
    "gaussian_shift_ess_fraction_se",
]


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _as_array(x, name: str) -> Array:
    if _is_traced(x):
        return x
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except Exception as err:  # noqa: BLE001  (any conversion failure is a type error for the caller)
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from err
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return jnp.asarray(x)


def _check_samples(x: Array, name: str) -> None:
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N,) with N >= 1 samples, got shape {tuple(x.shape)}")


def _check_log_densities(log_p, log_q) -> tuple[Array, Array]:
    log_p = _as_array(log_p, "log_p")
    log_q = _as_array(log_q, "log_q")
    _check_samples(log_p, "log_p")
    if log_q.shape != log_p.shape:
        raise ValueError(
            f"log_q must have the same shape as log_p (one entry per sample), "
            f"got {tuple(log_q.shape)} and {tuple(log_p.shape)}"
        )
    if not _is_traced(log_q) and not bool(jnp.all(jnp.isfinite(log_q))):
        # A sample with q(x) = 0 cannot have been drawn from q.
        raise ValueError("log_q must be finite: every sample must have positive density under the proposal q")
    if not _is_traced(log_p) and bool(jnp.any(jnp.isnan(log_p) | (log_p == jnp.inf))):
        raise ValueError("log_p must be a log-density: no NaN and no +inf (-inf, i.e. p(x) = 0, is allowed)")
    return log_p, log_q


def _check_f_values(f_values, n: int) -> Array:
    f_values = _as_array(f_values, "f_values")
    if f_values.ndim == 0 or f_values.shape[0] != n:
        raise ValueError(
            f"f_values must have shape (N, ...) with N = {n} (one value of f per sample), "
            f"got shape {tuple(f_values.shape)}"
        )
    return f_values


@jax.jit
def _weights(log_p: Float[Array, " N"], log_q: Float[Array, " N"]) -> Float[Array, " N"]:
    return jnp.exp(log_p - log_q)


def importance_weights(log_p: Float[Array, " N"], log_q: Float[Array, " N"]) -> Float[Array, " N"]:
    """The weights `w_i = p(x_i) / q(x_i)`, from the log-densities of the target `p`
    and the proposal `q` at samples `x_i ~ q`. Shapes: `(N,)` -> `(N,)`."""
    log_p, log_q = _check_log_densities(log_p, log_q)
    return _weights(log_p, log_q)


@jax.jit
def _is_estimate(f_values: Float[Array, "N ..."], log_p: Float[Array, " N"], log_q: Float[Array, " N"]):
    w = jnp.exp(log_p - log_q)
    return jnp.tensordot(w, f_values, axes=1) / w.shape[0]


def importance_sampling_estimate(
    f_values: Float[Array, "N ..."], log_p: Float[Array, " N"], log_q: Float[Array, " N"]
) -> Float[Array, "..."]:
    """The importance-sampling estimate `(1/N) sum_i w_i f(x_i)` of `E_{x~p}[f(x)]`
    from samples `x_i ~ q` (eq-is-estimator in the book); unbiased by eq-is-identity.

    `f_values[i] = f(x_i)` may be vector-valued: shape `(N, ...)` -> `(...)`.
    """
    log_p, log_q = _check_log_densities(log_p, log_q)
    f_values = _check_f_values(f_values, log_p.shape[0])
    return _is_estimate(f_values, log_p, log_q)


@jax.jit
def _snis_estimate(f_values: Float[Array, "N ..."], log_p: Float[Array, " N"], log_q: Float[Array, " N"]):
    # Normalised weights from a softmax of the log-weights: no overflow however
    # far apart p and q are, and constants in log_p or log_q cancel.
    w = jax.nn.softmax(log_p - log_q)
    return jnp.tensordot(w, f_values, axes=1)


def self_normalised_estimate(
    f_values: Float[Array, "N ..."], log_p: Float[Array, " N"], log_q: Float[Array, " N"]
) -> Float[Array, "..."]:
    """The self-normalised estimate `sum_i w_i f(x_i) / sum_i w_i` of `E_{x~p}[f(x)]`
    from samples `x_i ~ q`.

    Biased for finite N but consistent; `log_p` and `log_q` may each be off by
    an additive constant (unnormalised densities). Shapes: `(N, ...)` -> `(...)`.
    """
    log_p, log_q = _check_log_densities(log_p, log_q)
    if not _is_traced(log_p) and not bool(jnp.any(jnp.isfinite(log_p))):
        raise ValueError("log_p is -inf at every sample: all weights are zero and the estimate is undefined")
    f_values = _check_f_values(f_values, log_p.shape[0])
    return _snis_estimate(f_values, log_p, log_q)


@jax.jit
def _ess(weights: Float[Array, " N"]) -> Float[Array, ""]:
    # ESS is scale-invariant; dividing by the largest weight keeps the squares
    # from overflowing in float32.
    w = weights / jnp.max(weights)
    return jnp.sum(w) ** 2 / jnp.sum(w**2)


def effective_sample_size(weights: Float[Array, " N"]) -> Float[Array, ""]:
    """Kong's effective sample size `(sum_i w_i)^2 / sum_i w_i^2` (eq-ess in the book).

    Equals N when all weights are equal and 1 when a single weight carries all
    the mass. Shape: `(N,)` -> `()`; the weights must be non-negative and not
    all zero.
    """
    weights = _as_array(weights, "weights")
    _check_samples(weights, "weights")
    if not _is_traced(weights):
        if not bool(jnp.all(jnp.isfinite(weights))) or bool(jnp.any(weights < 0)):
            raise ValueError("weights must be finite and non-negative")
        if not bool(jnp.any(weights > 0)):
            raise ValueError("weights are all zero: the effective sample size is undefined")
    return _ess(weights)


# --------------------------------------------------------------------------
# The chapter's example: target p = N(0, 1), proposal q = N(shift, 1), f(x) = x².
# --------------------------------------------------------------------------


class GaussianShiftSweep(NamedTuple):
    """Repeated importance-sampling estimates of `E_{x~N(0,1)}[x²] = 1` from `q = N(δ, 1)`.

    For each shift `δ` (rows) and each of `R` repeats (columns), `n` samples
    `x ~ q`: `estimates[δ, r]` is the estimator's value from them,
    `weights[δ, r, i] = p(x_i)/q(x_i)` and `ess[δ, r]` Kong's effective sample
    size of those weights (eq-ess)."""

    estimates: Float[Array, "shifts R"]
    weights: Float[Array, "shifts R n"]
    ess: Float[Array, "shifts R"]


Estimator = Callable[[Array, Array, Array], Array]


def gaussian_shift_sweep(
    key, shifts, n: int, n_repeats: int, estimator: Estimator | None = None
) -> GaussianShiftSweep:
    """The importance-sampling experiment of the chapter (eq-is-estimator, eq-ess).

    `estimator(f_values, log_p, log_q)` defaults to `importance_sampling_estimate`;
    pass `self_normalised_estimate` (or a wrong one, in the tests) to run the
    same experiment with another estimator. Repeat `r` uses
    `jax.random.split(key, n_repeats)[r]` for every shift, so the samples of
    different shifts differ only by the shift."""
    validate.check_key("key", key)
    estimator = importance_sampling_estimate if estimator is None else estimator
    validate.check_callable("estimator", estimator)
    n, n_repeats = validate.check_int("n", n, 1), validate.check_int("n_repeats", n_repeats, 1)
    validate.check_finite("shifts", validate.as_float_array("shifts", shifts))
    shifts = jnp.atleast_1d(jnp.asarray(shifts, jnp.float32))
    if shifts.ndim != 1:
        raise ValueError(f"shifts must be a 1-D sequence of numbers, got shape {tuple(shifts.shape)}")
    noise = _standard_normals(jax.random.split(key, n_repeats), n)  # (R, n), shared by every shift
    return GaussianShiftSweep(*_sweep(noise, shifts, estimator))


@functools.partial(jax.jit, static_argnums=1)
def _standard_normals(keys, n: int):
    # Compiled once per (R, n) and reused by every sweep and estimator of that size.
    return jax.vmap(lambda k: jax.random.normal(k, (n,)))(keys)


@functools.partial(jax.jit, static_argnums=2)
def _sweep(noise, shifts, estimator):
    def one(eps, shift):
        x = shift + eps
        log_p, log_q = _normal.logpdf(x), _normal.logpdf(x, loc=shift)
        w = _weights(log_p, log_q)
        return estimator(x**2, log_p, log_q), w, _ess(w)

    return jax.vmap(jax.vmap(one, (0, None)), (None, 0))(noise, shifts)


def _shift(shift) -> np.ndarray:
    shift = validate.as_float_array("shift", shift)
    validate.check_finite("shift", shift)
    return np.asarray(shift, np.float64)


def gaussian_shift_weight_moment(k: float, shift) -> np.ndarray:
    """`E_{x~q}[w(x)^k] = exp(k (k − 1) δ² / 2)` for `p = N(0, 1)`, `q = N(δ, 1)`, since
    `log w = −δx + δ²/2` is normal under `q` with mean `−δ²/2` and variance `δ²`."""
    validate.check_in_range("k", k)
    d = _shift(shift)
    return np.exp(k * (k - 1) * d**2 / 2)


def gaussian_shift_term_variance(shift) -> np.ndarray:
    """`Var_{x~q}[w(x) x²] = (δ⁴ + 6δ² + 3) e^{δ²} − 1` (eq-is-shift-variance in the book):
    the variance of one term of the importance-sampling estimate of `E_p[x²] = 1`.

    From `E_q[w² x⁴] = E_p[w x⁴] = e^{δ²} E_{x~N(−δ,1)}[x⁴]`."""
    d = _shift(shift)
    return (d**4 + 6 * d**2 + 3) * np.exp(d**2) - 1


def gaussian_shift_term_variance_quadrature(shift) -> np.ndarray:
    """`Var_q[w(x) x²] = ∫ p(x)²/q(x) x⁴ dx − 1`, by adaptive numerical quadrature: an
    independent computation of `gaussian_shift_term_variance`."""
    from scipy import integrate

    def one(d):
        # p(x)^2 / q(x) = exp(-x^2 + (x - d)^2 / 2) / sqrt(2 pi)
        integrand = lambda x: np.exp(-x * x + 0.5 * (x - d) ** 2) * x**4 / np.sqrt(2 * np.pi)  # noqa: E731
        value, _ = integrate.quad(integrand, -np.inf, np.inf, epsabs=0.0, epsrel=1e-12, limit=200)
        return value - 1.0

    d = _shift(shift)
    return np.vectorize(one)(d)


def gaussian_shift_ess_fraction_se(shift, n_samples: int) -> np.ndarray:
    """Standard error of `N_eff / N` from `N = n_samples` weights of `q = N(δ, 1)`, to first order
    (the delta method) about its limit `(E_q w)² / E_q[w²] = e^{−δ²}`.

    With `m_k = E_q[w^k]` (`gaussian_shift_weight_moment`) and `g(a, b) = a²/b` at
    `(a, b) = (m_1, m_2) = (1, e^{δ²})`, `Var ≈ ∇gᵀ Cov[(w, w²)] ∇g / N`."""
    _shift(shift)
    validate.check_int("n_samples", n_samples, 1)
    c = gaussian_shift_weight_moment(2, shift)
    m3, m4 = gaussian_shift_weight_moment(3, shift), gaussian_shift_weight_moment(4, shift)
    var_w, var_w2, cov = c - 1, m4 - c**2, m3 - c
    grad_a, grad_b = 2 / c, -1 / c**2
    return np.sqrt((grad_a**2 * var_w + grad_b**2 * var_w2 + 2 * grad_a * grad_b * cov) / n_samples)

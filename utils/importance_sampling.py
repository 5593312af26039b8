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

Every function takes log-densities or weights for a batch of N samples along
the leading axis, checks its arguments eagerly (shapes always; values too
when the arrays are concrete, i.e. not traced inside `jit`/`vmap`) and then
calls a jitted kernel.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

__all__ = [
    "importance_weights",
    "importance_sampling_estimate",
    "self_normalised_estimate",
    "effective_sample_size",
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

"""Gradient ascent and its stochastic version, as used in the "Gradient ascent" section.

Everything here maximises. The iterates are computed with `jax.lax.scan`
inside `jax.jit`; the arguments are checked eagerly, before tracing, so a bad
call fails with a `ValueError`/`TypeError` that names the argument.

Contents, in the order the section uses them:

- `himmelblau`, `HIMMELBLAU_MINIMA`, `HIMMELBLAU_LOCAL_MAXIMUM`,
  `HIMMELBLAU_SADDLES`: the non-convex test surface (we maximise its negative).
- `gradient_ascent`: the path of `theta <- theta + eta * grad J(theta)`
  (def-gradient-ascent in the book), from one start or a batch of starts.
- `directional_finite_difference`, `finite_difference_gradient`: forward
  differences `(J(theta + eps v) - J(theta)) / eps`.
- `stochastic_gradient_ascent`: the same update with a stochastic estimate
  `estimate_gradient(theta, k)` of the gradient at step `k`.
- `curvature_on_segments`: the largest curvature of J along each step of a path,
  over the whole segment the step crosses (exact for polynomials of degree <= 4).
- `rate_excess`: how far a path falls short of a claimed linear convergence rate.
- Least squares: `LeastSquares`, `make_least_squares`,
  `least_squares_objective`, `least_squares_solution`, `minibatch_gradient`,
  `make_minibatch_gradient`, `sgd_least_squares`; the estimator's exact values
  and variance (`per_sample_gradients`, `minibatch_gradient_variance`); many
  independent runs at once (`sgd_final_iterates`); the exact noise floor of
  constant-step SGD started at the solution (`sgd_noise_floor`); the right-hand
  side of the convergence bound (`sgd_convergence_bound`).
- The introduction's CartPole experiment: `cartpole_start_states` and
  `threshold_policy_returns`, the return of the deterministic policy
  a = 1[theta . s > 0] from given start states.

"Variance" means what it means everywhere in the book: the trace of the
covariance of a vector estimator, E||g - E g||^2 (`utils.checks.total_variance`);
E||g - grad J||^2 is its mean squared error, equal to the variance when the
estimator is unbiased.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from utils import validate

__all__ = [
    "himmelblau",
    "HIMMELBLAU_MINIMA",
    "HIMMELBLAU_LOCAL_MAXIMUM",
    "HIMMELBLAU_SADDLES",
    "gradient_ascent",
    "directional_finite_difference",
    "finite_difference_gradient",
    "stochastic_gradient_ascent",
    "LeastSquares",
    "make_least_squares",
    "least_squares_objective",
    "least_squares_solution",
    "minibatch_gradient",
    "make_minibatch_gradient",
    "sgd_least_squares",
    "curvature_on_segments",
    "SegmentCurvature",
    "rate_excess",
    "per_sample_gradients",
    "minibatch_gradient_variance",
    "max_variance_on_box",
    "squared_gradient_norms",
    "sgd_final_iterates",
    "NoiseFloor",
    "sgd_noise_floor",
    "sgd_convergence_bound",
    "cartpole_start_states",
    "threshold_policy_returns",
]


# ---------------------------------------------------------------------------
# Argument checks (eager, outside jit)
# ---------------------------------------------------------------------------


def _check_callable(value, name: str) -> None:
    if not callable(value):
        raise TypeError(f"`{name}` must be a callable, got {type(value).__name__}")


def _check_positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, jax.Array)):
        raise TypeError(f"`{name}` must be a positive real number, got {type(value).__name__}")
    if np.ndim(value) != 0:
        raise TypeError(f"`{name}` must be a scalar, got an array of shape {np.shape(value)}")
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"`{name}` must be a finite number > 0, got {value}")
    return value


def _check_positive_int(value, name: str) -> int:
    return validate.check_int(name, value, 1)


def _check_float_array(value, name: str, ndims: tuple[int, ...]) -> jax.Array:
    if not isinstance(value, (np.ndarray, jax.Array)):
        raise TypeError(f"`{name}` must be a JAX or NumPy array, got {type(value).__name__}")
    if value.ndim not in ndims:
        expected = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"`{name}` must be {expected}, got shape {tuple(value.shape)}")
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise TypeError(f"`{name}` must have a floating dtype, got {value.dtype}")
    return jnp.asarray(value)


def _check_key(value, name: str = "key") -> None:
    if not isinstance(value, jax.Array):
        raise TypeError(f"`{name}` must be a JAX PRNG key (jax.random.key or PRNGKey), got {type(value).__name__}")
    typed = jnp.issubdtype(value.dtype, jax.dtypes.prng_key)
    if not ((typed and value.shape == ()) or (value.dtype == jnp.uint32 and value.shape == (2,))):
        raise TypeError(f"`{name}` must be a single JAX PRNG key, got dtype {value.dtype} and shape {value.shape}")


# ---------------------------------------------------------------------------
# Himmelblau's function
# ---------------------------------------------------------------------------


def himmelblau(theta: Float[Array, "2"]) -> Float[Array, ""]:
    """Himmelblau's function f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2.

    It has four global minima (value 0, `HIMMELBLAU_MINIMA`), one local
    maximum and four saddle points. The book maximises J = -f.
    """
    theta = validate.as_float_array("theta", theta)
    if jnp.ndim(theta) < 1 or jnp.shape(theta)[0] != 2:
        raise ValueError(f"`theta` must have shape (2,) (the point (x, y)), got shape {tuple(jnp.shape(theta))}")
    x, y = theta[0], theta[1]
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2


#: The four minimisers of `himmelblau` (value 0), i.e. the maximisers of J = -f.
HIMMELBLAU_MINIMA = np.array(
    [
        [3.0, 2.0],
        [-2.805118, 3.131312],
        [-3.779310, -3.283186],
        [3.584428, -1.848126],
    ]
)
#: The local maximiser of `himmelblau` (value about 181.617): a local minimiser of J = -f.
HIMMELBLAU_LOCAL_MAXIMUM = np.array([-0.270845, -0.923039])
#: The four saddle points of `himmelblau`.
HIMMELBLAU_SADDLES = np.array(
    [
        [0.086677, 2.884254],
        [-3.073026, -0.081353],
        [3.385154, 0.073852],
        [-0.127961, -1.953715],
    ]
)


# ---------------------------------------------------------------------------
# Gradient ascent
# ---------------------------------------------------------------------------


def _gradient_ascent_path(J, theta_init, eta, n_steps):
    grad_J = jax.grad(J)

    def step(theta, _):
        theta_next = theta + eta * grad_J(theta)
        return theta_next, theta_next

    _, path = jax.lax.scan(step, theta_init, None, length=n_steps)
    return jnp.concatenate([theta_init[None], path])


def _gradient_ascent_paths(J, theta_inits, eta, n_steps):
    return jax.vmap(lambda theta_init: _gradient_ascent_path(J, theta_init, eta, n_steps))(theta_inits)


_gradient_ascent_one = jax.jit(_gradient_ascent_path, static_argnames=("J", "n_steps"))
_gradient_ascent_many = jax.jit(_gradient_ascent_paths, static_argnames=("J", "n_steps"))


def gradient_ascent(
    J: Callable[[Float[Array, " D"]], Float[Array, ""]],
    theta_init: Float[Array, "*M D"],
    eta: float,
    n_steps: int,
) -> Float[Array, "*M n_steps+1 D"]:
    """Gradient ascent theta^{k+1} = theta^k + eta * grad J(theta^k) (def-gradient-ascent).

    Args:
        J: scalar objective of a parameter vector of shape (D,); differentiated with `jax.grad`.
        theta_init: one start (D,) or a batch of starts (M, D).
        eta: step size, > 0.
        n_steps: number of updates K, > 0.

    Returns:
        The path theta^0, ..., theta^K: shape (K + 1, D), or (M, K + 1, D) for M starts.
    """
    _check_callable(J, "J")
    theta_init = _check_float_array(theta_init, "theta_init", (1, 2))
    eta = _check_positive_float(eta, "eta")
    n_steps = _check_positive_int(n_steps, "n_steps")
    if theta_init.ndim == 1:
        return _gradient_ascent_one(J, theta_init, eta, n_steps)
    return _gradient_ascent_many(J, theta_init, eta, n_steps)


class SegmentCurvature(NamedTuple):
    """Curvature of J along the steps of a path (see `curvature_on_segments`)."""

    on_segment: Float[Array, " K"]  # max over t in [0, 1] of -u^T hess J(theta^k + t d^k) u
    at_ends: Float[Array, " K"]  # the same maximum over t in {0, 1} only


def _curvature_on_segments(J, path):
    hessian = jax.hessian(J)
    starts, steps = path[:-1], path[1:] - path[:-1]
    lengths = jnp.linalg.norm(steps, axis=-1, keepdims=True)
    directions = jnp.where(lengths > 0, steps / jnp.where(lengths > 0, lengths, 1.0), 0.0)

    def along(theta, d, u, t):
        return -u @ hessian(theta + t * d) @ u

    def one(theta, d, u):
        q0, q_half, q1 = (along(theta, d, u, t) for t in (0.0, 0.5, 1.0))
        c = 2.0 * (q0 - 2.0 * q_half + q1)  # q(t) = q0 + b t + c t^2 through the three values
        b = q1 - q0 - c
        vertex = jnp.clip(-b / jnp.where(c < 0, 2.0 * c, -1.0), 0.0, 1.0)  # interior maximum when c < 0
        interior = jnp.where(c < 0, q0 + b * vertex + c * vertex**2, -jnp.inf)
        ends = jnp.maximum(q0, q1)
        return jnp.maximum(ends, interior), ends

    on_segment, at_ends = jax.vmap(one)(starts, steps, directions)
    return SegmentCurvature(on_segment, at_ends)


_curvature_on_segments_jit = jax.jit(_curvature_on_segments, static_argnames=("J",))


def curvature_on_segments(
    J: Callable[[Float[Array, " D"]], Float[Array, ""]],
    path: Float[Array, "K+1 D"],
) -> SegmentCurvature:
    """The largest curvature of J along each step of `path`, over the whole segment it crosses.

    For step k, with d = theta^{k+1} - theta^k and u = d / ||d||, the curvature along
    the step at theta^k + t d is q_k(t) = -u^T hess J(theta^k + t d) u (positive where J
    bends down). Gradient ascent increases J at step k whenever eta * max_{t in [0,1]} q_k(t) < 2,
    because J(theta^k + d) >= J(theta^k) + eta ||grad J||^2 (1 - eta max q_k / 2)
    (eq-gradient-ascent-step-increase). For a polynomial J of degree at most
    four, q_k is a quadratic in t, determined by t = 0, 1/2, 1, so the maximum over the
    segment is computed exactly (an interior maximum included); for other J it is the
    maximum of that quadratic interpolant. Steps of length zero get curvature 0.

    Returns `SegmentCurvature(on_segment, at_ends)`, each of shape (K,): the maximum over
    the segment, and over its two ends only.
    """
    _check_callable(J, "J")
    path = _check_float_array(path, "path", (2,))
    if path.shape[0] < 2:
        raise ValueError(f"`path` must hold at least two iterates, got shape {tuple(path.shape)}")
    return _curvature_on_segments_jit(J, path)


def rate_excess(
    path: Float[Array, "K+1 D"], theta_star: Float[Array, " D"], factor: float
) -> float:
    """max_k ||theta^k - theta*|| / (factor^k ||theta^0 - theta*||): at most 1 (up to rounding)
    exactly when the path converges to theta* at least as fast as the linear rate `factor`
    per step claimed for it (e.g. (kappa - 1)/(kappa + 1) in exercise-quadratic-step-size)."""
    path = np.asarray(_check_float_array(path, "path", (2,)), np.float64)
    theta_star = np.asarray(_check_float_array(theta_star, "theta_star", (1,)), np.float64)
    if theta_star.shape != path.shape[1:]:
        raise ValueError(f"`theta_star` must have shape ({path.shape[1]},) like the iterates of `path`, "
                         f"got shape {theta_star.shape}")
    factor = _check_positive_float(factor, "factor")
    errors = np.linalg.norm(path - theta_star, axis=1)
    if errors[0] == 0:
        raise ValueError("`path` starts at theta_star: no rate to measure")
    return float(np.max(errors / (errors[0] * factor ** np.arange(path.shape[0]))))


# ---------------------------------------------------------------------------
# Finite differences
# ---------------------------------------------------------------------------


def _forward_difference(J, theta, v, eps):
    return (J(theta + eps * v) - J(theta)) / eps


def _forward_difference_gradient(J, theta, basis, eps):
    return jax.vmap(lambda e: _forward_difference(J, theta, e, eps))(basis)


_forward_difference_jit = jax.jit(_forward_difference, static_argnames=("J",))
_forward_difference_gradient_jit = jax.jit(_forward_difference_gradient, static_argnames=("J",))


def directional_finite_difference(
    J: Callable[[Float[Array, " D"]], Float[Array, ""]],
    theta: Float[Array, " D"],
    v: Float[Array, " D"],
    eps: float | Float[Array, ""],
) -> Float[Array, ""]:
    """Forward difference (J(theta + eps v) - J(theta)) / eps, an estimate of grad J(theta) . v.

    The arithmetic is done in the dtype of `theta` (float32 unless x64 is enabled),
    which sets the size of the rounding error.
    """
    _check_callable(J, "J")
    theta = _check_float_array(theta, "theta", (1,))
    v = _check_float_array(v, "v", (1,))
    if v.shape != theta.shape:
        raise ValueError(f"`v` must have the shape of `theta` {tuple(theta.shape)}, got {tuple(v.shape)}")
    eps = _check_positive_float(eps, "eps")
    return _forward_difference_jit(J, theta, v.astype(theta.dtype), jnp.asarray(eps, theta.dtype))


def finite_difference_gradient(
    J: Callable[[Float[Array, " D"]], Float[Array, ""]],
    theta: Float[Array, " D"],
    eps: float,
) -> Float[Array, " D"]:
    """Forward-difference gradient: entry i is (J(theta + eps e_i) - J(theta)) / eps."""
    _check_callable(J, "J")
    theta = _check_float_array(theta, "theta", (1,))
    eps = _check_positive_float(eps, "eps")
    basis = jnp.eye(theta.shape[0], dtype=theta.dtype)
    return _forward_difference_gradient_jit(J, theta, basis, jnp.asarray(eps, theta.dtype))


# ---------------------------------------------------------------------------
# Stochastic gradient ascent
# ---------------------------------------------------------------------------


def _sga_path(estimate_gradient, theta_init, eta, n_steps):
    def step(theta, k):
        theta_next = theta + eta * estimate_gradient(theta, k)
        return theta_next, theta_next

    _, path = jax.lax.scan(step, theta_init, jnp.arange(n_steps))
    return jnp.concatenate([theta_init[None], path])


_sga_path_jit = jax.jit(_sga_path, static_argnames=("estimate_gradient", "n_steps"))


def stochastic_gradient_ascent(
    theta_init: Float[Array, " D"],
    estimate_gradient: Callable[[Float[Array, " D"], Int[Array, ""]], Float[Array, " D"]],
    eta: float,
    n_steps: int,
) -> Float[Array, "n_steps+1 D"]:
    """Stochastic gradient ascent theta^{k+1} = theta^k + eta * estimate_gradient(theta^k, k).

    `estimate_gradient(theta, k)` returns the k-th draw of an unbiased estimate of
    grad J(theta) (eq-unbiased in the book); its randomness comes from the step
    index `k` (e.g. `jax.random.fold_in(key, k)`), so the path is a pure function
    of its arguments. This is the jitted twin of `utils.pseudocode.gradient_ascent.sgd`.

    Returns:
        The path theta^0, ..., theta^K, shape (n_steps + 1, D).
    """
    theta_init = _check_float_array(theta_init, "theta_init", (1,))
    _check_callable(estimate_gradient, "estimate_gradient")
    eta = _check_positive_float(eta, "eta")
    n_steps = _check_positive_int(n_steps, "n_steps")
    return _sga_path_jit(estimate_gradient, theta_init, eta, n_steps)


# ---------------------------------------------------------------------------
# Least squares: the stochastic-gradient demonstration
# ---------------------------------------------------------------------------


class LeastSquares(NamedTuple):
    """A regression data set: features X (N, D) and targets y (N,)."""

    X: Float[Array, "N D"]
    y: Float[Array, " N"]


def make_least_squares(key: PRNGKeyArray, n_samples: int, dim: int, noise: float = 0.5) -> LeastSquares:
    """Synthetic data y = X w + noise, with X and w standard normal and noise ~ N(0, noise^2)."""
    _check_key(key)
    n_samples = _check_positive_int(n_samples, "n_samples")
    dim = _check_positive_int(dim, "dim")
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise TypeError(f"`noise` must be a real number >= 0, got {type(noise).__name__}")
    noise = float(noise)
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"`noise` must be a finite number >= 0, got {noise}")
    key_x, key_w, key_noise = jax.random.split(key, 3)
    X = jax.random.normal(key_x, (n_samples, dim))
    w = jax.random.normal(key_w, (dim,))
    y = X @ w + noise * jax.random.normal(key_noise, (n_samples,))
    return LeastSquares(X, y)


def _check_data(data) -> LeastSquares:
    if not isinstance(data, LeastSquares):
        raise TypeError(f"`data` must be a LeastSquares(X, y), got {type(data).__name__}")
    X = _check_float_array(data.X, "data.X", (2,))
    y = _check_float_array(data.y, "data.y", (1,))
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"`data.y` must have length N = {X.shape[0]} (rows of data.X), got {y.shape[0]}")
    return LeastSquares(X, y)


def _check_theta_for(theta, data: LeastSquares, name: str) -> jax.Array:
    theta = _check_float_array(theta, name, (1,))
    if theta.shape[0] != data.X.shape[1]:
        raise ValueError(f"`{name}` must have shape ({data.X.shape[1]},) to match data.X, got {tuple(theta.shape)}")
    return theta


@jax.jit
def _least_squares_objective(theta, data):
    residual = data.X @ theta - data.y
    return -0.5 * jnp.mean(residual**2)


def least_squares_objective(theta: Float[Array, " D"], data: LeastSquares) -> Float[Array, ""]:
    """J(theta) = -(1 / 2N) sum_i (x_i . theta - y_i)^2, the objective we maximise."""
    data = _check_data(data)
    return _least_squares_objective(_check_theta_for(theta, data, "theta"), data)


def least_squares_solution(data: LeastSquares) -> Float[Array, " D"]:
    """The maximiser of `least_squares_objective`: the least-squares solution of X theta = y."""
    data = _check_data(data)
    return jnp.linalg.lstsq(data.X, data.y)[0]


def _minibatch_gradient(theta, data, key, batch_size):
    index = jax.random.randint(key, (batch_size,), 0, data.X.shape[0])
    X, y = data.X[index], data.y[index]
    return -X.T @ (X @ theta - y) / batch_size


_minibatch_gradient_jit = jax.jit(_minibatch_gradient, static_argnames=("batch_size",))


def minibatch_gradient(
    theta: Float[Array, " D"], data: LeastSquares, key: PRNGKeyArray, batch_size: int
) -> Float[Array, " D"]:
    """Minibatch estimate -(1/B) sum_{i in batch} x_i (x_i . theta - y_i) of grad J(theta).

    The B indices are drawn uniformly *with replacement*, so the estimate is
    unbiased and its covariance is exactly 1/B times that of a single sample.
    """
    data = _check_data(data)
    theta = _check_theta_for(theta, data, "theta")
    _check_key(key)
    batch_size = _check_positive_int(batch_size, "batch_size")
    return _minibatch_gradient_jit(theta, data, key, batch_size)


def make_minibatch_gradient(
    data: LeastSquares, batch_size: int, key: PRNGKeyArray
) -> Callable[[Float[Array, " D"], Int[Array, ""]], Float[Array, " D"]]:
    """The estimator `estimate_gradient(theta, k)` used by `sgd`: draw k uses `fold_in(key, k)`."""
    data = _check_data(data)
    batch_size = _check_positive_int(batch_size, "batch_size")
    _check_key(key)

    def estimate_gradient(theta, k):
        return _minibatch_gradient(theta, data, jax.random.fold_in(key, k), batch_size)

    return estimate_gradient


def sgd_least_squares(
    data: LeastSquares,
    theta_init: Float[Array, " D"],
    eta: float,
    n_steps: int,
    batch_size: int,
    key: PRNGKeyArray,
) -> Float[Array, "n_steps+1 D"]:
    """Minibatch stochastic gradient ascent on `least_squares_objective`; returns the path."""
    data = _check_data(data)
    theta_init = _check_theta_for(theta_init, data, "theta_init")
    eta = _check_positive_float(eta, "eta")
    n_steps = _check_positive_int(n_steps, "n_steps")
    batch_size = _check_positive_int(batch_size, "batch_size")
    _check_key(key)
    return _sgd_least_squares_jit(data, theta_init, eta, n_steps, batch_size, key)


def _sgd_least_squares(data, theta_init, eta, n_steps, batch_size, key):
    def estimate_gradient(theta, k):
        return _minibatch_gradient(theta, data, jax.random.fold_in(key, k), batch_size)

    return _sga_path(estimate_gradient, theta_init, eta, n_steps)


_sgd_least_squares_jit = jax.jit(_sgd_least_squares, static_argnames=("n_steps", "batch_size"))


# ---------------------------------------------------------------------------
# Least squares: the estimator exactly, many runs, the noise floor, the bound
# ---------------------------------------------------------------------------


def per_sample_gradients(theta: Float[Array, " D"], data: LeastSquares) -> Float[Array, "N D"]:
    """The N equally likely values -x_i (x_i . theta - y_i) of the B = 1 estimate (ex-least-squares).

    Their plain mean is grad J(theta), which is the unbiasedness of the estimator
    (eq-unbiased), checked exactly by enumeration rather than by sampling."""
    data = _check_data(data)
    theta = _check_theta_for(theta, data, "theta")
    return -data.X * (data.X @ theta - data.y)[:, None]


def minibatch_gradient_variance(theta: Float[Array, "*M D"], data: LeastSquares, batch_size: int = 1):
    """The exact variance (trace of the covariance, eq-gradient-ascent-variance) of the minibatch
    estimate at theta: (1/B) (1/N) sum_i ||g_i - grad J(theta)||^2 over the per-sample values g_i
    (eq-minibatch-variance). Computed in float64, for one theta (D,) (a float) or a batch (M, D)
    (an array (M,)). The estimate is unbiased, so this is also its mean squared error.

    As a function of theta it is a convex quadratic (each g_i - grad J(theta) is affine in theta)."""
    data = _check_data(data)
    batch_size = _check_positive_int(batch_size, "batch_size")
    thetas = np.asarray(_check_float_array(theta, "theta", (1, 2)), np.float64)
    if thetas.shape[-1] != data.X.shape[1]:
        raise ValueError(f"`theta` must end in an axis of size {data.X.shape[1]}, got shape {thetas.shape}")
    X, y = np.asarray(data.X, np.float64), np.asarray(data.y, np.float64)
    batch = np.atleast_2d(thetas)
    out = np.empty(batch.shape[0])
    squared_norms = np.sum(X**2, axis=1)
    for lo in range(0, batch.shape[0], 1024):  # chunks keep the (M, N) residuals small
        residuals = batch[lo:lo + 1024] @ X.T - y  # (m, N)
        mean_g = -residuals @ X / X.shape[0]  # grad J at each theta, (m, D)
        out[lo:lo + 1024] = (residuals**2 @ squared_norms) / X.shape[0] - np.sum(mean_g**2, axis=1)
    out /= batch_size
    return float(out[0]) if thetas.ndim == 1 else out


def max_variance_on_box(data: LeastSquares, center: Float[Array, " D"], half_width: float, batch_size: int = 1) -> float:
    """The largest variance of the minibatch estimate over the box {theta : |theta_j - center_j| <= half_width}.

    Exact: the variance is a convex quadratic in theta (`minibatch_gradient_variance`), so its
    maximum over the box is at one of the 2^D vertices. This is the sigma^2 of
    thm-sgd-convergence for runs that stay in the box."""
    data = _check_data(data)
    center = np.asarray(_check_theta_for(center, data, "center"), np.float64)
    half_width = _check_positive_float(half_width, "half_width")
    dim = center.shape[0]
    if dim > 16:
        raise ValueError(f"the box has 2^{dim} vertices: too many to enumerate")
    signs = ((np.arange(2**dim)[:, None] >> np.arange(dim)) & 1) * 2.0 - 1.0
    return float(np.max(minibatch_gradient_variance(center + half_width * signs, data, batch_size)))


def squared_gradient_norms(thetas: Float[Array, "*M D"], data: LeastSquares) -> np.ndarray:
    """||grad J(theta)||^2 of `least_squares_objective` at every theta, exactly, in float64; shape (*M,)."""
    data = _check_data(data)
    X, y = np.asarray(data.X, np.float64), np.asarray(data.y, np.float64)
    thetas = validate.as_float_array("thetas", thetas)
    if thetas.ndim < 1 or thetas.shape[-1] != X.shape[1]:
        raise ValueError(f"`thetas` must end in an axis of size {X.shape[1]} (columns of data.X), "
                         f"got shape {tuple(thetas.shape)}")
    thetas = np.asarray(thetas, np.float64)
    H, b = X.T @ X / X.shape[0], X.T @ y / X.shape[0]
    gradients = b - thetas @ H  # grad J(theta) = -(H theta - X^T y / N), H symmetric
    return np.sum(gradients**2, axis=-1)


def _sgd_final(data, theta_init, eta, n_steps, batch_size, key):
    def step(theta, k):
        return theta + eta * _minibatch_gradient(theta, data, jax.random.fold_in(key, k), batch_size), None

    theta, _ = jax.lax.scan(step, theta_init, jnp.arange(n_steps))
    return theta


def _sgd_final_many(data, theta_init, eta, n_steps, batch_size, key, n_runs):
    keys = jax.vmap(lambda r: jax.random.fold_in(key, r))(jnp.arange(n_runs))
    return jax.vmap(lambda k: _sgd_final(data, theta_init, eta, n_steps, batch_size, k))(keys)


_sgd_final_many_jit = jax.jit(_sgd_final_many, static_argnames=("n_steps", "batch_size", "n_runs"))


def sgd_final_iterates(
    data: LeastSquares,
    theta_init: Float[Array, " D"],
    eta: float,
    n_steps: int,
    batch_size: int,
    key: PRNGKeyArray,
    n_runs: int,
) -> Float[Array, "n_runs D"]:
    """theta^K of `n_runs` independent runs of `sgd_least_squares` (run r uses `fold_in(key, r)`).

    Only the last iterates are kept, so a sweep over many runs and step sizes is cheap:
    the runs are vmapped, the steps scanned, and `eta` is traced (one compilation per
    `n_steps`, `batch_size` and `n_runs`)."""
    data = _check_data(data)
    theta_init = _check_theta_for(theta_init, data, "theta_init")
    eta = _check_positive_float(eta, "eta")
    n_steps = _check_positive_int(n_steps, "n_steps")
    batch_size = _check_positive_int(batch_size, "batch_size")
    n_runs = _check_positive_int(n_runs, "n_runs")
    _check_key(key)
    return _sgd_final_many_jit(data, theta_init, eta, n_steps, batch_size, key, n_runs)


class NoiseFloor(NamedTuple):
    """E||grad J(theta^k)||^2 of constant-step SGD on least squares started at theta_LS
    (see `sgd_noise_floor`)."""

    at_step: np.ndarray  # (K + 1,): k = 0, ..., K, exact
    stationary: float  # the limit k -> infinity, exact
    first_order: float  # eta tr(H Sigma*) / (2B), its first-order approximation in eta


def sgd_noise_floor(data: LeastSquares, eta: float, batch_size: int, n_steps: int) -> NoiseFloor:
    """The exact noise floor of minibatch SGD (eq-gradient-ascent-noise-floor), in float64.

    With H = X^T X / N, theta* = theta_LS and e_i = y_i - x_i . theta*, one step is
    theta' - theta* = (I - eta H_b)(theta - theta*) + eta g*_b, where H_b and g*_b are the
    batch means of x_i x_i^T and x_i e_i over B indices drawn with replacement. Started at
    theta*, the mean error stays zero (the x_i e_i average to zero) and the second moment
    M_k = E (theta^k - theta*)(theta^k - theta*)^T follows the linear recursion

        M_{k+1} = M_k - eta (H M_k + M_k H) + eta^2 [H M_k H + (Phi(M_k) - H M_k H) / B] + eta^2 Sigma* / B,

    with Phi(M) = (1/N) sum_i (x_i^T M x_i) x_i x_i^T and Sigma* = (1/N) sum_i e_i^2 x_i x_i^T
    (the covariance of the single-sample gradient at theta*). Since grad J(theta) =
    -H (theta - theta*), E||grad J(theta^k)||^2 = tr(H M_k H). `stationary` solves the
    fixed-point equation; `first_order` drops its O(eta^2) terms,
    eta tr(H Sigma*) / (2B), which is at most eta L tr(Sigma*) / (2B) with L the largest eigenvalue of H.
    """
    data = _check_data(data)
    eta = _check_positive_float(eta, "eta")
    batch_size = _check_positive_int(batch_size, "batch_size")
    n_steps = _check_positive_int(n_steps, "n_steps")
    X, y = np.asarray(data.X, np.float64), np.asarray(data.y, np.float64)
    n, dim = X.shape
    theta_star = np.linalg.lstsq(X, y, rcond=None)[0]
    e = y - X @ theta_star
    H = X.T @ X / n
    sigma = (X * e[:, None] ** 2).T @ X / n
    outer = np.einsum("ni,nj->nij", X, X).reshape(n, dim * dim)
    phi = outer.T @ outer / n  # vec(Phi(M)) = phi @ vec(M)
    eye = np.eye(dim)
    HH = np.kron(H, H)
    # vec(M_{k+1}) = T vec(M_k) + eta^2 vec(Sigma*) / B, for the row-major vec of a symmetric M.
    T = np.eye(dim * dim) - eta * (np.kron(H, eye) + np.kron(eye, H)) + eta**2 * (HH + (phi - HH) / batch_size)
    drive = eta**2 * sigma.reshape(-1) / batch_size
    read = (H @ H).reshape(-1)  # tr(H M H) = vec(H^2) . vec(M)
    m = np.zeros(dim * dim)
    at_step = [0.0]
    for _ in range(n_steps):
        m = T @ m + drive
        at_step.append(float(read @ m))
    stationary = float(read @ np.linalg.solve(np.eye(dim * dim) - T, drive))
    first_order = float(eta * np.trace(H @ sigma) / (2 * batch_size))
    return NoiseFloor(np.asarray(at_step), stationary, first_order)


def sgd_convergence_bound(initial_gap: float, eta: float, n_steps: int, smoothness: float, variance: float) -> float:
    """The right-hand side of eq-sgd-convergence: 2 (J* - J(theta^0)) / (eta K) + eta L sigma^2."""
    initial_gap = float(initial_gap)
    if not (math.isfinite(initial_gap) and initial_gap >= 0):
        raise ValueError(f"`initial_gap` must be a finite number >= 0, got {initial_gap}")
    eta = _check_positive_float(eta, "eta")
    n_steps = _check_positive_int(n_steps, "n_steps")
    smoothness = _check_positive_float(smoothness, "smoothness")
    variance = float(variance)
    if not (math.isfinite(variance) and variance >= 0):
        raise ValueError(f"`variance` must be a finite number >= 0, got {variance}")
    return 2 * initial_gap / (eta * n_steps) + eta * smoothness * variance


# ---------------------------------------------------------------------------
# The introduction: sampled returns of a deterministic CartPole policy
# ---------------------------------------------------------------------------


def cartpole_start_states(key: PRNGKeyArray, n: int) -> Float[Array, "n 4"]:
    """n start states s_0 ~ mu of CartPole-v1 (each variable uniform on (-0.05, 0.05)),
    drawn as `utils.envs.cartpole.reset` draws them, from `split(key, n)`."""
    from utils.envs import cartpole

    _check_key(key)
    n = _check_positive_int(n, "n")
    return jax.vmap(lambda k: cartpole.reset(k)[1])(jax.random.split(key, n))


def _threshold_policy_return(theta, physics):
    from utils.envs import cartpole

    params = cartpole.CartPoleParams()

    def step(carry, _):
        physics, alive, total = carry
        action = (theta @ physics > 0).astype(jnp.int32)
        physics = cartpole.dynamics(physics, action, params)
        total = total + alive.astype(total.dtype)  # reward 1 per step taken, the terminating one included
        alive = alive & ~cartpole.is_terminated(physics, params)
        return (physics, alive, total), None

    init = (physics, jnp.array(True), jnp.zeros((), physics.dtype))
    (_, _, total), _ = jax.lax.scan(step, init, None, length=params.max_episode_steps)
    return total


@jax.jit
def _threshold_policy_returns(thetas, starts):
    return jax.vmap(_threshold_policy_return)(thetas, starts)


def threshold_policy_returns(thetas: Float[Array, "*M 4"], starts: Float[Array, "*M 4"]) -> Float[Array, " *M"]:
    """R(tau) (eq-objective) of CartPole-v1 episodes under the deterministic policy
    a_h = 1[theta . s_h > 0], one per pair (theta, s_0) after broadcasting `thetas` against
    `starts` (e.g. (G, 1, 4) against (1, N, 4) for G parameters times N start states).

    Given theta and s_0 the episode is deterministic (the dynamics of `utils.envs.cartpole`,
    gymnasium's), so the return is a function of theta and s_0 alone: an integer between 1 and
    500, the number of steps before the pole falls or the cart leaves the track."""
    thetas, starts = validate.as_float_array("thetas", thetas), validate.as_float_array("starts", starts)
    validate.check_broadcastable(("thetas", thetas[..., 0] if thetas.ndim else thetas),
                                 ("starts", starts[..., 0] if starts.ndim else starts))
    if thetas.shape[-1:] != (4,) or starts.shape[-1:] != (4,):
        raise ValueError(f"`thetas` and `starts` must end in an axis of size 4, got {thetas.shape} and {starts.shape}")
    thetas, starts = jnp.broadcast_arrays(thetas, starts)
    shape = thetas.shape[:-1]
    out = _threshold_policy_returns(thetas.reshape(-1, 4), starts.reshape(-1, 4))
    return out.reshape(shape)

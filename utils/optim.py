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
- Least squares: `LeastSquares`, `make_least_squares`,
  `least_squares_objective`, `least_squares_solution`, `minibatch_gradient`,
  `make_minibatch_gradient`, `sgd_least_squares`.
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
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"`{name}` must be a positive integer, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value}")
    return int(value)


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

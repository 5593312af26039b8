"""Natural gradients without a Fisher matrix: Fisher-vector products, conjugate gradient, the NPG step.

The natural policy gradient (Kakade 2001) and TRPO (Schulman et al. 2015)
solve `F x = g` for the Fisher information `F` and the policy gradient `g`,
then take the step that moves the second-order model of the KL divergence
exactly to the trust-region radius `delta`:

    theta^{k+1} = theta^k + eta F^{-1} g,   eta = sqrt(2 delta / (g^T F^{-1} g))

(eq-npg-update in the NPG section). Forming `F` costs `O(D^2)` memory and
inverting it `O(D^3)`; here `F` only ever appears through products `F v`,
computed by automatic differentiation, and `F x = g` is solved by conjugate
gradient with a few such products.

- `fisher_vector_product(kl_fn, theta, v)`: `F v` as the Hessian of a KL at
  `theta^k` times `v` (forward-over-reverse autodiff, Schulman et al. 2015).
  The KL must be the exact one or the per-state estimate `per_state_kl`; the
  Hessian of the sampled log-ratio estimator is the Fisher information only
  for policies whose logits are linear in `theta` (NPG section).
- `per_state_kl(policy, params_old, params, obs)`: the per-state sampled KL
  (eq-npg-per-state-kl), whose Hessian at `params_old` is
  `action_averaged_fisher(policy, params_old, obs)` exactly.
- `sampled_kl_derivatives(policy, params_old, obs, actions)`: the gradients
  and Hessians at `params_old` of both sampled KL estimates, beside the sampled
  Fisher: the NPG section's check that only the per-state one has the Fisher
  as its Hessian.
- `score_fisher_vector_product(log_prob_fn, theta, v)`: `F v` from the outer
  product form `F = E[grad log rho grad log rho^T]`, as `J^T (J v) / N`.
- `sampled_fisher_information(policy, params, obs, actions)`: the dense
  sampled Fisher matrix, for small problems and figures.
- `conjugate_gradient(matvec, b, n_iters)`: solves `A x = b` for symmetric
  positive semi-definite `A` given only `v -> A v`.
- `natural_step_size`, `npg_step`: the closed-form natural step, with the
  Fisher as a dense matrix (solved exactly) or as a product (solved by CG).

Damping, `F + zeta I` (Schulman et al. 2015, not in the chapter's
equations; the argument is called `damping`), keeps the linear system well
conditioned when the sampled Fisher is nearly singular; every function takes
`damping=0.0` to switch it off.

Parameters are flat vectors `Float[Array, "D"]` for `conjugate_gradient` and
`npg_step`; use `jax.flatten_util.ravel_pytree` to flatten a pytree of
parameters. The Fisher-vector products accept any pytree.
"""
from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from utils import validate
from utils.policies import Policy, check_params

__all__ = [
    "fisher_vector_product",
    "per_state_kl",
    "action_averaged_fisher",
    "SampledKLDerivatives",
    "sampled_kl_derivatives",
    "score_fisher_vector_product",
    "sampled_fisher_information",
    "conjugate_gradient",
    "natural_step_size",
    "npg_step",
]

Params = Any  # a pytree of float arrays


# ---------------------------------------------------------------------------
# Eager argument checks. Under `jit` the numbers may be tracers: only what is
# known at trace time (types, shapes) is checked then.
# ---------------------------------------------------------------------------


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _check_real(value, name: str, *, positive: bool) -> None:
    if _is_traced(value):
        return
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, jax.Array)):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}")
    if np.ndim(value) != 0:
        raise ValueError(f"`{name}` must be a scalar, got an array of shape {np.shape(value)}")
    x = float(value)
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"`{name}` must be a finite number {bound}, got {x}")


def check_delta(delta, name: str = "delta") -> None:
    """Raise a ValueError unless `delta` (a KL radius) is a finite number > 0."""
    _check_real(delta, name, positive=True)


def check_damping(damping, name: str = "damping") -> None:
    """Raise a ValueError unless `damping` is a finite number >= 0."""
    _check_real(damping, name, positive=False)


def check_positive_int(value, name: str) -> int:
    """Raise unless `value` is an int >= 1 (a static size): `validate.check_int`."""
    return validate.check_int(name, value, 1)


def _check_like(v, params, vname: str, pname: str) -> None:
    p_leaves, p_def = jax.tree_util.tree_flatten(params)
    v_leaves, v_def = jax.tree_util.tree_flatten(v)
    if p_def != v_def or any(jnp.shape(a) != jnp.shape(b) for a, b in zip(p_leaves, v_leaves)):
        shapes = lambda leaves: [tuple(jnp.shape(x)) for x in leaves]  # noqa: E731
        raise ValueError(
            f"`{vname}` must have the structure and shapes of `{pname}` "
            f"({p_def}, {shapes(p_leaves)}), got ({v_def}, {shapes(v_leaves)})"
        )


def _check_vector(x, name: str) -> jax.Array:
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"`{name}` must be a JAX or NumPy array, got {type(x).__name__}")
    if x.ndim != 1:
        raise ValueError(
            f"`{name}` must be a flat vector of shape (D,), got shape {tuple(x.shape)} "
            "(flatten parameters with jax.flatten_util.ravel_pytree)"
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"`{name}` must have a floating dtype, got {x.dtype}")
    return jnp.asarray(x)


def _tree_add_scaled(a, b, scale):
    return jax.tree_util.tree_map(lambda x, y: x + scale * y, a, b)


# ---------------------------------------------------------------------------
# Fisher-vector products
# ---------------------------------------------------------------------------


def fisher_vector_product(
    kl_fn: Callable[[Params], Float[Array, ""]],
    theta: Params,
    v: Params,
    damping: float = 0.0,
) -> Params:
    """`(F + damping I) v`, with `F` the Hessian of `kl_fn` at `theta`.

    The product is `d/dt grad kl_fn(theta + t v)` at `t = 0`, one
    forward-over-reverse pass: no `D x D` matrix is formed. `theta` must be
    `theta^k` and `kl_fn(theta')` a KL from the old policy `pi_{theta^k}`
    (held fixed) to `pi_{theta'}` whose Hessian at `theta^k` is the Fisher
    information (thm-fisher-hessian in the NPG section):

    - the exact `KL(rho_{theta^k} || rho_{theta'})` (e.g. `utils.exact.kl_trajectories`);
    - the per-state estimate `per_state_kl` (eq-npg-per-state-kl): its Hessian
      is the sampled Fisher `action_averaged_fisher` on the same states.

    Not the log-ratio estimator `(1/N) sum_n sum_h log pi_{theta^k}(a|s) / pi_{theta'}(a|s)`
    (`utils.kl.kl_div_trajectories`) for a policy whose logits are nonlinear
    in `theta`: its gradient at `theta^k` is not zero, and its Hessian is the
    Fisher plus a term of mean zero that can make it indefinite (the NPG
    section shows it for a small MLP). For logits linear in `theta` (tabular
    or linear softmax) that term vanishes and the two Hessians agree.
    """
    if not callable(kl_fn):
        raise TypeError(f"`kl_fn` must be a function theta -> KL, got {type(kl_fn).__name__}")
    _check_like(v, theta, "v", "theta")
    check_damping(damping)
    _, Fv = jax.jvp(jax.grad(kl_fn), (theta,), (v,))
    return _tree_add_scaled(Fv, v, damping)


def score_fisher_vector_product(
    log_prob_fn: Callable[[Params], Float[Array, " N"]],
    theta: Params,
    v: Params,
    damping: float = 0.0,
) -> Params:
    """`(F_hat + damping I) v` with the sampled outer-product Fisher

        F_hat = (1/N) sum_n grad log p_theta(x_n) grad log p_theta(x_n)^T,

    where `log_prob_fn(theta)` returns the `N` log-likelihoods `log p_theta(x_n)`
    of samples `x_n ~ p_theta` (e.g. `sum_h log pi_theta(a_h | s_h)` for each
    sampled trajectory, NPG section). Computed as `J^T (J v) / N`, one
    forward and one reverse pass through the `N x D` Jacobian `J`, never formed.
    """
    if not callable(log_prob_fn):
        raise TypeError(
            f"`log_prob_fn` must be a function theta -> log-probabilities (N,), got {type(log_prob_fn).__name__}"
        )
    _check_like(v, theta, "v", "theta")
    check_damping(damping)
    log_probs, Jv = jax.jvp(log_prob_fn, (theta,), (v,))
    if jnp.ndim(log_probs) != 1:
        raise ValueError(
            f"`log_prob_fn` must return one log-probability per sample, shape (N,), got shape {jnp.shape(log_probs)}"
        )
    _, pullback = jax.vjp(log_prob_fn, theta)
    (JtJv,) = pullback(Jv / log_probs.shape[0])
    return _tree_add_scaled(JtJv, v, damping)


def _softmax_logits(policy: Policy, params, obs) -> Float[Array, "N H A"]:
    logits = jax.vmap(jax.vmap(lambda o: policy.dist(params, o)))(obs)
    if not isinstance(logits, jax.Array) or logits.ndim != 3:
        raise TypeError(
            f"`policy` must be a softmax policy whose `dist` returns the logits (A,), "
            f"got {policy.name} (dist returns {type(logits).__name__})"
        )
    return logits


def _check_obs(obs) -> None:
    if jnp.ndim(obs) < 2:
        raise ValueError(f"`obs` must have leading shape (N, H), got shape {tuple(jnp.shape(obs))}")


def per_state_kl(policy: Policy, params_old: Params, params: Params, obs: Any) -> Float[Array, ""]:
    """The per-state sampled KL (eq-npg-per-state-kl in the NPG section),

        K_hat(theta) = (1/N) sum_n sum_h KL(pi_{theta^k}(. | s_nh) || pi_theta(. | s_nh)),

    for a softmax `policy`, `pi_{theta^k} = policy(params_old)`, `pi_theta =
    policy(params)` and the states `obs` ("N H ...") of `N` trajectories sampled
    with `pi_{theta^k}`. The sum over actions is exact, so each term is >= 0,
    `K_hat` and its gradient vanish at `params = params_old`, and its Hessian
    there is `action_averaged_fisher(policy, params_old, obs)`: pass
    `lambda p: per_state_kl(policy, params_old, p, obs)` to
    `fisher_vector_product`.
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"`policy` must be a utils.policies.Policy, got {type(policy).__name__}")
    # Static checks (structure, shapes, dtypes): also cheap when traced, as in a Fisher-vector product.
    check_params(policy, params_old, "params_old")
    check_params(policy, params, "params")
    _check_obs(obs)
    log_p = jax.nn.log_softmax(_softmax_logits(policy, params_old, obs), axis=-1)
    log_q = jax.nn.log_softmax(_softmax_logits(policy, params, obs), axis=-1)
    return jnp.sum(jnp.exp(log_p) * (log_p - log_q)) / log_p.shape[0]


def action_averaged_fisher(policy: Policy, params: Params, obs: Any) -> Float[Array, "D D"]:
    """The sampled Fisher information on the visited states, the actions averaged exactly
    (eq-npg-per-state-fisher in the NPG section):

        F_bar = (1/N) sum_n sum_h E_{a ~ pi_theta(. | s_nh)}[g(s_nh, a) g(s_nh, a)^T],
        g(s, a) = grad log pi_theta(a | s),

    a dense `D x D` matrix over the flattened parameters (`ravel_pytree` order),
    for a softmax `policy` and states `obs` ("N H ..."). It is the Hessian of
    `per_state_kl` at `params_old = params`, and an unbiased estimate of `F_theta`
    when the states come from trajectories of `pi_theta`.
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"`policy` must be a utils.policies.Policy, got {type(policy).__name__}")
    check_params(policy, params)
    _check_obs(obs)
    return _action_averaged_fisher(policy, params, obs)


@functools.partial(jax.jit, static_argnames=("policy",))
def _action_averaged_fisher(policy, params, obs):
    n_actions = _softmax_logits(policy, params, obs).shape[-1]

    def at_state(o):
        probs = jax.nn.softmax(policy.dist(params, o))
        g = jax.vmap(lambda a: jax.flatten_util.ravel_pytree(policy.score(params, o, a))[0])(jnp.arange(n_actions))
        return jnp.einsum("a,ad,ae->de", probs, g, g)

    return jnp.sum(jax.vmap(jax.vmap(at_state))(obs), axis=(0, 1)) / obs.shape[0]


class SampledKLDerivatives(NamedTuple):
    """Derivatives at `theta^k` of the two sampled KL estimates, flat ("D", "D D"), and the sampled Fisher."""

    log_ratio_grad: Float[Array, " D"]  # gradient of eq-npg-log-ratio-kl: minus the batch's average score
    log_ratio_hessian: Float[Array, "D D"]  # Hessian of eq-npg-log-ratio-kl
    per_state_grad: Float[Array, " D"]  # gradient of eq-npg-per-state-kl: zero
    per_state_hessian: Float[Array, "D D"]  # Hessian of eq-npg-per-state-kl
    fisher: Float[Array, "D D"]  # action_averaged_fisher on the same states (eq-npg-per-state-fisher)
    mean_score: Float[Array, " D"]  # (1/N) sum_n sum_h grad log pi_{theta^k}(a_nh | s_nh)


def sampled_kl_derivatives(policy: Policy, params_old: Params, obs: Any, actions: Any) -> SampledKLDerivatives:
    """Gradients and Hessians at `params = params_old` of the two sampled KL estimates of the NPG section,
    over the flattened parameters (`ravel_pytree` order), from `N` trajectories (`obs`, `actions`:
    leading shape `(N, H)`) sampled with `pi^k = policy(params_old)`:

        log-ratio (eq-npg-log-ratio-kl):  (1/N) sum_n sum_h log pi^k(a_nh | s_nh) / pi_theta(a_nh | s_nh)
        per-state (eq-npg-per-state-kl):  (1/N) sum_n sum_h KL(pi^k(. | s_nh) || pi_theta(. | s_nh))

    together with the sampled Fisher `action_averaged_fisher` (eq-npg-per-state-fisher)
    and the batch's average score. The per-state Hessian equals that Fisher matrix
    and its gradient is zero; the log-ratio gradient is minus the average score,
    and its Hessian differs from the Fisher when the logits are nonlinear in theta.
    Computed in one jitted function.
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"`policy` must be a utils.policies.Policy, got {type(policy).__name__}")
    check_params(policy, params_old, "params_old")
    _check_obs(obs)
    if jnp.shape(obs)[:2] != jnp.shape(actions)[:2]:
        raise ValueError(
            f"`obs` and `actions` must share a leading shape (N, H), got {tuple(jnp.shape(obs))} "
            f"and {tuple(jnp.shape(actions))}"
        )
    return _sampled_kl_derivatives(policy, params_old, obs, actions)


@functools.partial(jax.jit, static_argnames=("policy",))
def _sampled_kl_derivatives(policy, params_old, obs, actions):
    theta_old, unravel = jax.flatten_util.ravel_pytree(params_old)
    log_prob = jax.vmap(jax.vmap(policy.log_prob, (None, 0, 0)), (None, 0, 0))
    log_prob_old = log_prob(params_old, obs, actions)

    def log_ratio(theta):
        return jnp.sum(log_prob_old - log_prob(unravel(theta), obs, actions)) / obs.shape[0]

    def per_state(theta):
        return per_state_kl(policy, params_old, unravel(theta), obs)

    score = jax.vmap(jax.vmap(lambda o, a: jax.flatten_util.ravel_pytree(policy.score(params_old, o, a))[0]))
    return SampledKLDerivatives(
        log_ratio_grad=jax.grad(log_ratio)(theta_old),
        log_ratio_hessian=jax.hessian(log_ratio)(theta_old),
        per_state_grad=jax.grad(per_state)(theta_old),
        per_state_hessian=jax.hessian(per_state)(theta_old),
        fisher=_action_averaged_fisher(policy, params_old, obs),
        mean_score=jnp.sum(score(obs, actions), axis=(0, 1)) / obs.shape[0],
    )


def sampled_fisher_information(
    policy: Policy,
    params: Params,
    obs: Any,
    actions: Any,
    per_step: bool = True,
) -> Float[Array, "D D"]:
    """The Fisher matrix estimated from `N` trajectories of `H` steps sampled with
    `pi_theta = policy(params)` (`obs`, `actions`: leading shape `(N, H)`), as a
    dense `D x D` matrix over the flattened parameters (`ravel_pytree` order;
    row-major `s * A + a` for the tabular softmax, as `utils.exact.fisher_information`):

        per_step=True:   (1/N) sum_n sum_h g_nh g_nh^T,         g_nh = grad log pi_theta(a_nh | s_nh)
        per_step=False:  (1/N) sum_n G_n G_n^T,   G_n = sum_h g_nh = grad log rho_theta(tau_n)

    Both are unbiased for `F_theta` (NPG section): the cross terms of the
    second have mean zero. For small problems and figures; the algorithms use
    Fisher-vector products instead.
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"`policy` must be a utils.policies.Policy, got {type(policy).__name__}")
    check_params(policy, params)
    if jnp.ndim(actions) < 2 or jnp.shape(obs)[:2] != jnp.shape(actions)[:2]:
        raise ValueError(
            f"`obs` and `actions` must share a leading shape (N, H), got {tuple(jnp.shape(obs))} "
            f"and {tuple(jnp.shape(actions))}"
        )
    return _sampled_fisher(policy, params, obs, actions, bool(per_step))


def _sampled_fisher(policy, params, obs, actions, per_step):
    def flat_score(o, a):
        return jax.flatten_util.ravel_pytree(policy.score(params, o, a))[0]

    g = jax.vmap(jax.vmap(flat_score))(obs, actions)  # "N H D"
    N = g.shape[0]
    if per_step:
        return jnp.einsum("nhd,nhe->de", g, g) / N
    G = g.sum(axis=1)
    return G.T @ G / N


# ---------------------------------------------------------------------------
# Conjugate gradient
# ---------------------------------------------------------------------------


def _conjugate_gradient(matvec, b, n_iters, tol):
    # Hestenes-Stiefel CG from x = 0, run for exactly `n_iters` products (a
    # fixed length keeps it jittable); once the residual is below `tol ||b||`,
    # or a direction has no positive curvature, the iterate is frozen. The
    # residual u = b - A x is called u (r is a reward in the book).
    threshold = (tol**2) * jnp.vdot(b, b)

    def body(_, state):
        x, u, p, uu = state
        Ap = matvec(p)
        pAp = jnp.vdot(p, Ap)
        done = (uu <= threshold) | (pAp <= 0)
        alpha = jnp.where(done, 0.0, uu / jnp.where(done, 1.0, pAp))
        x = x + alpha * p
        u = u - alpha * Ap
        uu_new = jnp.vdot(u, u)
        beta = jnp.where(done, 0.0, uu_new / jnp.where(done, 1.0, uu))
        p = jnp.where(done, p, u + beta * p)
        return x, u, p, jnp.where(done, uu, uu_new)

    x0 = jnp.zeros_like(b)
    state = (x0, b, b, jnp.vdot(b, b))
    x, *_ = jax.lax.fori_loop(0, n_iters, body, state)
    return x


def conjugate_gradient(
    matvec: Callable[[Float[Array, " D"]], Float[Array, " D"]],
    b: Float[Array, " D"],
    n_iters: int = 10,
    tol: float = 1e-6,
) -> Float[Array, " D"]:
    """Approximately solve `A x = b` by `n_iters` steps of conjugate gradient from `x = 0`.

    `matvec(v) = A v` for a symmetric positive (semi-)definite `A`, e.g. a
    Fisher-vector product. Exact after `D` steps in exact arithmetic; after `k`
    steps `x` minimises `1/2 x^T A x - b^T x` over the Krylov space
    `span{b, A b, ..., A^{k-1} b}`. Stops early (the iterate is frozen) once
    the residual `u = b - A x` has `||u|| <= tol ||b||`. When `A` is singular and `b` is in its range,
    the iterates stay in that range, so `x` tends to the minimum-norm
    solution `A^+ b`. Jittable; `jax.scipy.sparse.linalg.cg` does the same
    with a while loop.
    """
    if not callable(matvec):
        raise TypeError(f"`matvec` must be a function v -> A v, got {type(matvec).__name__}")
    b = _check_vector(b, "b")
    n_iters = check_positive_int(n_iters, "n_iters")
    _check_real(tol, "tol", positive=False)
    Ab = jax.eval_shape(matvec, b)
    if Ab.shape != b.shape:
        raise ValueError(f"`matvec` must map shape {b.shape} to itself, it returns shape {Ab.shape}")
    return _conjugate_gradient(matvec, b, n_iters, tol)


# ---------------------------------------------------------------------------
# The natural policy gradient step (NPG section, Kakade 2001)
# ---------------------------------------------------------------------------


def natural_step_size(grad: Float[Array, " D"], natural_grad: Float[Array, " D"], delta: float) -> Float[Array, ""]:
    """`eta = sqrt(2 delta / g^T x)` for the gradient `g` and the natural
    direction `x = F^{-1} g` (`g^T x = g^T F^{-1} g = x^T F x`; an iterate of
    conjugate gradient from 0 also satisfies `g^T x = x^T F x`).

    Then `1/2 (eta x)^T F (eta x) = delta`: the step lands on the boundary of
    the quadratic model of the KL constraint. Returns 0 when `g^T x` is not
    positive (zero gradient), instead of dividing by zero.
    """
    grad = _check_vector(grad, "grad")
    natural_grad = _check_vector(natural_grad, "natural_grad")
    if grad.shape != natural_grad.shape:
        raise ValueError(f"`natural_grad` must have the shape of `grad` {grad.shape}, got {natural_grad.shape}")
    check_delta(delta)
    g_dot_x = jnp.vdot(grad, natural_grad)
    positive = g_dot_x > 0
    return jnp.where(positive, jnp.sqrt(2 * delta / jnp.where(positive, g_dot_x, 1.0)), 0.0)


def _dense_solve(fisher, grad, damping, rcond):
    D = grad.shape[0]
    A = fisher + damping * jnp.eye(D, dtype=fisher.dtype)
    # The tabular softmax Fisher is singular (adding a constant to one state's
    # logits changes nothing), but the gradient lies in its range: the
    # pseudo-inverse gives the minimum-norm natural direction.
    return jnp.linalg.pinv(A, rtol=rcond, hermitian=True) @ grad


def npg_step(
    grad: Float[Array, " D"],
    fisher: Float[Array, "D D"] | Callable[[Float[Array, " D"]], Float[Array, " D"]],
    delta: float,
    damping: float = 0.0,
    cg_iters: int = 10,
    rcond: float = 1e-5,
) -> Float[Array, " D"]:
    """The natural policy gradient step `theta^{k+1} - theta^k`:

        x = (F + damping I)^{-1} g,   step = sqrt(2 delta / g^T x) x

    the maximiser of `g^T s` subject to `1/2 s^T F s <= delta` (NPG section).

    `fisher` is either the dense matrix `F` (`"D D"`, e.g.
    `utils.exact.fisher_information`; solved exactly with a pseudo-inverse
    whose relative cutoff is `rcond`) or a function `v -> F v` (a
    Fisher-vector product; solved with `cg_iters` conjugate-gradient steps).
    """
    grad = _check_vector(grad, "grad")
    check_delta(delta)
    check_damping(damping)
    D = grad.shape[0]
    if callable(fisher):
        cg_iters = check_positive_int(cg_iters, "cg_iters")

        def matvec(v):
            return fisher(v) + damping * v

        # Every CG iterate from 0 satisfies x^T A x = g^T x (its residual is
        # orthogonal to the Krylov space x lies in): the step size needs no
        # further product.
        x = conjugate_gradient(matvec, grad, cg_iters)
    else:
        if not hasattr(fisher, "shape"):
            raise TypeError(f"`fisher` must be a (D, D) array or a function v -> F v, got {type(fisher).__name__}")
        if tuple(fisher.shape) != (D, D):
            raise ValueError(f"`fisher` must have shape (D, D) = ({D}, {D}) to match `grad`, got {tuple(fisher.shape)}")
        _check_real(rcond, "rcond", positive=False)
        fisher = jnp.asarray(fisher)
        x = _dense_solve(fisher, grad, damping, rcond)
    return natural_step_size(grad, x, delta) * x

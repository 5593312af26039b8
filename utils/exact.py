"""Exact answers for tabular finite-horizon MDPs, by backward and forward induction.

Policies are probability tables: `pi[s, a] = pi(a | s)` of shape (S, A) for a
stationary policy, or `pi[h, s, a] = pi_h(a | s)` of shape (H, S, A). The
functions named `exact_*` and `fisher_information` take the parameters
`theta` of shape (S, A) of the tabular softmax policy
`pi_theta(a | s) = exp(theta[s, a]) / sum_b exp(theta[s, b])`.

Every function is pure and jittable (the MDP is a pytree with a static
horizon). Shapes are checked when the function is traced, so a wrong shape
raises a ValueError naming the argument before anything is computed.

    Q_h(s, a) = r(s, a) + sum_s' P(s' | s, a) V_{h+1}(s'),   V_H = 0
    V_h(s)    = sum_a pi_h(a | s) Q_h(s, a),   A_h = Q_h - V_h
    d_0(s) = mu(s),   d_h(s, a) = d_h(s) pi_h(a | s),
    d_{h+1}(s') = sum_{s, a} d_h(s, a) P(s' | s, a)
    J = sum_s mu(s) V_0(s) = sum_h sum_{s, a} d_h(s, a) r(s, a)
"""
from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy
from jaxtyping import Array, Float, Int

from utils import validate
from utils.envs.tabular import TabularMDP

__all__ = [
    "softmax_policy",
    "q_values",
    "v_values",
    "advantages",
    "state_visitation",
    "state_action_visitation",
    "expected_return",
    "exact_objective",
    "exact_gradient",
    "exact_gradient_pg",
    "score_table",
    "kl_trajectories",
    "fisher_information",
    "optimal_q_values",
    "greedy_policy",
    "TrajectoryDistribution",
    "enumerate_trajectories",
    "exact_policy_gradient_ascent",
    "expected_return_float64",
    "softmax_policy_float64",
    "StationaryOptimum",
    "best_stationary_policy",
    "exact_gradient_from_score",
    "PerformanceDifference",
    "performance_difference",
]


def _check_mdp(mdp) -> None:
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a TabularMDP (see utils.envs.tabular), got {type(mdp).__name__}")


def _policy_table(mdp: TabularMDP, pi, name: str = "pi") -> Float[Array, "H S A"]:
    """Check a policy table and broadcast it to (H, S, A).

    The shape is checked at trace time; when `pi` holds concrete values (not
    under jit), its rows are also checked to be probability distributions.
    """
    _check_mdp(mdp)
    pi = validate.as_float_array(name, pi)
    S, A, H = mdp.n_states, mdp.n_actions, mdp.H
    shape = tuple(jnp.shape(pi))
    if shape not in ((S, A), (H, S, A)):
        raise ValueError(
            f"{name} must be a policy table of shape (S, A) = ({S}, {A}) or "
            f"(H, S, A) = ({H}, {S}, {A}), got shape {shape}"
        )
    if not isinstance(pi, jax.core.Tracer):
        p = np.asarray(pi, dtype=np.float64)
        if np.any(p < 0) or np.any(np.abs(p.sum(-1) - 1.0) > 1e-4):
            raise ValueError(
                f"{name} must hold probabilities with {name}[..., s, :] summing to 1 over actions"
            )
    return jnp.broadcast_to(jnp.asarray(pi), (H, S, A))


def _check_theta(mdp: TabularMDP, theta) -> Float[Array, "S A"]:
    _check_mdp(mdp)
    theta = validate.as_float_array("theta", theta)
    validate.check_finite("theta", theta)
    S, A = mdp.n_states, mdp.n_actions
    if tuple(jnp.shape(theta)) != (S, A):
        raise ValueError(
            f"theta must have shape (S, A) = ({S}, {A}) for the tabular softmax policy, "
            f"got shape {tuple(jnp.shape(theta))}"
        )
    return jnp.asarray(theta)


def softmax_policy(theta: Float[Array, "*H S A"]) -> Float[Array, "*H S A"]:
    """Tabular softmax: `pi(a | s) = exp(theta[s, a]) / sum_b exp(theta[s, b])`."""
    theta = validate.as_float_array("theta", theta, "*H S A")
    validate.check_finite("theta", theta)
    return jax.nn.softmax(theta, axis=-1)


# --- values, by backward induction ------------------------------------------


@jax.jit
def _backward(mdp: TabularMDP, pi: Float[Array, "H S A"]):
    def one_step(V_next, pi_h):
        Q_h = mdp.r + mdp.P @ V_next
        V_h = jnp.sum(pi_h * Q_h, axis=-1)
        return V_h, (Q_h, V_h)

    _, (Q, V) = jax.lax.scan(one_step, jnp.zeros(mdp.n_states, mdp.r.dtype), pi, reverse=True)
    return Q, V


def q_values(mdp: TabularMDP, pi: Float[Array, "*H S A"]) -> Float[Array, "H S A"]:
    """`Q^pi_h(s, a) = r(s, a) + E_{s' ~ P(s, a)}[V^pi_{h+1}(s')]`, with `V_H = 0`."""
    return _backward(mdp, _policy_table(mdp, pi))[0]


def v_values(mdp: TabularMDP, pi: Float[Array, "*H S A"]) -> Float[Array, "H S"]:
    """`V^pi_h(s) = E_{a ~ pi_h(s)}[Q^pi_h(s, a)]`."""
    return _backward(mdp, _policy_table(mdp, pi))[1]


def advantages(mdp: TabularMDP, pi: Float[Array, "*H S A"]) -> Float[Array, "H S A"]:
    """The advantage `A^pi_h(s, a) = Q^pi_h(s, a) - V^pi_h(s)`."""
    Q, V = _backward(mdp, _policy_table(mdp, pi))
    return Q - V[..., None]


def optimal_q_values(mdp: TabularMDP) -> Float[Array, "H S A"]:
    """`Q*_h(s, a) = r(s, a) + E_{s'}[max_b Q*_{h+1}(s', b)]` (dynamic programming)."""
    _check_mdp(mdp)
    return _optimal_q_values(mdp)


@jax.jit
def _optimal_q_values(mdp: TabularMDP) -> Float[Array, "H S A"]:
    def one_step(V_next, _):
        Q_h = mdp.r + mdp.P @ V_next
        return jnp.max(Q_h, axis=-1), Q_h

    _, Q = jax.lax.scan(
        one_step, jnp.zeros(mdp.n_states, mdp.r.dtype), None, length=mdp.H, reverse=True
    )
    return Q


def greedy_policy(q: Float[Array, "*H S A"]) -> Float[Array, "*H S A"]:
    """The deterministic policy putting probability 1 on `argmax_a q[..., s, a]`."""
    q = validate.as_float_array("q", q, "*H S A")
    return jax.nn.one_hot(jnp.argmax(q, axis=-1), q.shape[-1], dtype=q.dtype)


# --- state(-action) visitation, by forward induction ------------------------


def state_action_visitation(mdp: TabularMDP, pi: Float[Array, "*H S A"]) -> Float[Array, "H S A"]:
    """`d^pi_h(s, a) = P(s_h = s, a_h = a)` under `pi`; each `d^pi_h` sums to 1."""
    return _forward(mdp, _policy_table(mdp, pi))


@jax.jit
def _forward(mdp: TabularMDP, pi: Float[Array, "H S A"]) -> Float[Array, "H S A"]:
    def one_step(d_h, pi_h):
        d_sa = d_h[:, None] * pi_h
        return jnp.einsum("sa,sat->t", d_sa, mdp.P), d_sa

    _, d = jax.lax.scan(one_step, mdp.mu, pi)
    return d


def state_visitation(mdp: TabularMDP, pi: Float[Array, "*H S A"]) -> Float[Array, "H S"]:
    """`d^pi_h(s) = P(s_h = s)` under `pi`."""
    return state_action_visitation(mdp, pi).sum(axis=-1)


def expected_return(mdp: TabularMDP, pi: Float[Array, "*H S A"]) -> Float[Array, ""]:
    """`J(pi) = E_{s_0 ~ mu}[V^pi_0(s_0)] = E_{tau ~ rho^pi}[R(tau)]`."""
    V = v_values(mdp, pi)  # checks `mdp` and `pi`
    return mdp.mu @ V[0]


# --- the tabular softmax policy: objective, gradient, KL, Fisher ------------


def exact_objective(mdp: TabularMDP, theta: Float[Array, "S A"]) -> Float[Array, ""]:
    """`J(theta) = E_{tau ~ rho_theta}[R(tau)]` for the tabular softmax policy."""
    return _exact_objective(mdp, _check_theta(mdp, theta))


@jax.jit
def _exact_objective(mdp: TabularMDP, theta: Float[Array, "S A"]) -> Float[Array, ""]:
    pi = jnp.broadcast_to(softmax_policy(theta), (mdp.H, *theta.shape))
    return mdp.mu @ _backward(mdp, pi)[1][0]


def exact_gradient(mdp: TabularMDP, theta: Float[Array, "S A"]) -> Float[Array, "S A"]:
    """`grad J(theta)`, by automatic differentiation through the exact `J`."""
    return _exact_gradient(mdp, _check_theta(mdp, theta))


_exact_gradient = jax.jit(jax.grad(_exact_objective, argnums=1))


def score_table(theta: Float[Array, "S A"]) -> Float[Array, "S A S A"]:
    """`score[s, a] = grad_theta log pi_theta(a | s)`, an (S, A) array for each (s, a).

    For the tabular softmax, `d log pi(a|s) / d theta[s', b] = [s = s'] ([a = b] - pi(b|s))`;
    it is computed here with `jax.jacrev`, independently of that formula.
    """
    theta = validate.as_float_array("theta", theta, "S A")
    return jax.jacrev(lambda th: jax.nn.log_softmax(th, axis=-1))(theta)


def exact_gradient_pg(
    mdp: TabularMDP, theta: Float[Array, "S A"], use_advantage: bool = False
) -> Float[Array, "S A"]:
    """`grad J(theta)` by the policy-gradient formula with exact visitation:

        grad J = sum_h sum_{s, a} d_h(s, a) grad log pi_theta(a | s) Q_h(s, a)

    (with `A_h` instead of `Q_h` when `use_advantage`; the value baseline
    changes nothing in expectation).
    """
    return _exact_gradient_pg(mdp, _check_theta(mdp, theta), bool(use_advantage))


@functools.partial(jax.jit, static_argnums=2)
def _exact_gradient_pg(mdp: TabularMDP, theta: Float[Array, "S A"], use_advantage: bool):
    pi = jnp.broadcast_to(softmax_policy(theta), (mdp.H, *theta.shape))
    d = _forward(mdp, pi)
    Q, V = _backward(mdp, pi)
    weights = Q - V[..., None] if use_advantage else Q
    return jnp.einsum("hsa,hsa,sauv->uv", d, weights, score_table(theta))


def kl_trajectories(
    mdp: TabularMDP, pi: Float[Array, "*H S A"], pi_tilde: Float[Array, "*H S A"]
) -> Float[Array, ""]:
    """Exact `KL(rho^pi || rho^pi_tilde)` between trajectory distributions.

    The initial distribution and the dynamics cancel in the log-ratio, so

        KL = E_{tau ~ rho^pi}[sum_h log pi_h(a_h|s_h) / pi_tilde_h(a_h|s_h)]
           = sum_h sum_s d^pi_h(s) KL(pi_h(. | s) || pi_tilde_h(. | s)).

    Infinite when `pi_tilde` gives probability 0 to an action `pi` can take.
    """
    pi = _policy_table(mdp, pi, "pi")
    pi_tilde = _policy_table(mdp, pi_tilde, "pi_tilde")
    return _kl_trajectories(mdp, pi, pi_tilde)


@jax.jit
def _kl_trajectories(mdp: TabularMDP, pi, pi_tilde) -> Float[Array, ""]:
    d_s = _forward(mdp, pi).sum(axis=-1)
    # xlogy makes 0 log 0 = 0, so actions pi never takes contribute nothing,
    # and states pi never visits contribute nothing even where the KL is infinite.
    kl_per_state = jnp.sum(xlogy(pi, pi) - xlogy(pi, pi_tilde), axis=-1)
    return jnp.sum(jnp.where(d_s > 0, d_s * kl_per_state, 0.0))


def fisher_information(mdp: TabularMDP, theta: Float[Array, "S A"]) -> Float[Array, "D D"]:
    """Exact trajectory-level Fisher information of the tabular softmax, D = S * A:

        F(theta) = E_{tau ~ rho_theta}[sum_h g_h g_h^T],  g_h = grad log pi_theta(a_h | s_h)

    (flattened row-major, index `s * A + a`). It equals
    `E[grad log rho_theta(tau) grad log rho_theta(tau)^T]` (cross terms vanish)
    and the Hessian of `theta' -> KL(rho_theta || rho_theta')` at `theta' = theta`.
    """
    return _fisher_information(mdp, _check_theta(mdp, theta))


@jax.jit
def _fisher_information(mdp: TabularMDP, theta: Float[Array, "S A"]) -> Float[Array, "D D"]:
    S, A = theta.shape
    pi = jnp.broadcast_to(softmax_policy(theta), (mdp.H, S, A))
    d = _forward(mdp, pi).sum(axis=0)
    g = score_table(theta).reshape(S, A, S * A)
    return jnp.einsum("sa,sad,sae->de", d, g, g)


# --- all trajectories of a very small MDP -----------------------------------


class TrajectoryDistribution(NamedTuple):
    """Every trajectory of a small MDP with its probability under a policy.

    `states[n, h]`, `actions[n, h]` for trajectory n, its probability
    `probs[n] = rho^pi(tau_n)` and return `returns[n] = R(tau_n)`.
    """

    states: Int[Array, "N H"]
    actions: Int[Array, "N H"]
    probs: Float[Array, " N"]
    returns: Float[Array, " N"]


_MAX_TRAJECTORIES = 2_000_000


def enumerate_trajectories(
    mdp: TabularMDP, pi: Float[Array, "*H S A"]
) -> TrajectoryDistribution:
    """List all `(S A)^H` trajectories with `rho^pi(tau) = mu(s_0) prod_h pi_h(a_h|s_h)
    prod_{h < H-1} P(s_{h+1} | s_h, a_h)`: an independent check of the
    inductions above, feasible only for very small MDPs."""
    pi = _policy_table(mdp, pi)
    S, A, H = mdp.n_states, mdp.n_actions, mdp.H
    n = (S * A) ** H
    if n > _MAX_TRAJECTORIES:
        raise ValueError(
            f"the MDP has (S*A)^H = {n} trajectories, more than the {_MAX_TRAJECTORIES} "
            "enumerate_trajectories handles; use a smaller MDP"
        )
    pairs = np.array(list(itertools.product(range(S * A), repeat=H)), dtype=np.int32)
    states, actions = jnp.asarray(pairs // A), jnp.asarray(pairs % A)
    hs = jnp.arange(H)
    probs = (
        mdp.mu[states[:, 0]]
        * jnp.prod(pi[hs, states, actions], axis=1)
        * jnp.prod(mdp.P[states[:, :-1], actions[:, :-1], states[:, 1:]], axis=1)
    )
    returns = mdp.r[states, actions].sum(axis=1)
    return TrajectoryDistribution(states, actions, probs, returns)


# --- policy gradient ascent with the exact gradient, and the best stationary policy -----


def exact_policy_gradient_ascent(
    mdp: TabularMDP, theta_init: Float[Array, "S A"], eta: float, n_steps: int
) -> Float[Array, "K S A"]:
    """`n_steps` steps of exact policy gradient ascent (eq-pg-ascent in the book),
    `theta^{k+1} = theta^k + eta grad J(theta^k)`, for the tabular softmax policy.

    Returns every iterate `theta^k`, k = 0, ..., n_steps - 1, shape (n_steps, S, A);
    one `jax.lax.scan`, compiled once per `n_steps`. Evaluate the iterates with
    `expected_return_float64` when their differences matter below float32's
    resolution (late in a long run)."""
    theta_init = _check_theta(mdp, theta_init)
    validate.check_in_range("eta", eta, 0.0, None, inclusive=(False, True))
    n_steps = validate.check_int("n_steps", n_steps, 1)
    return _exact_policy_gradient_ascent(mdp, theta_init, jnp.asarray(eta, theta_init.dtype), n_steps)


@functools.partial(jax.jit, static_argnums=3)
def _exact_policy_gradient_ascent(mdp, theta_init, eta, n_steps):
    def step(theta, _):
        return theta + eta * _exact_gradient(mdp, theta), theta

    return jax.lax.scan(step, theta_init, None, length=n_steps)[1]


def expected_return_float64(mdp: TabularMDP, pi) -> np.ndarray:
    """`J(pi)` of (eq-pg-objective) by backward induction in float64 NumPy, for a batch of
    stationary policies `pi` of shape (..., S, A). Returns shape (...).

    The MDP's float32 numbers are used as they are; only the arithmetic is float64, so
    that differences of `J` far below float32's resolution (about 1e-7 J) are resolved."""
    _check_mdp(mdp)
    P = np.asarray(mdp.P, np.float64)
    r = np.asarray(mdp.r, np.float64)
    mu = np.asarray(mdp.mu, np.float64)
    pi = np.asarray(validate.as_float_array("pi", pi), np.float64)
    S, A = r.shape
    if pi.ndim < 2 or pi.shape[-2:] != (S, A):
        raise ValueError(f"pi must have shape (..., S, A) = (..., {S}, {A}), got shape {pi.shape}")
    V = np.zeros(pi.shape[:-2] + (S,))
    for _ in range(mdp.H):
        Q = r + np.einsum("sat,...t->...sa", P, V)
        V = np.sum(pi * Q, axis=-1)
    return V @ mu


def softmax_policy_float64(theta) -> np.ndarray:
    """`pi_theta(a | s)` of the tabular softmax in float64 NumPy, for a batch of (..., S, A)."""
    theta = validate.as_float_array("theta", theta, "*N S A")
    validate.check_finite("theta", theta)
    theta = np.asarray(theta, np.float64)
    e = np.exp(theta - theta.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class StationaryOptimum(NamedTuple):
    """The supremum of `J` over stationary policies, with a certificate.

    `value` is `J(policy)` for the best policy found (deterministic when the
    supremum is attained at a corner); `upper_bound` is a proven bound
    `sup_pi J(pi) <= upper_bound` over *all* stationary policies, stochastic ones
    included (up to float64 rounding, about 1e-13 here); `n_boxes` is how many boxes
    the branch and bound examined."""

    value: float
    policy: np.ndarray
    upper_bound: float
    n_boxes: int


def best_stationary_policy(mdp: TabularMDP, tol: float = 1e-9, max_boxes: int = 20_000) -> StationaryOptimum:
    """`sup J(pi)` over stationary policies `pi(a | s)` of a two-action MDP, certified by
    Bernstein polynomials (eq-pg-bernstein in the book).

    With two actions a stationary policy is a point `p` of the cube `[0, 1]^S`,
    `p_s = pi(1 | s)`, and `J` is a polynomial of degree at most `H` in each `p_s`.
    On a box, write it in the tensor-product Bernstein basis of degree `H`; the basis
    functions are non-negative and sum to one, so `J` is a weighted average of its
    Bernstein coefficients and at most the largest of them, and the coefficient at a
    corner equals `J` there. Branch and bound: start from the whole cube with the
    best deterministic policy (corner) as the incumbent; split a box (at the middle of
    its longest side) while its largest coefficient exceeds the incumbent by more than
    `tol`. The returned `upper_bound` is the largest coefficient over the boxes
    closed, so `value <= sup J <= upper_bound`. The coefficients come from `J` at the
    `(H + 1)^S` points of a grid on the box (exact interpolation, in float64)."""
    import heapq
    import math

    _check_mdp(mdp)
    validate.check_in_range("tol", tol, 0.0, None, inclusive=(False, True))
    max_boxes = validate.check_int("max_boxes", max_boxes, 1)
    S, A, H = mdp.n_states, mdp.n_actions, mdp.H
    if A != 2:
        raise ValueError(f"best_stationary_policy handles two actions, the MDP has {A}")
    if (H + 1) ** S > 1_000_000:
        raise ValueError(f"(H + 1)^S = {(H + 1) ** S} grid points per box: the MDP is too large")
    nodes = np.arange(H + 1) / H
    basis = np.array([[math.comb(H, k) * x**k * (1 - x) ** (H - k) for k in range(H + 1)] for x in nodes])
    to_coefficients = np.linalg.inv(basis)
    grid = np.stack(np.meshgrid(*[nodes] * S, indexing="ij"), axis=-1)  # (H+1,)*S + (S,)

    def J_at(p):
        return expected_return_float64(mdp, np.stack([1 - p, p], axis=-1))

    def coefficients(lo, hi):
        b = J_at(lo + (hi - lo) * grid)
        for axis in range(S):
            b = np.moveaxis(np.tensordot(to_coefficients, b, axes=([1], [axis])), 0, axis)
        return b

    corners = np.array(list(itertools.product([0.0, 1.0], repeat=S)))
    corner_values = J_at(corners)
    best_value, best_p = float(corner_values.max()), corners[int(np.argmax(corner_values))]
    boxes = [(-np.inf, 0, np.zeros(S), np.ones(S))]
    pushed, n_boxes, closed_bound = 1, 0, -np.inf
    while boxes:
        _, _, lo, hi = heapq.heappop(boxes)
        b = coefficients(lo, hi)
        n_boxes += 1
        bound = float(b.max())
        # The grid point of the largest coefficient is a candidate for the maximiser.
        k = np.array(np.unravel_index(int(np.argmax(b)), b.shape)) / H
        p = lo + (hi - lo) * k
        value = float(J_at(p))
        if value > best_value + tol:
            best_value, best_p = value, p
        if bound <= best_value + tol or n_boxes >= max_boxes:
            closed_bound = max(closed_bound, bound)
            continue
        d = int(np.argmax(hi - lo))
        middle = 0.5 * (lo[d] + hi[d])
        hi_left, lo_right = hi.copy(), lo.copy()
        hi_left[d], lo_right[d] = middle, middle
        for box in ((lo, hi_left), (lo_right, hi)):
            heapq.heappush(boxes, (-bound, pushed, *box))
            pushed += 1
    return StationaryOptimum(best_value, np.stack([1 - best_p, best_p], axis=-1), max(closed_bound, best_value), n_boxes)


def exact_gradient_from_score(
    mdp: TabularMDP, theta: Float[Array, "S A"], score
) -> Float[Array, "S A"]:
    """The policy-gradient sum `sum_h sum_{s,a} d_h(s, a) Q_h(s, a) score(theta, s, a)` with
    exact visitation and Q-values, for a given score function `score(theta, s, a)` (S, A)
    (for example `tabular_softmax(S, A).score`). With the true score it equals `grad J(theta)`;
    a score without the softmax's `-pi_theta(. | s)` term gives a different vector."""
    theta = _check_theta(mdp, theta)
    validate.check_callable("score", score)
    S, A = theta.shape
    table = jax.vmap(jax.vmap(score, (None, None, 0)), (None, 0, None))(theta, jnp.arange(S), jnp.arange(A))
    pi = jnp.broadcast_to(softmax_policy(theta), (mdp.H, S, A))
    d = _forward(mdp, pi)
    Q, _ = _backward(mdp, pi)
    return jnp.einsum("hsa,hsa,sauv->uv", d, Q, table)


class PerformanceDifference(NamedTuple):
    """Both sides of the performance difference lemma (eq-pdl) for every start state, and for
    `J` the improvement, the surrogate (eq-pdl-surrogate) and its error bound (eq-pdl-surrogate-error)."""

    lhs: Float[Array, " S"]  # V^{pi_new}_0(s) - V^pi_0(s)
    rhs: Float[Array, " S"]  # E_{tau ~ rho^{pi_new}_s}[sum_h A^pi_h(s_h, a_h)]
    improvement: Float[Array, ""]  # J(pi_new) - J(pi)
    surrogate: Float[Array, ""]  # L_pi(pi_new): states of pi, actions of pi_new
    surrogate_error_bound: Float[Array, ""]  # 2 sum_h TV(d^{pi_new}_h, d^pi_h) max_s |A_bar_h(s)|


def performance_difference(mdp: TabularMDP, pi: Float[Array, "*H S A"], pi_new: Float[Array, "*H S A"]
                           ) -> PerformanceDifference:
    """The performance difference lemma (eq-pdl) on a tabular MDP, both sides exactly: the left
    side by backward induction, the right side as `sum_h sum_{s', a} d^{pi_new}_h(s', a | s_0 = s)
    A^pi_h(s', a)` with the state-action visitation of `pi_new` from each start state."""
    pi, pi_new = _policy_table(mdp, pi, "pi"), _policy_table(mdp, pi_new, "pi_new")
    return _performance_difference(mdp, pi, pi_new)


@jax.jit
def _performance_difference(mdp, pi, pi_new):
    Q, V = _backward(mdp, pi)
    A = Q - V[..., None]
    _, V_new = _backward(mdp, pi_new)
    lhs = V_new[0] - V[0]
    starts = jnp.eye(mdp.n_states, dtype=mdp.mu.dtype)
    import dataclasses

    d_new = jax.vmap(lambda mu: _forward(dataclasses.replace(mdp, mu=mu), pi_new))(starts)  # "S H S A"
    rhs = jnp.einsum("shta,hta->s", d_new, A)
    A_bar = jnp.sum(pi_new * A, axis=-1)  # "H S": E_{a ~ pi_new_h(.|s)} A^pi_h(s, a)
    d_s_new, d_s_old = _forward(mdp, pi_new).sum(-1), _forward(mdp, pi).sum(-1)
    improvement = mdp.mu @ lhs
    surrogate = jnp.sum(d_s_old * A_bar)
    tv = 0.5 * jnp.sum(jnp.abs(d_s_new - d_s_old), axis=-1)
    bound = 2 * jnp.sum(tv * jnp.max(jnp.abs(A_bar), axis=-1))
    return PerformanceDifference(lhs, rhs, improvement, surrogate, bound)

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
    S, A = mdp.n_states, mdp.n_actions
    if tuple(jnp.shape(theta)) != (S, A):
        raise ValueError(
            f"theta must have shape (S, A) = ({S}, {A}) for the tabular softmax policy, "
            f"got shape {tuple(jnp.shape(theta))}"
        )
    return jnp.asarray(theta)


def softmax_policy(theta: Float[Array, "*H S A"]) -> Float[Array, "*H S A"]:
    """Tabular softmax: `pi(a | s) = exp(theta[s, a]) / sum_b exp(theta[s, b])`."""
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
    return mdp.mu @ v_values(mdp, pi)[0]


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

"""Tabular finite-horizon MDPs: the container, the chapter's examples, sampling.

An MDP is `(mu, P, r, H)`: the initial-state distribution `mu[s]`, the
transition tensor `P[s, a, s'] = P(s' | s, a)`, the deterministic reward
`r[s, a]` and the horizon `H`. A trajectory is
`tau = (s_0, a_0, r_0, ..., s_{H-1}, a_{H-1}, r_{H-1})` with `s_0 ~ mu`,
`a_h ~ pi_h(. | s_h)`, `r_h = r(s_h, a_h)`, `s_{h+1} ~ P(. | s_h, a_h)`.

`TabularMDP` is a pytree whose horizon is static metadata, so an MDP can be
passed straight into `jax.jit` and `lax.scan(..., length=mdp.H)` works.
Exact answers (values, visitation, gradients, KL, Fisher) are in `utils.exact`.
"""
from __future__ import annotations

import dataclasses
import operator
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from utils import validate

_ATOL = 1e-5


@dataclasses.dataclass(frozen=True)
class TabularMDP:
    """A finite-horizon MDP. Build it with `tabular_mdp`, which validates.

    mu: Float[Array, "S"]      initial-state distribution
    P:  Float[Array, "S A S"]  P[s, a, s'] = P(s' | s, a)
    r:  Float[Array, "S A"]    reward r(s, a)
    H:  int                    horizon (static)
    """

    mu: Float[Array, " S"]
    P: Float[Array, "S A S"]
    r: Float[Array, "S A"]
    H: int

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]


jax.tree_util.register_dataclass(TabularMDP, data_fields=["mu", "P", "r"], meta_fields=["H"])


def tabular_mdp(mu, P, r, H: int) -> TabularMDP:
    """Check `(mu, P, r, H)` and return them as a float32 `TabularMDP`.

    Raises ValueError when the shapes disagree (mu: (S,), P: (S, A, S),
    r: (S, A)), a probability is negative, `mu` or a row `P[s, a, :]` does not
    sum to 1 (within 1e-5), a reward is not finite, or `H` is not a positive int.
    """
    mu_np, P_np, r_np = (np.asarray(validate.as_float_array(name, x), dtype=np.float64)
                         for name, x in (("mu", mu), ("P", P), ("r", r)))
    if isinstance(H, bool):
        raise ValueError(f"H (the horizon) must be a positive int, got {H!r}")
    try:
        H = operator.index(H)
    except TypeError:
        raise ValueError(f"H (the horizon) must be a positive int, got {H!r}") from None
    if H <= 0:
        raise ValueError(f"H (the horizon) must be a positive int, got {H}")
    if P_np.ndim != 3 or P_np.shape[0] != P_np.shape[2] or 0 in P_np.shape:
        raise ValueError(
            f"P must have shape (S, A, S) with P[s, a, s'] = P(s'|s, a), got shape {P_np.shape}"
        )
    S, A, _ = P_np.shape
    if mu_np.shape != (S,):
        raise ValueError(f"mu must have shape (S,) = ({S},) to match P, got shape {mu_np.shape}")
    if r_np.shape != (S, A):
        raise ValueError(f"r must have shape (S, A) = ({S}, {A}) to match P, got shape {r_np.shape}")
    if not np.all(np.isfinite(r_np)):
        raise ValueError("r must be finite everywhere")
    for name, probs in (("mu", mu_np), ("P", P_np)):
        if not np.all(np.isfinite(probs)) or np.any(probs < 0):
            raise ValueError(f"{name} must hold probabilities (finite, >= 0)")
    if abs(mu_np.sum() - 1.0) > _ATOL:
        raise ValueError(f"mu must sum to 1, it sums to {mu_np.sum():.8g}")
    row_sums = P_np.sum(axis=2)
    bad = np.argwhere(np.abs(row_sums - 1.0) > _ATOL)
    if len(bad):
        s, a = bad[0]
        raise ValueError(
            f"each transition row P[s, a, :] must sum to 1; {len(bad)} do not, "
            f"e.g. P[{s}, {a}, :] sums to {row_sums[s, a]:.8g}"
        )
    to32 = lambda x: jnp.asarray(x, dtype=jnp.float32)  # noqa: E731
    return TabularMDP(mu=to32(mu_np), P=to32(P_np), r=to32(r_np), H=H)


REST, ADVANCE = 0, 1


def example_mdp() -> TabularMDP:
    """The chapter's small MDP: a walk to a goal, where resting is safe and advancing is risky.

    States 0, 1, 2 are positions on a path and state 3 is the goal; the horizon
    is H = 5 and the walk starts at position 0 or 1 (mu = [0.7, 0.3, 0, 0]).

    - action 0, "rest": stay where you are and collect 0.25 (on the path);
    - action 1, "advance": collect nothing; move one position forward with
      probability 0.75, stay with probability 0.15 and slip back to position 0
      with probability 0.1 (on the path);
    - at the goal either action earns 1 per step and the walk stays there.

    Reaching the goal takes at least three advances out of five steps, so the
    best action depends on the position and on the time left: the choices
    trade a sure small reward against a risky larger one, the transitions are
    random, and rewards arrive at many steps (so reward-to-go and baselines
    visibly reduce the variance of gradient estimates).
    """
    S, A = 4, 2
    P = np.zeros((S, A, S))
    r = np.zeros((S, A))
    for s in range(3):
        P[s, REST, s] = 1.0
        r[s, REST] = 0.25
        P[s, ADVANCE, s + 1] += 0.75
        P[s, ADVANCE, s] += 0.15
        P[s, ADVANCE, 0] += 0.10
    P[3, :, 3] = 1.0
    r[3, :] = 1.0
    mu = np.array([0.7, 0.3, 0.0, 0.0])
    return tabular_mdp(mu, P, r, H=5)


def one_state_mdp(rewards=(1.0, 0.0), H: int = 1) -> TabularMDP:
    """A single state with one action per entry of `rewards` (a bandit).

    With two actions a softmax policy is a Bernoulli policy: the setting of the
    chapter's natural-gradient example.
    """
    rewards = np.asarray(validate.as_float_array("rewards", rewards), dtype=np.float64)
    if rewards.ndim != 1 or rewards.size == 0:
        raise ValueError(f"rewards must be a non-empty 1-D sequence, got shape {rewards.shape}")
    A = rewards.size
    return tabular_mdp(np.ones(1), np.ones((1, A, 1)), rewards[None, :], H)


def random_mdp(key: PRNGKeyArray, n_states: int, n_actions: int, H: int) -> TabularMDP:
    """A random MDP for tests: Dirichlet(1) initial distribution and transition
    rows, rewards uniform on [0, 1)."""
    validate.check_key("key", key)
    for name, value in (("n_states", n_states), ("n_actions", n_actions), ("H", H)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    k_mu, k_P, k_r = jax.random.split(key, 3)
    mu = jax.random.dirichlet(k_mu, jnp.ones(n_states))
    P = jax.random.dirichlet(k_P, jnp.ones(n_states), shape=(n_states, n_actions))
    r = jax.random.uniform(k_r, (n_states, n_actions))
    return tabular_mdp(mu, P, r, H)


# --- sampling, for rollouts -------------------------------------------------


def reset(mdp: TabularMDP, key: PRNGKeyArray) -> Int[Array, ""]:
    """Draw the initial state `s_0 ~ mu`."""
    # Static checks only: this runs inside the jitted samplers.
    validate.check_instance("mdp", mdp, TabularMDP, "utils.envs.tabular.TabularMDP")
    validate.check_key("key", key)
    return jax.random.choice(key, mdp.n_states, p=mdp.mu).astype(jnp.int32)


def step(
    mdp: TabularMDP, key: PRNGKeyArray, s: Int[Array, ""], a: Int[Array, ""]
) -> tuple[Int[Array, ""], Float[Array, ""]]:
    """Take action `a` in state `s`: returns `(s_next ~ P(. | s, a), r(s, a))`."""
    validate.check_instance("mdp", mdp, TabularMDP, "utils.envs.tabular.TabularMDP")
    validate.check_key("key", key)
    validate.as_int_array("s", s, "")
    validate.as_int_array("a", a, "")
    s_next = jax.random.choice(key, mdp.n_states, p=mdp.P[s, a]).astype(jnp.int32)
    return s_next, mdp.r[s, a]


"""Policy-gradient estimators, from REINFORCE to advantages, and GAE.

Every estimator is `Σ_h ∇_θ log π_θ(a_h|s_h) · w_h` averaged over a batch of
trajectories (batch-major `Trajectory`, "N H", from `utils.rollouts`); they
differ only in the weight `w_h`:

=====================================  ============================================
`reinforce_gradient`                   `R(τ) = Σ_{h'} r_{h'}`          (eq-reinforce)
`reinforce_gradient_reward_to_go`      `Σ_{h' ≥ h} r_{h'}`             (eq-reward-to-go)
`baseline_gradient`                    `Σ_{h' ≥ h} r_{h'} − b`         (eq-baseline)
`learned_baseline_gradient`            `Σ_{h' ≥ h} r_{h'} − V̂_h(s_h)`  (eq-baseline, `V̂` from `fit_value`)
`exact_advantage_gradient`             `A^{π_θ}_h(s_h, a_h)`           (eq-advantage-pg)
=====================================  ============================================

The tabular estimators are undiscounted and finite-horizon, as in the chapter.
The score `∇_θ log π_θ` is the policy's closed form (`Policy.score`).
Pass `average=False` to get one estimate per trajectory (a leading axis N),
e.g. to measure an estimator's variance.

`gae` (eq-gae) is the practical advantage estimator for auto-resetting
environments: it bootstraps with the value function on truncation and at the
end of the rollout, but not on termination.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from utils.policies import Params, Policy, check_params
from utils.rollouts import Trajectory


# --------------------------------------------------------------------------
# Returns
# --------------------------------------------------------------------------


def reward_to_go(
    rewards: Float[Array, "*N H"],
    gamma: float = 1.0,
    dones: Bool[Array, "*N H"] | None = None,
) -> Float[Array, "*N H"]:
    """Reward-to-go `G_h = Σ_{h' ≥ h} γ^{h'-h} r_{h'}` along the last axis (eq-reward-to-go).

    With `dones`, the sum stops at the end of each episode (`G_h = r_h` where
    `dones[h]`), for rollouts holding several episodes; nothing is
    bootstrapped after the last step.
    """
    rewards = jnp.asarray(rewards)
    if dones is None:
        dones = jnp.zeros(rewards.shape, bool)

    def f(g_next, x):
        r, d = x
        g = r + gamma * jnp.where(d, 0.0, g_next)
        return g, g

    xs = (jnp.moveaxis(rewards, -1, 0), jnp.moveaxis(jnp.asarray(dones), -1, 0))
    _, g = jax.lax.scan(f, jnp.zeros(rewards.shape[:-1], rewards.dtype), xs, reverse=True)
    return jnp.moveaxis(g, 0, -1)


def total_return(rewards: Float[Array, "*N H"]) -> Float[Array, "*N"]:
    """`R(τ) = Σ_h r_h`."""
    return jnp.sum(rewards, axis=-1)


def gae(
    rewards: Float[Array, "*N T"],
    values: Float[Array, "*N T"],
    next_values: Float[Array, "*N T"],
    terminated: Bool[Array, "*N T"],
    truncated: Bool[Array, "*N T"],
    gamma: float,
    lam: float,
) -> Float[Array, "*N T"]:
    """Generalised advantage estimation (eq-gae), along the last axis.

    `δ_t = r_t + γ (1 − terminated_t) V(s'_t) − V(s_t)`, with `V(s'_t) =
    next_values[t]` the value of the observation step t led to (before any
    reset: `V(final_obs)`), and

        Â_t = δ_t + γ λ (1 − done_t) Â_{t+1},   done_t = terminated_t or truncated_t,

    with `Â_T = 0` after the last step. So the estimate bootstraps on
    `V(s'_t)` at a truncation and at the end of the rollout, never after a
    termination, and never carries across an episode boundary. `λ = 0` gives
    the TD errors `δ_t`; `λ = 1` gives the (bootstrapped) discounted returns
    minus `V(s_t)`.
    """
    not_term = 1.0 - jnp.asarray(terminated, rewards.dtype)
    not_done = 1.0 - jnp.asarray(jnp.asarray(terminated) | jnp.asarray(truncated), rewards.dtype)
    delta = rewards + gamma * not_term * next_values - values

    def f(adv_next, x):
        d, nd = x
        adv = d + gamma * lam * nd * adv_next
        return adv, adv

    xs = (jnp.moveaxis(delta, -1, 0), jnp.moveaxis(not_done, -1, 0))
    _, adv = jax.lax.scan(f, jnp.zeros(delta.shape[:-1], delta.dtype), xs, reverse=True)
    return jnp.moveaxis(adv, 0, -1)


# --------------------------------------------------------------------------
# The common form Σ_h ∇ log π_θ(a_h|s_h) w_h
# --------------------------------------------------------------------------


def score_weighted_sum(
    policy: Policy, params: Params, traj: Trajectory, weights: Float[Array, "N H"], average: bool = True
) -> Params:
    """`Σ_h ∇_θ log π_θ(a_h|s_h) w_h` for each trajectory, averaged over the N
    trajectories (or stacked along a leading axis N if not `average`)."""
    score_h = jax.vmap(jax.vmap(policy.score, (None, 0, 0)), (None, 0, 0))(params, traj.obs, traj.actions)
    per_traj = jax.tree_util.tree_map(
        lambda g: jnp.einsum("nh,nh...->n...", weights.astype(g.dtype), g), score_h
    )
    if average:
        return jax.tree_util.tree_map(lambda g: g.mean(0), per_traj)
    return per_traj


def _check(policy, params, traj):
    if not isinstance(traj, Trajectory):
        raise TypeError(f"traj must be a utils.rollouts.Trajectory, got {type(traj).__name__}")
    if jnp.ndim(traj.rewards) != 2:
        raise ValueError(f"traj must be batch-major 'N H'; traj.rewards has shape {jnp.shape(traj.rewards)}")
    check_params(policy, params)


@functools.partial(jax.jit, static_argnames=("policy", "average"))
def _reinforce(policy, params, traj, average):
    weights = jnp.broadcast_to(total_return(traj.rewards)[:, None], traj.rewards.shape)
    return score_weighted_sum(policy, params, traj, weights, average)


def reinforce_gradient(policy: Policy, params: Params, traj: Trajectory, average: bool = True) -> Params:
    """REINFORCE with the total return (eq-reinforce in the book):
    `∇̂J = (1/N) Σ_n Σ_h ∇_θ log π_θ(a_h|s_h) R(τ_n)`."""
    _check(policy, params, traj)
    return _reinforce(policy, params, traj, average)


@functools.partial(jax.jit, static_argnames=("policy", "average"))
def _baseline(policy, params, traj, baseline, average):
    weights = reward_to_go(traj.rewards, dones=traj.terminated | traj.truncated) - baseline
    return score_weighted_sum(policy, params, traj, weights, average)


def reinforce_gradient_reward_to_go(
    policy: Policy, params: Params, traj: Trajectory, average: bool = True
) -> Params:
    """REINFORCE with the reward-to-go (eq-reward-to-go in the book):
    `∇̂J = (1/N) Σ_n Σ_h ∇_θ log π_θ(a_h|s_h) Σ_{h' ≥ h} r_{h'}`."""
    _check(policy, params, traj)
    return _baseline(policy, params, traj, jnp.zeros((), jnp.float32), average)


def baseline_gradient(
    policy: Policy,
    params: Params,
    traj: Trajectory,
    baseline: Float[Array, ""] | Float[Array, " H"] | Float[Array, "N H"],
    average: bool = True,
) -> Params:
    """Reward-to-go minus a baseline (eq-baseline in the book):
    `∇̂J = (1/N) Σ_n Σ_h ∇_θ log π_θ(a_h|s_h) (Σ_{h' ≥ h} r_{h'} − b_h)`.

    `baseline` is a constant `b` (scalar), a per-step constant `b_h` ("H"), or
    one value per visited state ("N H"). It keeps the estimator unbiased if it
    does not depend on the actions of the trajectory it is used with, e.g. when
    it is computed from independently sampled trajectories.
    """
    _check(policy, params, traj)
    baseline = jnp.asarray(baseline, jnp.float32)
    N, H = traj.rewards.shape
    if baseline.shape not in ((), (H,), (N, H)):
        raise ValueError(f"baseline must be a scalar, shape (H,) = ({H},) or (N, H) = ({N}, {H}); got {baseline.shape}")
    return _baseline(policy, params, traj, baseline, average)


def mean_reward_to_go(traj: Trajectory) -> Float[Array, ""]:
    """The average reward-to-go over all steps of a batch: a constant baseline
    (compute it on trajectories independent of those it is used with)."""
    return reward_to_go(traj.rewards, dones=traj.terminated | traj.truncated).mean()


def fit_value(traj: Trajectory, n_states: int) -> Float[Array, "H S"]:
    """Fit a tabular value function `V̂_h(s)` to the reward-to-go of `traj`.

    For a table, least squares `min_V Σ_n Σ_h (G_{n,h} − V_h(s_{n,h}))²` is
    solved by the average reward-to-go from each `(h, s)`: a Monte Carlo
    estimate of `V^{π_θ}_h(s)`. Pairs never visited get 0.
    """
    if not isinstance(traj, Trajectory):
        raise TypeError(f"traj must be a utils.rollouts.Trajectory, got {type(traj).__name__}")
    if isinstance(n_states, bool) or not isinstance(n_states, int) or n_states < 1:
        raise ValueError(f"n_states must be a positive int, got {n_states!r}")
    return _fit_value(traj, n_states)


@functools.partial(jax.jit, static_argnames=("n_states",))
def _fit_value(traj, n_states):
    G = reward_to_go(traj.rewards, dones=traj.terminated | traj.truncated)
    onehot = jax.nn.one_hot(traj.obs, n_states, dtype=G.dtype)  # "N H S"
    totals = jnp.einsum("nh,nhs->hs", G, onehot)
    counts = onehot.sum(0)
    return jnp.where(counts > 0, totals / jnp.maximum(counts, 1.0), 0.0)


def learned_baseline_gradient(
    policy: Policy, params: Params, traj: Trajectory, values: Float[Array, "H S"], average: bool = True
) -> Params:
    """Reward-to-go minus a learned value baseline (eq-baseline in the book, `b_h = V̂_h`):
    `∇̂J = (1/N) Σ_n Σ_h ∇_θ log π_θ(a_h|s_h) (Σ_{h' ≥ h} r_{h'} − V̂_h(s_h))`.

    `values` is a tabular `V̂` ("H S"), e.g. `fit_value` on trajectories sampled
    independently of `traj` (fitting it on `traj` itself biases the estimate).
    """
    _check(policy, params, traj)
    H = traj.rewards.shape[1]
    if jnp.ndim(values) != 2 or jnp.shape(values)[0] != H:
        raise ValueError(f"values must be a table of shape (H, S) with H = {H}, got {jnp.shape(values)}")
    b = jnp.asarray(values)[jnp.arange(H)[None, :], traj.obs]
    return _baseline(policy, params, traj, b, average)


@functools.partial(jax.jit, static_argnames=("policy", "average"))
def _advantage(policy, params, traj, advantages, average):
    H = traj.rewards.shape[1]
    weights = advantages[jnp.arange(H)[None, :], traj.obs, traj.actions]
    return score_weighted_sum(policy, params, traj, weights, average)


def exact_advantage_gradient(
    policy: Policy,
    params: Params,
    traj: Trajectory,
    advantages: Float[Array, "H S A"],
    average: bool = True,
) -> Params:
    """The advantage form with the exact advantage (eq-advantage-pg in the book):
    `∇̂J = (1/N) Σ_n Σ_h ∇_θ log π_θ(a_h|s_h) A^{π_θ}_h(s_h, a_h)`.

    `advantages` is `utils.exact.advantages(mdp, π_θ)` ("H S A"), tabular only.
    """
    _check(policy, params, traj)
    H = traj.rewards.shape[1]
    if jnp.ndim(advantages) != 3 or jnp.shape(advantages)[0] != H:
        raise ValueError(f"advantages must have shape (H, S, A) with H = {H}, got {jnp.shape(advantages)}")
    return _advantage(policy, params, traj, jnp.asarray(advantages), average)

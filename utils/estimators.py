"""Policy-gradient estimators, from REINFORCE to advantages, and GAE.

Every estimator is `Σ_h ∇_θ log π_θ(a_h|s_h) · Ψ_h` averaged over a batch of
trajectories (batch-major `Trajectory`, "N H", from `utils.rollouts`); they
differ only in the weight `Ψ_h` (the letter of Schulman et al. 2016):

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
e.g. to measure an estimator's variance (the trace of its covariance,
`utils.checks.total_variance`).

`gae` (eq-gae) is the practical advantage estimator for auto-resetting
environments: it bootstraps with the value function on truncation and at the
end of the rollout, but not on termination.

The last part of the module holds the exact computations behind the
baselines section's checks on a small tabular MDP: every trajectory with its
probability (`enumerated_batch`), an estimator's exact mean and variance over
them, GAE with a value table (`tabular_gae`), the conditional mean of a weight
given `(s_h, a_h)`, the gradient of the discounted objective, a rollout
window cut and bootstrapped, the learned baseline fitted on the same or on an
independent batch; and the checks of the CartPole comparison with and without
a baseline (`compare_baseline_runs`). The chapter and
`tests/test_claims_baselines.py` run the same checks on the same numbers.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from utils import checks, exact
from utils import validate
from utils.envs.tabular import TabularMDP
from utils.policies import Params, Policy, check_params
from utils.rollouts import Trajectory, sample_trajectories


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
    rewards = validate.as_float_array("rewards", rewards, "*N H")
    validate.check_finite("rewards", rewards)
    validate.check_in_range("gamma", gamma, 0.0, 1.0)
    if dones is None:
        dones = jnp.zeros(rewards.shape, bool)
    else:
        dones = validate.as_bool_array("dones", dones)
        validate.check_same_shape(("rewards", rewards), ("dones", dones))

    def f(g_next, x):
        r, d = x
        g = r + gamma * jnp.where(d, 0.0, g_next)
        return g, g

    xs = (jnp.moveaxis(rewards, -1, 0), jnp.moveaxis(jnp.asarray(dones), -1, 0))
    _, g = jax.lax.scan(f, jnp.zeros(rewards.shape[:-1], rewards.dtype), xs, reverse=True)
    return jnp.moveaxis(g, 0, -1)


def total_return(rewards: Float[Array, "*N H"]) -> Float[Array, "*N"]:
    """`R(τ) = Σ_h r_h`."""
    return jnp.sum(validate.as_float_array("rewards", rewards, "*N H"), axis=-1)


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
    rewards, values, next_values, terminated, truncated = _check_gae_args(
        rewards, values, next_values, terminated, truncated, gamma, lam)
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


def _check_gae_args(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Shapes and dtypes (static, so also under `jit`); NaN and range only on concrete values."""
    rewards = validate.as_float_array("rewards", rewards, "*N T")
    values = validate.as_float_array("values", values)
    next_values = validate.as_float_array("next_values", next_values)
    terminated = validate.as_bool_array("terminated", terminated)
    truncated = validate.as_bool_array("truncated", truncated)
    validate.check_same_shape(("rewards", rewards), ("values", values), ("next_values", next_values),
                       ("terminated", terminated), ("truncated", truncated))
    validate.check_in_range("gamma", gamma, 0.0, 1.0)
    validate.check_in_range("lam", lam, 0.0, 1.0)
    for name, x in (("rewards", rewards), ("values", values), ("next_values", next_values)):
        validate.check_finite(name, x)
    return rewards, values, next_values, terminated, truncated


# --------------------------------------------------------------------------
# The common form Σ_h ∇ log π_θ(a_h|s_h) w_h
# --------------------------------------------------------------------------


def score_weighted_sum(
    policy: Policy, params: Params, traj: Trajectory, weights: Float[Array, "N H"], average: bool = True
) -> Params:
    """`Σ_h ∇_θ log π_θ(a_h|s_h) w_h` for each trajectory, averaged over the N
    trajectories (or stacked along a leading axis N if not `average`)."""
    _check(policy, params, traj)
    weights = validate.as_float_array("weights", weights)
    if jnp.shape(weights) != jnp.shape(traj.rewards):
        raise ValueError(f"`weights` must have shape (N, H) = {jnp.shape(traj.rewards)}, one per step of `traj`, "
                         f"got shape {jnp.shape(weights)}")
    score_h = jax.vmap(jax.vmap(policy.score, (None, 0, 0)), (None, 0, 0))(params, traj.obs, traj.actions)
    per_traj = jax.tree_util.tree_map(
        lambda g: jnp.einsum("nh,nh...->n...", weights.astype(g.dtype), g), score_h
    )
    if average:
        return jax.tree_util.tree_map(lambda g: g.mean(0), per_traj)
    return per_traj


def _check(policy, params, traj):
    validate.check_instance("policy", policy, Policy, "utils.policies.Policy")
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
    baseline = validate.as_float_array("baseline", baseline)
    validate.check_finite("baseline", baseline)
    N, H = traj.rewards.shape
    if baseline.shape not in ((), (H,), (N, H)):
        raise ValueError(f"baseline must be a scalar, shape (H,) = ({H},) or (N, H) = ({N}, {H}); got {baseline.shape}")
    return _baseline(policy, params, traj, baseline, average)


def mean_reward_to_go(traj: Trajectory) -> Float[Array, ""]:
    """The average reward-to-go over all steps of a batch: a constant baseline
    (compute it on trajectories independent of those it is used with)."""
    validate.check_instance("traj", traj, Trajectory, "utils.rollouts.Trajectory")
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
    values = validate.as_float_array("values", values)
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
    advantages = validate.as_float_array("advantages", advantages)
    if jnp.ndim(advantages) != 3 or jnp.shape(advantages)[0] != H:
        raise ValueError(f"advantages must have shape (H, S, A) with H = {H}, got {jnp.shape(advantages)}")
    return _advantage(policy, params, traj, jnp.asarray(advantages), average)


# --------------------------------------------------------------------------
# Exact answers on a small tabular MDP: the computations behind the
# baselines section's checks (and tests/test_claims_baselines.py)
# --------------------------------------------------------------------------


def enumerated_batch(mdp, pi, values: Float[Array, "H S"] | None = None) -> tuple[Trajectory, Float[Array, " M"]]:
    """Every trajectory of a tabular MDP as one batch-major `Trajectory` ("M H",
    M = (S A)^H), with its probability `ρ^π(τ)` under the policy table `pi`.

    Called with `average=False` on this batch, an estimator above returns its
    estimate on every trajectory; `exact_mean` and `exact_variance` then give
    its mean and variance without sampling error (the baselines section's
    bar chart, eq-baselines-bias-variance). `values` ("H S"), if given, is
    stored as `traj.values[m, h] = values[h, s_h]`. A fixed horizon:
    `terminated` is set at the last step; `final_obs` is `s_{h+1}` and, at the
    last step, where the enumeration stops, repeats `s_{H-1}` (nothing may
    bootstrap from it, and nothing here does).
    """
    validate.check_instance("mdp", mdp, TabularMDP, "utils.envs.tabular.TabularMDP")
    pi = validate.as_float_array("pi", pi)
    if pi.shape not in ((mdp.n_states, mdp.n_actions), (mdp.H, mdp.n_states, mdp.n_actions)):
        raise ValueError(f"`pi` must be a policy table of shape (S, A) or (H, S, A) = "
                         f"({mdp.H}, {mdp.n_states}, {mdp.n_actions}), got shape {pi.shape}")
    if values is not None:
        validate.check_shape("values", validate.as_float_array("values", values), f"{mdp.H} {mdp.n_states}")
    every = exact.enumerate_trajectories(mdp, pi)
    M, H = every.states.shape
    hs = jnp.arange(H)
    stored = jnp.zeros((M, H), jnp.float32) if values is None else jnp.asarray(values, jnp.float32)[hs, every.states]
    table = jnp.broadcast_to(jnp.asarray(pi), (H, mdp.n_states, mdp.n_actions))  # π_h(a|s)
    traj = Trajectory(
        obs=every.states,
        actions=every.actions,
        rewards=mdp.r[every.states, every.actions],
        terminated=jnp.broadcast_to(hs == H - 1, (M, H)),
        truncated=jnp.zeros((M, H), bool),
        log_probs=jnp.log(table[hs, every.states, every.actions]),
        values=stored,
        final_obs=jnp.concatenate([every.states[:, 1:], every.states[:, -1:]], axis=1),
    )
    return traj, every.probs


def _check_enumerated(per_traj, probs) -> None:
    probs = validate.as_float_array("probs", probs, " M")
    validate.check_probabilities("probs", probs)
    M = probs.shape[0]
    for leaf in jax.tree_util.tree_leaves(per_traj):
        if jnp.ndim(leaf) == 0 or jnp.shape(leaf)[0] != M:
            raise ValueError(f"`per_traj` must have a leading axis M = {M} (one estimate per trajectory of "
                             f"`probs`), got a leaf of shape {jnp.shape(leaf)}")


def exact_mean(per_traj: Params, probs: Float[Array, " M"]) -> Params:
    """`Σ_m ρ(τ_m) ĝ(τ_m)`: the exact mean of an estimator given on every trajectory
    of `enumerated_batch` (a leading axis M)."""
    _check_enumerated(per_traj, probs)
    return jax.tree_util.tree_map(lambda g: jnp.tensordot(probs, g, axes=1), per_traj)


def exact_variance(per_traj: Params, probs: Float[Array, " M"]) -> Float[Array, ""]:
    """The exact variance of an estimator, `E‖ĝ − E ĝ‖² = Σ_m ρ(τ_m) ‖ĝ(τ_m) − E ĝ‖²`
    (the trace of its covariance; eq-baselines-bias-variance), over the
    trajectories of `enumerated_batch`."""
    _check_enumerated(per_traj, probs)
    mean = exact_mean(per_traj, probs)
    sq = sum(
        jnp.sum((g - m) ** 2, axis=tuple(range(1, g.ndim)))
        for g, m in zip(jax.tree_util.tree_leaves(per_traj), jax.tree_util.tree_leaves(mean))
    )
    return probs @ sq


def tabular_gae(
    traj: Trajectory, values: Float[Array, "H S"], gamma: float, lam: float, gae_fn: Callable | None = None
) -> Float[Array, "N H"]:
    """GAE (eq-gae) on fixed-horizon tabular trajectories with a value table `V̂` ("H S"):
    `δ_h = r_h + γ V̂_{h+1}(s_{h+1}) − V̂_h(s_h)` with `V̂_H ≡ 0`, and
    `Â_h = Σ_l (γλ)^l δ_{h+l}`.

    `gae_fn` is the implementation used (default `gae`; same signature), so that a
    test can hand the chapter's checks a wrong one."""
    validate.check_instance("traj", traj, Trajectory, "utils.rollouts.Trajectory")
    gae_fn = gae if gae_fn is None else gae_fn
    validate.check_callable("gae_fn", gae_fn)
    H = traj.rewards.shape[1]
    values = validate.as_float_array("values", values)
    if jnp.ndim(values) != 2 or jnp.shape(values)[0] != H:
        raise ValueError(f"`values` must be a table of shape (H, S) with H = {H}, got shape {jnp.shape(values)}")
    validate.check_in_range("gamma", gamma, 0.0, 1.0)
    validate.check_in_range("lam", lam, 0.0, 1.0)
    v = jnp.asarray(values, jnp.float32)[jnp.arange(H), traj.obs]
    next_v = jnp.concatenate([v[:, 1:], jnp.zeros_like(v[:, :1])], axis=1)  # V̂_{h+1}(s_{h+1}), V̂_H = 0
    return gae_fn(traj.rewards, v, next_v, traj.terminated, traj.truncated, gamma, lam)


def gae_by_definition(rewards, values, next_values, terminated, truncated, gamma: float, lam: float) -> np.ndarray:
    """eq-gae read literally, with plain loops: for step t of an episode whose last step in
    the rollout is e (an end of episode, or the rollout's last step),
    `Â_t = Σ_{l=0}^{e−t} (γλ)^l δ_{t+l}`, `δ_k = r_k + γ (1 − terminated_k) V̂(s'_k) − V̂(s_k)`.

    The sum form, independent of `gae`'s backward recursion; arrays "N T" (or "T")."""
    rewards, values, next_values, terminated, truncated = _check_gae_args(
        rewards, values, next_values, terminated, truncated, gamma, lam)
    r, v, nv, term, trunc = (np.atleast_2d(np.asarray(x, np.float64)) for x in
                             (rewards, values, next_values, terminated, truncated))
    done = (term > 0) | (trunc > 0)
    delta = r + gamma * np.where(term > 0, 0.0, nv) - v
    out = np.zeros_like(r)
    n, T = r.shape
    for i in range(n):
        for t in range(T):
            e = t
            while e < T - 1 and not done[i, e]:
                e += 1
            out[i, t] = sum((gamma * lam) ** l * delta[i, t + l] for l in range(e - t + 1))
    return out.reshape(np.shape(rewards))


def conditional_mean(
    weights: Float[Array, "M H"], traj: Trajectory, probs: Float[Array, " M"], n_states: int, n_actions: int
) -> Float[Array, "H S A"]:
    """`E[Ψ_h | s_h = s, a_h = a]` for a weight `Ψ_h` given on every trajectory of
    `enumerated_batch`: `Σ_m ρ(τ_m) Ψ_h(τ_m) 1{s_h = s, a_h = a} / d_h(s, a)`,
    0 where `d_h(s, a) = 0`. For example GAE's mean given `(s_h, a_h)`, against
    `A_h(s, a)` (the GAE exercise)."""
    validate.check_instance("traj", traj, Trajectory, "utils.rollouts.Trajectory")
    weights = validate.as_float_array("weights", weights)
    if jnp.shape(weights) != jnp.shape(traj.rewards):
        raise ValueError(f"`weights` must have shape (M, H) = {jnp.shape(traj.rewards)} (one per step of `traj`), "
                         f"got shape {jnp.shape(weights)}")
    validate.check_shape("probs", validate.as_float_array("probs", probs), f"{jnp.shape(traj.rewards)[0]}")
    validate.check_int("n_states", n_states, 1)
    validate.check_int("n_actions", n_actions, 1)
    onehot = (jax.nn.one_hot(traj.obs, n_states)[..., :, None]
              * jax.nn.one_hot(traj.actions, n_actions)[..., None, :])  # "M H S A"
    d = jnp.einsum("m,mhsa->hsa", probs, onehot)
    total = jnp.einsum("m,mh,mhsa->hsa", probs, weights, onehot)
    return jnp.where(d > 0, total / jnp.where(d > 0, d, 1.0), 0.0)


def _check_mdp_theta(mdp, theta):
    validate.check_instance("mdp", mdp, TabularMDP, "utils.envs.tabular.TabularMDP")
    theta = validate.as_float_array("theta", theta)
    validate.check_shape("theta", theta, f"{mdp.n_states} {mdp.n_actions}")
    return theta


def discounted_gradient(mdp, theta: Float[Array, "S A"], gamma: float) -> Float[Array, "S A"]:
    """`∇J_γ(θ)` of the discounted objective `J_γ(θ) = E[Σ_{h<H} γ^h r_h]` for the
    tabular softmax, by automatic differentiation through the exact visitation
    (`J_1 = J`). What GAE with `γ < 1` estimates when each term carries its `γ^h`
    (the discounted exercise of the baselines section)."""
    theta = _check_mdp_theta(mdp, theta)
    validate.check_in_range("gamma", gamma, 0.0, 1.0)
    discount = gamma ** jnp.arange(mdp.H)

    def J(theta):
        d = exact.state_action_visitation(mdp, exact.softmax_policy(theta))
        return jnp.einsum("h,hsa,sa->", discount, d, mdp.r)

    return jax.grad(J)(jnp.asarray(theta, jnp.float32))


def window_gradient(
    policy: Policy, params: Params, traj: Trajectory, values: Float[Array, "H S"], cut: int,
    gamma: float = 1.0, average: bool = True,
) -> Params:
    """The estimate from a rollout window that ends after step `cut − 1`, with the cut
    return bootstrapped: `Σ_{h<cut} ∇_θ log π_θ(a_h|s_h) Ĝ_h`,
    `Ĝ_h = Σ_{h'=h}^{cut−1} γ^{h'−h} r_{h'} + γ^{cut−h} V̂_cut(s_cut)`.

    Computed by `gae` with `λ = 1` and a truncation at `cut − 1` bootstrapped
    with `V̂` ("H S"), as `utils.reinforce` does at the end of a rollout; the
    weight is `Ĝ_h − V̂_h(s_h)` (the baseline leaves the mean unchanged). Its
    mean is the steps-before-`cut` part of `∇J` (`window_target`) when
    `V̂ = V^{π_θ}`, and in general not otherwise."""
    _check(policy, params, traj)
    H = traj.rewards.shape[1]
    validate.check_in_range("gamma", gamma, 0.0, 1.0)
    if isinstance(cut, bool) or not isinstance(cut, int) or not 1 <= cut < H:
        raise ValueError(f"cut must be an int in 1, ..., H − 1 = {H - 1}, got {cut!r}")
    if jnp.ndim(values) != 2 or jnp.shape(values)[0] != H:
        raise ValueError(f"values must be a table of shape (H, S) with H = {H}, got {jnp.shape(values)}")
    return _window(policy, params, traj, jnp.asarray(values, jnp.float32), cut, gamma, average)


@functools.partial(jax.jit, static_argnames=("policy", "cut", "average"))
def _window(policy, params, traj, values, cut, gamma, average):
    H = traj.rewards.shape[1]
    v = values[jnp.arange(H), traj.obs]
    window = jax.tree_util.tree_map(lambda x: x[:, :cut], traj)
    next_v = v[:, 1:cut + 1]  # V̂_{h+1}(s_{h+1}); at h = cut − 1, V̂_cut(s_cut)
    cut_here = jnp.broadcast_to(jnp.arange(cut) == cut - 1, window.rewards.shape)
    # λ = 1: the bootstrapped return minus the baseline V̂_h(s_h), which leaves the mean unchanged.
    weights = gae(window.rewards, v[:, :cut], next_v, jnp.zeros_like(cut_here), cut_here, gamma, 1.0)
    return score_weighted_sum(policy, params, window, weights, average)


def window_target(mdp, theta: Float[Array, "S A"], cut: int) -> Float[Array, "S A"]:
    """`Σ_{h<cut} E[∇_θ log π_θ(a_h|s_h) Q^{π_θ}_h(s_h, a_h)]`, the part of `∇J` (eq-baselines-q-form)
    carried by the steps before `cut`, exactly, for the tabular softmax."""
    theta = _check_mdp_theta(mdp, theta)
    validate.check_int("cut", cut, 1, mdp.H)
    pi = exact.softmax_policy(theta)
    d, Q = exact.state_action_visitation(mdp, pi), exact.q_values(mdp, pi)
    return jnp.einsum("hsa,hsa,sauv->uv", d[:cut], Q[:cut], exact.score_table(theta))


def learned_baseline_estimates(
    key, mdp, policy: Policy, params: Params, n: int, n_batches: int
) -> tuple[Params, Params]:
    """`n_batches` estimates `learned_baseline_gradient` on batches of `n` trajectories,
    each twice: with `V̂` fitted (`fit_value`) on the same batch, and on an
    independent batch of `n` other trajectories. Leading axis "n_batches" each.

    The first is biased (the baseline at `s_h` contains the `G_h` that followed
    `a_h`); the second is unbiased, since given `s_h` its baseline is a function
    of other, independent samples (eq-baseline)."""
    validate.check_key("key", key)
    validate.check_instance("mdp", mdp, TabularMDP, "utils.envs.tabular.TabularMDP")
    validate.check_instance("policy", policy, Policy, "utils.policies.Policy")
    check_params(policy, params)
    validate.check_int("n", n, 1)
    validate.check_int("n_batches", n_batches, 1)
    def one(key):
        key_value, key_gradient = jax.random.split(key)
        traj = sample_trajectories(key_gradient, mdp, policy, params, n)
        V_same = fit_value(traj, mdp.n_states)
        V_indep = fit_value(sample_trajectories(key_value, mdp, policy, params, n), mdp.n_states)
        return (learned_baseline_gradient(policy, params, traj, V_same),
                learned_baseline_gradient(policy, params, traj, V_indep))

    return jax.jit(jax.vmap(one))(jax.random.split(key, n_batches))


# The chapter's two exact checks on these numbers (tolerances fixed here, so that the
# chapter and tests/test_claims_baselines.py apply the very same check).
EXACT_ATOL = 1e-5  # float32 on O(1) numbers: rounding errors are far below this


def check_unbiased_exact(per_traj, probs: Float[Array, " M"], expected, *, what: str, unit: str = "‖∇J‖"):
    """The estimator given on every trajectory of `enumerated_batch` has the exact mean
    `expected` (usually `∇J`), to `EXACT_ATOL` on the norm of the difference
    (`utils.checks.mean_matches_exact`; no sampling error)."""
    _check_enumerated(per_traj, probs)
    return checks.mean_matches_exact(per_traj, probs, expected, what=what, rtol=0.0, atol=EXACT_ATOL, unit=unit)


def check_biased_exact(per_traj, probs: Float[Array, " M"], expected, *, what: str, at_least: float = 0.05,
                       unit: str = "‖∇J‖"):
    """The estimator's exact mean is *not* `expected`: it misses it by at least `at_least`
    (default 5%) of ‖expected‖ (`utils.checks.mean_differs_exact`)."""
    _check_enumerated(per_traj, probs)
    validate.check_in_range("at_least", at_least, 0.0, None, inclusive=(False, True))
    return checks.mean_differs_exact(per_traj, probs, expected, what=what, at_least=at_least, unit=unit)


# --------------------------------------------------------------------------
# Comparing training runs with and without a baseline (the baselines
# section's CartPole figure)
# --------------------------------------------------------------------------


def compare_baseline_runs(without, with_baseline, window: int, last: int = 10) -> list:
    """The checks behind the text about the CartPole comparison, in order; each raises
    `utils.checks.CheckFailed` if the runs do not support it.

    `without` and `with_baseline` are the `metrics` of `utils.reinforce.train_seeds`
    for the two variants (fields `episode_return`, `n_episodes`, `env_steps`, each
    "seeds updates"; seed i of one is paired with seed i of the other, same key);
    `window` is the rollout length `n_steps`. The checks:

    1. the same budget: equal environment steps at every update;
    2. the same start: equal first-update statistics (same initial policy and
       first batch), seed by seed;
    3. both variants learn beyond the window: their mean return over the last
       `last` updates (all seeds) exceeds 1.5 × `window`; a trainer that left out
       the steps of episodes still running at the window's end, and so favoured
       short episodes, stalls below this;
    4. the baseline learns faster: its mean return over the whole run is higher
       in every seed, and the mean paired difference exceeds 3 standard errors;
    5. by the end the baseline's runs are ahead on average: the mean paired
       difference over the last `last` updates exceeds 2 standard errors.
    """
    for name, m in (("without", without), ("with_baseline", with_baseline)):
        if not all(hasattr(m, f) for f in ("episode_return", "n_episodes", "env_steps")):
            raise TypeError(f"`{name}` must be the metrics of utils.reinforce.train_seeds (fields episode_return, "
                            f"n_episodes, env_steps), got {type(m).__name__}")
    validate.check_int("window", window, 1)
    validate.check_int("last", last, 1)
    out = []
    r0, r1 = (np.asarray(m.episode_return, np.float64) for m in (without, with_baseline))
    if r0.shape != r1.shape or r0.ndim != 2:
        raise ValueError(f"episode_return must be 'seeds updates' for both runs, got {r0.shape} and {r1.shape}")
    out.append(checks.close(with_baseline.env_steps, without.env_steps, rtol=0.0, atol=0.0,
                            what="same budget: environment steps at every update"))
    first = lambda m: np.stack([np.asarray(m.n_episodes)[:, 0], np.asarray(m.episode_return)[:, 0]])
    out.append(checks.close(first(with_baseline), first(without), rtol=1e-6, atol=0.0,
                            what="same start: first-update episodes and returns, seed by seed"))
    final0, final1 = np.nanmean(r0[:, -last:], axis=1), np.nanmean(r1[:, -last:], axis=1)
    for name, final in (("without a baseline", final0), ("with the value baseline", final1)):
        out.append(checks.greater(final.mean(), 1.5 * window, unit="return",
                                  what=f"{name}, the last {last} updates' mean return exceeds 1.5 × the window"))
    run0, run1 = np.nanmean(r0, axis=1), np.nanmean(r1, axis=1)
    out.append(checks.fraction_at_least(run1 > run0, 1.0, what="mean return over the run: the baseline ahead in every seed"))
    for diff, z, name in ((run1 - run0, 3.0, "over the run"), (final1 - final0, 2.0, f"over the last {last} updates")):
        se = diff.std(ddof=1) / np.sqrt(diff.shape[0])
        out.append(checks.greater(diff.mean(), 0.0, margin=z * se, unit="return",
                                  what=f"mean paired gain of the baseline {name}, more than {z:g} standard errors"))
    return out

"""Batched sampling of trajectories: one `jit` of `lax.scan` over time of `vmap` over environments.

Layout: every array in a `Trajectory` is batch-major, `"N H ..."`: trajectory
(or environment) `n`, time step `h`. `traj.obs[n]` is one trajectory, as in
the chapter's `τ = (s_0, a_0, r_0, …, s_{H-1}, a_{H-1}, r_{H-1})`.

- `sample_trajectories(key, mdp, policy, params, n)`: `n` independent
  trajectories of a fixed-horizon tabular MDP (`utils.envs.tabular`).
- `sample_env(key, env, policy, params, n_envs, n_steps)`: `n_steps` steps in
  each of `n_envs` copies of an auto-resetting JAX environment (CartPole),
  from fresh resets.
- `rollout(...)`: the pure core both use, which continues from a given
  environment state; training loops call it inside their own `jit`.
"""
from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from utils import validate
from utils.envs import tabular
from utils.envs.cartpole import TimeStep
from utils.envs.tabular import TabularMDP
from utils.policies import Params, Policy, check_params


class Trajectory(NamedTuple):
    """A batch of trajectories, batch-major ("N H").

    obs:        "N H ..."  observation `s_h` the action was taken in
    actions:    "N H ..."  action `a_h`
    rewards:    "N H"      reward `r_h`
    terminated: "N H"      the episode ended at step h with no future reward
                           (a terminal state; for a fixed-horizon MDP, h = H-1)
    truncated:  "N H"      the episode was cut at step h (time limit), so the
                           future reward is unknown and may be bootstrapped
    log_probs:  "N H"      `log π_θ(a_h | s_h)` under the sampling parameters
    values:     "N H"      `V(s_h)` from the value function given, zeros if none
    final_obs:  "N H ..."  the observation `a_h` led to, before any auto-reset
                           (the `s_{h+1}` to bootstrap from)

    In an auto-resetting environment, `obs[n, h+1]` is the first observation
    of a new episode wherever `terminated[n, h] | truncated[n, h]`.
    """

    obs: Any
    actions: Any
    rewards: Float[Array, "N H"]
    terminated: Bool[Array, "N H"]
    truncated: Bool[Array, "N H"]
    log_probs: Float[Array, "N H"]
    values: Float[Array, "N H"]
    final_obs: Any


def rollout(
    key: PRNGKeyArray,
    policy: Policy,
    params: Params,
    step_fn: Callable[[Any, Any], TimeStep],
    env_state: Any,
    obs: Any,
    n_steps: int,
    value_fn: Callable[[Any], Float[Array, ""]] | None = None,
) -> tuple[Trajectory, Any, Any]:
    """Run `policy` for `n_steps` in a batch of environments (pure; call it under `jit`).

    `env_state` and `obs` have a leading batch axis N; `step_fn(state, action)`
    steps one environment and returns a `TimeStep` (auto-resetting).
    Returns the `Trajectory` ("N n_steps") and the environment state and
    observation to continue from.
    """
    # Static checks only (types, shapes): `rollout` runs inside the trainers' `jit`.
    validate.check_key("key", key)
    validate.check_instance("policy", policy, Policy, "utils.policies.Policy")
    validate.check_callable("step_fn", step_fn)
    n_steps = validate.check_int("n_steps", n_steps, 1)
    if value_fn is not None:
        validate.check_callable("value_fn", value_fn)

    def one_step(carry, step_key):
        env_state, obs = carry
        n = jax.tree_util.tree_leaves(obs)[0].shape[0]
        actions = jax.vmap(policy.sample, (0, None, 0))(jax.random.split(step_key, n), params, obs)
        log_probs = jax.vmap(policy.log_prob, (None, 0, 0))(params, obs, actions)
        values = jax.vmap(value_fn)(obs) if value_fn is not None else jnp.zeros(n, jnp.float32)
        ts = jax.vmap(step_fn)(env_state, actions)
        transition = Trajectory(
            obs=obs,
            actions=actions,
            rewards=ts.reward,
            terminated=ts.terminated,
            truncated=ts.truncated,
            log_probs=log_probs,
            values=values,
            final_obs=ts.final_obs,
        )
        return (ts.state, ts.obs), transition

    (env_state, obs), traj = jax.lax.scan(one_step, (env_state, obs), jax.random.split(key, n_steps))
    # scan stacks time first; the Trajectory is batch-major.
    traj = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), traj)
    return traj, env_state, obs


# --------------------------------------------------------------------------
# Fixed-horizon tabular MDPs
# --------------------------------------------------------------------------


class TabularState(NamedTuple):
    """The state of one sampled tabular trajectory: the MDP state and the key
    for its next transition."""

    s: Int[Array, ""]
    key: PRNGKeyArray


def _tabular_step(mdp: TabularMDP, state: TabularState, action) -> TimeStep:
    key, step_key = jax.random.split(state.key)
    s_next, r = tabular.step(mdp, step_key, state.s, action)
    false = jnp.zeros((), bool)
    # The horizon is handled by the caller: the rollout is exactly H steps long.
    return TimeStep(TabularState(s_next, key), s_next, r, false, false, s_next)


def _check_n(n, argname: str) -> int:
    try:
        ok = not isinstance(n, bool) and operator.index(n) >= 1
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{argname} must be a positive int, got {n!r}")
    return operator.index(n)


@functools.partial(jax.jit, static_argnames=("policy", "n"))
def _sample_trajectories(key, mdp, policy, params, n):
    reset_key, env_key, act_key = jax.random.split(key, 3)
    s0 = jax.vmap(tabular.reset, (None, 0))(mdp, jax.random.split(reset_key, n))
    state = TabularState(s0, jax.random.split(env_key, n))
    traj, _, _ = rollout(act_key, policy, params, functools.partial(_tabular_step, mdp), state, s0, mdp.H)
    # Finite horizon: after step H-1 there is no future reward (V_H = 0).
    last = jnp.arange(mdp.H) == mdp.H - 1
    return traj._replace(terminated=jnp.broadcast_to(last, traj.rewards.shape))


def sample_trajectories(
    key: PRNGKeyArray, mdp: TabularMDP, policy: Policy, params: Params, n: int
) -> Trajectory:
    """`n` independent trajectories `τ ∼ ρ_θ` of the fixed-horizon MDP, "n H".

    `s_0 ∼ μ`, `a_h ∼ π_θ(·|s_h)`, `r_h = r(s_h, a_h)`, `s_{h+1} ∼ P(·|s_h, a_h)`;
    `obs` holds the integer states, `terminated` is set at the last step.
    """
    validate.check_key("key", key)
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a TabularMDP (utils.envs.tabular), got {type(mdp).__name__}")
    validate.check_instance("policy", policy, Policy, "utils.policies.Policy")
    check_params(policy, params)
    return _sample_trajectories(key, mdp, policy, params, _check_n(n, "n"))


# --------------------------------------------------------------------------
# Auto-resetting JAX environments (CartPole)
# --------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("env", "policy", "n_envs", "n_steps"))
def _sample_env(key, env, policy, params, n_envs, n_steps):
    reset_key, act_key = jax.random.split(key)
    state, obs = jax.vmap(env.reset)(jax.random.split(reset_key, n_envs))
    traj, _, _ = rollout(act_key, policy, params, env.step, state, obs, n_steps)
    return traj


def sample_env(
    key: PRNGKeyArray, env, policy: Policy, params: Params, n_envs: int, n_steps: int
) -> Trajectory:
    """`n_steps` steps of `policy` in each of `n_envs` copies of `env` (a
    `utils.envs.Environment`, e.g. `make("CartPole-v1")`), from fresh resets;
    episodes auto-reset, so one row holds several episodes. "n_envs n_steps"."""
    if not (hasattr(env, "reset") and hasattr(env, "step")):
        raise TypeError(f"env must be a utils.envs.Environment, got {type(env).__name__}")
    validate.check_key("key", key)
    validate.check_instance("policy", policy, Policy, "utils.policies.Policy")
    check_params(policy, params)
    return _sample_env(key, env, policy, params, _check_n(n_envs, "n_envs"), _check_n(n_steps, "n_steps"))


def episode_returns(traj: Trajectory) -> tuple[Float[Array, " E"], Bool[Array, " E"]]:
    """Undiscounted returns of the episodes that end inside `traj`.

    Returns `(returns, ended)`, both "N*H": `returns[i]` is the total reward of
    the episode ending at flat step `i` where `ended[i]`, else 0. An episode
    that began before the rollout only counts its rewards inside it, so pass
    rollouts that start from resets when exact returns matter.
    """
    validate.check_instance("traj", traj, Trajectory, "utils.rollouts.Trajectory")
    validate.check_shape("traj.rewards", traj.rewards, "N H")
    done = traj.terminated | traj.truncated

    def scan_row(rewards, done):
        def f(acc, x):
            r, d = x
            acc = acc + r
            return jnp.where(d, 0.0, acc), acc

        _, totals = jax.lax.scan(f, jnp.zeros((), rewards.dtype), (rewards, done))
        return totals

    totals = jax.vmap(scan_row)(traj.rewards, done)
    return jnp.where(done, totals, 0.0).ravel(), done.ravel()

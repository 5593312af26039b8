"""Pseudocode for sections 4-5: REINFORCE and the learned value baseline.

Each function runs exactly as it reads, on a tabular MDP with the tabular
softmax policy `π_θ(a|s) = exp(θ_{s,a}) / Σ_{a'} exp(θ_{s,a'})`. The small
helpers below turn the jitted sampler's output into plain Python lists, so a
trajectory reads like the chapter's `τ = ((s_0, a_0, r_0), …, (s_{H-1}, a_{H-1}, r_{H-1}))`,
and the tests check that the pseudocode gives the jitted estimators'
answer on the same samples.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from utils.envs.tabular import TabularMDP
from utils.estimators import fit_value as _fit_value_table
from utils.policies import tabular_softmax
from utils.rollouts import Trajectory, sample_trajectories as _sample_batch


def log_pi(theta, s, a):
    """`log π_θ(a|s)` of the tabular softmax policy."""
    return jax.nn.log_softmax(theta[s])[a]


def _to_lists(traj: Trajectory) -> list[list[tuple[int, int, float]]]:
    return [
        [(int(s), int(a), float(r)) for s, a, r in zip(states, actions, rewards)]
        for states, actions, rewards in zip(traj.obs.tolist(), traj.actions.tolist(), traj.rewards.tolist())
    ]


def sample_trajectories(key, mdp: TabularMDP, theta, N: int) -> list[list[tuple[int, int, float]]]:
    """`N` trajectories `τ ∼ ρ_θ`, each a list of `(s_h, a_h, r_h)` for h = 0..H-1.

    The same samples as `utils.rollouts.sample_trajectories(key, mdp,
    tabular_softmax(S, A), theta, N)`.
    """
    policy = tabular_softmax(mdp.n_states, mdp.n_actions)
    return _to_lists(_sample_batch(key, mdp, policy, jnp.asarray(theta, jnp.float32), N))


def total_reward(tau) -> float:
    """`R(τ) = Σ_h r_h`."""
    return sum(r for (s, a, r) in tau)


def reward_to_go(tau, h: int) -> float:
    """`Σ_{h' ≥ h} r_{h'}`."""
    return sum(r for (s, a, r) in tau[h:])


def fit_value(trajectories, mdp: TabularMDP):
    """Fit `V̂_h(s)` by least squares on the reward-to-go of `trajectories` ("H S").

    For a table the least-squares fit is the average reward-to-go from each
    `(h, s)` (0 where `(h, s)` was never visited); this is `utils.estimators.fit_value`.
    """
    states = jnp.array([[s for (s, a, r) in tau] for tau in trajectories], jnp.int32)
    actions = jnp.array([[a for (s, a, r) in tau] for tau in trajectories], jnp.int32)
    rewards = jnp.array([[r for (s, a, r) in tau] for tau in trajectories], jnp.float32)
    H = rewards.shape[1]
    last = jnp.broadcast_to(jnp.arange(H) == H - 1, rewards.shape)
    zeros = jnp.zeros(rewards.shape)
    traj = Trajectory(states, actions, rewards, last, jnp.zeros(rewards.shape, bool), zeros, zeros, states)
    return _fit_value_table(traj, mdp.n_states)


def estimate_gradient_reinforce_pseudocode(theta, trajectories):
    """Estimate the policy gradient by REINFORCE from sampled trajectories."""
    nabla_hat = jnp.zeros_like(theta)
    for tau in trajectories:
        R = total_reward(tau)
        for s, a, r in tau:
            nabla_hat = nabla_hat + jax.grad(log_pi)(theta, s, a) * R
    return nabla_hat / len(trajectories)


def pg_with_learned_baseline(key, mdp, theta, N):
    """Fit a value function on N trajectories; use it as the baseline on N others."""
    key_value, key_gradient = jax.random.split(key)
    V = fit_value(sample_trajectories(key_value, mdp, theta, N), mdp)
    trajectories = sample_trajectories(key_gradient, mdp, theta, N)
    nabla_hat = jnp.zeros_like(theta)
    for tau in trajectories:
        for h in range(len(tau)):
            s, a, r = tau[h]
            nabla_hat = nabla_hat + jax.grad(log_pi)(theta, s, a) * (reward_to_go(tau, h) - V[h, s])
    return nabla_hat / N

"""Pseudocode for the "Proximal policy optimisation" section: PPO with the KL penalty.

Shown in the book with `latex(ppo)` and `latex(kl_penalised_objective)`. It
runs as it reads, on a tabular MDP (`utils.envs.tabular`) with the tabular
softmax policy `pi(theta)`, using the exact advantages `A^{π^k}` of
`utils.exact`. Each round samples `N` trajectories from `π^k`, then takes
`n_epochs` gradient-ascent steps of size `eta` on

    ℓ^k(θ) = E_{τ∼ρ_{π^k}}[Σ_h π_θ(a_h|s_h)/π^k(a_h|s_h) · A^{π^k}_h(s_h,a_h) + λ log π_θ(a_h|s_h)].

Its jitted twin is `utils.ppo`: `kl_penalty_objective` (the same objective
divided by H, on flat arrays of samples) and `ppo_epochs` (the update);
`tests/test_pseudocode_ppo.py` checks that both give the same objective,
gradient and iterates on the same samples.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.numpy import log
from jax.random import split

from utils.envs import tabular
from utils.envs.tabular import TabularMDP
from utils.exact import advantages, softmax_policy

__all__ = ["ppo", "kl_penalised_objective", "sample_trajectories", "optimize", "pi", "advantages"]


def pi(theta):
    """The tabular softmax policy `π_θ(a|s)` as an "S A" table."""
    return softmax_policy(theta)


@functools.partial(jax.jit, static_argnames="N")
def _sample_arrays(mdp: TabularMDP, policy, N: int, key):
    def one_trajectory(key):
        key, reset_key = jax.random.split(key)

        def one_step(s, key):
            action_key, step_key = jax.random.split(key)
            a = jax.random.choice(action_key, mdp.n_actions, p=policy[s]).astype(jnp.int32)
            s_next, r = tabular.step(mdp, step_key, s, a)
            return s_next, (s, a, r)

        _, sar = jax.lax.scan(one_step, tabular.reset(mdp, reset_key), jax.random.split(key, mdp.H))
        return sar

    return jax.vmap(one_trajectory)(jax.random.split(key, N))


def sample_trajectories(mdp: TabularMDP, policy, N: int, key) -> list[list[tuple[int, int, float]]]:
    """`N` trajectories of `policy` (an "S A" table) in `mdp`, each a list of
    `H` tuples `(s_h, a_h, r_h)` of Python numbers."""
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a utils.envs.tabular.TabularMDP, got {type(mdp).__name__}")
    if isinstance(N, bool) or not isinstance(N, int) or N < 1:
        raise ValueError(f"N (the number of trajectories) must be a positive int, got {N!r}")
    policy = jnp.asarray(policy, jnp.float32)
    if policy.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(
            f"policy must be an (S, A) = ({mdp.n_states}, {mdp.n_actions}) table, got shape {policy.shape}"
        )
    states, actions, rewards = jax.device_get(_sample_arrays(mdp, policy, N, key))
    return [
        [(int(s), int(a), float(r)) for s, a, r in zip(states[i], actions[i], rewards[i])]
        for i in range(N)
    ]


def optimize(objective, theta, eta, n_steps):
    """Gradient ascent on `objective`: `n_steps` steps `θ ← θ + η ∇objective(θ)`.

    The gradient is compiled once per call (`jax.jit`), since `objective` is
    a plain Python loop over the samples that would be slow to run op by op.
    """
    gradient = jax.jit(jax.grad(objective))
    for _ in range(n_steps):
        theta = theta + eta * gradient(theta)
    return theta


def kl_penalised_objective(theta_opt, theta, trajectories, A, lam):
    """Sample estimate of the KL-penalised surrogate at the candidate parameters, from trajectories of the current policy, whose advantages are A."""
    pi_opt, pi_k = pi(theta_opt), pi(theta)
    total = 0.0
    for tau in trajectories:
        for h, (s, a, r) in enumerate(tau):
            ratio = pi_opt[s, a] / pi_k[s, a]
            total = total + ratio * A[h, s, a] + lam * log(pi_opt[s, a])
    return total / len(trajectories)


def ppo(mdp, theta_init, lam, K, N, n_epochs, eta, key):
    """Proximal policy optimisation with the KL penalty, for K rounds of N trajectories."""
    theta = theta_init
    for k in range(K):
        key, subkey = split(key)
        trajectories = sample_trajectories(mdp, pi(theta), N, subkey)
        A = advantages(mdp, pi(theta))

        def objective(theta_opt):
            return kl_penalised_objective(theta_opt, theta, trajectories, A, lam)

        theta = optimize(objective, theta, eta, n_epochs)
    return theta

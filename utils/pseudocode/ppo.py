"""Pseudocode for the "Proximal policy optimisation" section: PPO with the KL penalty.

Shown in the book with `latex(ppo)` and `latex(kl_penalised_objective)`. It
runs as it reads, on a tabular MDP (`utils.envs.tabular`) with the tabular
softmax policy `pi(theta)`, using the exact advantages `A^{π^k}` of
`utils.exact`. Each round samples `N` trajectories from `π^k`, then takes
`n_epochs` gradient-ascent steps of size `eta` on the sample estimate of

    ℓ^k(θ) = E_{τ∼ρ_{π^k}}[Σ_h w_h(θ) A^{π^k}_h(s_h,a_h) − β KL(π^k(·|s_h) ‖ π_θ(·|s_h))],
    w_h(θ) = π_θ(a_h|s_h)/π^k(a_h|s_h),

with the per-state KL as the penalty (eq-ppo-kl-objective): on any batch it is
smallest at `π_θ = π^k`, so a large β keeps the new policy near the old one.

Its jitted twin is `utils.ppo`: `kl_penalty_objective` (the same objective
divided by H, on flat arrays of samples) and `ppo_epochs` (the update);
`tests/test_pseudocode_ppo.py` checks that both give the same objective,
gradient and iterates on the same samples. The trajectories are sampled by
`utils.pseudocode.reinforce.sample_trajectories(key, mdp, theta, N)`, the
sampler of the other sections' pseudocode.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.numpy import log
from jax.random import split

from utils.exact import advantages, softmax_policy
from utils.pseudocode.reinforce import sample_trajectories

__all__ = ["ppo", "kl_penalised_objective", "KL", "sample_trajectories", "optimize", "pi", "advantages"]


def pi(theta):
    """The tabular softmax policy `π_θ(a|s)` as an "S A" table."""
    return softmax_policy(theta)


def KL(p, q):
    """`KL(p ‖ q) = Σ_b p_b log(p_b / q_b)` for two action distributions (rows of `pi(theta)`)."""
    return jnp.sum(p * log(p / q))


def optimize(objective, theta, eta, n_steps):
    """Gradient ascent on `objective`: `n_steps` steps `θ ← θ + η ∇objective(θ)`.

    The gradient is compiled once per call (`jax.jit`), since `objective` is
    a plain Python loop over the samples that would be slow to run op by op.
    """
    gradient = jax.jit(jax.grad(objective))
    for _ in range(n_steps):
        theta = theta + eta * gradient(theta)
    return theta


def kl_penalised_objective(theta_opt, theta, trajectories, A, beta):
    """Sample estimate of the KL-penalised surrogate at the candidate parameters, from trajectories of the current policy with advantages A; the penalty is the KL divergence between the two policies at each visited state."""
    pi_opt, pi_k = pi(theta_opt), pi(theta)
    total = 0.0
    for tau in trajectories:
        for h, (s, a, r) in enumerate(tau):
            w = pi_opt[s, a] / pi_k[s, a]
            total = total + w * A[h, s, a] - beta * KL(pi_k[s], pi_opt[s])
    return total / len(trajectories)


def ppo(mdp, theta_init, beta, K, N, n_epochs, eta, key):
    """Proximal policy optimisation with the KL penalty, for K rounds of N trajectories."""
    theta = theta_init
    for k in range(K):
        key, subkey = split(key)
        trajectories = sample_trajectories(subkey, mdp, theta, N)
        A = advantages(mdp, pi(theta))

        def objective(theta_opt):
            return kl_penalised_objective(theta_opt, theta, trajectories, A, beta)

        theta = optimize(objective, theta, eta, n_epochs)
    return theta

"""Pseudocode for the "Trust region policy optimisation" section: the sampled
trajectory KL, and TRPO.

Shown in the book with `latex(kl_div_trajectories)`, `latex(trpo)`,
`latex(trust_region_step)`, `latex(fisher_vector_product)` and
`latex(conjugate_gradient)`. (`jax.jit` only compiles a function; it changes
nothing else, and `latex` does not show it.) Everything runs
as it reads, on a tabular MDP (`utils.envs.tabular`) with the tabular softmax
policy `pi(theta)` (an "S A" table) and the exact advantages `A^{π^k}` of
`utils.exact`. Each round samples `N` trajectories from `π^k = π_{θ^k}` and
approximately solves

    maximise   (1/N) Σ_τ Σ_h Σ_a π_θ(a|s_h) A^{π^k}_h(s_h, a)
    subject to (1/N) Σ_τ Σ_h KL(π^k(·|s_h) ‖ π_θ(·|s_h)) ≤ δ,

the per-state estimate (eq-trpo-kl-states) of `KL(ρ_{θ^k} ‖ ρ_θ)`, with the
practical step of Schulman et al. (2015): a natural direction by conjugate
gradient on Fisher-vector products, scaled to the KL radius, then a
backtracking line search that accepts only steps that improve the objective
and keep the sampled KL within `δ`. The Fisher-vector products are
Hessian-vector products of that per-state KL at `θ^k`, whose Hessian there is
the sampled Fisher information for every policy class. (For the tabular
softmax the log-ratio estimator `kl_div_trajectories` has the same Hessian at
`θ^k`; for a policy whose logits are nonlinear in `θ` it does not, and its
Hessian need not be positive semi-definite.)

The jitted twins: `utils.kl.kl_div_trajectories` (of `kl_div_trajectories`),
`utils.kl.kl_div_states` (of the KL inside `trpo`) and `utils.trpo.trpo_tabular`
(which runs the same rounds on the same samples);
`tests/test_pseudocode_trpo.py` checks that they agree.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.numpy import log, sqrt
from jax.random import split

from utils.exact import advantages, softmax_policy
from utils.pseudocode.reinforce import sample_trajectories

__all__ = [
    "pi",
    "dot",
    "kl_div_trajectories",
    "conjugate_gradient",
    "fisher_vector_product",
    "trust_region_step",
    "trpo",
    "sample_trajectories",
    "advantages",
]


def dot(u, v):
    """The inner product `Σ_i u_i v_i` of two arrays of the same shape (`jnp.vdot`)."""
    return jnp.vdot(u, v)


def pi(theta):
    """The tabular softmax policy `π_θ(a|s)` as an "S A" table."""
    return softmax_policy(theta)


def kl_div_trajectories(pi, theta_k, theta, trajectories):
    r"""Estimate the KL divergence from the trajectory distribution of the old policy $\pi(\theta_k)$ to that of $\pi(\theta)$, with trajectories sampled from the old policy."""
    pi_k, pi_theta = pi(theta_k), pi(theta)
    total = 0.0
    for tau in trajectories:
        for s, a, r in tau:
            total = total + log(pi_k[s, a]) - log(pi_theta[s, a])
    return total / len(trajectories)


def conjugate_gradient(F, g, n_iters, tol=1e-6):
    """Solve F x = g for x, given the products F(p) of a symmetric positive definite matrix F with vectors p; u is the residual g - F x."""
    x = jnp.zeros_like(g)
    u = g
    p = g
    for i in range(n_iters):
        if dot(u, u) <= tol**2 * dot(g, g):
            break
        F_p = F(p)
        curvature = dot(p, F_p)
        if curvature <= 0:
            break
        alpha = dot(u, u) / curvature
        x = x + alpha * p
        u_next = u - alpha * F_p
        beta = dot(u_next, u_next) / dot(u, u)
        p = u_next + beta * p
        u = u_next
    return x


def fisher_vector_product(kl_div, theta, v):
    """The Hessian of the per-state KL divergence kl_div at theta, where it is 0 and smallest, times v: the Fisher information times v."""

    def slope(theta_opt):
        return dot(jax.grad(kl_div)(theta_opt), v)

    return jax.grad(slope)(theta)


def trust_region_step(gain, kl_div, theta, delta, n_cg=10, beta=0.5, n_backtracks=10):
    """Approximately maximise the gain subject to KL divergence at most delta, from theta, where the KL divergence is 0."""
    g = jax.grad(gain)(theta)

    def F(v):
        return fisher_vector_product(kl_div, theta, v)

    x = conjugate_gradient(jax.jit(F), g, n_cg)
    step = sqrt(2 * delta / dot(g, x)) * x
    for j in range(n_backtracks):
        theta_new = theta + beta**j * step
        if gain(theta_new) > gain(theta) and kl_div(theta_new) <= delta:
            return theta_new
    return theta


def trpo(mdp, theta_init, delta, K, N, key):
    """Trust region policy optimisation: K rounds of N trajectories, KL radius delta."""
    theta = theta_init
    for k in range(K):
        key, subkey = split(key)
        trajectories = sample_trajectories(subkey, mdp, theta, N)
        A = advantages(mdp, pi(theta))

        def approximate_gain(theta_opt):
            pi_opt = pi(theta_opt)
            total = 0.0
            for tau in trajectories:
                for h, (s, a, r) in enumerate(tau):
                    for b in range(mdp.n_actions):
                        total = total + pi_opt[s, b] * A[h, s, b]
            return total / len(trajectories)

        def kl_div(theta_opt):
            pi_k, pi_opt = pi(theta), pi(theta_opt)
            total = 0.0
            for tau in trajectories:
                for s, a, r in tau:
                    for b in range(mdp.n_actions):
                        total = total + pi_k[s, b] * (log(pi_k[s, b]) - log(pi_opt[s, b]))
            return total / len(trajectories)

        theta = trust_region_step(jax.jit(approximate_gain), jax.jit(kl_div), theta, delta)
    return theta

"""The natural policy gradient (Kakade 2001): exactly on tabular MDPs, by conjugate gradient on CartPole.

Every update is the closed form of the NPG section,

    theta^{k+1} = theta^k + eta F^{-1} g,   eta = sqrt(2 delta / (g^T F^{-1} g)),

with `g = grad J(theta^k)` and `F` the Fisher information at `theta^k`: the
maximiser of the linearised objective `g^T (theta - theta^k)` on the
quadratic KL ellipse `1/2 (theta - theta^k)^T F (theta - theta^k) <= delta`.

- `npg_tabular(mdp, theta_init, delta, n_iterations)`: the tabular softmax
  policy with the *exact* gradient and Fisher matrix (`utils.exact`), the
  linear system solved densely (the pseudo-inverse: the tabular Fisher is
  singular). Everything is computed exactly, so the curves show the method,
  not sampling noise. `gradient_ascent_tabular` is vanilla gradient ascent on
  the same problem, for comparison.
- `NPGConfig`, `make_train(config)`: CartPole with an MLP policy; `g` and
  the Fisher-vector products are estimated from each batch and `F^{-1} g` is
  found by conjugate gradient, never forming `F`. This is TRPO
  (`utils.trpo`) without the line search: the same batch, advantages, value
  fit and tricks (named there), so the two differ only in step 3 of
  `utils.trpo.trpo_step`.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from utils import exact
from utils.envs.tabular import TabularMDP
from utils.natural import check_damping, check_delta, check_positive_int, npg_step
from utils.trpo import TRPOConfig, TrainOutput, policy_of as _trpo_policy_of
from utils.trpo import make_train as _trpo_make_train

__all__ = [
    "TabularRun",
    "npg_tabular",
    "gradient_ascent_tabular",
    "NPGConfig",
    "make_train",
    "train_seeds",
    "policy_of",
]


# ---------------------------------------------------------------------------
# Tabular MDPs: exact gradient, exact Fisher
# ---------------------------------------------------------------------------


class TabularRun(NamedTuple):
    """The iterates of a tabular run ("K" = n_iterations)."""

    thetas: Float[Array, "K+1 S A"]  # theta^0, ..., theta^K
    objective: Float[Array, " K+1"]  # J(theta^k), exact
    kl: Float[Array, " K"]  # exact KL(rho_{theta^k} || rho_{theta^{k+1}})


def _check_tabular(mdp, theta_init, n_iterations):
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"`mdp` must be a TabularMDP (utils.envs.tabular), got {type(mdp).__name__}")
    shape = (mdp.n_states, mdp.n_actions)
    if tuple(jnp.shape(theta_init)) != shape:
        raise ValueError(
            f"`theta_init` must have shape (S, A) = {shape} for the tabular softmax, got {tuple(jnp.shape(theta_init))}"
        )
    return check_positive_int(n_iterations, "n_iterations")


def _tabular_run(mdp, theta_init, n_iterations, update):
    def one(theta, _):
        theta_next = update(theta)
        kl = exact.kl_trajectories(mdp, exact.softmax_policy(theta), exact.softmax_policy(theta_next))
        return theta_next, (theta_next, kl)

    _, (thetas, kls) = jax.lax.scan(one, theta_init, None, length=n_iterations)
    thetas = jnp.concatenate([theta_init[None], thetas])
    objective = jax.vmap(exact.exact_objective, (None, 0))(mdp, thetas)
    return TabularRun(thetas, objective, kls)


@functools.partial(jax.jit, static_argnames=("n_iterations",))
def _npg_tabular(mdp, theta_init, delta, n_iterations, damping):
    def update(theta):
        g = exact.exact_gradient(mdp, theta).ravel()
        F = exact.fisher_information(mdp, theta)
        return theta + npg_step(g, F, delta, damping).reshape(theta.shape)

    return _tabular_run(mdp, theta_init, n_iterations, update)


def npg_tabular(
    mdp: TabularMDP,
    theta_init: Float[Array, "S A"],
    delta: float,
    n_iterations: int,
    damping: float = 0.0,
) -> TabularRun:
    """`n_iterations` natural policy gradient steps for the tabular softmax policy,
    with the exact `grad J` (`utils.exact.exact_gradient`) and the exact Fisher
    matrix (`utils.exact.fisher_information`), the step solved densely.

    Each step's exact KL is `delta` up to third-order terms (the closed form
    matches the second-order model of the KL). `damping` adds `damping * I`
    to the Fisher (0 = the chapter's update).
    """
    n_iterations = _check_tabular(mdp, theta_init, n_iterations)
    check_delta(delta)
    check_damping(damping)
    return _npg_tabular(mdp, jnp.asarray(theta_init, jnp.float32), delta, n_iterations, damping)


@functools.partial(jax.jit, static_argnames=("n_iterations",))
def _gradient_ascent_tabular(mdp, theta_init, eta, n_iterations):
    def update(theta):
        return theta + eta * exact.exact_gradient(mdp, theta)

    return _tabular_run(mdp, theta_init, n_iterations, update)


def gradient_ascent_tabular(
    mdp: TabularMDP, theta_init: Float[Array, "S A"], eta: float, n_iterations: int
) -> TabularRun:
    """Vanilla gradient ascent `theta <- theta + eta grad J(theta)` with the exact
    gradient, on the same problem as `npg_tabular` (for comparison)."""
    n_iterations = _check_tabular(mdp, theta_init, n_iterations)
    check_delta(eta, "eta")
    return _gradient_ascent_tabular(mdp, jnp.asarray(theta_init, jnp.float32), eta, n_iterations)


# ---------------------------------------------------------------------------
# CartPole: sampled gradient, Fisher-vector products, conjugate gradient
# ---------------------------------------------------------------------------


class NPGConfig(NamedTuple):
    """Hyperparameters of NPG on CartPole; the defaults learn CartPole-v1 in a
    few dozen iterations. The fields mean what they mean in `utils.trpo.TRPOConfig`."""

    delta: float = 0.02  # the KL radius of each step (second-order model)
    n_envs: int = 8
    n_steps: int = 128
    n_iterations: int = 40
    cg_iters: int = 10
    cg_damping: float = 0.1  # trick: F + cg_damping * I (0 = off)
    kl_per_step: bool = True  # trick: KL averaged over states (False: trajectory KL)
    normalize_advantages: bool = True  # trick
    gamma: float = 0.99  # trick: discount
    gae_lambda: float = 0.95  # GAE (eq-gae)
    value_learning_rate: float = 1e-2
    value_steps: int = 20
    hidden: tuple = (32, 32)
    max_episode_steps: int = 500


def _as_trpo_config(config: NPGConfig) -> TRPOConfig:
    if not isinstance(config, NPGConfig):
        raise TypeError(f"config must be an NPGConfig, got {type(config).__name__}")
    return TRPOConfig(line_search=False, **config._asdict())


def make_train(config: NPGConfig = NPGConfig()):
    """Return `train(key) -> utils.trpo.TrainOutput` for NPG on CartPole: each
    iteration takes the closed-form natural step `theta^k + eta x`, with
    `x ~ F^{-1} g` by conjugate gradient on Fisher-vector products, and no
    line search. Jittable and vmappable over keys; config errors raise here."""
    return _trpo_make_train(_as_trpo_config(config))


def train_seeds(key: PRNGKeyArray, n_seeds: int, config: NPGConfig = NPGConfig()) -> TrainOutput:
    """Train `n_seeds` independent runs at once (`jit` of `vmap` of `train`)."""
    n_seeds = check_positive_int(n_seeds, "n_seeds")
    train = make_train(config)
    return jax.jit(jax.vmap(train))(jax.random.split(key, n_seeds))


def policy_of(config: NPGConfig = NPGConfig()):
    """The `utils.policies.Policy` that `make_train(config)` trains."""
    return _trpo_policy_of(_as_trpo_config(config))

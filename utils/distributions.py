"""The action distributions of the actor-critic trainers, as functions of the actor's output.

A trainer's actor maps a batch of observations to one row of *distribution
parameters* per state, and everything the trainer does with the policy goes
through one of these two objects:

- `categorical(n_actions)`: the row is the logits `z` of a softmax over
  `Discrete(n_actions)`; `π(a|s) = exp z_a / Σ_b exp z_b`.
- `diagonal_gaussian(action_dim)`: the row is `[μ, log σ]` (length `2 D`), for
  `π(·|s) = N(μ(s), diag σ²)` over `Box` actions of dimension `D`. The
  trainers learn a state-independent `log σ` (one parameter per action
  dimension, initialised at `log σ_0`), as CleanRL's continuous PPO does.

Action bounds are the environment's business: `utils.envs.pendulum.step` clips
the torque to its bounds, and the trainers score the *unclipped* sample, so
that `log π(a|s)` is the Gaussian density of the action that was drawn (its
score is then the one `utils.policies.diagonal_gaussian` computes in closed
form; tests/test_distributions.py checks both against autodiff and sampling).

Each object holds pure functions over arrays with leading batch axes "*B":

    log_prob(params, action) -> "*B"        log π(a|s)
    entropy(params) -> "*B"                 H(π(·|s))
    kl(params_p, params_q) -> "*B"          KL(p(·|s) ‖ q(·|s)), exactly
    noise(key, shape) -> shape + event      the randomness of `sample`, drawn ahead (e.g. for a whole rollout)
    sample(params, noise) -> action         a ~ π(·|s), from that noise
    mode(params) -> action                  the most likely action (the greedy evaluation's)
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from utils import validate
from utils.envs import Environment
from utils.kl import categorical_kl, gaussian_kl  # gaussian_kl: re-exported

__all__ = ["ActionDistribution", "categorical", "diagonal_gaussian", "gaussian_kl", "for_env"]

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class ActionDistribution(NamedTuple):
    """A family of action distributions, as pure functions of its parameters (see the module docstring)."""

    name: str
    n_params: int  # length of one row of distribution parameters
    action_shape: tuple[int, ...]  # () for an index, (D,) for a vector
    action_dtype: object
    log_prob: Callable[[Float[Array, "*B K"], Array], Float[Array, "*B"]]
    entropy: Callable[[Float[Array, "*B K"]], Float[Array, "*B"]]
    kl: Callable[[Float[Array, "*B K"], Float[Array, "*B K"]], Float[Array, "*B"]]
    noise: Callable[[PRNGKeyArray, tuple[int, ...]], Array]
    sample: Callable[[Float[Array, "*B K"], Array], Array]
    mode: Callable[[Float[Array, "*B K"]], Array]


def categorical(n_actions: int) -> ActionDistribution:
    """Softmax over `n_actions` actions; parameters: the logits ("*B A")."""
    A = validate.check_int("n_actions", n_actions, 1)

    def log_prob(logits, action):
        return jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None], axis=-1)[..., 0]

    def entropy(logits):
        log_p = jax.nn.log_softmax(logits)
        return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)

    def noise(key, shape):
        return jax.random.gumbel(key, (*shape, A))

    def sample(logits, gumbel):
        # The Gumbel-max trick (what `jax.random.categorical` does), with the noise drawn ahead.
        return jnp.argmax(logits + gumbel, axis=-1)

    def mode(logits):
        return jnp.argmax(logits, axis=-1)

    return ActionDistribution(f"categorical({A})", A, (), jnp.int32, log_prob, entropy, categorical_kl,
                              noise, sample, mode)


def diagonal_gaussian(action_dim: int) -> ActionDistribution:
    """`N(μ, diag σ²)` over actions of dimension `action_dim`; parameters: `[μ, log σ]` ("*B 2D")."""
    D = validate.check_int("action_dim", action_dim, 1)

    def split(params):
        return params[..., :D], params[..., D:]

    def log_prob(params, action):
        mean, log_std = split(params)
        z = (action - mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * z**2 - log_std - HALF_LOG_2PI, axis=-1)

    def entropy(params):
        _, log_std = split(params)
        return jnp.sum(log_std + 0.5 + HALF_LOG_2PI, axis=-1)

    def kl(params_p, params_q):
        return gaussian_kl(*split(params_p), *split(params_q))

    def noise(key, shape):
        return jax.random.normal(key, (*shape, D))

    def sample(params, eps):
        mean, log_std = split(params)
        return mean + jnp.exp(log_std) * eps

    def mode(params):
        return split(params)[0]

    return ActionDistribution(f"diagonal_gaussian({D})", 2 * D, (D,), jnp.float32, log_prob, entropy, kl,
                              noise, sample, mode)


def for_env(env) -> ActionDistribution:
    """The distribution family for `env`'s actions: categorical for `Discrete`, diagonal Gaussian for `Box`."""
    validate.check_instance("env", env, Environment, "utils.envs.Environment (from utils.envs.make)")
    return diagonal_gaussian(env.action_dim) if env.continuous else categorical(env.n_actions)

"""Environments: CartPole in pure JAX, tabular MDPs, and a bridge to gymnasium.

    env = make("CartPole-v1")
    state, obs = env.reset(key)
    timestep = env.step(state, action)     # pure, auto-resets; jit/vmap/scan it

Submodules: `cartpole` (JAX CartPole-v1), `tabular` (finite-horizon MDPs and
the chapter's examples; exact answers are in `utils.exact`), `gym_bridge`
(run a `utils` policy in any gymnasium environment, e.g. for animations).
"""
from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from utils.envs import cartpole, gym_bridge, tabular
from utils.envs.cartpole import CartPoleParams, CartPoleState, TimeStep
from utils.envs.tabular import TabularMDP, example_mdp, one_state_mdp, random_mdp, tabular_mdp

__all__ = [
    "Environment",
    "make",
    "ENV_IDS",
    "cartpole",
    "tabular",
    "gym_bridge",
    "CartPoleParams",
    "CartPoleState",
    "TimeStep",
    "TabularMDP",
    "tabular_mdp",
    "example_mdp",
    "one_state_mdp",
    "random_mdp",
]


class Environment(NamedTuple):
    """A JAX environment: pure `reset(key) -> (state, obs)` and
    `step(state, action) -> TimeStep` (auto-resetting), with its sizes."""

    name: str
    reset: Callable[..., Any]
    step: Callable[..., Any]
    obs_dim: int
    n_actions: int
    params: Any


def _make_cartpole(**kwargs) -> Environment:
    fields = CartPoleParams._fields
    unknown = sorted(set(kwargs) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown CartPole-v1 parameter(s) {unknown}; the parameters are {list(fields)}"
        )
    params = CartPoleParams(**kwargs)
    if params.max_episode_steps <= 0:
        raise ValueError(f"max_episode_steps must be positive, got {params.max_episode_steps}")
    return Environment(
        name="CartPole-v1",
        reset=functools.partial(cartpole.reset, params=params),
        step=functools.partial(cartpole.step, params=params),
        obs_dim=cartpole.OBS_DIM,
        n_actions=cartpole.N_ACTIONS,
        params=params,
    )


_REGISTRY: dict[str, Callable[..., Environment]] = {"CartPole-v1": _make_cartpole}
ENV_IDS = tuple(_REGISTRY)


def make(name: str, **kwargs) -> Environment:
    """The JAX environment `name` (one of `ENV_IDS`); keyword arguments override
    its parameters, e.g. `make("CartPole-v1", max_episode_steps=200)`.

    For any other gymnasium id, use `utils.envs.gym_bridge.run_episode_gym`.
    """
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), ENV_IDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"`name` must be a JAX environment id: unknown environment id {name!r}; the JAX environments are {list(ENV_IDS)}.{hint} "
            "To run a policy in any gymnasium environment, use "
            "utils.envs.gym_bridge.run_episode_gym(env_id, ...)."
        )
    return _REGISTRY[name](**kwargs)

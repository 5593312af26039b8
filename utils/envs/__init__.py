"""Environments: CartPole, Acrobot and Pendulum in pure JAX, tabular MDPs, and a
bridge to gymnasium.

    env = make("CartPole-v1")              # or "Acrobot-v1", "Pendulum-v1"
    state, obs = env.reset(key)
    timestep = env.step(state, action)     # pure, auto-resets; jit/vmap/scan it

Submodules: `cartpole`, `acrobot` (discrete actions) and `pendulum` (a
continuous torque), each with gymnasium's dynamics, observations, rewards and
time limits; `core` (the `TimeStep` they return and their auto-reset);
`tabular` (finite-horizon MDPs and the chapter's examples; exact answers are
in `utils.exact`); `gym_bridge` (run a `utils` policy in any gymnasium
environment, e.g. for animations).
"""
from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from utils.envs import acrobot, cartpole, gym_bridge, pendulum, tabular
from utils.envs.acrobot import AcrobotParams, AcrobotState
from utils.envs.cartpole import CartPoleParams, CartPoleState
from utils.envs.core import TimeStep
from utils.envs.pendulum import PendulumParams, PendulumState
from utils.envs.tabular import TabularMDP, example_mdp, one_state_mdp, random_mdp, tabular_mdp

__all__ = [
    "Environment",
    "make",
    "ENV_IDS",
    "cartpole",
    "acrobot",
    "pendulum",
    "tabular",
    "gym_bridge",
    "CartPoleParams",
    "CartPoleState",
    "AcrobotParams",
    "AcrobotState",
    "PendulumParams",
    "PendulumState",
    "TimeStep",
    "TabularMDP",
    "tabular_mdp",
    "example_mdp",
    "one_state_mdp",
    "random_mdp",
]


class Environment(NamedTuple):
    """A JAX environment: pure `reset(key) -> (state, obs)` and
    `step(state, action) -> TimeStep` (auto-resetting), with its sizes.

    Discrete actions (gymnasium's `Discrete(n_actions)`): `n_actions` is their
    number, actions are int scalars, and `action_dim` is None. Continuous actions
    (a `Box` of shape `(action_dim,)`): `n_actions` is None, actions are float
    arrays, and `action_low`/`action_high` are the bounds that `step` clips to."""

    name: str
    reset: Callable[..., Any]
    step: Callable[..., Any]
    obs_dim: int
    n_actions: int | None
    params: Any
    action_dim: int | None = None
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()

    @property
    def continuous(self) -> bool:
        """Whether actions are real vectors (a `Box`) rather than indices."""
        return self.action_dim is not None


def _params(name: str, cls, kwargs):
    unknown = sorted(set(kwargs) - set(cls._fields))
    if unknown:
        raise ValueError(f"unknown {name} parameter(s) {unknown}; the parameters are {list(cls._fields)}")
    params = cls(**kwargs)
    if params.max_episode_steps <= 0:
        raise ValueError(f"max_episode_steps must be positive, got {params.max_episode_steps}")
    return params


def _make_cartpole(**kwargs) -> Environment:
    params = _params("CartPole-v1", CartPoleParams, kwargs)
    return Environment(
        name="CartPole-v1",
        reset=functools.partial(cartpole.reset, params=params),
        step=functools.partial(cartpole.step, params=params),
        obs_dim=cartpole.OBS_DIM,
        n_actions=cartpole.N_ACTIONS,
        params=params,
    )


def _make_acrobot(**kwargs) -> Environment:
    params = _params("Acrobot-v1", AcrobotParams, kwargs)
    return Environment(
        name="Acrobot-v1",
        reset=functools.partial(acrobot.reset, params=params),
        step=functools.partial(acrobot.step, params=params),
        obs_dim=acrobot.OBS_DIM,
        n_actions=acrobot.N_ACTIONS,
        params=params,
    )


def _make_pendulum(**kwargs) -> Environment:
    params = _params("Pendulum-v1", PendulumParams, kwargs)
    return Environment(
        name="Pendulum-v1",
        reset=functools.partial(pendulum.reset, params=params),
        step=functools.partial(pendulum.step, params=params),
        obs_dim=pendulum.OBS_DIM,
        n_actions=None,
        params=params,
        action_dim=pendulum.ACTION_DIM,
        action_low=(-params.max_torque,),
        action_high=(params.max_torque,),
    )


_REGISTRY: dict[str, Callable[..., Environment]] = {
    "CartPole-v1": _make_cartpole,
    "Acrobot-v1": _make_acrobot,
    "Pendulum-v1": _make_pendulum,
}
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

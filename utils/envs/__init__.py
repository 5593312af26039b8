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
    "env_or_cartpole",
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


def _factory(name: str, module, params_cls) -> Callable[..., Environment]:
    """`make(name, **kwargs)` for the JAX port in `module` (its `reset`, `step` and sizes)."""

    def make_env(**kwargs) -> Environment:
        params = _params(name, params_cls, kwargs)
        box = {}
        if not hasattr(module, "N_ACTIONS"):  # a Box of torques, clipped by `step` to ±max_torque
            box = dict(action_dim=module.ACTION_DIM, action_low=(-params.max_torque,) * module.ACTION_DIM,
                       action_high=(params.max_torque,) * module.ACTION_DIM)
        return Environment(
            name=name,
            reset=functools.partial(module.reset, params=params),
            step=functools.partial(module.step, params=params),
            obs_dim=module.OBS_DIM,
            n_actions=getattr(module, "N_ACTIONS", None),
            params=params,
            **box,
        )

    return make_env


_REGISTRY: dict[str, Callable[..., Environment]] = {
    "CartPole-v1": _factory("CartPole-v1", cartpole, CartPoleParams),
    "Acrobot-v1": _factory("Acrobot-v1", acrobot, AcrobotParams),
    "Pendulum-v1": _factory("Pendulum-v1", pendulum, PendulumParams),
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


def env_or_cartpole(env: Environment | None, max_episode_steps: int) -> Environment:
    """`env`, checked, or (for `None`) CartPole-v1 with `max_episode_steps`: the default
    environment of the algorithms' `make_train(config, env=None)`."""
    if env is None:
        return make("CartPole-v1", max_episode_steps=max_episode_steps)
    if not isinstance(env, Environment):
        raise TypeError(f"`env` must be a utils.envs.Environment (from utils.envs.make), got {type(env).__name__}")
    return env

"""Pendulum in pure JAX, with exactly gymnasium's `Pendulum-v1` dynamics.

A pendulum hangs from a pivot; the agent applies a torque `u ∈ [−2, 2]` and
must swing it up and hold it upright. The state is the angle `θ` (0 upright,
counter-clockwise positive) and the angular velocity `θ̇`; the observation is
`(cos θ, sin θ, θ̇)`. Each step costs `θ_n² + 0.1 θ̇² + 0.001 u²`, with `θ_n` the
angle normalised to [−π, π) and the torque clipped to its bounds, evaluated
at the state *before* the step; the reward is minus the cost, so it lies in
[−16.27, 0]. The dynamics are gymnasium's semi-implicit Euler step
(`dt = 0.05`): the velocity is updated and clipped to ±8 first, then the angle
moves with the new velocity. Episodes never terminate; gymnasium's
`TimeLimit` truncates them after 200 steps. Resets draw `θ ~ U(−π, π)` and
`θ̇ ~ U(−1, 1)`.

Constants and formulae are those of `gymnasium/envs/classic_control/pendulum.py`;
gymnasium computes in float64 and returns float32 observations, this port
computes in float32 (`tests/test_envs.py` compares the two step by step).
The action is a float array of shape (1,), as gymnasium's `Box(-2, 2, (1,))`;
`step` clips it to the bounds, as gymnasium does, so a Gaussian policy may
sample outside them (the chapter scores the unclipped sample).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from utils import validate
from utils.envs.core import TimeStep, auto_reset

OBS_DIM = 3
ACTION_DIM = 1


class PendulumParams(NamedTuple):
    """Physical constants and limits, with gymnasium's `Pendulum-v1` values."""

    max_speed: float = 8.0
    max_torque: float = 2.0
    dt: float = 0.05
    g: float = 10.0
    m: float = 1.0
    l: float = 1.0  # noqa: E741 (gymnasium's name)
    max_episode_steps: int = 200
    reset_angle: float = math.pi  # θ ~ U(−reset_angle, reset_angle)
    reset_velocity: float = 1.0  # θ̇ ~ U(−reset_velocity, reset_velocity)


class PendulumState(NamedTuple):
    """The physics `(θ, θ̇)`, the steps taken in the current episode, and the key of the next reset."""

    physics: Float[Array, "2"]
    t: Int[Array, ""]
    key: PRNGKeyArray


def _check_params(params) -> None:
    validate.check_instance("params", params, PendulumParams, "utils.envs.pendulum.PendulumParams")


def _check_state(state) -> None:
    validate.check_instance("state", state, PendulumState, "utils.envs.pendulum.PendulumState (from reset)")


def _check_action(action):
    return validate.as_float_array("action", action, "1")


def observation(physics: Float[Array, "2"]) -> Float[Array, "3"]:
    """`(cos θ, sin θ, θ̇)`."""
    theta, theta_dot = validate.as_float_array("physics", physics, "2")
    return jnp.stack([jnp.cos(theta), jnp.sin(theta), theta_dot])


def angle_normalize(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """`x` mapped to [−π, π), as gymnasium's `angle_normalize`."""
    x = validate.as_float_array("x", x)
    return ((x + jnp.pi) % (2 * jnp.pi)) - jnp.pi


def reset(key: PRNGKeyArray, params: PendulumParams = PendulumParams()) -> tuple[PendulumState, Float[Array, "3"]]:
    """Start an episode: `θ ~ U(−π, π)`, `θ̇ ~ U(−1, 1)`. Returns the state and its observation."""
    validate.check_key("key", key)
    _check_params(params)
    key, init_key = jax.random.split(key)
    high = jnp.array([params.reset_angle, params.reset_velocity])
    physics = jax.random.uniform(init_key, (2,), minval=-high, maxval=high)
    return PendulumState(physics, jnp.zeros((), jnp.int32), key), observation(physics)


def dynamics(
    physics: Float[Array, "2"], action: Float[Array, "1"], params: PendulumParams = PendulumParams()
) -> tuple[Float[Array, "2"], Float[Array, ""]]:
    """gymnasium's `step`: the next `(θ, θ̇)` and the reward (minus the cost of the state
    the step starts from and of the clipped torque)."""
    physics = validate.as_float_array("physics", physics, "2")
    action = _check_action(action)
    _check_params(params)
    theta, theta_dot = physics
    u = jnp.clip(action[0], -params.max_torque, params.max_torque).astype(physics.dtype)
    cost = angle_normalize(theta) ** 2 + 0.1 * theta_dot**2 + 0.001 * u**2
    new_theta_dot = theta_dot + (3 * params.g / (2 * params.l) * jnp.sin(theta) + 3.0 / (params.m * params.l**2) * u) * params.dt
    new_theta_dot = jnp.clip(new_theta_dot, -params.max_speed, params.max_speed)
    new_theta = theta + new_theta_dot * params.dt  # semi-implicit: the new velocity moves the angle
    return jnp.stack([new_theta, new_theta_dot]).astype(physics.dtype), -cost


def step_no_reset(
    state: PendulumState, action: Float[Array, "1"], params: PendulumParams = PendulumParams()
) -> TimeStep:
    """One step without auto-reset (`obs == final_obs`): never terminated, truncated
    at `max_episode_steps` (gymnasium's `TimeLimit`)."""
    _check_state(state)
    physics, reward = dynamics(state.physics, action, params)
    t = state.t + 1
    obs = observation(physics)
    terminated = jnp.zeros((), bool)
    truncated = t >= params.max_episode_steps
    return TimeStep(PendulumState(physics, t, state.key), obs, reward, terminated, truncated, obs)


def step(state: PendulumState, action: Float[Array, "1"], params: PendulumParams = PendulumParams()) -> TimeStep:
    """One step (torque `action[0]`, clipped to ±max_torque), with auto-reset at the time limit."""
    _check_state(state)
    ts = step_no_reset(state, action, params)
    return auto_reset(ts, *reset(state.key, params))


def is_terminated(physics: Float[Array, "2"], params: PendulumParams = PendulumParams()) -> Bool[Array, ""]:
    """Never: Pendulum has no terminal state."""
    validate.as_float_array("physics", physics, "2")
    return jnp.zeros((), bool)

"""Acrobot in pure JAX, with exactly gymnasium's `Acrobot-v1` dynamics.

Two links hang in a chain from a pivot; the agent applies a torque of −1, 0
or +1 (actions 0, 1, 2) at the joint between them, and must swing the free
end above a line one link's length above the pivot. The state is the two
joint angles `θ1`, `θ2` (0: hanging straight down) and their velocities; the
observation is `(cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2)`. Each step the
torque is held for `dt = 0.2` s while the equations of motion (the "book"
variant of Sutton and Barto) are integrated with **one classical fourth-order
Runge–Kutta step**, as gymnasium's `rk4` does over `[0, dt]`; the angles are
then wrapped to [−π, π] and the velocities clipped to ±4π and ±9π. The
episode terminates when `−cos θ1 − cos(θ1 + θ2) > 1` (the reward is 0 on that
step and −1 on every other), and gymnasium's `TimeLimit` truncates it after
500 steps. Resets draw each state variable from `U(−0.1, 0.1)`.

Constants and formulae are those of `gymnasium/envs/classic_control/acrobot.py`
(no torque noise). Gymnasium integrates in float64; this port in float32.
Because RK4 evaluates the dynamics four times per step, the float32 rounding
of one step is a few times CartPole's, still far below 1e-5
(`tests/test_envs.py` compares the two step by step).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from utils import validate
from utils.envs.core import TimeStep, auto_reset

OBS_DIM = 6
N_ACTIONS = 3


class AcrobotParams(NamedTuple):
    """Physical constants and limits, with gymnasium's `Acrobot-v1` values."""

    dt: float = 0.2
    link_length_1: float = 1.0
    link_mass_1: float = 1.0
    link_mass_2: float = 1.0
    link_com_pos_1: float = 0.5
    link_com_pos_2: float = 0.5
    link_moi: float = 1.0
    max_vel_1: float = 4 * math.pi
    max_vel_2: float = 9 * math.pi
    gravity: float = 9.8
    available_torque: tuple[float, float, float] = (-1.0, 0.0, 1.0)
    max_episode_steps: int = 500
    reset_bound: float = 0.1  # each state variable ~ U(−0.1, 0.1)


class AcrobotState(NamedTuple):
    """The physics `(θ1, θ2, θ̇1, θ̇2)`, the steps taken in the current episode, and the key of the next reset."""

    physics: Float[Array, "4"]
    t: Int[Array, ""]
    key: PRNGKeyArray


def _check_params(params) -> None:
    validate.check_instance("params", params, AcrobotParams, "utils.envs.acrobot.AcrobotParams")


def _check_state(state) -> None:
    validate.check_instance("state", state, AcrobotState, "utils.envs.acrobot.AcrobotState (from reset)")


def _check_action(action) -> None:
    dtype = getattr(action, "dtype", None)
    if dtype is None and isinstance(action, int) and not isinstance(action, bool):
        return
    if dtype is None or dtype == bool or not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(f"`action` must be an int (0: torque −1, 1: none, 2: +1), got {type(action).__name__}"
                        + (f" of dtype {dtype}" if dtype is not None else ""))
    if jnp.ndim(action) != 0:
        raise ValueError(f"`action` must be a scalar (vmap over a batch of environments), "
                         f"got shape {tuple(jnp.shape(action))}")


def observation(physics: Float[Array, "4"]) -> Float[Array, "6"]:
    """`(cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2)`."""
    theta1, theta2, dtheta1, dtheta2 = validate.as_float_array("physics", physics, "4")
    return jnp.stack([jnp.cos(theta1), jnp.sin(theta1), jnp.cos(theta2), jnp.sin(theta2), dtheta1, dtheta2])


def reset(key: PRNGKeyArray, params: AcrobotParams = AcrobotParams()) -> tuple[AcrobotState, Float[Array, "6"]]:
    """Start an episode: every state variable uniform on (−reset_bound, reset_bound)."""
    validate.check_key("key", key)
    _check_params(params)
    key, init_key = jax.random.split(key)
    physics = jax.random.uniform(init_key, (4,), minval=-params.reset_bound, maxval=params.reset_bound)
    return AcrobotState(physics, jnp.zeros((), jnp.int32), key), observation(physics)


def derivatives(
    physics: Float[Array, "4"], torque: Float[Array, ""], params: AcrobotParams = AcrobotParams()
) -> Float[Array, "4"]:
    """`d/dt (θ1, θ2, θ̇1, θ̇2)` under a constant `torque` at the second joint
    (gymnasium's `_dsdt`, "book" variant)."""
    physics = validate.as_float_array("physics", physics, "4")
    validate.as_float_array("torque", torque, "")
    _check_params(params)
    m1, m2, l1 = params.link_mass_1, params.link_mass_2, params.link_length_1
    lc1, lc2, I1, I2, g = params.link_com_pos_1, params.link_com_pos_2, params.link_moi, params.link_moi, params.gravity
    theta1, theta2, dtheta1, dtheta2 = physics
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * jnp.cos(theta2)) + I1 + I2
    d2 = m2 * (lc2**2 + l1 * lc2 * jnp.cos(theta2)) + I2
    phi2 = m2 * lc2 * g * jnp.cos(theta1 + theta2 - jnp.pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * dtheta2**2 * jnp.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * jnp.sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * jnp.cos(theta1 - jnp.pi / 2)
        + phi2
    )
    ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * jnp.sin(theta2) - phi2) / (
        m2 * lc2**2 + I2 - d2**2 / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return jnp.stack([dtheta1, dtheta2, ddtheta1, ddtheta2])


def _wrap(x, low: float, high: float):
    """gymnasium's `wrap`: shift `x` by whole periods `high − low` until `low <= x <= high`
    (`high` itself stays `high`, `low` stays `low`)."""
    period = high - low
    x = jnp.where(x > high, x - period * jnp.ceil((x - high) / period), x)
    return jnp.where(x < low, x + period * jnp.ceil((low - x) / period), x)


def dynamics(physics: Float[Array, "4"], action: Int[Array, ""], params: AcrobotParams = AcrobotParams()) -> Float[Array, "4"]:
    """One step: one RK4 step of `dt` under the action's torque, then the angles wrapped
    to [−π, π] and the velocities clipped (gymnasium's `step`)."""
    physics = validate.as_float_array("physics", physics, "4")
    _check_action(action)
    _check_params(params)
    torque = jnp.asarray(params.available_torque, physics.dtype)[action]
    f = lambda y: derivatives(y, torque, params)  # noqa: E731
    dt = params.dt
    k1 = f(physics)
    k2 = f(physics + dt / 2.0 * k1)
    k3 = f(physics + dt / 2.0 * k2)
    k4 = f(physics + dt * k3)
    y = physics + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    theta1, theta2 = _wrap(y[0], -math.pi, math.pi), _wrap(y[1], -math.pi, math.pi)
    dtheta1 = jnp.clip(y[2], -params.max_vel_1, params.max_vel_1)
    dtheta2 = jnp.clip(y[3], -params.max_vel_2, params.max_vel_2)
    return jnp.stack([theta1, theta2, dtheta1, dtheta2]).astype(physics.dtype)


def is_terminated(physics: Float[Array, "4"], params: AcrobotParams = AcrobotParams()) -> Bool[Array, ""]:
    """The free end is above the line one link above the pivot: `−cos θ1 − cos(θ1 + θ2) > 1`."""
    physics = validate.as_float_array("physics", physics, "4")
    _check_params(params)
    return -jnp.cos(physics[0]) - jnp.cos(physics[1] + physics[0]) > 1.0


def step_no_reset(state: AcrobotState, action: Int[Array, ""], params: AcrobotParams = AcrobotParams()) -> TimeStep:
    """One step without auto-reset (`obs == final_obs`): reward −1, or 0 on the step that
    reaches the goal (`terminated`); truncated at `max_episode_steps`."""
    _check_state(state)
    physics = dynamics(state.physics, action, params)
    t = state.t + 1
    terminated = is_terminated(physics, params)
    truncated = t >= params.max_episode_steps
    reward = jnp.where(terminated, 0.0, -1.0).astype(physics.dtype)
    obs = observation(physics)
    return TimeStep(AcrobotState(physics, t, state.key), obs, reward, terminated, truncated, obs)


def step(state: AcrobotState, action: Int[Array, ""], params: AcrobotParams = AcrobotParams()) -> TimeStep:
    """One step (action 0, 1, 2: torque −1, 0, +1), with auto-reset when the episode ends."""
    _check_state(state)
    ts = step_no_reset(state, action, params)
    return auto_reset(ts, *reset(state.key, params))

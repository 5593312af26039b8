"""CartPole in pure JAX, with exactly gymnasium's `CartPole-v1` dynamics.

The constants, the Euler integrator, the termination thresholds, the reward
(+1 on every step, the terminating one included), the 500-step time limit
and the reset distribution (every state variable uniform on (-0.05, 0.05))
are those of `gymnasium/envs/classic_control/cartpole.py` with gymnasium's
`TimeLimit` wrapper. The pole-mass-length constant is `masspole * length`,
as in gymnasium's `CartPoleEnv` (the functional JAX CartPole shipped with
gymnasium uses a different value, which is why it is not reused here).

Everything is a pure function of explicit state, so it runs under `jit`,
`vmap` and `lax.scan`::

    state, obs = reset(key)
    timestep = step(state, action)   # auto-resets when the episode ends
    state, obs = timestep.state, timestep.obs

`step` returns separate `terminated` (the pole fell or the cart left the
track) and `truncated` (the time limit) flags, and the observation the action
led to before any reset (`final_obs`), which a value baseline needs to
bootstrap at a truncation.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from utils import validate
from utils.envs.core import TimeStep, auto_reset

OBS_DIM = 4
N_ACTIONS = 2


class CartPoleParams(NamedTuple):
    """Physical constants and limits, with gymnasium's `CartPole-v1` values."""

    gravity: float = 9.8
    masscart: float = 1.0
    masspole: float = 0.1
    length: float = 0.5  # half the pole's length, as in gymnasium
    force_mag: float = 10.0
    tau: float = 0.02  # seconds between state updates
    theta_threshold_radians: float = 12 * 2 * math.pi / 360
    x_threshold: float = 2.4
    max_episode_steps: int = 500
    reset_bound: float = 0.05  # reset draws each state variable from U(-0.05, 0.05)

    @property
    def total_mass(self) -> float:
        return self.masspole + self.masscart

    @property
    def polemass_length(self) -> float:
        return self.masspole * self.length


class CartPoleState(NamedTuple):
    """The environment state: physics `(x, x_dot, theta, theta_dot)`, the number
    of steps taken in the current episode, and the key used for the next reset."""

    physics: Float[Array, "4"]
    t: Int[Array, ""]
    key: PRNGKeyArray


# Argument checks: static only (types, shapes, dtypes), since these functions run
# inside `jit`, `vmap` and `lax.scan`; they cost nothing once traced.


def _check_params(params) -> None:
    validate.check_instance("params", params, CartPoleParams, "utils.envs.cartpole.CartPoleParams")


def _check_physics(physics):
    return validate.as_float_array("physics", physics, "4")


def _check_action(action) -> None:
    dtype = getattr(action, "dtype", None)
    if dtype is None and isinstance(action, (bool, int)):
        return
    if dtype is None or not (dtype == bool or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(f"`action` must be an int (0 pushes left, 1 pushes right), got {type(action).__name__}"
                        + (f" of dtype {dtype}" if dtype is not None else ""))
    if jnp.ndim(action) != 0:
        raise ValueError(f"`action` must be a scalar (vmap over a batch of environments), "
                         f"got shape {tuple(jnp.shape(action))}")


def _check_state(state) -> None:
    validate.check_instance("state", state, CartPoleState, "utils.envs.cartpole.CartPoleState (from reset)")


def reset(
    key: PRNGKeyArray, params: CartPoleParams = CartPoleParams()
) -> tuple[CartPoleState, Float[Array, "4"]]:
    """Start an episode: every state variable uniform on (-reset_bound, reset_bound).

    Returns the state and its observation. The physics has JAX's default float
    dtype (float32 unless x64 is enabled).
    """
    validate.check_key("key", key)
    _check_params(params)
    key, init_key = jax.random.split(key)
    physics = jax.random.uniform(
        init_key, (OBS_DIM,), minval=-params.reset_bound, maxval=params.reset_bound
    )
    state = CartPoleState(physics=physics, t=jnp.zeros((), jnp.int32), key=key)
    return state, physics


def dynamics(
    physics: Float[Array, "4"], action: Int[Array, ""], params: CartPoleParams = CartPoleParams()
) -> Float[Array, "4"]:
    """One Euler step of the cart-pole equations of motion (gymnasium's `step`)."""
    physics = _check_physics(physics)
    _check_action(action)
    _check_params(params)
    x, x_dot, theta, theta_dot = physics
    force = jnp.where(action == 1, params.force_mag, -params.force_mag)
    costheta = jnp.cos(theta)
    sintheta = jnp.sin(theta)
    temp = (force + params.polemass_length * theta_dot**2 * sintheta) / params.total_mass
    thetaacc = (params.gravity * sintheta - costheta * temp) / (
        params.length * (4.0 / 3.0 - params.masspole * costheta**2 / params.total_mass)
    )
    xacc = temp - params.polemass_length * thetaacc * costheta / params.total_mass
    # Euler, not semi-implicit: positions are advanced with the old velocities.
    return jnp.stack(
        [
            x + params.tau * x_dot,
            x_dot + params.tau * xacc,
            theta + params.tau * theta_dot,
            theta_dot + params.tau * thetaacc,
        ]
    ).astype(physics.dtype)


def is_terminated(
    physics: Float[Array, "4"], params: CartPoleParams = CartPoleParams()
) -> Bool[Array, ""]:
    """The pole is more than 12 degrees from upright or the cart is off the track."""
    physics = _check_physics(physics)
    _check_params(params)
    x, _, theta, _ = physics
    return (
        (x < -params.x_threshold)
        | (x > params.x_threshold)
        | (theta < -params.theta_threshold_radians)
        | (theta > params.theta_threshold_radians)
    )


def step_no_reset(
    state: CartPoleState, action: Int[Array, ""], params: CartPoleParams = CartPoleParams()
) -> TimeStep:
    """One environment step without auto-reset (`obs == final_obs`).

    Reward is 1 on every step, the terminating one included; `truncated` is
    set when the episode reaches `max_episode_steps` (gymnasium's `TimeLimit`).
    """
    _check_state(state)
    _check_action(action)
    _check_params(params)
    physics = dynamics(state.physics, action, params)
    t = state.t + 1
    terminated = is_terminated(physics, params)
    truncated = t >= params.max_episode_steps
    reward = jnp.ones((), physics.dtype)
    next_state = CartPoleState(physics=physics, t=t, key=state.key)
    return TimeStep(next_state, physics, reward, terminated, truncated, physics)


def step(
    state: CartPoleState, action: Int[Array, ""], params: CartPoleParams = CartPoleParams()
) -> TimeStep:
    """One environment step (action 0 pushes left, 1 pushes right), with auto-reset.

    When the episode ends (`terminated | truncated`) the returned `state` and
    `obs` are a fresh `reset(state.key)`; `final_obs` keeps the observation
    the action led to.
    """
    _check_state(state)
    ts = step_no_reset(state, action, params)
    return auto_reset(ts, *reset(state.key, params))

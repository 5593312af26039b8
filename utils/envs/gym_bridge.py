"""Run a `utils` policy in any gymnasium environment, e.g. for your own
experiments or to record frames for an episode animation.

    episode = run_episode_gym("CartPole-v1", policy_fn, key, render_mode="rgb_array")
    episode.frames          # (T + 1, height, width, 3) uint8 images

`policy_fn(key, obs) -> action` is a JAX function (jitted here once per call);
a deterministic policy simply ignores its key. This loop is plain Python over
gymnasium's own environment, so it is for watching and checking policies, not
for training (train on the JAX environments in `utils.envs`).
"""
from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from utils import validate
from utils.envs.cartpole import CartPoleParams


class GymEpisode(NamedTuple):
    """One episode: `observations[t]` for t = 0..T (the last is where it ended),
    `actions[t]`, `rewards[t]` for t < T, how it ended, and the rendered frames
    (T + 1 of them, or None without `render_mode="rgb_array"`)."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    truncated: bool
    frames: np.ndarray | None


def make_gym(env_id: str, **kwargs) -> gym.Env:
    """`gym.make(env_id, **kwargs)`, with a ValueError naming the id (and close
    registered ids) when gymnasium does not know it."""
    if not isinstance(env_id, str):
        raise ValueError(f"env_id must be a gymnasium id string such as 'CartPole-v1', got {env_id!r}")
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.UnregisteredEnv as err:
        close = difflib.get_close_matches(env_id, list(gym.envs.registry), n=3)
        hint = f" Close registered ids: {close}." if close else ""
        raise ValueError(f"`env_id` must be a registered gymnasium id: unknown gymnasium environment id "
                         f"{env_id!r} ({err}).{hint}") from err


def _quiet_headless_rendering() -> None:
    """Without a display, let pygame use its dummy video driver, so that
    rgb_array rendering does not print SDL errors about the missing display."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def _to_gym_action(action, space: gym.Space):
    if isinstance(space, gym.spaces.Discrete):
        return int(np.asarray(action))
    return np.asarray(action, dtype=space.dtype).reshape(space.shape)


def run_episode_gym(
    env_id: str,
    policy_fn: Callable[[PRNGKeyArray, Any], Any],
    key: PRNGKeyArray,
    max_steps: int | None = None,
    render_mode: str | None = None,
    **make_kwargs,
) -> GymEpisode:
    """Run one episode of `policy_fn(key, obs) -> action` in `gym.make(env_id)`.

    The environment is reset with a seed drawn from `key`, so the episode is
    reproducible from the key. It stops when gymnasium reports termination or
    truncation (its own time limit), or after `max_steps` steps (reported as
    truncated). An environment without a time limit needs `max_steps`.
    With `render_mode="rgb_array"` the frames are returned for animations.
    """
    if not isinstance(env_id, str):
        make_gym(env_id)  # raises the ValueError naming `env_id`
    validate.check_callable("policy_fn", policy_fn)
    validate.check_key("key", key)
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
    if max_steps is not None and (
        isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps <= 0
    ):
        raise ValueError(f"max_steps must be a positive int or None, got {max_steps!r}")
    if render_mode == "rgb_array":
        _quiet_headless_rendering()
    env = make_gym(env_id, render_mode=render_mode, **make_kwargs)
    try:
        if max_steps is None and (env.spec is None or env.spec.max_episode_steps is None):
            raise ValueError(f"{env_id!r} has no time limit; pass max_steps")
        policy = jax.jit(policy_fn)
        key, seed_key = jax.random.split(key)
        seed = int(jax.random.randint(seed_key, (), 0, 2**31 - 1))
        obs, _ = env.reset(seed=seed)
        observations, actions, rewards = [np.asarray(obs)], [], []
        frames = [env.render()] if render_mode == "rgb_array" else None
        terminated = truncated = False
        while not (terminated or truncated):
            key, action_key = jax.random.split(key)
            action = np.asarray(policy(action_key, jnp.asarray(obs)))
            obs, reward, terminated, truncated, _ = env.step(_to_gym_action(action, env.action_space))
            observations.append(np.asarray(obs))
            actions.append(action)
            rewards.append(float(reward))
            if frames is not None:
                frames.append(env.render())
            if max_steps is not None and len(actions) >= max_steps:
                truncated = truncated or not terminated
    finally:
        env.close()
    return GymEpisode(
        observations=np.stack(observations),
        actions=np.stack(actions),
        rewards=np.asarray(rewards, dtype=np.float32),
        terminated=bool(terminated),
        truncated=bool(truncated),
        frames=None if frames is None else np.stack(frames),
    )


def render_cartpole(physics: np.ndarray, params: CartPoleParams = CartPoleParams()) -> np.ndarray:
    """Frames of a JAX CartPole trajectory, drawn by gymnasium's renderer.

    `physics` has shape (T, 4) (rows `(x, x_dot, theta, theta_dot)`, e.g. the
    `state.physics` of a `lax.scan` rollout); returns (T, 400, 600, 3) uint8.
    """
    physics = np.asarray(validate.as_float_array("physics", physics), dtype=np.float64)
    validate.check_finite("physics", physics)
    validate.check_instance("params", params, CartPoleParams, "utils.envs.cartpole.CartPoleParams")
    if physics.ndim != 2 or physics.shape[1] != 4:
        raise ValueError(f"physics must have shape (T, 4), got {physics.shape}")
    _quiet_headless_rendering()
    env = make_gym("CartPole-v1", render_mode="rgb_array")
    try:
        env.reset(seed=0)
        cart = env.unwrapped
        # Drawing uses the pole length and track size, so match our parameters.
        cart.length, cart.x_threshold = params.length, params.x_threshold
        frames = []
        for row in physics:
            cart.state = row
            frames.append(env.render())
    finally:
        env.close()
    return np.stack(frames)

"""Running `utils` policies in gymnasium environments."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils.envs import cartpole, gym_bridge


def balancing_policy(key, obs):
    x, x_dot, theta, theta_dot = obs
    return (theta + 0.5 * theta_dot + 0.01 * x + 0.05 * x_dot > 0).astype(jnp.int32)


def random_policy(key, obs):
    return jax.random.bernoulli(key, 0.5).astype(jnp.int32)


def test_cartpole_episode_runs_to_the_time_limit():
    episode = gym_bridge.run_episode_gym("CartPole-v1", balancing_policy, jax.random.key(0))
    T = len(episode.actions)
    assert episode.observations.shape == (T + 1, 4)
    assert episode.rewards.shape == (T,) and np.all(episode.rewards == 1.0)
    assert episode.frames is None
    # The controller balances for the whole episode; gymnasium's TimeLimit ends it.
    assert T == 500 and episode.truncated and not episode.terminated
    # The actions are the policy's, applied to the observations.
    expected = [int(balancing_policy(None, jnp.asarray(o))) for o in episode.observations[:5]]
    assert list(episode.actions[:5]) == expected


def test_episodes_are_reproducible_from_the_key_and_follow_our_dynamics():
    a = gym_bridge.run_episode_gym("CartPole-v1", random_policy, jax.random.key(1))
    b = gym_bridge.run_episode_gym("CartPole-v1", random_policy, jax.random.key(1))
    c = gym_bridge.run_episode_gym("CartPole-v1", random_policy, jax.random.key(2))
    np.testing.assert_array_equal(a.observations, b.observations)
    np.testing.assert_array_equal(a.actions, b.actions)
    assert not np.array_equal(a.observations[0], c.observations[0])
    assert a.terminated and not a.truncated
    # Our JAX dynamics reproduce gymnasium's transitions along the episode.
    state = cartpole.CartPoleState(jnp.asarray(a.observations[0]), jnp.int32(0), jax.random.key(0))
    step = jax.jit(cartpole.step_no_reset)
    for t, action in enumerate(a.actions):
        ts = step(state, action)
        np.testing.assert_allclose(ts.obs, a.observations[t + 1], atol=1e-5)
        state = ts.state
    assert bool(ts.terminated)


def test_frames_for_animation():
    episode = gym_bridge.run_episode_gym(
        "CartPole-v1", lambda key, obs: jnp.int32(1), jax.random.key(0), render_mode="rgb_array"
    )
    T = len(episode.actions)
    assert episode.terminated and T < 50
    assert episode.frames.shape == (T + 1, 400, 600, 3) and episode.frames.dtype == np.uint8
    assert not np.array_equal(episode.frames[0], episode.frames[-1])


def test_continuous_actions_and_max_steps():
    def policy(key, obs):
        return jax.random.uniform(key, (1,), minval=-2.0, maxval=2.0)

    episode = gym_bridge.run_episode_gym("Pendulum-v1", policy, jax.random.key(0), max_steps=7)
    assert episode.observations.shape == (8, 3) and episode.actions.shape == (7, 1)
    assert episode.truncated and not episode.terminated


def test_render_cartpole_draws_jax_states():
    physics = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.15, 0.0]])
    frames = gym_bridge.render_cartpole(physics)
    assert frames.shape == (2, 400, 600, 3) and frames.dtype == np.uint8
    assert not np.array_equal(frames[0], frames[1])
    with pytest.raises(ValueError, match=r"physics must have shape \(T, 4\)"):
        gym_bridge.render_cartpole(np.zeros(4))


@pytest.mark.parametrize("env_id", ["CartPol-v1", "NoSuchEnv-v0", "Foo/Bar-v0", "CartPole-v9"])
def test_unknown_environment_id(env_id):
    with pytest.raises(ValueError, match=f"unknown gymnasium environment id '{env_id}'"):
        gym_bridge.run_episode_gym(env_id, random_policy, jax.random.key(0))


def test_unknown_id_suggests_close_ids():
    with pytest.raises(ValueError, match="Close registered ids: .*'CartPole-v1'"):
        gym_bridge.make_gym("CartPol-v1")


def test_bad_arguments():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="render_mode must be None or 'rgb_array'"):
        gym_bridge.run_episode_gym("CartPole-v1", random_policy, key, render_mode="human")
    for bad in (0, -1, 2.5, "10"):
        with pytest.raises(ValueError, match="max_steps must be a positive int"):
            gym_bridge.run_episode_gym("CartPole-v1", random_policy, key, max_steps=bad)
    with pytest.raises(ValueError, match="env_id must be a gymnasium id string"):
        gym_bridge.run_episode_gym(None, random_policy, key)

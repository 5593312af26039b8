"""The JAX CartPole against gymnasium's `CartPole-v1`.

What is compared, and why it is the right claim
-----------------------------------------------
Gymnasium integrates in float64 and returns float32 observations; our
environment computes in float32 (JAX's default). Both apply the same
formulae, so from the same state and action one step differs only by
rounding. Over whole episodes rounding differences are amplified: the
upright pole is an unstable equilibrium with growth rate about
sqrt(g / (4/3 l)) = 3.8 per second, i.e. a factor e^38 ~ 1e16 over the 500
steps (10 s) of a full episode when actions are replayed open loop. No two
implementations that round differently (XLA turns `x / c` into
`x * (1/c)`, for example) can stay within 1e-5 of each other for 500
open-loop steps, so the tests check three things that together pin the
dynamics down:

1. whole episodes under uniformly random actions (which end within tens of
   steps, before rounding is amplified past 1e-5): from gymnasium's start
   state and with gymnasium's action sequence, every state agrees to 1e-5
   and the episode terminates on the same step, for 50 seeds;
2. long episodes (a balancing controller with random exploration, up to the
   500-step time limit): from each of gymnasium's states, our step gives
   gymnasium's next state to 1e-5 and the same `terminated` / `truncated`
   flags, so every episode ends on the same step for the same reason;
3. the same per-step comparison in float64 (under `enable_x64`) agrees
   to 1e-12, which shows the formulae are identical, not merely close; a
   version with the wrong pole-mass-length constant fails it.
"""
from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import envs
from utils.compat import enable_x64
from utils.envs import cartpole

N_SEEDS = 50


class WrongPoleMassLength(cartpole.CartPoleParams):
    """The constant of gymnasium's functional JAX CartPole: masspole + length."""

    @property
    def polemass_length(self) -> float:
        return self.masspole + self.length


def balancing_action(physics) -> int:
    """A bang-bang controller that keeps the pole up for most of 500 steps."""
    x, x_dot, theta, theta_dot = physics
    return int(theta + 0.5 * theta_dot + 0.01 * x + 0.05 * x_dot > 0)


def gym_episode(seed: int, explore: float):
    """One gymnasium episode: its float64 start state, actions, float64 states,
    float32 observations, rewards and flags. Actions are uniformly random with
    probability `explore`, otherwise from `balancing_action`."""
    env = gym.make("CartPole-v1")
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    # gymnasium 0.29 keeps the state as a tuple after step() (an array after
    # reset()), later versions as an array: np.array copies either.
    start = np.array(env.unwrapped.state)
    actions, states, observations, rewards, terminateds, truncateds = [], [], [], [], [], []
    terminated = truncated = False
    while not (terminated or truncated):
        if rng.random() < explore:
            action = int(rng.integers(2))
        else:
            action = balancing_action(env.unwrapped.state)
        obs, reward, terminated, truncated, _ = env.step(action)
        actions.append(action)
        states.append(np.array(env.unwrapped.state))
        observations.append(obs)
        rewards.append(reward)
        terminateds.append(terminated)
        truncateds.append(truncated)
    env.close()
    return (
        start,
        np.array(actions, np.int32),
        np.array(states),
        np.array(observations),
        np.array(rewards),
        np.array(terminateds),
        np.array(truncateds),
    )


@jax.jit
def jax_episode(start, actions):
    """Replay `actions` from `start` with `step_no_reset`, by `lax.scan`."""
    state = cartpole.CartPoleState(start, jnp.zeros((), jnp.int32), jax.random.key(0))

    def one_step(state, action):
        ts = cartpole.step_no_reset(state, action)
        return ts.state, (ts.obs, ts.reward, ts.terminated, ts.truncated)

    return jax.lax.scan(one_step, state, actions)[1]


@jax.jit
def _one_step_batch(states, actions, t, params):
    def f(physics, action, t):
        state = cartpole.CartPoleState(physics, t, jax.random.key(0))
        ts = cartpole.step_no_reset(state, action, params)
        return ts.obs, ts.terminated, ts.truncated

    return jax.vmap(f)(states, actions, t)


def one_step_from(states, actions, params=cartpole.CartPoleParams()):
    """Our step from each given state (the i-th at time t = i), batched:
    (next observation, terminated, truncated). Inputs are padded to the time
    limit so that a single compilation serves every episode."""
    n, limit = len(actions), params.max_episode_steps
    states = np.pad(states, ((0, limit - n), (0, 0)))
    actions = np.pad(actions, (0, limit - n))
    t = jnp.arange(limit, dtype=jnp.int32)
    out = _one_step_batch(jnp.asarray(states), jnp.asarray(actions), t, params)
    return tuple(np.asarray(x)[:n] for x in out)


def test_constants_are_gymnasiums():
    ours = cartpole.CartPoleParams()
    theirs = gym.make("CartPole-v1")
    cp = theirs.unwrapped
    for name in (
        "gravity", "masscart", "masspole", "length", "force_mag", "tau",
        "theta_threshold_radians", "x_threshold", "total_mass", "polemass_length",
    ):
        assert getattr(ours, name) == getattr(cp, name), name
    assert cp.kinematics_integrator == "euler"
    assert ours.max_episode_steps == theirs.spec.max_episode_steps == 500
    assert cartpole.OBS_DIM == theirs.observation_space.shape[0]
    assert cartpole.N_ACTIONS == theirs.action_space.n
    theirs.close()


def test_whole_random_episodes_match_gymnasium():
    lengths = []
    for seed in range(N_SEEDS):
        start, actions, states, observations, rewards, term, trunc = gym_episode(seed, explore=1.0)
        T = len(actions)
        lengths.append(T)
        padded = np.zeros(cartpole.CartPoleParams().max_episode_steps, np.int32)
        padded[:T] = actions
        obs, reward, terminated, truncated = map(
            np.asarray, jax_episode(jnp.asarray(start, jnp.float32), jnp.asarray(padded))
        )
        assert obs.dtype == np.float32
        np.testing.assert_allclose(obs[:T], states, rtol=0, atol=1e-5, err_msg=f"seed {seed}")
        np.testing.assert_allclose(obs[:T], observations, rtol=0, atol=1e-5)
        # Same ending step, for the same reason.
        ended = terminated | truncated
        assert int(np.argmax(ended)) + 1 == T, f"seed {seed}"
        assert terminated[T - 1] == term[-1] and truncated[T - 1] == trunc[-1]
        np.testing.assert_array_equal(reward[:T], rewards)
    assert max(lengths) >= 30  # not only trivially short episodes


def test_long_episodes_match_gymnasium_step_by_step():
    n_truncated = n_terminated = 0
    for seed in range(12):
        explore = 0.2 if seed % 2 else 0.5
        start, actions, states, observations, rewards, term, trunc = gym_episode(seed, explore)
        previous = np.vstack([start[None], states[:-1]]).astype(np.float32)
        obs, terminated, truncated = map(np.asarray, one_step_from(previous, actions))
        np.testing.assert_allclose(obs, states, rtol=0, atol=1e-5, err_msg=f"seed {seed}")
        np.testing.assert_array_equal(terminated, term)
        np.testing.assert_array_equal(truncated, trunc)
        n_truncated += trunc[-1]
        n_terminated += term[-1]
    # Both ways of ending occur among these seeds.
    assert n_truncated >= 3 and n_terminated >= 3


def test_float64_formulae_are_identical_and_wrong_constant_is_caught():
    start, actions, states, *_ = gym_episode(0, explore=0.1)
    previous = np.vstack([start[None], states[:-1]])
    with enable_x64(True):
        ours = np.asarray(one_step_from(previous, actions)[0])
        wrong = np.asarray(one_step_from(previous, actions, WrongPoleMassLength())[0])
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, states, rtol=0, atol=1e-12)
    assert np.abs(wrong - states).max() > 1e-3


def test_reset_distribution():
    keys = jax.random.split(jax.random.key(0), 20_000)
    state, obs = jax.jit(jax.vmap(cartpole.reset))(keys)
    assert obs.shape == (20_000, 4) and obs.dtype == jnp.float32
    assert state.t.dtype == jnp.int32 and np.all(np.asarray(state.t) == 0)
    obs = np.asarray(obs)
    assert obs.min() >= -0.05 and obs.max() < 0.05
    # Uniform(-0.05, 0.05): mean 0, standard deviation 0.1 / sqrt(12).
    np.testing.assert_allclose(obs.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(obs.std(axis=0), 0.1 / np.sqrt(12), rtol=0.02)
    # Independent coordinates.
    corr = np.corrcoef(obs.T) - np.eye(4)
    assert np.abs(corr).max() < 0.03


def test_auto_reset_after_termination():
    state, _ = cartpole.reset(jax.random.key(3))
    step = jax.jit(cartpole.step)
    # Always pushing right knocks the pole over within a few dozen steps.
    for n in range(1, 200):
        ts = step(state, 1)
        if ts.terminated:
            break
        np.testing.assert_array_equal(ts.obs, ts.final_obs)
        assert int(ts.state.t) == n
        state = ts.state
    assert ts.terminated and not ts.truncated and ts.reward == 1.0
    # final_obs is past the threshold; the new state is a fresh episode.
    assert abs(float(ts.final_obs[2])) > cartpole.CartPoleParams().theta_threshold_radians
    assert int(ts.state.t) == 0
    np.testing.assert_array_equal(ts.obs, ts.state.physics)
    assert np.all(np.abs(np.asarray(ts.obs)) < 0.05)
    expected_state, expected_obs = cartpole.reset(state.key)
    np.testing.assert_array_equal(ts.obs, expected_obs)
    assert not np.array_equal(jax.random.key_data(ts.state.key), jax.random.key_data(state.key))


def test_truncation_at_time_limit_under_scan_and_vmap():
    """A perfect controller on a zero state runs into the time limit: the
    500th step is truncated (not terminated) and is followed by a reset."""
    n_envs, n_steps = 3, 1100

    def run(key):
        state, obs = cartpole.reset(key)
        state = state._replace(physics=jnp.zeros(4))

        def one_step(carry, _):
            state, obs = carry
            x, x_dot, theta, theta_dot = obs
            action = (theta + 0.5 * theta_dot + 0.01 * x + 0.05 * x_dot > 0).astype(jnp.int32)
            ts = cartpole.step(state, action)
            return (ts.state, ts.obs), (ts.terminated, ts.truncated, ts.state.t)

        return jax.lax.scan(one_step, (state, state.physics), None, length=n_steps)[1]

    keys = jax.random.split(jax.random.key(1), n_envs)
    terminated, truncated, t = map(np.asarray, jax.jit(jax.vmap(run))(keys))
    assert terminated.shape == (n_envs, n_steps)
    for i in range(n_envs):
        assert not terminated[i, :500].any()
        assert truncated[i, 499] and not truncated[i, :499].any()
        assert t[i, 498] == 499 and t[i, 499] == 0 and t[i, 500] == 1


def test_vmap_matches_single_environment():
    keys = jax.random.split(jax.random.key(2), 4)
    actions = jax.random.bernoulli(jax.random.key(5), 0.5, (60, 4)).astype(jnp.int32)

    def rollout(key, actions):
        state, obs = cartpole.reset(key)

        def one_step(state, action):
            ts = cartpole.step(state, action)
            return ts.state, (ts.obs, ts.terminated, ts.final_obs)

        return jax.lax.scan(one_step, state, actions)[1]

    batched = jax.jit(jax.vmap(rollout, in_axes=(0, 1)))(keys, actions)
    single_rollout = jax.jit(rollout)
    for i in range(4):
        single = single_rollout(keys[i], actions[:, i])
        for b, s in zip(batched, single):
            np.testing.assert_allclose(np.asarray(b[i]), np.asarray(s), atol=1e-6)
    # Random actions end several episodes in 60 steps, so resets happened.
    assert np.asarray(batched[1]).sum() >= 4


def test_old_style_uint32_keys_work():
    state, obs = cartpole.reset(jax.random.PRNGKey(0))
    ts = jax.jit(cartpole.step)(state, jnp.int32(0))
    assert ts.state.key.shape == (2,) and ts.state.key.dtype == jnp.uint32


def test_make():
    env = envs.make("CartPole-v1")
    assert env.obs_dim == 4 and env.n_actions == 2 and env.name == "CartPole-v1"
    state, obs = jax.jit(env.reset)(jax.random.key(0))
    assert obs.shape == (4,)
    short = envs.make("CartPole-v1", max_episode_steps=5)
    state, _ = short.reset(jax.random.key(0))
    state = state._replace(physics=jnp.zeros(4))
    flags = []
    step = jax.jit(short.step)
    for action in (0, 1, 0, 1, 0):
        ts = step(state, action)
        flags.append(bool(ts.truncated))
        state = ts.state
    assert flags == [False] * 4 + [True]


@pytest.mark.parametrize("name", ["cartpole", "CartPole-v0", "MountainCar-v0", ""])
def test_make_unknown_id(name):
    with pytest.raises(ValueError, match="unknown environment id.*CartPole-v1"):
        envs.make(name)


def test_make_unknown_parameter():
    with pytest.raises(ValueError, match="unknown CartPole-v1 parameter.*gravty"):
        envs.make("CartPole-v1", gravty=9.8)
    with pytest.raises(ValueError, match="max_episode_steps must be positive"):
        envs.make("CartPole-v1", max_episode_steps=0)

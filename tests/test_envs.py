"""The JAX Acrobot and Pendulum against gymnasium's `Acrobot-v1` and `Pendulum-v1`,
and `utils.envs.make` for every environment.

As for CartPole (`tests/test_cartpole.py`): gymnasium computes in float64 and
returns float32 observations, the ports compute in float32. Rounding is
amplified over long episodes (Acrobot is chaotic), so the comparison is step
by step: from each of gymnasium's states (rounded to float32), one step of the
port gives gymnasium's next state to 1e-5, the same reward and the same
`terminated` / `truncated` flags, over whole episodes up to the time limit. In
float64 (`enable_x64`) the two agree to 1e-12, which shows the formulae are the
same, not merely close; a port with a wrong constant or integrator fails that.
"""
from __future__ import annotations

import math

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import envs
from utils.compat import enable_x64
from utils.envs import acrobot, pendulum


def pumping_action(state) -> int:
    """Acrobot: torque against the first link's swing, which pumps energy into the chain
    and reaches the goal within about 150 steps (uniformly random actions rarely do in 500)."""
    return 0 if state[2] > 0 else 2


def gym_episode(env_id: str, seed: int, explore: float):
    """One gymnasium episode: start state (float64), actions, next states, rewards, flags.
    Acrobot acts by `pumping_action` (uniformly random with probability `explore`);
    Pendulum draws torques uniformly from [−2.5, 2.5], beyond the bounds, so that the
    clipping is exercised."""
    env = gym.make(env_id)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    start = np.array(env.unwrapped.state, np.float64)  # gymnasium 0.29 may keep a tuple
    actions, states, rewards, terminateds, truncateds = [], [], [], [], []
    terminated = truncated = False
    while not (terminated or truncated):
        if env_id == "Pendulum-v1":
            action = rng.uniform(-2.5, 2.5, (1,))  # float64: gymnasium computes the torque terms in its dtype
        elif rng.random() < explore:
            action = int(rng.integers(3))
        else:
            action = pumping_action(env.unwrapped.state)
        _, reward, terminated, truncated, _ = env.step(action)
        actions.append(action)
        states.append(np.array(env.unwrapped.state, np.float64))
        rewards.append(reward)
        terminateds.append(terminated)
        truncateds.append(truncated)
    env.close()
    actions = np.array(actions, np.float64 if env_id == "Pendulum-v1" else np.int32)
    return start, actions, np.array(states), np.array(rewards), np.array(terminateds), np.array(truncateds)


MODULES = {"Acrobot-v1": (acrobot, acrobot.AcrobotState), "Pendulum-v1": (pendulum, pendulum.PendulumState)}


def one_step_from(env_id: str, states, actions, params=None):
    """The port's step from each given state (the i-th at time t = i), batched:
    (next physics, reward, terminated, truncated)."""
    module, State = MODULES[env_id]
    if params is None:
        params = acrobot.AcrobotParams() if env_id == "Acrobot-v1" else pendulum.PendulumParams()

    def f(physics, action, t):
        ts = module.step_no_reset(State(physics, t, jax.random.key(0)), action, params)
        return ts.state.physics, ts.reward, ts.terminated, ts.truncated

    t = jnp.arange(len(actions), dtype=jnp.int32)
    return tuple(map(np.asarray, jax.jit(jax.vmap(f))(jnp.asarray(states), jnp.asarray(actions), t)))


def wrap_difference(a, b):
    """Angle differences taken modulo 2π (a state at π and one at −π are the same)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return (d + math.pi) % (2 * math.pi) - math.pi


def assert_same_physics(env_id, ours, theirs, atol, what):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    n_angles = 2 if env_id == "Acrobot-v1" else 0  # Pendulum's angle is not wrapped by gymnasium
    np.testing.assert_allclose(wrap_difference(ours[:, :n_angles], theirs[:, :n_angles]), 0, atol=atol, err_msg=what)
    np.testing.assert_allclose(ours[:, n_angles:], theirs[:, n_angles:], rtol=0, atol=atol, err_msg=what)


def test_constants_are_gymnasiums():
    a = gym.make("Acrobot-v1")
    u = a.unwrapped
    ours = acrobot.AcrobotParams()
    assert (ours.dt, ours.link_length_1, ours.link_mass_1, ours.link_mass_2) == (u.dt, u.LINK_LENGTH_1, u.LINK_MASS_1, u.LINK_MASS_2)
    assert (ours.link_com_pos_1, ours.link_com_pos_2, ours.link_moi) == (u.LINK_COM_POS_1, u.LINK_COM_POS_2, u.LINK_MOI)
    assert (ours.max_vel_1, ours.max_vel_2) == (u.MAX_VEL_1, u.MAX_VEL_2) and list(ours.available_torque) == list(u.AVAIL_TORQUE)
    assert u.book_or_nips == "book" and u.torque_noise_max == 0.0
    assert ours.max_episode_steps == a.spec.max_episode_steps == 500
    assert acrobot.OBS_DIM == a.observation_space.shape[0] and acrobot.N_ACTIONS == a.action_space.n
    p = gym.make("Pendulum-v1")
    u = p.unwrapped
    ours = pendulum.PendulumParams()
    assert (ours.max_speed, ours.max_torque, ours.dt, ours.g, ours.m, ours.l) == (u.max_speed, u.max_torque, u.dt, u.g, u.m, u.l)
    assert ours.max_episode_steps == p.spec.max_episode_steps == 200
    assert pendulum.OBS_DIM == p.observation_space.shape[0] and (pendulum.ACTION_DIM,) == p.action_space.shape
    np.testing.assert_array_equal(p.action_space.low, [-ours.max_torque])
    a.close(), p.close()


@pytest.mark.parametrize("env_id", ["Acrobot-v1", "Pendulum-v1"])
def test_long_episodes_match_gymnasium_step_by_step(env_id):
    endings = {"terminated": 0, "truncated": 0}
    for seed in range(10):
        start, actions, states, rewards, term, trunc = gym_episode(env_id, seed, explore=0.3 if seed % 2 else 0.9)
        previous = np.vstack([start[None], states[:-1]]).astype(np.float32)
        ours = actions.astype(np.float32) if env_id == "Pendulum-v1" else actions
        physics, reward, terminated, truncated = one_step_from(env_id, previous, ours)
        assert physics.dtype == np.float32 and reward.dtype == np.float32
        assert_same_physics(env_id, physics, states, 1e-5, f"{env_id} seed {seed}")
        np.testing.assert_allclose(reward, rewards, rtol=0, atol=1e-5, err_msg=f"{env_id} seed {seed}")
        np.testing.assert_array_equal(terminated, term)
        np.testing.assert_array_equal(truncated, trunc)
        endings["terminated"] += int(term[-1])
        endings["truncated"] += int(trunc[-1])
    if env_id == "Acrobot-v1":  # both ways of ending occur among these seeds
        assert endings["terminated"] >= 3 and endings["truncated"] >= 1, endings
    else:  # Pendulum only truncates, after 200 steps
        assert endings == {"terminated": 0, "truncated": 10}



@pytest.mark.parametrize("env_id", ["Acrobot-v1", "Pendulum-v1"])
def test_float64_formulae_are_identical_and_a_wrong_constant_is_caught(env_id):
    start, actions, states, rewards, term, trunc = gym_episode(env_id, 3, explore=0.5)
    previous = np.vstack([start[None], states[:-1]])
    with enable_x64():
        physics, reward, _, _ = one_step_from(env_id, previous, actions)
        assert physics.dtype == np.float64
        assert_same_physics(env_id, physics, states, 1e-12, env_id)
        np.testing.assert_allclose(reward, rewards, rtol=0, atol=1e-12)
        wrong = (acrobot.AcrobotParams(gravity=9.81) if env_id == "Acrobot-v1" else pendulum.PendulumParams(g=9.81))
        physics, _, _, _ = one_step_from(env_id, previous, actions, wrong)
        with pytest.raises(AssertionError):
            assert_same_physics(env_id, physics, states, 1e-12, env_id)


def test_acrobot_euler_instead_of_rk4_is_caught():
    """One Euler step of the same derivatives misses gymnasium's RK4 step by far more than 1e-5."""
    start, actions, states, *_ = gym_episode("Acrobot-v1", 1, explore=0.3)
    previous = np.vstack([start[None], states[:-1]]).astype(np.float32)
    torque = np.array(acrobot.AcrobotParams().available_torque, np.float32)[actions]
    euler = jax.vmap(lambda y, u: y + 0.2 * acrobot.derivatives(y, u, acrobot.AcrobotParams()))(previous, torque)
    assert np.max(np.abs(np.asarray(euler)[:, 2:] - states[:, 2:])) > 1e-2


def test_acrobot_wraps_angles_as_gymnasium():
    x = jnp.array([math.pi, -math.pi, math.pi + 0.1, -math.pi - 0.1, 3 * math.pi + 0.2, 0.3], jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    expected = [math.pi, -math.pi, -math.pi + 0.1, math.pi - 0.1, -math.pi + 0.2, 0.3]
    np.testing.assert_allclose(np.asarray(acrobot._wrap(x, -math.pi, math.pi)), expected, atol=1e-6)


@pytest.mark.parametrize("env_id,low,high", [("Acrobot-v1", [-0.1] * 4, [0.1] * 4), ("Pendulum-v1", [-math.pi, -1.0], [math.pi, 1.0])])
def test_reset_distribution(env_id, low, high):
    env = envs.make(env_id)
    states, obs = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 20_000))
    physics = np.asarray(states.physics)
    assert np.all(physics >= low) and np.all(physics <= high)
    np.testing.assert_allclose(physics.mean(axis=0), 0, atol=0.03 * np.max(high))
    # uniform: the variance of U(−h, h) is h²/3
    np.testing.assert_allclose(physics.var(axis=0), np.square(high) / 3, rtol=0.05)
    assert obs.shape == (20_000, env.obs_dim)


@pytest.mark.parametrize("env_id", ["Acrobot-v1", "Pendulum-v1"])
def test_auto_reset_under_scan_and_vmap(env_id):
    env = envs.make(env_id)
    n_envs, n_steps = 8, 600
    keys = jax.random.split(jax.random.key(1), n_envs)
    state, obs = jax.vmap(env.reset)(keys)

    def one(state, key):
        if env.continuous:
            action = jax.random.uniform(key, (n_envs, 1), minval=-2.0, maxval=2.0)
        else:
            action = jax.random.randint(key, (n_envs,), 0, env.n_actions)
        ts = jax.vmap(env.step)(state, action)
        return ts.state, (ts.state.t, ts.terminated, ts.truncated, ts.obs, ts.final_obs)

    _, (t, terminated, truncated, obs, final_obs) = jax.lax.scan(one, state, jax.random.split(jax.random.key(2), n_steps))
    t, terminated, truncated = map(np.asarray, (t, terminated, truncated))
    done = terminated | truncated
    assert np.all(t[done] == 0)  # a fresh episode starts after every ending
    assert np.all(t[~done] >= 1)
    assert truncated.sum() >= n_envs  # every environment reached its time limit at least once here
    if env_id == "Pendulum-v1":
        assert not terminated.any() and np.all(np.flatnonzero(truncated[:, 0]) + 1 == np.arange(200, 601, 200)[: truncated[:, 0].sum()])
    assert np.all(np.asarray(obs)[~done] == np.asarray(final_obs)[~done])


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_make_gives_each_environment_with_its_spaces(env_id):
    env = envs.make(env_id)
    theirs = gym.make(env_id)
    assert env.name == env_id and env.obs_dim == theirs.observation_space.shape[0]
    if isinstance(theirs.action_space, gym.spaces.Discrete):
        assert not env.continuous and env.n_actions == theirs.action_space.n
    else:
        assert env.continuous and env.n_actions is None and (env.action_dim,) == theirs.action_space.shape
        np.testing.assert_array_equal(env.action_low, theirs.action_space.low)
        np.testing.assert_array_equal(env.action_high, theirs.action_space.high)
    assert env.params.max_episode_steps == theirs.spec.max_episode_steps
    theirs.close()


def test_make_lists_the_environments_on_an_unknown_name():
    with pytest.raises(ValueError, match=r"'Pendulum-v2'.*\['CartPole-v1', 'Acrobot-v1', 'Pendulum-v1'\].*Did you mean 'Pendulum-v1'"):
        envs.make("Pendulum-v2")
    with pytest.raises(ValueError, match=r"unknown Acrobot-v1 parameter\(s\) \['gravty'\]"):
        envs.make("Acrobot-v1", gravty=9.8)
    assert envs.make("Pendulum-v1", max_episode_steps=50).params.max_episode_steps == 50


def test_bad_actions_get_clear_errors():
    state, _ = acrobot.reset(jax.random.key(0))
    with pytest.raises(TypeError, match="`action` must be an int"):
        acrobot.step(state, 1.0)
    state, _ = pendulum.reset(jax.random.key(0))
    with pytest.raises(ValueError, match="`action`"):
        pendulum.step(state, jnp.zeros(2))

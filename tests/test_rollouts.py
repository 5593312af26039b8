"""The batched sampler: tabular trajectories follow the MDP, CartPole rollouts auto-reset correctly."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import exact
from utils.envs import example_mdp, make
from utils.policies import mlp_softmax, tabular_softmax
from utils.rollouts import Trajectory, episode_returns, rollout, sample_env, sample_trajectories


@pytest.fixture(scope="module")
def tabular_batch():
    mdp = example_mdp()
    policy = tabular_softmax(mdp.n_states, mdp.n_actions)
    theta = 0.8 * jax.random.normal(jax.random.key(0), (mdp.n_states, mdp.n_actions))
    traj = sample_trajectories(jax.random.key(1), mdp, policy, theta, 20_000)
    return mdp, policy, theta, traj


def test_tabular_layout_and_bookkeeping(tabular_batch):
    mdp, policy, theta, traj = tabular_batch
    N, H = 20_000, mdp.H
    assert isinstance(traj, Trajectory)
    for field in ("obs", "actions", "rewards", "terminated", "truncated", "log_probs", "values", "final_obs"):
        assert getattr(traj, field).shape == (N, H), field
    np.testing.assert_allclose(traj.rewards, mdp.r[traj.obs, traj.actions])
    np.testing.assert_allclose(traj.log_probs, jax.nn.log_softmax(theta)[traj.obs, traj.actions], atol=1e-6)
    np.testing.assert_array_equal(traj.final_obs[:, :-1], traj.obs[:, 1:])
    assert traj.terminated[:, -1].all() and not traj.terminated[:, :-1].any()
    assert not traj.truncated.any()
    assert not traj.values.any()  # no value function given
    # Transitions the MDP forbids never happen (e.g. leaving the goal).
    P = np.asarray(mdp.P)
    assert (P[traj.obs, traj.actions, traj.final_obs] > 0).all()


def test_tabular_visitation_matches_exact(tabular_batch):
    mdp, policy, theta, traj = tabular_batch
    N = traj.obs.shape[0]
    d = np.asarray(exact.state_action_visitation(mdp, exact.softmax_policy(theta)))  # H S A
    counts = np.zeros_like(d)
    np.add.at(counts, (np.arange(mdp.H)[None, :].repeat(N, 0), np.asarray(traj.obs), np.asarray(traj.actions)), 1)
    freq = counts / N
    # 5 binomial standard errors per cell.
    np.testing.assert_array_less(np.abs(freq - d), 5 * np.sqrt(d * (1 - d) / N) + 1e-6)
    # The mean return is the exact objective.
    returns = np.asarray(traj.rewards.sum(1))
    J = float(exact.exact_objective(mdp, theta))
    assert abs(returns.mean() - J) < 5 * returns.std() / np.sqrt(N)


def test_same_key_same_samples():
    mdp = example_mdp()
    policy = tabular_softmax(mdp.n_states, mdp.n_actions)
    theta = policy.init(jax.random.key(0))
    a = sample_trajectories(jax.random.key(3), mdp, policy, theta, 50)
    b = sample_trajectories(jax.random.key(3), mdp, policy, theta, 50)
    c = sample_trajectories(jax.random.key(4), mdp, policy, theta, 50)
    np.testing.assert_array_equal(a.actions, b.actions)
    assert (a.actions != c.actions).any()


@pytest.fixture(scope="module")
def cartpole_batch():
    env = make("CartPole-v1")
    policy = mlp_softmax(env.obs_dim, env.n_actions, hidden=(16,))
    params = policy.init(jax.random.key(0))
    traj = sample_env(jax.random.key(2), env, policy, params, n_envs=16, n_steps=300)
    return env, policy, params, traj


def test_cartpole_rollout_auto_resets(cartpole_batch):
    env, policy, params, traj = cartpole_batch
    assert traj.obs.shape == (16, 300, 4) and traj.final_obs.shape == (16, 300, 4)
    assert traj.actions.shape == traj.rewards.shape == traj.log_probs.shape == (16, 300)
    done = np.asarray(traj.terminated | traj.truncated)
    assert done.sum() > 50  # the near-uniform initial policy falls often
    obs, final = np.asarray(traj.obs), np.asarray(traj.final_obs)
    same_episode = ~done[:, :-1]
    # Inside an episode the next observation is the one the action led to, up to
    # rounding: XLA may compute the two copies in different fusions, and jaxlib
    # <= 0.5 rounds one element in about 18,000 of them 1 ulp apart ...
    np.testing.assert_array_max_ulp(obs[:, 1:][same_episode], final[:, :-1][same_episode], maxulp=1)
    # ... and after an episode ends it is a fresh reset, within +-0.05 per variable.
    assert np.abs(obs[:, 1:][~same_episode]).max() <= 0.05
    # Terminated steps end with the pole past 12 degrees or the cart off the track.
    term_final = final[np.asarray(traj.terminated)]
    assert ((np.abs(term_final[:, 2]) > 12 * 2 * np.pi / 360) | (np.abs(term_final[:, 0]) > 2.4)).all()
    np.testing.assert_allclose(
        traj.log_probs, jax.vmap(jax.vmap(policy.log_prob, (None, 0, 0)), (None, 0, 0))(params, traj.obs, traj.actions),
        atol=1e-6,
    )


def test_episode_returns_of_a_near_random_policy(cartpole_batch):
    *_, traj = cartpole_batch
    returns, ended = episode_returns(traj)
    returns = np.asarray(returns)[np.asarray(ended)]
    # Rollouts start from resets, so every ended episode is complete: a uniformly
    # random policy lasts about 22 steps on CartPole-v1.
    assert 15 < returns.mean() < 30
    assert (returns >= 8).all()  # the pole cannot fall from upright faster


def test_rollout_continues_and_records_values():
    env = make("CartPole-v1", max_episode_steps=20)
    policy = mlp_softmax(4, 2, hidden=(8,))
    params = policy.init(jax.random.key(1))
    state, obs = jax.vmap(env.reset)(jax.random.split(jax.random.key(2), 5))
    value_fn = lambda o: o.sum()  # noqa: E731
    run = jax.jit(lambda k, s, o: rollout(k, policy, params, env.step, s, o, 30, value_fn))
    traj, state2, obs2 = run(jax.random.key(3), state, obs)
    np.testing.assert_allclose(traj.values, traj.obs.sum(-1), atol=1e-6)
    # The state returned continues the rollout: its observation follows the last step.
    last_done = np.asarray(traj.terminated[:, -1] | traj.truncated[:, -1])
    np.testing.assert_array_equal(np.asarray(obs2)[~last_done], np.asarray(traj.final_obs[:, -1])[~last_done])
    # The time limit truncates: no episode in 30 steps lasts past 20.
    assert traj.truncated.any()
    assert int(state2.t.max()) < 20


def test_bad_input():
    mdp = example_mdp()
    policy = tabular_softmax(mdp.n_states, mdp.n_actions)
    with pytest.raises(ValueError, match="params"):
        sample_trajectories(jax.random.key(0), mdp, policy, jnp.zeros((3, 2)), 10)
    with pytest.raises(ValueError, match="n must be a positive int"):
        sample_trajectories(jax.random.key(0), mdp, policy, jnp.zeros((4, 2)), 0)
    with pytest.raises(TypeError, match="mdp"):
        sample_trajectories(jax.random.key(0), "mdp", policy, jnp.zeros((4, 2)), 10)
    env = make("CartPole-v1")
    cp = mlp_softmax(4, 2, hidden=(8,))
    with pytest.raises(ValueError, match="params"):
        sample_env(jax.random.key(0), env, cp, mlp_softmax(3, 2, hidden=(8,)).init(jax.random.key(0)), 2, 5)
    with pytest.raises(ValueError, match="n_steps"):
        sample_env(jax.random.key(0), env, cp, cp.init(jax.random.key(0)), 2, -1)

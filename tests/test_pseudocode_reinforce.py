"""The chapter's REINFORCE pseudocode runs, and gives the jitted estimators' answer on the same samples."""
import jax
import numpy as np
import pytest

from utils import estimators as E
from utils.envs import example_mdp
from utils.policies import tabular_softmax
from utils.pseudocode import reinforce as P
from utils.rollouts import sample_trajectories

N = 40


@pytest.fixture(scope="module")
def setting():
    mdp = example_mdp()
    theta = 0.5 * jax.random.normal(jax.random.key(0), (mdp.n_states, mdp.n_actions))
    return mdp, tabular_softmax(mdp.n_states, mdp.n_actions), theta


def test_trajectories_are_lists_of_state_action_reward(setting):
    mdp, policy, theta = setting
    trajectories = P.sample_trajectories(jax.random.key(1), mdp, theta, N)
    batch = sample_trajectories(jax.random.key(1), mdp, policy, theta, N)
    assert len(trajectories) == N and all(len(tau) == mdp.H for tau in trajectories)
    s, a, r = trajectories[3][2]
    assert (s, a) == (int(batch.obs[3, 2]), int(batch.actions[3, 2]))
    assert r == pytest.approx(float(batch.rewards[3, 2]))
    assert P.total_reward(trajectories[3]) == pytest.approx(float(batch.rewards[3].sum()), abs=1e-6)
    assert P.reward_to_go(trajectories[3], 2) == pytest.approx(float(batch.rewards[3, 2:].sum()), abs=1e-6)


def test_reinforce_pseudocode_equals_jitted_estimator(setting):
    mdp, policy, theta = setting
    key = jax.random.key(2)
    pseudo = P.estimate_gradient_reinforce_pseudocode(theta, P.sample_trajectories(key, mdp, theta, N))
    jitted = E.reinforce_gradient(policy, theta, sample_trajectories(key, mdp, policy, theta, N))
    np.testing.assert_allclose(pseudo, jitted, rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(jitted)).max() > 1e-3


def test_learned_baseline_pseudocode_equals_jitted_estimator(setting):
    mdp, policy, theta = setting
    key = jax.random.key(3)
    pseudo = P.pg_with_learned_baseline(key, mdp, theta, N)
    key_value, key_gradient = jax.random.split(key)
    V = E.fit_value(sample_trajectories(key_value, mdp, policy, theta, N), mdp.n_states)
    jitted = E.learned_baseline_gradient(policy, theta, sample_trajectories(key_gradient, mdp, policy, theta, N), V)
    np.testing.assert_allclose(pseudo, jitted, rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(jitted)).max() > 1e-3


def test_pseudocode_fit_value_equals_jitted_fit(setting):
    mdp, policy, theta = setting
    key = jax.random.key(4)
    V_pseudo = P.fit_value(P.sample_trajectories(key, mdp, theta, N), mdp)
    V_jitted = E.fit_value(sample_trajectories(key, mdp, policy, theta, N), mdp.n_states)
    np.testing.assert_allclose(V_pseudo, V_jitted, atol=1e-6)
    # The fit is the average reward-to-go from each (h, s): check one cell by hand.
    trajectories = P.sample_trajectories(key, mdp, theta, N)
    from_s0 = [P.reward_to_go(tau, 0) for tau in trajectories if tau[0][0] == 0]
    assert len(from_s0) > 10
    assert float(V_pseudo[0, 0]) == pytest.approx(np.mean(from_s0), abs=1e-5)


def test_log_pi_is_the_tabular_softmax(setting):
    mdp, policy, theta = setting
    for s in range(mdp.n_states):
        for a in range(mdp.n_actions):
            assert float(P.log_pi(theta, s, a)) == pytest.approx(float(policy.log_prob(theta, s, a)), abs=1e-6)

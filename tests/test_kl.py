"""The sampled KL between trajectory distributions agrees with the exact one."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import exact
from utils.envs import example_mdp
from utils.kl import (
    categorical_kl,
    kl_div_states,
    kl_div_trajectories,
    kl_per_trajectory,
    kl_states_per_trajectory,
    kl_trajectories,
)
from utils.policies import tabular_softmax
from utils.rollouts import sample_trajectories

MDP = example_mdp()
POLICY = tabular_softmax(MDP.n_states, MDP.n_actions)
THETA_K = jnp.array([[0.4, -0.3], [0.2, 0.5], [-0.6, 0.1], [0.3, 0.0]])
THETA = jnp.array([[-0.2, 0.4], [0.6, -0.1], [0.1, 0.7], [0.0, 0.9]])


def test_sampled_kl_matches_exact_within_standard_error():
    n = 4000
    traj = sample_trajectories(jax.random.key(0), MDP, POLICY, THETA_K, n)
    log_p = lambda th: jax.vmap(jax.vmap(POLICY.log_prob, (None, 0, 0)), (None, 0, 0))(th, traj.obs, traj.actions)  # noqa: E731
    per_traj = kl_per_trajectory(log_p(THETA_K), log_p(THETA))
    exact_kl = float(exact.kl_trajectories(MDP, exact.softmax_policy(THETA_K), exact.softmax_policy(THETA)))
    mean, se = float(per_traj.mean()), float(per_traj.std() / np.sqrt(n))
    assert exact_kl > 0.1
    assert abs(mean - exact_kl) < 4 * se
    assert se < 0.1 * exact_kl  # the comparison has teeth
    # The policy form gives the same number as the log-probability form.
    np.testing.assert_allclose(
        kl_div_trajectories(POLICY, THETA_K, THETA, traj.obs, traj.actions), mean, rtol=1e-5
    )
    # The per-state form: the exact KL of the action distributions at the sampled states.
    per_state = kl_states_per_trajectory(THETA_K[traj.obs], THETA[traj.obs])
    np.testing.assert_allclose(per_state, categorical_kl(THETA_K[traj.obs], THETA[traj.obs]).sum(axis=1), rtol=1e-6)
    ps_mean, ps_se = float(per_state.mean()), float(per_state.std() / np.sqrt(n))
    assert abs(ps_mean - exact_kl) < 4 * ps_se
    # Lower variance here: an observation on this MDP, not a theorem for the sums
    # (utils.trpo.kl_variance_example is an MDP where it is the other way round).
    assert ps_se < se
    np.testing.assert_allclose(kl_div_states(POLICY, THETA_K, THETA, traj.obs), ps_mean, rtol=1e-5)


def test_kl_of_a_policy_with_itself_is_zero_and_mask_drops_steps():
    traj = sample_trajectories(jax.random.key(1), MDP, POLICY, THETA_K, 16)
    assert float(kl_div_trajectories(POLICY, THETA_K, THETA_K, traj.obs, traj.actions)) == 0.0
    old = jnp.array([[0.0, -1.0, -2.0]])
    new = jnp.array([[-1.0, -1.5, 5.0]])
    assert float(kl_trajectories(old, new)) == pytest.approx(1.0 + 0.5 - 7.0)
    mask = jnp.array([[True, True, False]])
    assert float(kl_trajectories(old, new, mask)) == pytest.approx(1.5)


def test_per_state_kl_is_zero_for_equal_policies_and_mask_drops_steps():
    traj = sample_trajectories(jax.random.key(2), MDP, POLICY, THETA_K, 8)
    assert float(kl_div_states(POLICY, THETA_K, THETA_K, traj.obs)) == pytest.approx(0.0, abs=1e-7)
    per_state = categorical_kl(THETA_K[traj.obs], THETA[traj.obs])  # "N H"
    mask = jnp.arange(MDP.H)[None, :] < 2
    mask = jnp.broadcast_to(mask, per_state.shape)
    np.testing.assert_allclose(
        kl_states_per_trajectory(THETA_K[traj.obs], THETA[traj.obs], mask), per_state[:, :2].sum(axis=1), rtol=1e-6)
    assert jnp.all(kl_states_per_trajectory(THETA_K[traj.obs], THETA[traj.obs]) >= 0)


def test_categorical_kl():
    p = jnp.array([[0.0, 0.0], [1.0, -1.0]])
    q = jnp.array([[0.0, 0.0], [0.0, 0.0]])
    kl = categorical_kl(p, q)
    assert float(kl[0]) == pytest.approx(0.0, abs=1e-7)
    pr = jax.nn.softmax(p[1])
    assert float(kl[1]) == pytest.approx(float(jnp.sum(pr * jnp.log(pr / 0.5))), rel=1e-5)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="log_prob_old"):
        kl_trajectories(jnp.zeros(3), jnp.zeros(3))
    with pytest.raises(ValueError, match="same shape"):
        kl_trajectories(jnp.zeros((2, 3)), jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match="mask"):
        kl_trajectories(jnp.zeros((2, 3)), jnp.zeros((2, 3)), jnp.ones((3, 2), bool))
    with pytest.raises(ValueError, match="params"):
        kl_div_trajectories(POLICY, THETA_K, jnp.zeros((3, 2)), jnp.zeros((2, 5), int), jnp.zeros((2, 5), int))
    with pytest.raises(ValueError, match="obs"):
        kl_div_trajectories(POLICY, THETA_K, THETA, jnp.zeros((2, 5), int), jnp.zeros((2, 4), int))
    with pytest.raises(ValueError, match="logits"):
        categorical_kl(jnp.zeros(2), jnp.zeros(3))
    with pytest.raises(ValueError, match="logits_old"):
        kl_states_per_trajectory(jnp.zeros((2, 3)), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="mask"):
        kl_states_per_trajectory(jnp.zeros((2, 3, 2)), jnp.zeros((2, 3, 2)), jnp.ones((3, 2), bool))
    with pytest.raises(ValueError, match="obs"):
        kl_div_states(POLICY, THETA_K, THETA, jnp.zeros(5, int))
    with pytest.raises(TypeError, match="Policy"):
        kl_div_states("policy", THETA_K, THETA, jnp.zeros((2, 5), int))

"""The sampled KL between trajectory distributions agrees with the exact one."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import exact
from utils.envs import example_mdp
from utils.kl import categorical_kl, kl_div_trajectories, kl_per_trajectory, kl_trajectories
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
    # Rao-Blackwellised: the exact KL of the action distributions at the sampled states.
    per_state = categorical_kl(THETA_K[traj.obs], THETA[traj.obs]).sum(axis=1)
    rb_mean, rb_se = float(per_state.mean()), float(per_state.std() / np.sqrt(n))
    assert abs(rb_mean - exact_kl) < 4 * rb_se
    assert rb_se < se  # lower variance


def test_kl_of_a_policy_with_itself_is_zero_and_mask_drops_steps():
    traj = sample_trajectories(jax.random.key(1), MDP, POLICY, THETA_K, 16)
    assert float(kl_div_trajectories(POLICY, THETA_K, THETA_K, traj.obs, traj.actions)) == 0.0
    old = jnp.array([[0.0, -1.0, -2.0]])
    new = jnp.array([[-1.0, -1.5, 5.0]])
    assert float(kl_trajectories(old, new)) == pytest.approx(1.0 + 0.5 - 7.0)
    mask = jnp.array([[True, True, False]])
    assert float(kl_trajectories(old, new, mask)) == pytest.approx(1.5)


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

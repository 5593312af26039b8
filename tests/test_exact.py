"""Exact tabular answers, checked against independent computations:
enumeration of every trajectory, finite differences in float64, closed forms."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import exact
from utils.compat import enable_x64
from utils.envs import tabular


@pytest.fixture(scope="module")
def mdp():
    return tabular.example_mdp()


def random_theta(key, mdp, scale=1.0):
    return scale * jax.random.normal(key, (mdp.n_states, mdp.n_actions))


def random_time_policy(key, mdp):
    return exact.softmax_policy(jax.random.normal(key, (mdp.H, mdp.n_states, mdp.n_actions)))


def test_values_by_hand_on_a_bandit():
    mdp = tabular.one_state_mdp((1.0, 0.0), H=3)
    pi = jnp.array([[0.8, 0.2]])
    np.testing.assert_allclose(exact.expected_return(mdp, pi), 2.4, rtol=1e-6)
    np.testing.assert_allclose(exact.v_values(mdp, pi)[:, 0], [2.4, 1.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(exact.q_values(mdp, pi)[:, 0], [[2.6, 1.6], [1.8, 0.8], [1.0, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(exact.advantages(mdp, pi)[0, 0], [0.2, -0.8], rtol=1e-6)


def test_bellman_consistency(mdp):
    pi = random_time_policy(jax.random.key(0), mdp)
    Q, V, A = exact.q_values(mdp, pi), exact.v_values(mdp, pi), exact.advantages(mdp, pi)
    assert Q.shape == A.shape == (5, 4, 2) and V.shape == (5, 4)
    np.testing.assert_allclose(Q[-1], mdp.r, rtol=1e-6)
    np.testing.assert_allclose(Q[:-1], mdp.r + jnp.einsum("sat,ht->hsa", mdp.P, V[1:]), rtol=1e-5)
    np.testing.assert_allclose((pi * Q).sum(-1), V, rtol=1e-6)
    # The advantage has mean zero under the policy.
    np.testing.assert_allclose((pi * A).sum(-1), 0.0, atol=1e-6)


def test_stationary_policy_broadcasts(mdp):
    pi = exact.softmax_policy(random_theta(jax.random.key(1), mdp))
    tiled = jnp.broadcast_to(pi, (mdp.H, *pi.shape))
    np.testing.assert_allclose(exact.q_values(mdp, pi), exact.q_values(mdp, tiled))
    np.testing.assert_allclose(
        exact.state_action_visitation(mdp, pi), exact.state_action_visitation(mdp, tiled)
    )


def test_against_enumeration_of_all_trajectories(mdp):
    """J, the visitation distributions and the KL computed by induction equal
    their definitions summed over all (S A)^H = 32768 trajectories."""
    pi = random_time_policy(jax.random.key(2), mdp)
    pi_tilde = random_time_policy(jax.random.key(3), mdp)
    traj = exact.enumerate_trajectories(mdp, pi)
    assert traj.states.shape == (8**5, 5)
    np.testing.assert_allclose(traj.probs.sum(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(traj.probs @ traj.returns, exact.expected_return(mdp, pi), rtol=1e-5)
    d = exact.state_action_visitation(mdp, pi)
    for h in range(mdp.H):
        counts = jnp.zeros((mdp.n_states, mdp.n_actions)).at[traj.states[:, h], traj.actions[:, h]].add(traj.probs)
        np.testing.assert_allclose(d[h], counts, atol=1e-6)
    np.testing.assert_allclose(exact.state_visitation(mdp, pi), d.sum(-1))
    # KL(rho || rho~) = sum_tau rho(tau) log rho(tau) / rho~(tau), over trajectories with rho > 0.
    probs_tilde = exact.enumerate_trajectories(mdp, pi_tilde).probs
    p, q = np.asarray(traj.probs, np.float64), np.asarray(probs_tilde, np.float64)
    support = p > 0
    kl_enumerated = np.sum(p[support] * np.log(p[support] / q[support]))
    np.testing.assert_allclose(exact.kl_trajectories(mdp, pi, pi_tilde), kl_enumerated, rtol=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_gradient_two_ways_agree(seed):
    """Autodiff through the exact J and the policy-gradient formula with exact
    visitation (with Q and with the advantage) agree to float32 precision."""
    key_mdp, key_theta = jax.random.split(jax.random.key(seed))
    mdp = tabular.example_mdp() if seed == 0 else tabular.random_mdp(key_mdp, 4, 3, 4)
    theta = random_theta(key_theta, mdp)
    by_autodiff = exact.exact_gradient(mdp, theta)
    by_formula = exact.exact_gradient_pg(mdp, theta)
    by_advantage = exact.exact_gradient_pg(mdp, theta, use_advantage=True)
    assert by_autodiff.shape == theta.shape
    scale = float(jnp.abs(by_autodiff).max())
    assert scale > 1e-2  # a gradient worth comparing
    np.testing.assert_allclose(by_formula, by_autodiff, rtol=0, atol=2e-6 * scale + 1e-7)
    np.testing.assert_allclose(by_advantage, by_autodiff, rtol=0, atol=2e-6 * scale + 1e-7)
    # The softmax closed form: dJ/dtheta[s, b] = sum_h d_h(s, b) A_h(s, b).
    pi = exact.softmax_policy(theta)
    closed = (exact.state_action_visitation(mdp, pi) * exact.advantages(mdp, pi)).sum(0)
    np.testing.assert_allclose(closed, by_autodiff, rtol=0, atol=2e-6 * scale + 1e-7)


def test_gradient_against_finite_differences_in_float64(mdp):
    theta = np.asarray(random_theta(jax.random.key(7), mdp), np.float64)
    with enable_x64(True):
        mdp64 = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), mdp)
        grad = np.asarray(exact.exact_gradient_pg(mdp64, jnp.asarray(theta)))
        J = jax.jit(exact.exact_objective)
        eps = 1e-6
        fd = np.zeros_like(theta)
        for i in np.ndindex(theta.shape):
            e = np.zeros_like(theta)
            e[i] = eps
            fd[i] = (J(mdp64, jnp.asarray(theta + e)) - J(mdp64, jnp.asarray(theta - e))) / (2 * eps)
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, fd, rtol=0, atol=1e-8)


def test_example_mdp_gradient_is_non_trivial(mdp):
    """Every path state has a non-zero gradient at the uniform policy; the goal
    (where both actions are equivalent) has none."""
    grad = exact.exact_gradient(mdp, jnp.zeros((4, 2)))
    assert np.all(np.abs(grad[:3]) > 1e-3)
    np.testing.assert_allclose(grad[3], 0.0, atol=1e-7)


def test_kl_properties(mdp):
    pi = exact.softmax_policy(random_theta(jax.random.key(4), mdp))
    pi_tilde = exact.softmax_policy(random_theta(jax.random.key(5), mdp))
    assert float(exact.kl_trajectories(mdp, pi, pi)) == pytest.approx(0.0, abs=1e-7)
    assert exact.kl_trajectories(mdp, pi, pi_tilde) > 1e-3
    # A deterministic pi contributes 0 log 0 = 0 for actions it never takes ...
    deterministic = jnp.zeros((4, 2)).at[:, 1].set(1.0)
    kl = exact.kl_trajectories(mdp, deterministic, pi_tilde)
    assert np.isfinite(kl) and kl > 0
    # ... but the KL is infinite when pi_tilde excludes an action pi takes.
    assert exact.kl_trajectories(mdp, pi, deterministic) == np.inf


def test_fisher_information(mdp):
    theta = random_theta(jax.random.key(6), mdp)
    F = exact.fisher_information(mdp, theta)
    D = mdp.n_states * mdp.n_actions
    assert F.shape == (D, D)
    np.testing.assert_allclose(F, F.T, atol=1e-7)
    eigenvalues = np.linalg.eigvalsh(np.asarray(F, np.float64))
    assert eigenvalues.min() > -1e-6
    # Shifting theta[s, :] by a constant leaves the softmax unchanged: F's null space.
    for s in range(mdp.n_states):
        shift = jnp.zeros((mdp.n_states, mdp.n_actions)).at[s].set(1.0).ravel()
        np.testing.assert_allclose(F @ shift, 0.0, atol=1e-6)
    # F is the Hessian of theta' -> KL(rho_theta || rho_theta') at theta' = theta.
    pi = exact.softmax_policy(theta)
    kl = lambda theta_tilde: exact.kl_trajectories(mdp, pi, exact.softmax_policy(theta_tilde))
    hessian = jax.hessian(kl)(theta).reshape(D, D)
    np.testing.assert_allclose(F, hessian, atol=1e-5)
    # F = E[grad log rho(tau) grad log rho(tau)^T], over all trajectories.
    traj = exact.enumerate_trajectories(mdp, pi)
    score = exact.score_table(theta).reshape(mdp.n_states, mdp.n_actions, D)
    g = score[traj.states, traj.actions].sum(axis=1)  # (N, D)
    np.testing.assert_allclose(F, jnp.einsum("n,nd,ne->de", traj.probs, g, g), atol=1e-5)


def test_score_table_is_the_softmax_score():
    theta = jnp.array([[0.1, -0.3, 0.5], [1.0, 0.0, 0.2]])
    pi = exact.softmax_policy(theta)
    score = exact.score_table(theta)
    for s in range(2):
        for a in range(3):
            expected = jnp.zeros_like(theta).at[s].set(jax.nn.one_hot(a, 3) - pi[s])
            np.testing.assert_allclose(score[s, a], expected, atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_performance_difference_lemma_inputs(seed):
    """V^{pi~}_0 - V^pi_0 = E_{tau ~ rho^{pi~}}[sum_h A^pi_h(s_h, a_h)], from the
    exact functions (a check that they compose as the lemma needs)."""
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    mdp = tabular.random_mdp(k1, 5, 3, 6)
    pi, pi_tilde = random_time_policy(k2, mdp), random_time_policy(k3, mdp)
    lhs = mdp.mu @ (exact.v_values(mdp, pi_tilde)[0] - exact.v_values(mdp, pi)[0])
    rhs = jnp.sum(exact.state_action_visitation(mdp, pi_tilde) * exact.advantages(mdp, pi))
    np.testing.assert_allclose(lhs, rhs, atol=1e-5)


def test_optimal_values(mdp):
    Q_star = exact.optimal_q_values(mdp)
    pi_star = exact.greedy_policy(Q_star)
    np.testing.assert_allclose(exact.q_values(mdp, pi_star), Q_star, rtol=1e-6)
    J_star = exact.expected_return(mdp, pi_star)
    for seed in range(20):
        pi = random_time_policy(jax.random.key(seed), mdp)
        assert exact.expected_return(mdp, pi) <= J_star + 1e-6
        assert np.all(exact.q_values(mdp, pi) <= Q_star + 1e-5)
    # In the example the best action depends on time: advance early, rest late.
    assert pi_star[0, 0, tabular.ADVANCE] == 1 and pi_star[-1, 0, tabular.REST] == 1


def test_exact_functions_jit(mdp):
    theta = random_theta(jax.random.key(8), mdp)
    for fn in (exact.exact_objective, exact.exact_gradient, exact.exact_gradient_pg, exact.fisher_information):
        np.testing.assert_allclose(jax.jit(fn)(mdp, theta), fn(mdp, theta), rtol=1e-5, atol=1e-7)


def test_bad_input(mdp):
    with pytest.raises(ValueError, match=r"theta must have shape \(S, A\) = \(4, 2\).*got shape \(2, 4\)"):
        exact.exact_gradient(mdp, jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"theta must have shape"):
        jax.jit(exact.fisher_information)(mdp, jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"pi must be a policy table of shape \(S, A\) = \(4, 2\) or \(H, S, A\) = \(5, 4, 2\)"):
        exact.q_values(mdp, jnp.full((3, 4, 2), 0.5))
    with pytest.raises(ValueError, match="pi_tilde must be a policy table"):
        exact.kl_trajectories(mdp, jnp.full((4, 2), 0.5), jnp.full((4, 3), 1 / 3))
    with pytest.raises(ValueError, match="pi must hold probabilities"):
        exact.v_values(mdp, jnp.ones((4, 2)))
    with pytest.raises(TypeError, match="mdp must be a TabularMDP"):
        exact.q_values((mdp.mu, mdp.P, mdp.r), jnp.full((4, 2), 0.5))
    big = tabular.random_mdp(jax.random.key(0), 10, 4, 6)
    with pytest.raises(ValueError, match="trajectories, more than"):
        exact.enumerate_trajectories(big, jnp.full((10, 4), 0.25))

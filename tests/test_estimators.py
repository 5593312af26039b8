"""Policy-gradient estimators: unbiased (against the exact gradient), ordered in variance, and GAE."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import checks, exact
from utils import estimators as E
from utils.envs import example_mdp
from utils.policies import linear_softmax, tabular_softmax
from utils.rollouts import Trajectory, sample_trajectories

N = 50_000  # trajectories per estimator; the per-coordinate standard error is ~0.01


@pytest.fixture(scope="module")
def setting():
    mdp = example_mdp()
    policy = tabular_softmax(mdp.n_states, mdp.n_actions)
    # A fixed, non-uniform policy, so the test is not at a symmetric point.
    theta = 0.5 * jax.random.normal(jax.random.key(0), (mdp.n_states, mdp.n_actions))
    key_grad, key_fit = jax.random.split(jax.random.key(1))
    traj = sample_trajectories(key_grad, mdp, policy, theta, N)
    # Baselines are fitted on trajectories independent of those they are used with.
    traj_fit = sample_trajectories(key_fit, mdp, policy, theta, N)
    pi = exact.softmax_policy(theta)
    estimates = {
        "reinforce": E.reinforce_gradient(policy, theta, traj, average=False),
        "reward_to_go": E.reinforce_gradient_reward_to_go(policy, theta, traj, average=False),
        "constant_baseline": E.baseline_gradient(policy, theta, traj, E.mean_reward_to_go(traj_fit), average=False),
        "learned_baseline": E.learned_baseline_gradient(
            policy, theta, traj, E.fit_value(traj_fit, mdp.n_states), average=False
        ),
        "exact_advantage": E.exact_advantage_gradient(
            policy, theta, traj, exact.advantages(mdp, pi), average=False
        ),
    }
    return mdp, policy, theta, traj, traj_fit, estimates


ESTIMATORS = ["reinforce", "reward_to_go", "constant_baseline", "learned_baseline", "exact_advantage"]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimator_is_unbiased(setting, name):
    mdp, policy, theta, traj, _, estimates = setting
    per_traj = np.asarray(estimates[name], np.float64)
    assert per_traj.shape == (N, mdp.n_states, mdp.n_actions)
    exact_grad = np.asarray(exact.exact_gradient(mdp, theta))
    mean = per_traj.mean(0)
    stderr = per_traj.std(0, ddof=1) / np.sqrt(N)
    # Within 5 standard errors per coordinate (a ~1e-6 chance per coordinate for a
    # correct estimator; fixed keys make the test deterministic). The goal state's
    # row has zero gradient and, for some estimators, zero variance: hence the 1e-5.
    np.testing.assert_array_less(np.abs(mean - exact_grad), 5 * stderr + 1e-5)
    # The averaged form is the mean of the per-trajectory ones.
    np.testing.assert_allclose(mean, np.asarray(average_of(name, setting)), atol=1e-5)


def average_of(name, setting):
    mdp, policy, theta, traj, traj_fit, _ = setting
    if name == "reinforce":
        return E.reinforce_gradient(policy, theta, traj)
    if name == "reward_to_go":
        return E.reinforce_gradient_reward_to_go(policy, theta, traj)
    if name == "constant_baseline":
        return E.baseline_gradient(policy, theta, traj, E.mean_reward_to_go(traj_fit))
    if name == "learned_baseline":
        return E.learned_baseline_gradient(policy, theta, traj, E.fit_value(traj_fit, mdp.n_states))
    return E.exact_advantage_gradient(policy, theta, traj, exact.advantages(mdp, exact.softmax_policy(theta)))


def total_variance(per_traj):
    """The variance of a vector estimator, the trace of its covariance (utils.checks)."""
    return checks.total_variance(np.asarray(per_traj, np.float64))


def test_baselines_reduce_variance(setting):
    *_, estimates = setting
    var = {name: total_variance(estimates[name]) for name in ESTIMATORS}
    # On the chapter's example each refinement lowers the total variance (trace of
    # the covariance), by a wide margin: about 3.3, 2.1, 0.78, 0.35, 0.08.
    for worse, better in zip(ESTIMATORS, ESTIMATORS[1:]):
        assert var[better] < 0.8 * var[worse], (worse, better, var)


def test_fit_value_matches_exact_values(setting):
    mdp, policy, theta, _, traj_fit, _ = setting
    V_hat = np.asarray(E.fit_value(traj_fit, mdp.n_states))
    pi = exact.softmax_policy(theta)
    V = np.asarray(exact.v_values(mdp, pi))
    visits = np.asarray(exact.state_visitation(mdp, pi)) * N
    well_visited = visits > 1000
    assert well_visited.sum() >= 10
    np.testing.assert_allclose(V_hat[well_visited], V[well_visited], atol=0.03)
    # Cells that are never reached (e.g. the goal at h = 0) are left at 0.
    assert V_hat[0, 3] == 0.0


def test_estimator_for_linear_features_policy(setting):
    # theta_{s,a} = w . phi(s, a), so J(w) = J_tab(Phi w) and grad_w J = Phi^T grad J_tab.
    mdp, *_ = setting
    S, A = mdp.n_states, mdp.n_actions

    def features(s, a):
        return jnp.stack([jnp.float32(a == 1), (a == 1) * s / 3.0, jnp.float32(s == 3) * a])

    policy = linear_softmax(features, 3, A)
    w = jnp.array([0.3, -0.5, 0.2])
    Phi = jnp.stack([jnp.stack([features(s, a) for a in range(A)]) for s in range(S)])  # S A d
    theta = Phi @ w
    exact_grad = np.asarray(jnp.einsum("sa,sad->d", exact.exact_gradient(mdp, theta), Phi))
    traj = sample_trajectories(jax.random.key(5), mdp, policy, w, 20_000)
    per_traj = np.asarray(E.reinforce_gradient_reward_to_go(policy, w, traj, average=False), np.float64)
    stderr = per_traj.std(0, ddof=1) / np.sqrt(len(per_traj))
    np.testing.assert_array_less(np.abs(per_traj.mean(0) - exact_grad), 5 * stderr)
    assert np.abs(exact_grad).max() > 0.01


# --------------------------------------------------------------------------
# Reward-to-go and GAE against plain Python loops
# --------------------------------------------------------------------------


def random_rollout(key, n=3, T=40):
    k = jax.random.split(key, 5)
    rewards = jax.random.normal(k[0], (n, T))
    values = jax.random.normal(k[1], (n, T))
    next_values = jax.random.normal(k[2], (n, T))
    terminated = jax.random.uniform(k[3], (n, T)) < 0.08
    truncated = jax.random.uniform(k[4], (n, T)) < 0.08
    return [np.array(x) for x in (rewards, values, next_values, terminated, truncated)]


def gae_reference(rewards, values, next_values, terminated, truncated, gamma, lam):
    out = np.zeros_like(rewards, dtype=np.float64)
    for n in range(rewards.shape[0]):
        adv_next = 0.0
        for t in reversed(range(rewards.shape[1])):
            bootstrap = 0.0 if terminated[n, t] else gamma * next_values[n, t]
            delta = rewards[n, t] + bootstrap - values[n, t]
            done = terminated[n, t] or truncated[n, t]
            adv_next = delta + (0.0 if done else gamma * lam * adv_next)
            out[n, t] = adv_next
    return out


def bootstrapped_returns_reference(rewards, next_values, terminated, truncated, gamma):
    # G_t = r_t + gamma * (0 if terminated; V(s'_t) if truncated or the last step; G_{t+1} otherwise).
    G = np.zeros_like(rewards, dtype=np.float64)
    n, T = rewards.shape
    for i in range(n):
        for t in reversed(range(T)):
            if terminated[i, t]:
                nxt = 0.0
            elif truncated[i, t] or t == T - 1:
                nxt = next_values[i, t]
            else:
                nxt = G[i, t + 1]
            G[i, t] = rewards[i, t] + gamma * nxt
    return G


@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 0.5), (1.0, 1.0), (0.97, 0.0)])
def test_gae_matches_python_loop(gamma, lam):
    data = random_rollout(jax.random.key(11))
    assert data[3].any() and data[4].any()  # both kinds of episode end occur
    got = E.gae(*map(jnp.asarray, data), gamma, lam)
    np.testing.assert_allclose(got, gae_reference(*data, gamma, lam), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 0.5), (1.0, 1.0), (0.97, 0.0)])
def test_gae_by_definition_matches_python_loop(gamma, lam):
    # The sum form of eq-gae (utils.estimators.gae_by_definition), used by the chapter's
    # checks, against this file's recursive loop: two independent readings agree.
    data = random_rollout(jax.random.key(11))
    np.testing.assert_allclose(E.gae_by_definition(*data, gamma, lam), gae_reference(*data, gamma, lam),
                               rtol=1e-5, atol=1e-6)  # the loop runs in float32


def test_enumerated_batch_is_the_trajectory_distribution(setting):
    mdp, policy, theta, *_ = setting
    pi = exact.softmax_policy(theta)
    traj, probs = E.enumerated_batch(mdp, pi, exact.v_values(mdp, pi))
    assert traj.rewards.shape == ((mdp.n_states * mdp.n_actions) ** mdp.H, mdp.H)
    np.testing.assert_allclose(float(probs.sum()), 1.0, atol=1e-5)
    # E[R(τ)] = J(θ), and the stored values are V_h(s_h).
    np.testing.assert_allclose(float(probs @ traj.rewards.sum(1)), float(exact.expected_return(mdp, pi)), atol=1e-5)
    V = exact.v_values(mdp, pi)
    np.testing.assert_allclose(traj.values, V[jnp.arange(mdp.H), traj.obs])
    np.testing.assert_allclose(traj.log_probs, jnp.log(pi[traj.obs, traj.actions]), atol=1e-6)
    assert bool(traj.terminated[:, -1].all()) and not bool(traj.terminated[:, :-1].any())


def test_window_gradient_bad_input(setting):
    mdp, policy, theta, traj, *_ = setting
    small = jax.tree_util.tree_map(lambda x: x[:4], traj)
    V = jnp.zeros((mdp.H, mdp.n_states))
    with pytest.raises(ValueError, match="cut"):
        E.window_gradient(policy, theta, small, V, mdp.H)
    with pytest.raises(ValueError, match="cut"):
        E.window_gradient(policy, theta, small, V, 0)
    with pytest.raises(ValueError, match="values"):
        E.window_gradient(policy, theta, small, V[:2], 2)


def test_gae_limits():
    rewards, values, next_values, terminated, truncated = random_rollout(jax.random.key(12))
    # Inside an episode, the next state's value is the value of the next step's state.
    inside = ~(terminated | truncated)
    next_values[:, :-1] = np.where(inside[:, :-1], values[:, 1:], next_values[:, :-1])
    args = [jnp.asarray(x) for x in (rewards, values, next_values, terminated, truncated)]
    gamma = 0.95
    td = rewards + gamma * np.where(terminated, 0.0, next_values) - values
    np.testing.assert_allclose(E.gae(*args, gamma, 0.0), td, rtol=1e-5, atol=1e-5)
    returns = bootstrapped_returns_reference(rewards, next_values, terminated, truncated, gamma)
    np.testing.assert_allclose(E.gae(*args, gamma, 1.0), returns - values, rtol=1e-4, atol=1e-4)


def test_reward_to_go_matches_python_loop():
    rewards, _, _, terminated, truncated = random_rollout(jax.random.key(13))
    dones = terminated | truncated
    gamma = 0.9
    expected = np.zeros_like(rewards, dtype=np.float64)
    for n in range(rewards.shape[0]):
        g = 0.0
        for t in reversed(range(rewards.shape[1])):
            g = rewards[n, t] + (0.0 if dones[n, t] else gamma * g)
            expected[n, t] = g
    np.testing.assert_allclose(E.reward_to_go(rewards, gamma, dones), expected, rtol=1e-5, atol=1e-5)
    # Undiscounted, one episode: the plain suffix sums of the chapter.
    r = jnp.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(E.reward_to_go(r), [6.0, 5.0, 3.0])
    assert float(E.total_return(r)) == 6.0


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def test_bad_input_raises(setting):
    mdp, policy, theta, traj, traj_fit, _ = setting
    small = jax.tree_util.tree_map(lambda x: x[:4], traj)
    with pytest.raises(ValueError, match="params"):
        E.reinforce_gradient(policy, theta[:, :1], small)
    with pytest.raises(ValueError, match="params"):
        E.reinforce_gradient_reward_to_go(policy, theta.ravel(), small)
    with pytest.raises(ValueError, match="baseline"):
        E.baseline_gradient(policy, theta, small, jnp.zeros(7))
    with pytest.raises(ValueError, match="values"):
        E.learned_baseline_gradient(policy, theta, small, jnp.zeros((3, 4)))
    with pytest.raises(ValueError, match="advantages"):
        E.exact_advantage_gradient(policy, theta, small, jnp.zeros((5, 4)))
    with pytest.raises(TypeError, match="traj"):
        E.reinforce_gradient(policy, theta, (small.obs, small.actions))
    with pytest.raises(ValueError, match="n_states"):
        E.fit_value(small, 0)
    flat = small._replace(rewards=small.rewards.ravel())
    with pytest.raises(ValueError, match="N H"):
        E.reinforce_gradient(policy, theta, flat)
    assert isinstance(small, Trajectory)

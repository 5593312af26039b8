"""The REINFORCE section's central claims: each check passes for the right implementation
and rejects plausible wrong ones (chapters/reinforce.md runs the same checks on the same numbers)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import utils.reinforce as reinforce
from utils import checks
from utils.checks import CheckFailed
from utils.envs import make
from utils.envs.tabular import example_mdp
from utils.estimators import baseline_gradient, enumerated_batch, reinforce_gradient, reward_to_go, score_weighted_sum
from utils.exact import exact_gradient, exact_objective, softmax_policy
from utils.policies import tabular_softmax
from utils.reinforce import ReinforceConfig, gradient_weights, improvement, policy_of, surrogate, train_seeds
from utils.rollouts import sample_env, sample_trajectories


@pytest.fixture(scope="module")
def tabular():
    """The section's setting: the example MDP, the tabular softmax at θ ~ N(0, I) (key 0),
    every trajectory with its probability, and the 20 000 sampled trajectories (key 3)."""
    mdp = example_mdp()
    policy = tabular_softmax(mdp.n_states, mdp.n_actions)
    theta = jax.random.normal(jax.random.key(0), (mdp.n_states, mdp.n_actions))
    every, probs = enumerated_batch(mdp, softmax_policy(theta))
    batch = sample_trajectories(jax.random.key(3), mdp, policy, theta, 20_000)
    return mdp, policy, theta, every, probs, batch, exact_gradient(mdp, theta)


def total(traj):
    return jnp.broadcast_to(traj.rewards.sum(axis=1, keepdims=True), traj.rewards.shape)


# --- REINFORCE is unbiased: the exact enumerated mean ---------------------------------


def unbiased(per_traj, probs, grad):
    return checks.mean_matches_exact(per_traj, probs, grad, what="REINFORCE is unbiased", unit="‖∇J‖")


def test_exact_unbiasedness_check_accepts_reinforce(tabular):
    mdp, policy, theta, every, probs, _, grad = tabular
    check = unbiased(reinforce_gradient(policy, theta, every, average=False), probs, grad)
    assert check.resolution / np.linalg.norm(grad) < 1e-3  # resolves far below 1% of ‖∇J‖
    # The reward-to-go form (next section) has the same mean.
    unbiased(score_weighted_sum(policy, theta, every, reward_to_go(every.rewards), average=False), probs, grad)


@pytest.mark.parametrize(
    "name",
    ["scaled by 1.1", "reward-to-go without the current reward", "R(τ) on the first step's score only",
     "the score of the last step missing"],
)
def test_exact_unbiasedness_check_rejects(tabular, name):
    mdp, policy, theta, every, probs, _, grad = tabular
    H = every.rewards.shape[1]
    if name == "scaled by 1.1":
        per_traj = 1.1 * reinforce_gradient(policy, theta, every, average=False)
    elif name == "reward-to-go without the current reward":
        weights = reward_to_go(every.rewards) - every.rewards  # Σ_{h' > h} r_{h'}
        per_traj = score_weighted_sum(policy, theta, every, weights, average=False)
    elif name == "R(τ) on the first step's score only":
        per_traj = score_weighted_sum(policy, theta, every, total(every) * (jnp.arange(H) == 0), average=False)
    else:
        per_traj = score_weighted_sum(policy, theta, every, total(every) * (jnp.arange(H) < H - 1), average=False)
    with pytest.raises(CheckFailed):
        unbiased(per_traj, probs, grad)


def test_sampled_check_is_too_coarse_for_a_ten_percent_bias(tabular):
    # Why the chapter rests the claim on enumeration: 20 000 trajectories resolve about 44%
    # of ‖∇J‖, and the 1.1-scaled estimator passes the sampled check.
    mdp, policy, theta, _, _, batch, grad = tabular
    per_traj = reinforce_gradient(policy, theta, batch, average=False)
    check = checks.mean_matches(per_traj, grad, what="sampled", unit="‖∇J‖")
    assert 0.40 < check.resolution / np.linalg.norm(grad) < 0.48
    checks.mean_matches(1.1 * per_traj, grad, what="1.1 x, sampled")


# --- the surrogate (eq-reinforce-surrogate) ---------------------------------------------


def log_probs(policy, th, traj):
    return jax.vmap(jax.vmap(policy.log_prob, (None, 0, 0)), (None, 0, 0))(th, traj.obs, traj.actions)


def surrogate_check(grad, expected):
    return checks.close(grad, expected, what="the surrogate's gradient is the estimator", rtol=1e-4, atol=1e-6)


def test_surrogate_gradient_is_reinforce(tabular):
    mdp, policy, theta, _, _, batch, _ = tabular
    surrogate_check(jax.grad(surrogate, argnums=1)(policy, theta, batch, total(batch)), reinforce_gradient(policy, theta, batch))


def weights_of(mdp, batch):
    """θ-dependent weights: the reward-to-go minus the baseline J(θ)."""
    return lambda th: reward_to_go(batch.rewards) - exact_objective(mdp, th)


def test_surrogate_holds_theta_dependent_weights_fixed(tabular):
    mdp, policy, theta, _, _, batch, _ = tabular
    w = weights_of(mdp, batch)
    expected = baseline_gradient(policy, theta, batch, exact_objective(mdp, theta))
    surrogate_check(jax.grad(lambda th: surrogate(policy, th, batch, w(th)))(theta), expected)


@pytest.mark.parametrize("name", ["no stop_gradient", "π in place of log π", "the stored log-probabilities",
                                  "a sum over trajectories, not a mean"])
def test_wrong_surrogates_are_rejected(tabular, name):
    mdp, policy, theta, _, _, batch, _ = tabular
    n = batch.rewards.shape[0]
    w = weights_of(mdp, batch)
    expected = baseline_gradient(policy, theta, batch, exact_objective(mdp, theta))
    if name == "no stop_gradient":
        f = lambda th: jnp.sum(log_probs(policy, th, batch) * w(th)) / n  # noqa: E731
    elif name == "π in place of log π":
        f = lambda th: jnp.sum(jnp.exp(log_probs(policy, th, batch)) * jax.lax.stop_gradient(w(th))) / n  # noqa: E731
    elif name == "the stored log-probabilities":
        f = lambda th: jnp.sum(batch.log_probs * jax.lax.stop_gradient(w(th))) / n + 0.0 * jnp.sum(th)  # noqa: E731
    else:
        f = lambda th: n * surrogate(policy, th, batch, w(th))  # noqa: E731
    with pytest.raises(CheckFailed):
        surrogate_check(jax.grad(f)(theta), expected)


def test_surrogate_value_is_moved_by_a_constant_but_its_expected_gradient_is_not(tabular):
    mdp, policy, theta, every, probs, batch, grad = tabular
    J = exact_objective(mdp, theta)
    lp = log_probs(policy, theta, every)
    value, value_baseline = float(probs @ (lp * total(every)).sum(1)), float(probs @ (lp * (total(every) - J)).sum(1))
    assert value < 0 < J and abs(value_baseline) < 0.1 * abs(value)
    unbiased(score_weighted_sum(policy, theta, every, total(every) - J, average=False), probs, grad)


def off_policy(per_traj, probs, grad_at):
    return checks.mean_differs_exact(per_traj, probs, grad_at, at_least=0.2, what="off-policy surrogate")


def test_surrogate_gradient_away_from_the_sampling_parameter_is_biased(tabular):
    mdp, policy, theta, every, probs, _, grad = tabular
    theta_next = theta + 0.5 * grad
    per_traj = reinforce_gradient(policy, theta_next, every, average=False)
    off_policy(per_traj, probs, exact_gradient(mdp, theta_next))
    # With the importance weights ρ_θ'(τ)/ρ_θ(τ) it is unbiased again.
    lp, lp_next = log_probs(policy, theta, every), log_probs(policy, theta_next, every)
    w = jnp.exp((lp_next - lp).sum(axis=1))
    unbiased(w[:, None, None] * per_traj, probs, exact_gradient(mdp, theta_next))
    # At the sampling parameter itself there is no bias to find: the check rejects the claim there.
    with pytest.raises(CheckFailed):
        off_policy(reinforce_gradient(policy, theta, every, average=False), probs, grad)


# --- CartPole: the trainer's weights and its learning -----------------------------------


@pytest.fixture(scope="module")
def window():
    config = ReinforceConfig(use_baseline=False, gamma=1.0, n_envs=8, n_steps=256, hidden=(32, 32))
    policy = policy_of(config)
    params = policy.init(jax.random.key(0))
    traj = sample_env(jax.random.key(5), make("CartPole-v1"), policy, params, config.n_envs, config.n_steps)
    return config, traj


def window_check(weights, traj):
    done = traj.terminated | traj.truncated
    return checks.close(weights, reward_to_go(traj.rewards, 1.0, done), what="every step weighted by its reward-to-go")


def test_trainer_weights_every_step(window):
    config, traj = window
    zeros = jnp.zeros_like(traj.rewards)
    window_check(gradient_weights(config, traj, zeros, zeros)[0], traj)


@pytest.mark.parametrize("name", ["unfinished episodes dropped", "reward-to-go across episode ends",
                                  "total reward of the window"])
def test_wrong_trainer_weights_are_rejected(window, name):
    config, traj = window
    zeros = jnp.zeros_like(traj.rewards)
    weights, _ = gradient_weights(config, traj, zeros, zeros)
    done = np.asarray(traj.terminated | traj.truncated)
    if name == "unfinished episodes dropped":
        finished = np.flip(np.cumsum(np.flip(done, -1), -1), -1) > 0
        assert not finished.all()  # the window holds unfinished episodes
        weights = weights * finished
    elif name == "reward-to-go across episode ends":
        weights = reward_to_go(traj.rewards)
    else:
        weights = total(traj)
    with pytest.raises(CheckFailed):
        window_check(weights, traj)


# A shorter run than the chapter's (8 x 128 steps x 20 updates, one seed): compiling dominates its cost.
SHORT = ReinforceConfig(use_baseline=False, gamma=1.0, n_envs=8, n_steps=128, n_updates=20, hidden=(32, 32))


def improves(out):
    return checks.greater(float(improvement(np.asarray(out.metrics.episode_return), 5).min()), 3.0,
                          what="every seed improves more than threefold")


def test_improvement_check_accepts_the_trainer():
    improves(train_seeds(jax.random.key(4), 1, SHORT))


def test_improvement_check_rejects_a_trainer_that_descends(monkeypatch):
    # A sign error (optax minimises; forgetting to hand it −∇̂J) makes the policy worse.
    right = reinforce.gradient_weights

    def wrong(config, traj, values, next_values):
        adv, targets = right(config, traj, values, next_values)
        return -adv, targets

    monkeypatch.setattr(reinforce, "gradient_weights", wrong)
    with pytest.raises(CheckFailed):
        improves(train_seeds(jax.random.key(4), 1, SHORT))

"""The claims of the chapter "Policy (stochastic) gradient ascent", each with its check.

Every test runs the chapter's check on the chapter's numbers (same functions,
same keys) and shows that it passes, then hands the same check a plausible
wrong implementation and shows that it raises `CheckFailed`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from utils import checks
from utils.checks import CheckFailed
from utils.envs.tabular import ADVANCE, example_mdp, one_state_mdp, tabular_mdp
from utils.exact import (
    best_stationary_policy,
    exact_gradient,
    exact_gradient_from_score,
    exact_policy_gradient_ascent,
    expected_return,
    expected_return_float64,
    greedy_policy,
    optimal_q_values,
    softmax_policy_float64,
)
from utils.importance_sampling import (
    gaussian_shift_ess_fraction_se,
    gaussian_shift_sweep,
    gaussian_shift_term_variance,
    gaussian_shift_term_variance_quadrature,
    importance_sampling_estimate,
    self_normalised_estimate,
)
from utils.policies import (
    diagonal_gaussian,
    gaussian_pathwise_estimates,
    gaussian_score_function_estimates,
    score_matches_autodiff,
    score_mean_is_zero,
    tabular_softmax,
)

# --------------------------------------------------------------------------
# Exact policy gradient ascent stops short of J*, and approaches the best
# stationary policy at the rate 1/k.
# --------------------------------------------------------------------------

N_STEPS = 100_000


@pytest.fixture(scope="module")
def mdp():
    return example_mdp()


@pytest.fixture(scope="module")
def run(mdp):
    """The chapter's run for eta = 1: every iterate, and J of each in float64."""
    thetas = np.asarray(exact_policy_gradient_ascent(mdp, jnp.zeros((4, 2)), 1.0, N_STEPS))
    return thetas, expected_return_float64(mdp, softmax_policy_float64(thetas))


@pytest.fixture(scope="module")
def J_star(mdp):
    return float(mdp.mu @ optimal_q_values(mdp)[0].max(axis=-1))


def stops_short(best_value: float, J_star: float, J_path: np.ndarray) -> None:
    """The chapter's two checks: the best stationary value is below J* by more than 0.05, and no
    iterate of the run exceeds it."""
    checks.less(best_value, J_star, margin=0.05, what="the best stationary policy falls short of J*")
    checks.less(J_path.max(), best_value + 1e-12, what="no iterate exceeds the best stationary policy's value")


def log_spaced(n: int = N_STEPS) -> np.ndarray:
    k = np.unique(np.geomspace(1, n - 1, 200).astype(int))
    return k[k >= 1000]


def test_best_stationary_policy_of_the_example(mdp, J_star, run):
    best = best_stationary_policy(mdp)
    assert best.value == pytest.approx(1.5483, abs=1e-4)
    np.testing.assert_array_equal(best.policy[:3, ADVANCE], [0.0, 1.0, 1.0])  # rest at 0, advance at 1 and 2
    checks.close(best.upper_bound, best.value, atol=1e-12, what="certificate")
    stops_short(best.value, J_star, run[1])


def test_stops_short_rejects_a_time_dependent_best_policy(mdp, J_star, run):
    # Maximising over time-dependent policies (dynamic programming) gives J*, not the stationary optimum.
    wrong = float(expected_return(mdp, greedy_policy(optimal_q_values(mdp))))
    with pytest.raises(CheckFailed, match="falls short of J"):
        stops_short(wrong, J_star, run[1])


def test_stops_short_rejects_a_best_policy_that_misses_the_best_corner(mdp, J_star, run):
    # An enumeration over the deterministic policies that advance at position 0 only (a wrong index):
    # the run then climbs above the claimed supremum.
    corners = [np.eye(2)[[1, a1, a2, 0]] for a1 in (0, 1) for a2 in (0, 1)]
    wrong = float(max(expected_return_float64(mdp, np.array(corners))))
    with pytest.raises(CheckFailed, match="no iterate exceeds"):
        stops_short(wrong, J_star, run[1])


def test_rate_check_passes_on_the_gap_and_rejects_the_gap_to_J_star(mdp, J_star, run):
    best = best_stationary_policy(mdp)
    k = log_spaced()
    gap = best.value - run[1][k]
    checks.power_law(k, gap, -1.0, atol=0.02, what="the gap decays like 1/k")
    # Measured against J*, the "gap" tends to J* - J(pi-bar) > 0.05 and does not decay at all.
    with pytest.raises(CheckFailed, match="log-log slope"):
        checks.power_law(k, J_star - run[1][k], -1.0, atol=0.02, what="gap to J*")
    # Nor is the decay faster than claimed: 1/k^2 (or exponential) is rejected.
    with pytest.raises(CheckFailed):
        checks.power_law(k, gap, -2.0, atol=0.02, what="1/k^2")


def test_avoided_probabilities_decay_like_one_over_k(run):
    thetas, _ = run
    k = log_spaced()
    pi = softmax_policy_float64(thetas[k])
    avoided = np.stack([pi[:, 0, 1], pi[:, 1, 0], pi[:, 2, 0]], axis=1)
    for s in range(3):
        checks.power_law(k, avoided[:, s], -1.0, atol=0.02, what=f"state {s}")
    # The preferred action's probability tends to 1: it is no power law with exponent -1.
    with pytest.raises(CheckFailed):
        checks.power_law(k, pi[:, 1, 1], -1.0, atol=0.02, what="preferred action")


def test_power_law_check_needs_positive_values():
    with pytest.raises(CheckFailed, match="positive"):
        checks.power_law([1, 2, 3], [1.0, 0.0, -1.0], -1.0, atol=0.1, what="sign change")
    with pytest.raises(ValueError):
        checks.power_law([1, 2], [1.0, 0.5], -1.0, atol=0.1, what="too short")


def small_random_mdp(seed: int, S: int = 3, A: int = 2, H: int = 4):
    """A random MDP drawn with NumPy (Dirichlet(1) rows, uniform rewards)."""
    rng = np.random.default_rng(seed)
    return tabular_mdp(rng.dirichlet(np.ones(S)), rng.dirichlet(np.ones(S), size=(S, A)), rng.random((S, A)), H)


@pytest.mark.parametrize("seed", [0, 223])
def test_best_stationary_policy_bounds_every_stationary_policy(seed):
    # Random 2-action MDPs (seed 223 has its stationary optimum inside the cube): the certified upper
    # bound is at least J on a fine grid of stochastic policies, and the value is attained within tol.
    mdp = small_random_mdp(seed)
    best = best_stationary_policy(mdp)
    g = np.linspace(0, 1, 41)
    p = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1)
    grid_max = expected_return_float64(mdp, np.stack([1 - p, p], axis=-1)).max()
    assert best.upper_bound >= grid_max - 1e-12
    assert best.upper_bound - best.value <= 1e-8
    assert expected_return_float64(mdp, best.policy) == pytest.approx(best.value, abs=1e-12)
    if seed == 223:
        assert 0.1 < best.policy[1, 1] < 0.9  # a stochastic stationary optimum, found by branch and bound
        assert best.n_boxes > 1


def test_best_stationary_policy_rejects_more_than_two_actions():
    with pytest.raises(ValueError, match="two actions"):
        best_stationary_policy(one_state_mdp((1.0, 0.0, 0.0)))


# --------------------------------------------------------------------------
# Scores: closed form against autodiff, mean zero, and the exact gradient identity.
# --------------------------------------------------------------------------


def wrong_tabular_score(theta, s, a):
    """The softmax score without its -pi_theta(. | s) term: the indicator of (s, a)."""
    return jnp.zeros_like(theta).at[s].set(jax.nn.one_hot(a, theta.shape[1], dtype=theta.dtype))


def test_score_checks_reject_a_score_without_its_mean_term(mdp):
    policy = tabular_softmax(1, 3)
    thetas = jnp.stack([jnp.linspace(-4, 4, 81), jnp.full(81, 0.5), jnp.full(81, -0.5)], axis=1)[:, None, :]
    theta_batch, action_batch = jnp.repeat(thetas, 3, axis=0), jnp.tile(jnp.arange(3), 81)
    states = jnp.zeros(len(theta_batch), int)
    score_matches_autodiff(policy, theta_batch, states, action_batch, params_axis=0)
    score_mean_is_zero(policy, thetas, jnp.zeros(81, int), 3, params_axis=0)
    wrong = policy._replace(score=wrong_tabular_score)
    with pytest.raises(CheckFailed, match="jax.grad"):
        score_matches_autodiff(wrong, theta_batch, states, action_batch, params_axis=0)
    with pytest.raises(CheckFailed, match="mean zero"):
        score_mean_is_zero(wrong, thetas, jnp.zeros(81, int), 3, params_axis=0)


def test_exact_gradient_identity_rejects_a_score_without_its_mean_term(mdp):
    theta = jax.random.normal(jax.random.key(10), (4, 2))
    what = "with this score, the policy-gradient sum equals grad J"
    right = exact_gradient_from_score(mdp, theta, tabular_softmax(4, 2).score)
    checks.close(right, exact_gradient(mdp, theta), atol=1e-5, what=what)
    with pytest.raises(CheckFailed, match="policy-gradient sum"):
        checks.close(exact_gradient_from_score(mdp, theta, wrong_tabular_score), exact_gradient(mdp, theta),
                     atol=1e-5, what=what)


# --------------------------------------------------------------------------
# Score-function against pathwise gradients, for the chapter's Gaussian policy.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gaussian():
    policy = diagonal_gaussian(obs_dim=1, action_dim=1, hidden=())
    params = {"mean": ((jnp.array([[1.0]]), jnp.array([0.5])),), "log_std": jnp.log(jnp.array([0.5]))}
    obs = jnp.array([1.0])
    nodes, weights = np.polynomial.hermite_e.hermegauss(8)
    # E[-(a - 2)^2] = -((mu - 2)^2 + sigma^2): gradient w.r.t. (log sigma, w, b) at mu = 1.5, sigma = 0.5.
    return policy, params, obs, nodes[:, None], weights / weights.sum(), np.array([-0.5, 1.0, 1.0])


def reward(a):
    return -jnp.sum((a - 2.0) ** 2)


def test_both_gradient_estimators_are_unbiased_and_the_pathwise_one_has_lower_variance_here(gaussian):
    policy, params, obs, nodes, probs, grad = gaussian
    variances = {}
    for name, estimator in [("score", gaussian_score_function_estimates), ("path", gaussian_pathwise_estimates)]:
        values = np.asarray(estimator(policy, params, obs, reward, nodes))
        checks.mean_matches_exact(values, probs, grad, what=f"{name} is unbiased")
        variances[name] = float(probs @ np.sum((values - probs @ values) ** 2, axis=1))
    assert variances["score"] == pytest.approx(23.5, rel=1e-4)  # 2 (m^4/s^2 + 14 m^2 + 15 s^2) + 8.5
    assert variances["path"] == pytest.approx(2.75, rel=1e-4)  # 4 s^2 + 4 s^2 + (4 m^2 s^2 + 8 s^4)
    checks.less(variances["path"], variances["score"] / 5, what="pathwise below a fifth")
    with pytest.raises(CheckFailed):
        checks.less(variances["score"], variances["path"] / 5, what="the ordering reversed")


def test_unbiasedness_check_rejects_a_pathwise_gradient_that_stops_at_the_noise_scale(gaussian):
    # a = mu + stop_gradient(sigma eps): sigma is treated as fixed noise, so d/d log sigma is lost.
    policy, params, obs, nodes, probs, grad = gaussian
    from jax.flatten_util import ravel_pytree

    def one(eps):
        def f_of_params(p):
            mean, log_std = policy.dist(p, obs)
            return reward(mean + jax.lax.stop_gradient(jnp.exp(log_std) * eps))

        return ravel_pytree(jax.grad(f_of_params)(params))[0]

    wrong = np.asarray(jax.vmap(one)(jnp.asarray(nodes, jnp.float32)))
    with pytest.raises(CheckFailed, match="pathwise"):
        checks.mean_matches_exact(wrong, probs, grad, what="the pathwise estimator is unbiased")


def test_unbiasedness_check_rejects_a_score_without_the_variance_in_its_denominator(gaussian):
    # The Gaussian mean score written (a - mu)/sigma instead of (a - mu)/sigma^2.
    policy, params, obs, nodes, probs, grad = gaussian
    sigma = 0.5

    def wrong_score(p, o, a):
        score = policy.score(p, o, a)
        return {**score, "mean": jax.tree_util.tree_map(lambda g: g * sigma, score["mean"])}

    wrong_policy = policy._replace(score=wrong_score)
    wrong = np.asarray(gaussian_score_function_estimates(wrong_policy, params, obs, reward, nodes))
    with pytest.raises(CheckFailed, match="score function"):
        checks.mean_matches_exact(wrong, probs, grad, what="the score function estimator is unbiased")


def test_gaussian_mean_zero_check_rejects_a_log_std_score_without_its_minus_one(gaussian):
    policy, params, obs, nodes, probs, _ = gaussian
    ones = lambda a: jnp.ones(())  # noqa: E731
    right = np.asarray(gaussian_score_function_estimates(policy, params, obs, ones, nodes))
    checks.mean_matches_exact(right, probs, np.zeros(3), atol=1e-5, what="mean zero")
    wrong_policy = policy._replace(score=lambda p, o, a: {**policy.score(p, o, a),
                                                           "log_std": policy.score(p, o, a)["log_std"] + 1.0})
    wrong = np.asarray(gaussian_score_function_estimates(wrong_policy, params, obs, ones, nodes))
    with pytest.raises(CheckFailed, match="mean zero"):
        checks.mean_matches_exact(wrong, probs, np.zeros(3), atol=1e-5, what="mean zero")


# --------------------------------------------------------------------------
# Importance sampling: the chapter's sweep (key 6, 13 shifts, 4000 x 100 samples).
# --------------------------------------------------------------------------

SHIFTS = jnp.linspace(0.0, 3.0, 13)
N, R = 100, 4000
D = np.asarray(SHIFTS, np.float64)


@pytest.fixture(scope="module")
def sweep():
    return gaussian_shift_sweep(jax.random.key(6), SHIFTS, N, R)


def unbiased_for_moderate_shifts(estimates) -> None:
    """The chapter's check: at every shift up to 1, the mean of the estimates matches E_p[x^2] = 1."""
    estimates = np.asarray(estimates, np.float64)
    for i in np.flatnonzero(D <= 1.0):
        checks.mean_matches(estimates[i], 1.0, what=f"unbiased at shift {D[i]:.2f}")


def test_unbiasedness_check_rejects_inverted_weights(sweep):
    unbiased_for_moderate_shifts(sweep.estimates)
    # Weights q/p instead of p/q: E_q[(q/p) x^2] = e^{shift^2} (1 + 4 shift^2), not 1.
    inverted = gaussian_shift_sweep(jax.random.key(6), SHIFTS, N, R,
                                    estimator=lambda f, log_p, log_q: importance_sampling_estimate(f, log_q, log_p))
    with pytest.raises(CheckFailed, match="unbiased at shift 0.25"):
        unbiased_for_moderate_shifts(inverted.estimates)


def test_unbiasedness_check_rejects_the_self_normalised_estimate_at_small_n():
    # The chapter's demonstration: N = 10 samples of N(1, 1), 40 000 estimates.
    plain = gaussian_shift_sweep(jax.random.key(9), [1.0], 10, 40_000).estimates[0]
    snis = gaussian_shift_sweep(jax.random.key(9), [1.0], 10, 40_000, estimator=self_normalised_estimate).estimates[0]
    checks.mean_matches(plain, 1.0, what="the plain estimate is unbiased at N = 10")
    checks.mean_differs(snis, 1.0, what="the self-normalised estimate is biased at N = 10")
    with pytest.raises(CheckFailed, match="self-normalised"):
        checks.mean_matches(snis, 1.0, what="the self-normalised estimate is unbiased at N = 10")


def sample_and_true_se(sweep, variance=gaussian_shift_term_variance):
    estimates = np.asarray(sweep.estimates, np.float64)
    return estimates.std(axis=1, ddof=1) / np.sqrt(R), np.sqrt(variance(D) / N / R)


def variance_claims(sweep, variance) -> None:
    """The chapter's three checks of (eq-is-shift-variance) and of the sample standard error."""
    checks.close(gaussian_shift_term_variance_quadrature(D), variance(D), rtol=1e-8, what="quadrature")
    se, true_se = sample_and_true_se(sweep, variance)
    small = D <= 0.5
    checks.close(se[small], true_se[small], rtol=0.05, what="sample SE matches the exact one")
    checks.less(se[-1], true_se[-1] / 10, what="at shift 3 the sample SE is below a tenth of the exact one")


def test_variance_claims_hold_for_the_right_formula(sweep):
    variance_claims(sweep, gaussian_shift_term_variance)


@pytest.mark.parametrize(
    "wrong, match",
    [
        (lambda d: (d**4 + 6 * d**2 + 3) * np.exp(d**2), "sample SE matches"),  # E_q[(w x^2)^2], the -1 dropped
        (lambda d: 2.0 + 0 * d, "sample SE matches"),  # Var_p[x^2]: the weights ignored
        (lambda d: (d**4 + 6 * d**2 + 3) * np.exp(d**2 / 2) - 1, "sample SE matches"),  # a wrong exponent
    ],
)
def test_variance_claims_reject_a_wrong_formula_even_without_quadrature(sweep, wrong, match):
    with pytest.raises(CheckFailed, match="quadrature"):
        variance_claims(sweep, wrong)
    se, true_se = sample_and_true_se(sweep, wrong)
    small = D <= 0.5
    with pytest.raises(CheckFailed, match=match):
        checks.close(se[small], true_se[small], rtol=0.05, what="sample SE matches the exact one")


def test_understatement_check_rejects_a_true_se_that_ignores_the_weights(sweep):
    se, _ = sample_and_true_se(sweep)
    wrong_true_se = np.sqrt(2.0 / N / R)  # Var_p[x^2] = 2, as if the samples came from p
    with pytest.raises(CheckFailed, match="below a tenth"):
        checks.less(se[-1], wrong_true_se / 10, what="at shift 3 the sample SE is below a tenth of the exact one")


def pooled(sweep) -> np.ndarray:
    return np.asarray(sweep.weights, np.float64).reshape(len(D), -1)


def median_weight_check(sweep, claimed_log_median) -> None:
    w = pooled(sweep)
    se_median = D * np.sqrt(np.pi / 2 / w.shape[1])
    checks.close(np.median(np.log(w), axis=1), claimed_log_median, atol=4 * se_median + 1e-6, what="median weight")


def test_median_weight_check(sweep):
    median_weight_check(sweep, -D**2 / 2)
    for wrong in (-D**2, 0 * D):  # e^{-shift^2} (the ESS limit), or 1 (the mean weight)
        with pytest.raises(CheckFailed, match="median weight"):
            median_weight_check(sweep, wrong)


def ess_limit_check(sweep, claimed_limit) -> None:
    w = pooled(sweep)
    fraction = w.sum(axis=1) ** 2 / (w**2).sum(axis=1) / w.shape[1]
    moderate = D <= 1.0
    checks.close(fraction[moderate], claimed_limit[moderate],
                 atol=4 * gaussian_shift_ess_fraction_se(D[moderate], w.shape[1]) + 1e-6, what="ESS limit")


def test_ess_limit_check(sweep):
    ess_limit_check(sweep, np.exp(-D**2))
    with pytest.raises(CheckFailed, match="ESS limit"):
        ess_limit_check(sweep, np.exp(-D**2 / 2))  # the median weight's rate, not the ESS's
    # The old claim: at shift 1 the median ESS of 100 samples is N e^{-1}. It is 15% above it.
    median_ess = np.median(np.asarray(sweep.ess, np.float64), axis=1)
    with pytest.raises(CheckFailed):
        checks.close(median_ess[4] / N, np.exp(-1.0), rtol=0.05, what="median ESS at shift 1 is N e^-1")


def levels_off(ess_fraction) -> None:
    """The chapter's check: from shift 2 to 3, the effective sample size falls by less than e^1.25."""
    i2 = int(np.flatnonzero(np.isclose(D, 2.0))[0])
    checks.less(np.log(ess_fraction[i2] / ess_fraction[-1]), 0.25 * (9 - 4), what="levels off")


def test_levelling_off_is_a_small_sample_effect(sweep):
    levels_off(np.median(np.asarray(sweep.ess, np.float64), axis=1) / N)
    # From all 400 000 weights of a shift, the effective sample size keeps falling much faster.
    w = pooled(sweep)
    with pytest.raises(CheckFailed, match="levels off"):
        levels_off(w.sum(axis=1) ** 2 / (w**2).sum(axis=1) / w.shape[1])

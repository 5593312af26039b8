"""`utils.distributions`: the trainers' action distributions against autodiff, closed
forms and sampling, and a plausible wrong Gaussian density that the checks reject.

The Gaussian is scored as sampled (the environment clips the action to its bounds
afterwards), so its log-density must be the normal density of the unclipped sample:
normalised, with the score `((a − μ)/σ², (a − μ)²/σ² − 1)` in `(μ, log σ)`, whose
mean under sampling is zero and whose covariance is the Fisher information
`diag(1/σ², 2)`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

from utils import checks, distributions
from utils.envs import make
from utils.kl import categorical_kl
from utils.policies import diagonal_gaussian as gaussian_policy

N = 200_000


def gaussian_params(mean, log_std):
    return jnp.concatenate([jnp.asarray(mean, jnp.float32), jnp.asarray(log_std, jnp.float32)], axis=-1)


def test_for_env_picks_the_family_of_the_action_space():
    assert distributions.for_env(make("CartPole-v1")).name == "categorical(2)"
    assert distributions.for_env(make("Acrobot-v1")).name == "categorical(3)"
    d = distributions.for_env(make("Pendulum-v1"))
    assert d.name == "diagonal_gaussian(1)" and d.n_params == 2 and d.action_shape == (1,)
    with pytest.raises(TypeError, match="`env` must be"):
        distributions.for_env("Pendulum-v1")


def test_categorical_matches_softmax_and_samples_its_probabilities():
    d = distributions.categorical(3)
    logits = jnp.array([[0.3, -1.0, 2.0], [0.0, 0.0, 0.0]])
    p = jax.nn.softmax(logits)
    np.testing.assert_allclose(d.log_prob(logits, jnp.array([2, 1])), jnp.log(p[jnp.arange(2), jnp.array([2, 1])]), rtol=1e-6)
    np.testing.assert_allclose(d.entropy(logits), -(p * jnp.log(p)).sum(-1), rtol=1e-6)
    q = logits[::-1]
    np.testing.assert_allclose(d.kl(logits, q), categorical_kl(logits, q), rtol=1e-6)
    np.testing.assert_array_equal(d.mode(logits), [2, 0])
    actions = d.sample(logits[0], d.noise(jax.random.key(0), (N,)))
    one_hot = jax.nn.one_hot(actions, 3)
    print(checks.mean_matches(one_hot, p[0], what="Gumbel-max samples have the softmax's frequencies").describe())


def test_gaussian_density_is_the_normal_density_and_is_normalised():
    d = distributions.diagonal_gaussian(2)
    params = gaussian_params([[0.5, -1.0]], [[0.2, -0.7]])
    a = jnp.array([[1.0, -0.5]])
    expected = norm.logpdf(a, params[:, :2], jnp.exp(params[:, 2:])).sum(-1)
    np.testing.assert_allclose(d.log_prob(params, a), expected, rtol=1e-6)
    # Normalised in each dimension: the density integrates to 1 (a fine grid, ±12 σ).
    one = distributions.diagonal_gaussian(1)
    grid = jnp.linspace(-12, 12, 200_001)[:, None]
    p1 = gaussian_params([[0.3]], [[0.4]])
    mass = jnp.trapezoid(jnp.exp(one.log_prob(p1, grid * jnp.exp(0.4) + 0.3)), grid[:, 0]) * jnp.exp(0.4)
    np.testing.assert_allclose(mass, 1.0, rtol=1e-5)


def wrong_log_prob(params, action):
    """A plausible slip: the density without its −log σ normaliser."""
    mean, log_std = params[..., :1], params[..., 1:]
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def test_the_checks_reject_a_density_without_its_normaliser():
    grid = jnp.linspace(-12, 12, 200_001)[:, None]
    p1 = gaussian_params([[0.3]], [[0.4]])
    mass = jnp.trapezoid(jnp.exp(wrong_log_prob(p1, grid * jnp.exp(0.4) + 0.3)), grid[:, 0]) * jnp.exp(0.4)
    assert abs(float(mass) - 1.0) > 0.4  # e^0.4 ≈ 1.49: not a density
    # ... and its score in log σ has mean (a−μ)²/σ² ≠ 0 under sampling, which the sampled check sees.
    score = jax.vmap(jax.grad(lambda p, a: wrong_log_prob(p, a)), (None, 0))(p1[0], sample_gaussian(p1[0]))
    with pytest.raises(checks.CheckFailed):
        checks.mean_matches(score, jnp.zeros(2), what="the wrong score has mean zero")


def sample_gaussian(params, n=N, key=jax.random.key(1)):
    d = distributions.diagonal_gaussian(params.shape[-1] // 2)
    return d.sample(params, d.noise(key, (n,)))


def test_gaussian_score_matches_autodiff_the_policy_and_sampling():
    d = distributions.diagonal_gaussian(1)
    params = gaussian_params([0.3], [0.4])
    actions = sample_gaussian(params)
    score = jax.vmap(jax.grad(d.log_prob), (None, 0))(params, actions)  # d/d(μ, log σ)
    sigma2 = jnp.exp(2 * 0.4)
    closed = jnp.concatenate([(actions - 0.3) / sigma2, (actions - 0.3) ** 2 / sigma2 - 1.0], axis=-1)
    np.testing.assert_allclose(score, closed, rtol=1e-4, atol=1e-5)
    # The policy module's closed-form score (a linear-mean Gaussian policy) agrees with the same formula.
    policy = gaussian_policy(1, 1, hidden=(), init_log_std=0.4)
    theta = policy.init(jax.random.key(0))
    obs = jnp.zeros(1)
    mean = policy.dist(theta, obs)[0]
    s = policy.score(theta, obs, mean + 0.7)
    np.testing.assert_allclose(s["log_std"], 0.7**2 / sigma2 - 1.0, rtol=1e-5)
    # Under sampling: mean zero, covariance the Fisher information diag(1/σ², 2).
    print(checks.mean_matches(score, jnp.zeros(2), what="the score has mean zero").describe())
    np.testing.assert_allclose(jnp.cov(score.T), jnp.diag(jnp.array([1 / sigma2, 2.0])), rtol=0.03, atol=0.01)


def test_gaussian_samples_entropy_and_kl_against_sampling():
    d = distributions.diagonal_gaussian(2)
    p = gaussian_params([0.5, -1.0], [0.2, -0.7])
    q = gaussian_params([0.0, -0.5], [-0.1, 0.1])
    a = sample_gaussian(p)
    print(checks.mean_matches(a, p[:2], what="samples have the mean μ").describe())
    np.testing.assert_allclose(a.std(axis=0), jnp.exp(p[2:]), rtol=0.01)
    log_p = d.log_prob(p, a)
    print(checks.mean_matches(-log_p[:, None], d.entropy(p)[None], what="entropy = −E log π").describe())
    print(checks.mean_matches((log_p - d.log_prob(q, a))[:, None], d.kl(p, q)[None], what="KL = E_p log p/q").describe())
    np.testing.assert_allclose(d.kl(p, p), 0.0, atol=1e-7)
    assert float(d.kl(p, q)) != pytest.approx(float(d.kl(q, p)), rel=0.05)  # not symmetric
    np.testing.assert_array_equal(d.mode(p), p[:2])


def test_bad_sizes_get_clear_errors():
    with pytest.raises(ValueError, match="`action_dim`"):
        distributions.diagonal_gaussian(0)
    with pytest.raises(TypeError, match="`n_actions`"):
        distributions.categorical(2.0)
